"""Parametric object silhouettes for the synthetic dataset.

Each recipe draws one object class from a random generator: it samples the instance's
structural parameters (proportions, part counts, angles) and returns the object as a list
of :class:`Part` in object coordinates (x right, y up, roughly inside [-1, 1]²). The
renderers (:mod:`zsbir.data.synthetic.render`) turn the same parts into a photo (filled, coloured,
textured) and into a sketch (jittered outline strokes), so a sketch and the photo it is
drawn from share every structural parameter.

Part kinds:

- ``fill``: a polygon that belongs to the silhouette;
- ``hole``: a polygon cut out of the silhouette (drawn after the fills before it);
- ``mark``: a closed interior detail (filled with its tone in photos, outlined in sketches);
- ``line``: an open interior detail (a line in photos, a stroke in sketches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np

Points = np.ndarray  # (N, 2) float64, object coordinates
Rng = np.random.Generator
PartKind = Literal["fill", "hole", "mark", "line"]


@dataclass(frozen=True)
class Part:
    """One polygon or polyline of an object; ``tone`` indexes the class palette."""

    kind: PartKind
    points: Points
    tone: int = 0
    width: float = 0.025  # line width (``line`` parts), object units


Recipe = Callable[[Rng], list[Part]]


# ------------------------------------------------------------------------ geometry
def _u(rng: Rng, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def ellipse(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, n: int = 40) -> Points:
    """Closed ellipse outline, ``n`` vertices, rotated by ``rot`` radians about its centre."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return rotate(np.stack([rx * np.cos(t), ry * np.sin(t)], 1), rot) + (cx, cy)


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> Points:
    """Open elliptic arc from angle ``a0`` to ``a1`` (radians)."""
    t = np.linspace(a0, a1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def rect(cx: float, cy: float, w: float, h: float, rot: float = 0.0) -> Points:
    """Rectangle of width ``w`` and height ``h`` centred at ``(cx, cy)``."""
    box = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return rotate(box, rot) + (cx, cy)


def rotate(points: Points, angle: float, origin: tuple[float, float] = (0.0, 0.0)) -> Points:
    """Rotate ``points`` counter-clockwise by ``angle`` radians about ``origin``."""
    c, s = np.cos(angle), np.sin(angle)
    o = np.asarray(origin, dtype=float)
    return (np.asarray(points, dtype=float) - o) @ np.array([[c, s], [-s, c]]) + o


def bezier(*ctrl: tuple[float, float], n: int = 20) -> Points:
    """Bezier curve of any degree through control points ``ctrl``, ``n`` samples."""
    t = np.linspace(0.0, 1.0, n)[:, None, None]  # (n, 1, 1)
    cur = np.broadcast_to(np.asarray(ctrl, dtype=float), (n, len(ctrl), 2))  # (n, K, 2)
    while cur.shape[1] > 1:  # de Casteljau
        cur = cur[:, :-1] * (1 - t) + cur[:, 1:] * t
    return cur[:, 0]


def thick(path: Points, w0: float, w1: float | None = None) -> Points:
    """Polygon of a polyline of width tapering from ``w0`` to ``w1`` (a 'buffered' stroke)."""
    path = np.asarray(path, dtype=float)
    w1 = w0 if w1 is None else w1
    tangent = np.gradient(path, axis=0)  # (N, 2)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    half = np.linspace(w0, w1, len(path))[:, None] / 2
    return np.concatenate([path + normal * half, (path - normal * half)[::-1]])


def polar(
    n_lobes: int,
    r_in: float,
    r_out: float,
    sharp: float,
    phase: float,
    n: int = 160,
    scale: np.ndarray | None = None,
) -> Points:
    """Closed star-like outline ``r(φ) = r_in + (r_out - r_in) * ((1 + cos(kφ))/2)^sharp``."""
    phi = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    lobe = ((1 + np.cos(n_lobes * (phi - phase))) / 2) ** sharp
    if scale is not None:  # per-lobe length factor
        idx = np.round((phi - phase) * n_lobes / (2 * np.pi)).astype(int) % n_lobes
        lobe = lobe * scale[idx]
    r = r_in + (r_out - r_in) * lobe
    return np.stack([r * np.cos(phi), r * np.sin(phi)], 1)


def mirror(points: Points) -> Points:
    """Mirror about the y axis (x -> -x)."""
    return np.asarray(points, dtype=float) * (-1.0, 1.0)


# ------------------------------------------------------------------------- recipes
def airplane(r: Rng) -> list[Part]:
    """Plan view: fuselage, swept main wings, tail plane, engines, cockpit."""
    length, fw = _u(r, 0.85, 1.0), _u(r, 0.07, 0.1)
    parts = [Part("fill", ellipse(0, 0, length, fw))]

    def wing(x_root: float, chord: float, span: float, sweep: float, taper: float) -> Points:
        lead = x_root + chord / 2
        return np.array(
            [
                [lead, 0],
                [lead - sweep, span],
                [lead - sweep - chord * taper, span],
                [x_root - chord / 2, 0],
            ]
        )

    main = wing(
        _u(r, -0.1, 0.15), _u(r, 0.3, 0.42), _u(r, 0.75, 0.95), _u(r, 0.1, 0.35), _u(r, 0.3, 0.5)
    )
    tail = wing(-length * 0.8, _u(r, 0.14, 0.2), _u(r, 0.25, 0.35), _u(r, 0.05, 0.12), 0.5)
    for w in (main, tail):
        parts += [Part("fill", w), Part("fill", w * (1, -1))]
    n_eng = int(r.integers(1, 3))
    for k in range(n_eng):
        ey = main[1, 1] * (0.35 + 0.3 * k)
        ex = main[0, 0] - (main[0, 0] - main[1, 0]) * ey / main[1, 1] - 0.02  # leading edge
        for sign in (1, -1):
            parts.append(Part("fill", ellipse(ex, sign * ey, 0.1, 0.04), tone=1))
    parts.append(Part("mark", ellipse(length * 0.8, 0, 0.08, fw * 0.6), tone=2))
    return parts


def giraffe(r: Rng) -> list[Part]:
    """Side view: body, four legs, long leaning neck, head with ossicones, spots."""
    bw, bh = _u(r, 0.38, 0.46), _u(r, 0.18, 0.24)
    parts: list[Part] = []
    foot_y = -0.95
    for x, spread in ((bw * 0.7, 0.05), (bw * 0.45, -0.02), (-bw * 0.7, -0.05), (-bw * 0.45, 0.02)):
        dx = spread + _u(r, -0.04, 0.04)
        parts.append(Part("fill", thick(np.array([[x, 0.0], [x + dx, foot_y]]), 0.08, 0.05)))
    parts.append(Part("fill", ellipse(0, 0.05, bw, bh, rot=_u(r, 0.0, 0.12))))
    lean, neck_len = _u(r, 0.2, 0.55), _u(r, 0.6, 0.8)
    base = np.array([bw * 0.65, 0.12])
    top = base + neck_len * np.array([np.sin(lean), np.cos(lean)])
    neck = bezier(tuple(base), tuple((base + top) / 2 + (0.05, 0)), tuple(top), n=12)
    parts.append(Part("fill", thick(neck, 0.2, 0.09)))
    head_rot = -_u(r, 0.2, 0.6)
    head_c = top + 0.09 * np.array([np.cos(head_rot), np.sin(head_rot)])
    parts.append(Part("fill", ellipse(*head_c, 0.15, 0.065, rot=head_rot)))
    for dx in (-0.03, 0.03):
        horn = np.array([top + (dx, 0.02), top + (dx - 0.02, 0.14)])
        parts.append(Part("fill", thick(horn, 0.025)))
        parts.append(Part("fill", ellipse(*(top + (dx - 0.02, 0.15)), 0.03, 0.03, n=12), tone=1))
    tail = np.array([[-bw * 0.95, 0.12], [-bw * 1.05 - 0.05, -0.2]])
    parts.append(Part("fill", thick(tail, 0.03, 0.015)))
    for _ in range(int(r.integers(6, 11))):  # coat patches on the body
        a, rad = _u(r, 0, 2 * np.pi), _u(r, 0, 0.7)
        c = (rad * bw * np.cos(a), 0.05 + rad * bh * np.sin(a))
        parts.append(Part("mark", ellipse(*c, 0.06, 0.045, rot=_u(r, 0, 3), n=6), tone=1))
    for t in np.linspace(0.15, 0.8, int(r.integers(2, 4))):
        c = base + (top - base) * t
        parts.append(Part("mark", ellipse(*c, 0.04, 0.035, rot=_u(r, 0, 3), n=6), tone=1))
    return parts


def umbrella(r: Rng) -> list[Part]:
    """Open umbrella: scalloped canopy with ribs, shaft, J-shaped handle."""
    height, n_ribs = _u(r, 0.45, 0.7), int(r.integers(5, 9))
    top = arc(0, 0, 1.0, height, 0.0, np.pi, n=40)  # right -> left
    xs = np.linspace(-1.0, 1.0, n_ribs + 1)
    depth = _u(r, 0.05, 0.13)
    scallops = [arc((a + b) / 2, 0, (b - a) / 2, depth, np.pi, 0, n=8) for a, b in pairwise(xs)]
    parts = [Part("fill", np.concatenate([top] + scallops))]
    parts.append(Part("fill", thick(np.array([[0, height - 0.02], [0, height + 0.12]]), 0.04)))
    length = _u(r, 0.8, 1.05)
    parts.append(Part("fill", thick(np.array([[0, 0.05], [0, -length]]), 0.04)))
    hr = _u(r, 0.09, 0.15)
    hook = arc(-hr, -length, hr, hr, 0.0, -np.pi * _u(r, 0.8, 1.1), n=14)
    parts.append(Part("fill", thick(hook, 0.07), tone=1))
    for x in xs[1:-1]:
        parts.append(Part("line", np.array([[0, height], [x, 0.0]]), tone=1, width=0.02))
    return parts


def teapot(r: Rng) -> list[Part]:
    """Round body with foot, lid and knob, curved spout, ear-shaped handle."""
    bw, bh = _u(r, 0.48, 0.6), _u(r, 0.36, 0.48)
    parts = [Part("fill", ellipse(0, 0, bw, bh))]
    parts.append(Part("fill", rect(0, -bh * 0.93, bw * 0.9, 0.1)))
    lid_h = _u(r, 0.1, 0.17)
    parts.append(Part("fill", arc(0, bh * 0.82, bw * 0.5, lid_h, 0, np.pi), tone=1))
    parts.append(Part("fill", ellipse(0, bh * 0.82 + lid_h + 0.03, 0.06, 0.05), tone=1))
    reach, rise = _u(r, 0.28, 0.45), _u(r, 0.35, 0.65)
    spout = bezier(
        (bw * 0.8, -bh * 0.25), (bw + reach * 0.6, -bh * 0.2), (bw + reach, bh * rise), n=14
    )
    parts.append(Part("fill", thick(spout, 0.17, 0.06)))
    hx, hry = -bw - _u(r, 0.05, 0.12), _u(r, 0.24, 0.32)
    handle = arc(hx + 0.12, 0.02, _u(r, 0.18, 0.25), hry, np.radians(95), np.radians(265), n=20)
    parts.append(Part("fill", thick(handle, 0.08)))
    parts.append(Part("line", arc(0, -bh * 0.6, bw * 0.8, 0.08, np.pi * 1.1, np.pi * 1.9), tone=1))
    return parts


def windmill(r: Rng) -> list[Part]:
    """Tower mill: tapered tower, cap, four lattice sails at a random angle, door."""
    bw, top_y = _u(r, 0.38, 0.5), _u(r, 0.05, 0.25)
    tw = bw * _u(r, 0.5, 0.65)
    parts = [Part("fill", np.array([[-bw, -1.0], [bw, -1.0], [tw, top_y], [-tw, top_y]]))]
    parts.append(Part("fill", arc(0, top_y, tw * 1.2, _u(r, 0.12, 0.2), 0, np.pi), tone=1))
    hub = np.array([0.0, top_y + 0.06])
    theta, length, width = _u(r, 0, np.pi / 2), _u(r, 0.75, 0.95), _u(r, 0.13, 0.18)
    for k in range(4):
        a = theta + k * np.pi / 2
        d, n = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        sail = [
            hub + d * 0.18,
            hub + d * length,
            hub + d * length + n * width,
            hub + d * 0.18 + n * width,
        ]
        parts.append(Part("fill", np.array(sail), tone=2))
        parts.append(Part("fill", thick(np.array([hub, hub + d * (length + 0.04)]), 0.035), tone=1))
        for t in np.linspace(0.3, 0.9, 4):
            p = hub + d * length * t
            parts.append(Part("line", np.array([p, p + n * width]), tone=1, width=0.015))
    parts.append(Part("fill", ellipse(*hub, 0.06, 0.06, n=16), tone=1))
    parts.append(
        Part(
            "mark",
            np.concatenate(
                [rect(0, -0.87, 0.16, 0.26)[:2], arc(0, -0.74, 0.08, 0.08, 0, np.pi, 8)]
            ),
            tone=1,
        )
    )
    parts.append(Part("mark", rect(0, (top_y - 1.0) / 2 + 0.15, 0.1, 0.12), tone=1))
    return parts


def mushroom(r: Rng) -> list[Part]:
    """Domed cap with spots over a flaring stem with a ring."""
    cw, ch, cap_y = _u(r, 0.7, 0.98), _u(r, 0.3, 0.65), _u(r, -0.05, 0.2)
    dome = arc(0, cap_y, cw, ch, 0, np.pi, n=36)
    under = bezier((-cw, cap_y), (0, cap_y - _u(r, 0.05, 0.2)), (cw, cap_y), n=12)
    st = _u(r, 0.12, 0.2)
    sb = st * _u(r, 1.0, 1.5)
    bulge = _u(r, 0.0, 0.06)
    left = bezier((-sb, -0.95), (-st - bulge, (cap_y - 0.95) / 2), (-st, cap_y), n=10)
    stem = np.concatenate([left, mirror(left)[::-1]])
    parts = [Part("fill", stem, tone=1), Part("fill", np.concatenate([dome, under]))]
    for _ in range(int(r.integers(3, 8))):
        a, rad = _u(r, 0.25, np.pi - 0.25), _u(r, 0.3, 0.8)
        c = (rad * cw * np.cos(a), cap_y + rad * ch * np.sin(a))
        s = _u(r, 0.04, 0.09)
        parts.append(Part("mark", ellipse(*c, s, s * 0.8, n=12), tone=2))
    ring_y = cap_y - _u(r, 0.12, 0.3)
    parts.append(Part("line", np.array([[-st - 0.02, ring_y], [st + 0.02, ring_y - 0.03]]), tone=2))
    return parts


def banana(r: Rng) -> list[Part]:
    """Crescent fruit tapering to both tips, with a stalk and a ridge line."""
    radius, span, wmax = _u(r, 0.8, 1.2), np.radians(_u(r, 70, 110)), _u(r, 0.22, 0.32)
    t = np.linspace(0.0, 1.0, 40)
    ang = np.pi * 1.5 - span / 2 + span * t
    spine = np.stack([radius * np.cos(ang), radius * np.sin(ang) + radius], 1)
    normal = np.stack([np.cos(ang), np.sin(ang)], 1)
    half = (wmax * np.sin(np.pi * t) ** 0.7 + 0.015)[:, None] / 2
    half = half * np.where(t[:, None] < 0.5, 1.0, _u(r, 0.85, 1.0))
    parts = [Part("fill", np.concatenate([spine + normal * half, (spine - normal * half)[::-1]]))]
    tangent = spine[-1] - spine[-3]
    tip = spine[-1] + tangent / np.linalg.norm(tangent) * _u(r, 0.1, 0.18)
    parts.append(Part("fill", thick(np.array([spine[-2], tip]), 0.06, 0.05), tone=1))
    parts.append(Part("line", spine[5:-5] + normal[5:-5] * half[5:-5] * 0.3, tone=1))
    parts.append(Part("mark", ellipse(*spine[0], 0.025, 0.025, n=8), tone=1))
    return parts


def octopus(r: Rng) -> list[Part]:
    """Bulbous mantle over eight curling tapered arms, two eyes, suckers."""
    mx, my = _u(r, 0.33, 0.45), _u(r, 0.38, 0.52)
    head_y = 0.35
    parts: list[Part] = []
    for k in range(8):
        base_ang = np.radians(-175 + k * 170 / 7 + _u(r, -6, 6))
        start = np.array([mx * 0.8 * np.cos(base_ang) * 0.9, head_y - my * 0.55])
        curl, length = _u(r, -2.5, 2.5), _u(r, 0.7, 1.05)
        t = np.linspace(0, 1, 18)
        ang = base_ang + curl * t**2
        steps = np.stack([np.cos(ang), np.sin(ang)], 1) * (length / len(t))
        path = start + np.cumsum(steps, 0)
        parts.append(Part("fill", thick(np.vstack([start, path]), 0.13, 0.02)))
        if k in (2, 5):
            for p in path[3:12:3]:
                parts.append(Part("mark", ellipse(*p, 0.022, 0.022, n=8), tone=1))
    parts.append(Part("fill", ellipse(0, head_y, mx, my, rot=_u(r, -0.2, 0.2))))
    for dx in (-0.13, 0.13):
        parts.append(Part("mark", ellipse(dx, head_y - my * 0.3, 0.07, 0.06, n=16), tone=2))
        parts.append(Part("mark", ellipse(dx, head_y - my * 0.32, 0.03, 0.035, n=10), tone=3))
    return parts


def hourglass(r: Rng) -> list[Part]:
    """Two glass bulbs meeting at a neck between wooden plates and posts, with sand."""
    width, gw = _u(r, 0.75, 1.0), _u(r, 0.24, 0.34)
    plate_h = _u(r, 0.09, 0.15)
    parts = [
        Part("fill", rect(0, 0.93, width, plate_h), tone=1),
        Part("fill", rect(0, -0.93, width, plate_h), tone=1),
    ]
    for x in (-width / 2 + 0.07, width / 2 - 0.07):
        parts.append(Part("fill", thick(np.array([[x, -0.9], [x, 0.9]]), 0.055), tone=1))
    belly = _u(r, 0.35, 0.6)
    side = bezier((-gw, 0.88), (-gw * 1.1, belly), (-0.02, 0.25), (-0.035, 0.0), n=16)
    upper = np.concatenate([side, mirror(side)[::-1]])
    lower = upper * (1, -1)
    parts += [Part("fill", upper, tone=2), Part("fill", lower, tone=2)]
    level = _u(r, 0.25, 0.6)
    parts.append(
        Part(
            "mark",
            np.array([[-gw * 0.75, -0.82], [gw * 0.75, -0.82], [0.0, -0.82 + level * 0.6]]),
            tone=3,
        )
    )
    left = side[side[:, 1] < level + 0.2]
    parts.append(Part("mark", np.concatenate([left, mirror(left)[::-1]]), tone=3))
    return parts


def wine_bottle(r: Rng) -> list[Part]:
    """Tall bottle: straight body, rounded shoulders, long neck with lip, label, foil."""
    bw, ys = _u(r, 0.19, 0.27), _u(r, 0.0, 0.25)
    nw, ysn = _u(r, 0.055, 0.08), ys + _u(r, 0.15, 0.32)
    right = np.concatenate(
        [
            [[bw, -1.0], [bw, ys]],
            bezier((bw, ys), (bw, ysn), (nw, ys + 0.05), (nw, ysn + 0.05), n=12),
            [[nw, 0.88], [nw + 0.015, 0.9], [nw + 0.015, 0.98]],
        ]
    )
    parts = [Part("fill", np.concatenate([right, mirror(right)[::-1]]))]
    lab_h = _u(r, 0.28, 0.45)
    parts.append(Part("mark", rect(0, ys - 0.2 - lab_h / 2, bw * 1.7, lab_h), tone=1))
    parts.append(Part("mark", rect(0, 0.86, nw * 2.3, 0.2), tone=2))
    return parts


def cactus(r: Rng) -> list[Part]:
    """Saguaro: capsule trunk with one to three bent arms, ribs and spines."""
    tw, top = _u(r, 0.13, 0.18), _u(r, 0.75, 0.95)
    trunk = np.concatenate([[[tw, -1.0]], arc(0, top - tw, tw, tw, 0, np.pi, 16), [[-tw, -1.0]]])
    parts = [Part("fill", trunk)]
    n_arms = int(r.integers(1, 4))
    sides = [1, -1, 1] if r.random() < 0.5 else [-1, 1, -1]
    for k in range(n_arms):
        side, aw = sides[k], tw * _u(r, 0.65, 0.85)
        y0, reach, rise = _u(r, -0.45, 0.2), _u(r, 0.22, 0.38), _u(r, 0.3, 0.55)
        path = bezier(
            (0, y0), (side * (tw + reach), y0), (side * (tw + reach), y0 + rise * 0.5), n=14
        )
        path = np.vstack([path, [side * (tw + reach), y0 + rise]])
        parts.append(Part("fill", thick(path, aw * 2)))
        parts.append(Part("fill", ellipse(side * (tw + reach), y0 + rise, aw, aw, n=16)))
        parts.append(Part("line", path[6:] + (side * -aw * 0.1, 0), tone=1))
    for x in (-tw * 0.45, 0.0, tw * 0.45):
        parts.append(Part("line", np.array([[x, -0.95], [x, top - tw * 0.6]]), tone=1))
    for y in np.linspace(-0.8, top - 0.2, 6):
        for side in (-1, 1):
            parts.append(
                Part(
                    "line",
                    np.array([[side * tw, y], [side * (tw + 0.07), y + 0.04]]),
                    tone=2,
                    width=0.012,
                )
            )
    return parts


def acoustic_guitar(r: Rng) -> list[Part]:
    """Figure-eight body of two bouts, sound hole, bridge, long neck, head with pegs."""
    r1 = _u(r, 0.34, 0.42)
    r2 = r1 * _u(r, 0.72, 0.85)
    y1, y2 = -0.6 + r1 * 0.4, -0.6 + r1 * 0.4 + r1 * _u(r, 0.95, 1.15)
    parts = [
        Part("fill", ellipse(0, y1, r1, r1 * 0.95)),
        Part("fill", ellipse(0, y2, r2, r2 * 0.9)),
    ]
    neck_top = _u(r, 0.8, 0.9)
    parts.append(Part("fill", rect(0, (y2 + neck_top) / 2, 0.1, neck_top - y2), tone=1))
    hw = _u(r, 0.13, 0.18)
    head = np.array(
        [
            [-0.06, neck_top],
            [0.06, neck_top],
            [hw / 2 + 0.02, neck_top + 0.22],
            [-hw / 2 - 0.02, neck_top + 0.22],
        ]
    )
    parts.append(Part("fill", head, tone=1))
    for k in range(3):
        y = neck_top + 0.05 + k * 0.06
        for s in (-1, 1):
            parts.append(Part("fill", rect(s * (hw / 2 + 0.05), y, 0.06, 0.03), tone=1))
    yh = (y1 + y2) / 2 + 0.08
    parts.append(Part("mark", ellipse(0, yh, r2 * 0.4, r2 * 0.4, n=24), tone=2))
    parts.append(Part("mark", rect(0, y1 - r1 * 0.35, 0.26, 0.05), tone=2))
    for x in np.linspace(-0.03, 0.03, 4):
        parts.append(
            Part("line", np.array([[x * 1.5, y1 - r1 * 0.35], [x, neck_top]]), tone=3, width=0.008)
        )
    return parts


def starfish(r: Rng) -> list[Part]:
    """Five tapering, slightly uneven arms around a central disc, dotted surface."""
    sharp = _u(r, 1.2, 2.6)
    scale = r.uniform(0.85, 1.0, size=5)
    outline = polar(5, _u(r, 0.3, 0.45), 1.0, sharp, _u(r, 0, 2 * np.pi / 5), scale=scale)
    twist = _u(r, -0.25, 0.25)  # arms curl a little, more so towards their tips
    radius = np.linalg.norm(outline, axis=1)
    outline = np.stack([rotate(p[None], twist * rr**2)[0] for p, rr in zip(outline, radius)])
    parts = [Part("fill", outline)]
    for _ in range(int(r.integers(6, 14))):
        a, rad = _u(r, 0, 2 * np.pi), _u(r, 0.0, 0.35)
        parts.append(
            Part("mark", ellipse(rad * np.cos(a), rad * np.sin(a), 0.03, 0.03, n=8), tone=1)
        )
    return parts


def key(r: Rng) -> list[Part]:
    """Old key: bow (round, square or trefoil) with a hole, collar, shaft, toothed bit."""
    bx, br = -0.62, _u(r, 0.26, 0.36)
    style = int(r.integers(0, 3))
    if style == 0:
        bows = [ellipse(bx, 0, br, br * _u(r, 0.8, 1.0))]
    elif style == 1:
        bows = [rect(bx, 0, br * 1.8, br * 1.8, rot=np.pi / 4)]
    else:
        bows = [
            ellipse(bx + br * 0.45 * np.cos(a), br * 0.45 * np.sin(a), br * 0.6, br * 0.6)
            for a in (np.pi / 2, np.pi, -np.pi / 2)
        ]
    parts = [Part("fill", b) for b in bows]
    sh = _u(r, 0.08, 0.12)
    parts.append(Part("fill", rect(0.25, 0, 1.4, sh)))
    parts.append(Part("fill", rect(bx + br + 0.06, 0, 0.07, sh * 2)))
    n_teeth = int(r.integers(2, 5))
    bit = [[0.95, 0.0], [0.95, -sh / 2]]
    edges = np.linspace(0.95, 0.45, n_teeth + 1)
    for a, b in pairwise(edges):
        d = _u(r, 0.12, 0.28)
        bit += [[a, -d], [(a + b) / 2, -d], [(a + b) / 2, -d * 0.55], [b, -d * 0.55]]
    bit += [[0.45, 0.0]]
    parts.append(Part("fill", np.array(bit)))
    parts.append(Part("hole", ellipse(bx, 0, br * 0.45, br * 0.4, n=24)))
    return parts


def jellyfish(r: Rng) -> list[Part]:
    """Dome bell with wavy rim, wavy trailing tentacles and two frilly oral arms."""
    bx, by, bell_y = _u(r, 0.5, 0.7), _u(r, 0.35, 0.55), 0.3
    n_lobes = int(r.integers(5, 9))
    dome = arc(0, bell_y, bx, by, 0, np.pi, n=32)
    xs = np.linspace(-bx, bx, n_lobes + 1)
    rim = [
        arc((a + b) / 2, bell_y, (b - a) / 2, 0.05, np.pi, 2 * np.pi, 8) for a, b in pairwise(xs)
    ]
    parts: list[Part] = []
    n_tent = int(r.integers(4, 8))
    t = np.linspace(0, 1, 24)
    for k, x0 in enumerate(np.linspace(-bx * 0.8, bx * 0.8, n_tent)):
        length = _u(r, 0.8, 1.25)
        amp, freq, ph = _u(r, 0.03, 0.09), _u(r, 1.0, 2.5), _u(r, 0, 2 * np.pi)
        path = np.stack([x0 + amp * np.sin(2 * np.pi * freq * t + ph) * t, bell_y - length * t], 1)
        parts.append(Part("fill", thick(path, 0.035, 0.012)))
    for x0 in (-0.08, 0.08):
        path = np.stack([x0 + 0.06 * np.sin(6 * t + _u(r, 0, 6)), bell_y - 0.75 * t], 1)
        parts.append(Part("fill", thick(path, 0.11, 0.04), tone=1))
    parts.append(Part("fill", np.concatenate([dome] + rim)))
    for s in (0.45, 0.75):
        parts.append(Part("line", arc(0, bell_y, bx * s, by * s, 0.2, np.pi - 0.2), tone=1))
    return parts


def snail(r: Rng) -> list[Part]:
    """Spiral shell on a long foot with a raised head and two eye stalks."""
    sr = _u(r, 0.42, 0.55)
    sc = np.array([_u(r, -0.2, 0.0), -0.38 + sr * 0.95])
    head = np.array([_u(r, 0.6, 0.75), _u(r, -0.05, 0.1)])
    tail = -_u(r, 0.75, 0.95)
    foot = np.concatenate(
        [
            [[tail, -0.42]],
            bezier(
                (tail, -0.42),
                (0.0, -0.3),
                (head[0] - 0.3, -0.3),
                (head[0] - 0.15, head[1] + 0.05),
                n=14,
            ),
            arc(head[0], head[1] - 0.05, 0.14, 0.12, np.pi / 2, -np.pi / 2, 10),
            [[head[0] + 0.1, -0.45]],
        ]
    )
    parts = [Part("fill", foot, tone=1)]
    for dx, lean in ((-0.05, _u(r, -0.1, 0.2)), (0.06, _u(r, 0.2, 0.5))):
        base = head + (dx, 0.02)
        tip = base + _u(r, 0.32, 0.45) * np.array([np.sin(lean), np.cos(lean)])
        parts.append(Part("fill", thick(np.array([base, tip]), 0.05, 0.03), tone=1))
        parts.append(Part("fill", ellipse(*tip, 0.04, 0.04, n=12), tone=1))
    parts.append(Part("fill", ellipse(*sc, sr, sr * 0.95)))
    turns = _u(r, 2.0, 3.0)
    th = np.linspace(0, 2 * np.pi * turns, 80)
    rad = sr * 0.9 * (1 - th / th[-1]) + 0.03
    parts.append(
        Part("line", sc + np.stack([rad * np.cos(th), rad * np.sin(th)], 1), tone=2, width=0.03)
    )
    return parts


def scissors(r: Rng) -> list[Part]:
    """Two crossed blades on a pivot, two finger loops (with holes), open at an angle."""
    opening = np.radians(_u(r, 12, 40))
    length = _u(r, 0.9, 1.05)
    parts: list[Part] = []
    holes: list[Part] = []
    for sign in (1, -1):
        a = sign * opening / 2
        blade = np.array(
            [
                [-0.05, 0.05],
                [length * 0.35, 0.06],
                [length, 0.0],
                [length * 0.4, -0.06],
                [-0.05, -0.04],
            ]
        )
        parts.append(Part("fill", rotate(blade, a)))
        back = np.pi - a  # handle points the other way, crossing the pivot
        d = np.array([np.cos(back), np.sin(back)])
        shank_end = d * _u(r, 0.25, 0.35)
        parts.append(Part("fill", thick(np.array([[0, 0], shank_end]), 0.09), tone=1))
        rx, ry = _u(r, 0.19, 0.27), _u(r, 0.13, 0.18)
        centre = shank_end + d * rx * 0.9
        parts.append(Part("fill", ellipse(*centre, rx, ry, rot=back), tone=1))
        holes.append(Part("hole", ellipse(*centre, rx * 0.62, ry * 0.55, rot=back, n=24)))
    parts += holes
    parts.append(Part("mark", ellipse(0, 0, 0.04, 0.04, n=12), tone=2))
    return parts


def goldfish(r: Rng) -> list[Part]:
    """Oval body, forked tail, dorsal and belly fins, eye, gill line."""
    rx, ry = _u(r, 0.52, 0.65), _u(r, 0.28, 0.38)
    tl, ty, fork = _u(r, 0.32, 0.5), _u(r, 0.28, 0.45), _u(r, 0.3, 0.7)
    tail = np.array([[-rx * 0.8, 0.0], [-rx - tl, ty], [-rx - tl * fork, 0.0], [-rx - tl, -ty]])
    dorsal = np.array(
        [[-rx * 0.4, ry * 0.8], [rx * 0.25, ry * 0.85], [-rx * 0.3, ry + _u(r, 0.12, 0.25)]]
    )
    belly = np.array(
        [[-rx * 0.3, -ry * 0.8], [rx * 0.05, -ry * 0.85], [-rx * 0.25, -ry - _u(r, 0.08, 0.18)]]
    )
    parts = [
        Part("fill", tail, tone=1),
        Part("fill", dorsal, tone=1),
        Part("fill", belly, tone=1),
        Part("fill", ellipse(0, 0, rx, ry)),
    ]
    parts.append(Part("mark", ellipse(rx * 0.6, ry * 0.25, 0.06, 0.06, n=14), tone=2))
    parts.append(Part("line", arc(rx * 0.55, 0, 0.18, ry * 0.7, np.pi * 0.7, np.pi * 1.3), tone=1))
    parts.append(Part("mark", ellipse(rx * 0.05, -ry * 0.25, 0.14, 0.05, rot=-0.5), tone=1))
    return parts


def padlock(r: Rng) -> list[Part]:
    """Rounded lock body, U-shaped shackle, keyhole."""
    w, h = _u(r, 0.75, 0.95), _u(r, 0.6, 0.8)
    body_y = -0.25
    corner = _u(r, 0.06, 0.15)
    body = np.concatenate(
        [
            arc(w / 2 - corner, body_y - h / 2 + corner, corner, corner, -np.pi / 2, 0, 6),
            arc(w / 2 - corner, body_y + h / 2 - corner, corner, corner, 0, np.pi / 2, 6),
            arc(-w / 2 + corner, body_y + h / 2 - corner, corner, corner, np.pi / 2, np.pi, 6),
            arc(-w / 2 + corner, body_y - h / 2 + corner, corner, corner, np.pi, 1.5 * np.pi, 6),
        ]
    )
    sw, leg = w * _u(r, 0.28, 0.36), _u(r, 0.12, 0.32)
    top = body_y + h / 2
    shackle = np.concatenate(
        [[[-sw, top - 0.02]], arc(0, top + leg, sw, sw, np.pi, 0, 20), [[sw, top - 0.02]]]
    )
    parts = [Part("fill", thick(shackle, _u(r, 0.09, 0.13)), tone=1), Part("fill", body)]
    parts.append(
        Part(
            "mark",
            np.concatenate(
                [
                    arc(0, body_y + 0.05, 0.06, 0.06, -0.3, np.pi + 0.3, 12),
                    [[-0.04, body_y - 0.15], [0.04, body_y - 0.15]],
                ]
            ),
            tone=2,
        )
    )
    return parts


def snowman(r: Rng) -> list[Part]:
    """Three stacked snowballs, top hat, stick arms, carrot nose, coal eyes and buttons."""
    r1 = _u(r, 0.4, 0.5)
    r2, r3 = r1 * _u(r, 0.65, 0.8), r1 * _u(r, 0.45, 0.58)
    y1 = -1 + r1
    y2 = y1 + (r1 + r2) * 0.82
    y3 = y2 + (r2 + r3) * 0.85
    parts: list[Part] = []
    for side in (-1, 1):
        lift = _u(r, 0.1, 0.5)
        end = np.array([side * (r2 + _u(r, 0.3, 0.45)), y2 + lift])
        start = np.array([side * r2 * 0.6, y2])
        parts.append(Part("fill", thick(np.array([start, end]), 0.035), tone=2))
        mid = start + (end - start) * 0.7
        parts.append(Part("fill", thick(np.array([mid, mid + (side * 0.08, 0.12)]), 0.025), tone=2))
    for y, rr in ((y1, r1), (y2, r2), (y3, r3)):
        parts.append(Part("fill", ellipse(0, y, rr, rr * _u(r, 0.92, 1.0), n=36)))
    ht, hw = _u(r, 0.22, 0.36), r3 * _u(r, 1.1, 1.4)
    base = y3 + r3 * 0.75
    parts.append(Part("fill", rect(0, base, hw * 1.7, 0.06), tone=1))
    parts.append(Part("fill", rect(0, base + ht / 2, hw, ht), tone=1))
    parts.append(
        Part(
            "mark",
            np.array([[0, y3 - 0.02], [0, y3 + 0.06], [_u(r, 0.2, 0.32), y3 + 0.01]]),
            tone=3,
        )
    )
    for dx in (-r3 * 0.35, r3 * 0.35):
        parts.append(Part("mark", ellipse(dx, y3 + r3 * 0.3, 0.03, 0.03, n=8), tone=1))
    for k in range(int(r.integers(2, 4))):
        parts.append(
            Part("mark", ellipse(0, y2 + r2 * (0.5 - 0.45 * k), 0.035, 0.035, n=8), tone=1)
        )
    return parts


def hammer(r: Rng) -> list[Part]:
    """Wooden handle with grip, steel head with a striking face and a curved claw."""
    hw, hh = _u(r, 0.7, 0.95), _u(r, 0.15, 0.22)
    head_y = _u(r, 0.6, 0.75)
    parts = [Part("fill", thick(np.array([[0, -1.0], [0, head_y]]), 0.13, 0.09), tone=1)]
    face_x = hw * _u(r, 0.35, 0.5)
    parts.append(Part("fill", rect(face_x / 2 - 0.05, head_y, face_x + 0.14, hh)))
    parts.append(Part("fill", rect(face_x, head_y, 0.1, hh * 1.25)))
    claw_len, drop = hw - face_x, _u(r, 0.1, 0.3)
    claw = bezier((0, head_y), (-claw_len * 0.6, head_y + 0.02), (-claw_len, head_y - drop), n=14)
    parts.append(Part("fill", thick(claw, hh, 0.03)))
    parts.append(Part("mark", rect(0, -0.72, 0.14, 0.5), tone=2))
    return parts


def candle(r: Rng) -> list[Part]:
    """Wax stick with drips on a saucer, wick, teardrop flame."""
    w, h = _u(r, 0.24, 0.36), _u(r, 0.9, 1.2)
    bottom, top = -0.85, -0.85 + h
    sx = _u(r, 0.45, 0.62)
    parts = [Part("fill", ellipse(0, bottom, sx, 0.08), tone=2)]
    if r.random() < 0.5:  # saucer with a finger ring
        ring = arc(sx * 0.85 + 0.08, bottom + 0.02, 0.1, 0.09, -np.pi * 0.6, np.pi * 0.6, 12)
        parts.append(Part("fill", thick(ring, 0.05), tone=2))
    parts.append(Part("fill", rect(0, (bottom + top) / 2, w, top - bottom)))
    for _ in range(int(r.integers(0, 3))):  # wax drips over the rim
        x, length = w / 2 * (1 if r.random() < 0.5 else -1), _u(r, 0.1, 0.3)
        parts.append(Part("fill", thick(np.array([[x, top], [x, top - length]]), 0.06, 0.05)))
        parts.append(Part("fill", ellipse(x, top - length, 0.03, 0.035, n=10)))
    wick_top = top + 0.08
    parts.append(Part("line", np.array([[0, top], [0.01, wick_top]]), tone=3, width=0.02))
    fh, lean = _u(r, 0.3, 0.48), _u(r, -0.08, 0.08)
    fr = _u(r, 0.07, 0.1)
    flame = np.concatenate(
        [
            arc(0, wick_top + fr * 0.6, fr, fr, np.pi * 1.1, np.pi * 1.9, 10),
            bezier(
                (fr, wick_top + fr * 0.6), (fr, wick_top + fh * 0.5), (lean, wick_top + fh), n=10
            ),
            bezier(
                (lean, wick_top + fh), (-fr, wick_top + fh * 0.5), (-fr, wick_top + fr * 0.6), n=10
            ),
        ]
    )
    parts.append(Part("fill", flame, tone=1))
    parts.append(
        Part("mark", ellipse(lean * 0.3, wick_top + fh * 0.3, fr * 0.45, fh * 0.2), tone=3)
    )
    return parts


def anchor(r: Rng) -> list[Part]:
    """Shank with a ring, cross stock, curved arms ending in flukes, crown."""
    radius, top = _u(r, 0.5, 0.7), _u(r, 0.5, 0.65)
    cy = -0.25
    low = cy - radius
    parts = [Part("fill", thick(np.array([[0, low + 0.05], [0, top]]), _u(r, 0.09, 0.12)))]
    rr = _u(r, 0.12, 0.17)
    parts.append(Part("fill", ellipse(0, top + rr * 0.9, rr, rr, n=24)))
    sw = _u(r, 0.55, 0.85)
    stock_y = top - _u(r, 0.1, 0.18)
    parts.append(Part("fill", rect(0, stock_y, sw, 0.08)))
    for x in (-sw / 2, sw / 2):
        parts.append(Part("fill", ellipse(x, stock_y, 0.05, 0.05, n=10)))
    a0 = np.radians(_u(r, 190, 215))
    arms = arc(0, cy, radius, radius * 0.9, a0, 3 * np.pi - a0, n=30)
    parts.append(Part("fill", thick(arms, 0.09)))
    fluke = _u(r, 0.16, 0.24)
    for end, prev in ((arms[0], arms[1]), (arms[-1], arms[-2])):
        d = (end - prev) / np.linalg.norm(end - prev)
        n = np.array([-d[1], d[0]])
        parts.append(
            Part(
                "fill",
                np.array(
                    [
                        end + d * fluke,
                        end - d * 0.08 + n * fluke * 0.5,
                        end - d * 0.08 - n * fluke * 0.5,
                    ]
                ),
            )
        )
    parts.append(Part("fill", np.array([[-0.1, low + 0.05], [0.1, low + 0.05], [0, low - 0.1]])))
    parts.append(Part("hole", ellipse(0, top + rr * 0.9, rr * 0.55, rr * 0.55, n=20)))
    return parts


def lighthouse(r: Rng) -> list[Part]:
    """Tapered striped tower on a base, gallery, glowing lantern room, domed roof."""
    bw, tower_top = _u(r, 0.32, 0.45), _u(r, 0.25, 0.45)
    tw = bw * _u(r, 0.55, 0.72)
    parts = [
        Part("fill", rect(0, -0.95, bw * 2.4, 0.1), tone=3),
        Part("fill", np.array([[-bw, -0.9], [bw, -0.9], [tw, tower_top], [-tw, tower_top]])),
    ]
    parts.append(Part("fill", rect(0, tower_top + 0.03, tw * 2.6, 0.06), tone=1))
    lantern_h = _u(r, 0.16, 0.26)
    parts.append(
        Part("fill", rect(0, tower_top + 0.06 + lantern_h / 2, tw * 1.2, lantern_h), tone=2)
    )
    roof_y = tower_top + 0.06 + lantern_h
    parts.append(
        Part(
            "fill",
            np.concatenate([arc(0, roof_y, tw * 0.85, _u(r, 0.12, 0.22), 0, np.pi, 16)]),
            tone=1,
        )
    )
    parts.append(Part("fill", ellipse(0, roof_y + 0.2, 0.035, 0.035, n=10), tone=1))
    n_bands = int(r.integers(2, 5))
    ys = np.linspace(-0.9, tower_top, 2 * n_bands + 1)
    for a, b in zip(ys[1::2], ys[2::2]):
        wa, wb = (
            bw + (tw - bw) * (a + 0.9) / (tower_top + 0.9),
            bw + (tw - bw) * (b + 0.9) / (tower_top + 0.9),
        )
        parts.append(Part("mark", np.array([[-wa, a], [wa, a], [wb, b], [-wb, b]]), tone=1))
    parts.append(Part("mark", rect(0, -0.8, 0.12, 0.2), tone=3))
    for x in np.linspace(-tw * 0.4, tw * 0.4, 3):
        parts.append(
            Part("line", np.array([[x, tower_top + 0.06], [x, roof_y]]), tone=1, width=0.012)
        )
    return parts
