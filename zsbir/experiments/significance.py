"""Is a row's difference to the reference row more than noise? Paired tests over classes.

**Paired sign-flip (permutation) test** (Fisher 1935, *The Design of Experiments*;
recommended for IR evaluation by Smucker, Allan & Carterette, CIKM 2007, "A comparison of
statistical significance tests for information retrieval evaluation"). The unit is an
unseen query class: a_k, b_k are the per-class AP of two systems on class k (each already
averaged over that row's seeds), d_k = a_k - b_k, T = |mean_k d_k|. Under H0 (the systems
are exchangeable on every class) each d_k is as likely to have the opposite sign, so the
two-sided p-value is

    p = #{s in {-1, +1}^n : |mean_k s_k d_k| >= T} / 2^n,

enumerated exactly when n <= :data:`EXACT_MAX_CLASSES`, else estimated from ``n_resamples``
random sign vectors drawn with ``seed``, as p = (1 + #{|T*| >= T}) / (1 + n_resamples)
(Phipson & Smyth 2010: never 0).

**Holm–Bonferroni adjustment** (Holm 1979, "A simple sequentially rejective multiple test
procedure"): a table tests every row against its reference, m tests at once. With the m
p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted values are

    p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)),

which control the family-wise error rate at the level they are compared with.

**95 % confidence interval over seeds**: mean ± t_{0.975, n-1} s / sqrt(n), s the sample
std (ddof = 1) of the per-seed values (Student's t interval).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

EXACT_MAX_CLASSES = 22  # 2^22 ≈ 4.2M sign vectors, enumerated in chunks
N_RESAMPLES = 100_000
_CHUNK = 1 << 16
_REL_TOL = 1e-12  # |T*| >= T up to rounding (ties count as at least as extreme)


def sign_flip_test(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
    exact_max: int = EXACT_MAX_CLASSES,
) -> float:
    """Two-sided paired sign-flip p-value of mean(a - b) = 0 over paired values (n,) each."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-d arrays of one length, got {a.shape}, "
                         f"{b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values hold NaN/inf (a class missing from one row?)")
    d = a - b  # (n,)
    n = len(d)
    if n == 0:
        raise ValueError("no paired values to test")
    observed = abs(d.mean())
    threshold = observed - _REL_TOL * max(1.0, observed)
    if n <= exact_max:
        hits = sum(int((np.abs(s @ d) / n >= threshold).sum()) for s in _all_signs(n))
        return hits / 2**n
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < n_resamples:
        m = min(_CHUNK, n_resamples - done)
        s = rng.choice(np.array([-1.0, 1.0]), size=(m, n))  # (m, n)
        hits += int((np.abs(s @ d) / n >= threshold).sum())
        done += m
    return (1 + hits) / (1 + n_resamples)


def _all_signs(n: int):
    """Every sign vector of {-1, +1}^n, in chunks (m, n) (bit j of the index = sign j)."""
    bits = np.arange(n, dtype=np.int64)
    for start in range(0, 2**n, _CHUNK):
        idx = np.arange(start, min(start + _CHUNK, 2**n), dtype=np.int64)  # (m,)
        yield np.where((idx[:, None] >> bits) & 1, -1.0, 1.0)  # (m, n)


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (NaNs with fewer than 2)."""
    x = np.asarray(values, np.float64)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, df=len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (same order as ``p_values``); NaNs are not tests and stay NaN."""
    p = np.asarray(p_values, np.float64)  # (R,)
    out = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))  # (m,)
    order = tested[np.argsort(p[tested], kind="stable")]  # ascending p
    m = len(order)
    scaled = (m - np.arange(m)) * p[order]  # (m - j + 1) p_(j), j = 1..m
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def paired_p_values(
    per_class: dict[str, dict[str, float]], rows: list[str], reference: str, seed: int = 0
) -> dict[str, float]:
    """p-value of every row of ``rows`` against ``reference`` on the classes both have.

    ``per_class[row][class]`` is the row's per-class AP averaged over its seeds. Rows
    without per-class AP, and the reference itself, get NaN.
    """
    out: dict[str, float] = {}
    ref = per_class.get(reference, {})
    for row in rows:
        mine = per_class.get(row, {})
        common = sorted(set(ref) & set(mine))
        if row == reference or not common:
            out[row] = float("nan")
            continue
        a = np.array([mine[c] for c in common])
        b = np.array([ref[c] for c in common])
        out[row] = sign_flip_test(a, b, seed=seed)
    return out
