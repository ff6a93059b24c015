"""Sign-flip test and t-interval against hand-computed cases and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from zsbir.experiments.significance import holm, paired_p_values, sign_flip_test, t_interval


def test_four_classes_all_sixteen_sign_flips_by_hand() -> None:
    # d = a - b = (0.4, 0.2, 0.1, -0.1): observed |sum d| = 0.6 (|mean| 0.15).
    a = np.array([0.5, 0.4, 0.3, 0.2])
    b = np.array([0.1, 0.2, 0.2, 0.3])
    # The 16 sign flips s give |s.d| in {0.0 x2, 0.2 x4, 0.4 x4, 0.6 x4, 0.8 x2}, e.g.
    # (+,+,+,-) 0.6, (+,+,+,+) 0.4, (+,+,-,-) 0.6, (+,+,-,+) 0.4, (+,-,+,-) 0.4, (+,+,+,-)...
    d = [0.4, 0.2, 0.1, -0.1]
    sums = [sum(s * x for s, x in zip(signs, d)) for signs in itertools.product((1, -1), repeat=4)]
    assert sorted(round(abs(v), 10) for v in sums) == [
        0.0, 0.0, 0.2, 0.2, 0.2, 0.2, 0.4, 0.4, 0.4, 0.4, 0.6, 0.6, 0.6, 0.6, 0.8, 0.8]
    # |sum| >= 0.6 in 6 of 16 sign vectors -> p = 6/16
    assert sign_flip_test(a, b) == pytest.approx(6 / 16)
    assert sign_flip_test(b, a) == pytest.approx(6 / 16)  # two-sided: symmetric


def test_identical_systems_and_all_same_sign() -> None:
    x = np.array([0.2, 0.5, 0.7])
    assert sign_flip_test(x, x) == 1.0
    # all 5 differences positive and equal: only the all-+ and all-- flips are as extreme
    assert sign_flip_test(np.full(5, 0.6), np.full(5, 0.5)) == pytest.approx(2 / 32)


@pytest.mark.parametrize("n", [7, 12])
def test_exact_matches_scipy_permutation_test(n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.uniform(size=n), rng.uniform(size=n)
    ref = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
        alternative="two-sided", n_resamples=np.inf,
    ).pvalue
    assert sign_flip_test(a, b) == pytest.approx(ref, rel=1e-9)


def test_monte_carlo_above_the_exact_limit_is_seeded_and_close_to_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.uniform(size=30), rng.uniform(size=30) - 0.08
    p1 = sign_flip_test(a, b, seed=1, n_resamples=20_000)
    assert p1 == sign_flip_test(a, b, seed=1, n_resamples=20_000)
    ref = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
        alternative="two-sided", n_resamples=20_000, rng=np.random.default_rng(0),
    ).pvalue
    assert abs(p1 - ref) < 0.02 and 0 < p1 < 1
    # the exact path, forced, agrees with Monte Carlo within its error
    assert abs(sign_flip_test(a[:20], b[:20]) - sign_flip_test(
        a[:20], b[:20], exact_max=10, n_resamples=50_000)) < 0.01


def test_bad_input_fails_clearly() -> None:
    with pytest.raises(ValueError, match="one length"):
        sign_flip_test(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        sign_flip_test(np.array([1.0, np.nan]), np.ones(2))


def test_t_interval_by_hand_and_scipy() -> None:
    x = np.array([0.20, 0.22, 0.25, 0.21, 0.24])  # mean 0.224, sample std 0.020736
    t4 = 2.7764451051977987  # t_{0.975, 4} from tables
    half = t4 * np.std(x, ddof=1) / np.sqrt(5)
    low, high = t_interval(x)
    assert (low, high) == pytest.approx((0.224 - half, 0.224 + half))
    ref = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ref.low, ref.high))
    assert all(np.isnan(t_interval(np.array([0.3]))))


def test_paired_p_values_use_common_classes_and_skip_the_reference() -> None:
    per_class = {
        "ref": {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},
        "x": {"a": 0.5, "b": 0.4, "c": 0.4, "d": 0.3, "extra": 0.9},
    }
    p = paired_p_values(per_class, ["ref", "x", "missing"], "ref")
    assert np.isnan(p["ref"]) and np.isnan(p["missing"])
    assert p["x"] == pytest.approx(6 / 16)  # the hand case above, class "extra" ignored


def test_holm_by_hand() -> None:
    # m = 3 tests (NaN = the reference, not a test): sorted 0.01, 0.03, 0.04 ->
    # 3 x 0.01 = 0.03; max(0.03, 2 x 0.03) = 0.06; max(0.06, 1 x 0.04) = 0.06.
    got = holm(np.array([np.nan, 0.04, 0.01, 0.03]))
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [0.06, 0.03, 0.06])
    np.testing.assert_allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])  # capped at 1
    assert np.isnan(holm(np.array([np.nan]))).all() and holm(np.array([])).shape == (0,)
