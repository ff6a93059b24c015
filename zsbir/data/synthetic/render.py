"""Rasterise a :mod:`zsbir.data.synthetic.shapes` object as a photo or as a hand-drawn-looking sketch.

Both renderers draw the *same* parts under (nearly) the same :class:`Pose`, at ``supersample``
times the output size, then downsample with a Lanczos filter:

- :func:`render_photo`: textured gradient background with clutter, the filled silhouette
  in jittered class colours with directional shading, low-frequency texture, an optional
  drop shadow, interior marks and lines, then blur and sensor noise;
- :func:`render_sketch`: black-on-white strokes along the silhouette boundary (each part's
  outline where it lies on the boundary of the union), plus a random subset of the
  interior details, with wobble, varying width and ink, gaps, overlaps and overshoot.

All randomness comes from the generator passed in, so output is a pure function of it.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from zsbir.data.synthetic.shapes import Part, Points, rotate

RGB = tuple[int, int, int]
SUPERSAMPLE = 2


@dataclass(frozen=True)
class Pose:
    """Placement of an object: mirror, rotation, size and offset in the image."""

    flip: bool
    angle: float  # radians, counter-clockwise
    scale: float  # longest side of the rotated object / image side
    shift: tuple[float, float]  # in [-1, 1]: fraction of the free room, per axis


@dataclass(frozen=True)
class StrokeStyle:
    """How one sketcher draws: line width (px at output size), wobble, gaps, ink, detail."""

    width: float
    wobble: float
    gap: float
    ink: int
    detail: float
    double: float


def sample_pose(rng: np.random.Generator) -> Pose:
    """A photo pose: random mirror, ±25° rotation, object filling 55–88% of the image."""
    return Pose(
        flip=bool(rng.random() < 0.5),
        angle=float(np.radians(rng.uniform(-25, 25))),
        scale=float(rng.uniform(0.55, 0.88)),
        shift=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))),
    )


def sketch_pose(photo: Pose, rng: np.random.Generator) -> Pose:
    """The pose of a sketch drawn from ``photo``: same mirror, nearly same angle, more centred."""
    return Pose(
        flip=photo.flip,
        angle=photo.angle + float(np.radians(rng.normal(0, 4))),
        scale=float(np.clip(photo.scale * rng.uniform(0.95, 1.1), 0.5, 0.9)),
        shift=(
            photo.shift[0] * 0.4 + float(rng.normal(0, 0.1)),
            photo.shift[1] * 0.4 + float(rng.normal(0, 0.1)),
        ),
    )


def sample_style(rng: np.random.Generator) -> StrokeStyle:
    """A random sketcher."""
    return StrokeStyle(
        width=float(rng.uniform(0.9, 1.8)),
        wobble=float(rng.uniform(0.3, 0.9)),
        gap=float(rng.uniform(0.05, 0.35)),
        ink=int(rng.integers(0, 70)),
        detail=float(rng.uniform(0.5, 1.0)),
        double=float(rng.uniform(0.0, 0.3)),
    )


# -------------------------------------------------------------------------- layout
def placement(parts: Sequence[Part], pose: Pose, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Affine map object -> pixel coordinates ``(A (2, 2), b (2,))`` for a ``side``-px image.

    The object's visible parts, mirrored and rotated, are scaled so their longest side is
    ``pose.scale`` of the image and shifted by ``pose.shift`` of the room left on each axis.
    """
    pts = np.concatenate([p.points for p in parts if p.kind in ("fill", "mark")])  # (N, 2)
    mirror = np.diag([-1.0 if pose.flip else 1.0, 1.0])
    c, s = np.cos(pose.angle), np.sin(pose.angle)
    lin = np.array([[c, -s], [s, c]]) @ mirror  # (2, 2) object -> rotated object
    q = pts @ lin.T
    lo, hi = q.min(0), q.max(0)
    k = 2.0 * pose.scale / float((hi - lo).max())  # to [-1, 1] image units
    room = np.maximum(1.0 - (hi - lo) * k / 2, 0.0)
    offset = -(lo + hi) / 2 * k + np.asarray(pose.shift) * room * 0.9
    to_px = np.diag([side / 2, -side / 2])  # y up -> rows down
    return to_px @ (lin * k), to_px @ offset + side / 2


def _px(points: Points, affine: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    a, b = affine
    return np.asarray(points) @ a.T + b  # (N, 2) pixel (x, y)


def _xy(points: np.ndarray) -> list[float]:
    """Flat ``[x0, y0, x1, y1, ...]`` list, as PIL's drawing functions accept."""
    return np.asarray(points, dtype=float).ravel().tolist()


def silhouette(
    parts: Sequence[Part], affine: tuple[np.ndarray, np.ndarray], side: int
) -> Image.Image:
    """The object's mask (mode ``L``, 255 inside): fills and holes in order."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    for part in parts:
        if part.kind in ("fill", "hole"):
            draw.polygon(_xy(_px(part.points, affine)), fill=255 if part.kind == "fill" else 0)
    return mask


# --------------------------------------------------------------------------- photo
def _jitter_colour(rgb: RGB, rng: np.random.Generator, random_hue: bool = False) -> np.ndarray:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    h = rng.random() if random_hue else (h + rng.normal(0, 0.02)) % 1.0
    s = float(np.clip(s * rng.uniform(0.75, 1.15), 0, 1))
    v = float(np.clip(v * rng.uniform(0.75, 1.15), 0.05, 1))
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255


def _random_colour(rng: np.random.Generator, sat: float, val: tuple[float, float]) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, sat), rng.uniform(*val))
    return np.array(rgb) * 255


def _low_freq(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] of shape (side, side): a random grid upsampled bicubically."""
    grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((side, side), Image.BICUBIC), dtype=np.float32) / 255


def _gradient(rng: np.random.Generator, side: int) -> np.ndarray:
    """A linear ramp in [-1, 1] of shape (side, side) along a random direction."""
    phi = rng.uniform(0, 2 * np.pi)
    axis = np.linspace(-1, 1, side, dtype=np.float32)
    ramp = np.cos(phi) * axis[None, :] + np.sin(phi) * axis[:, None]
    return ramp / np.sqrt(2)


def _background(rng: np.random.Generator, side: int) -> Image.Image:
    """Gradient between two colours, soft texture, a possible ground, random clutter."""
    low = max(side // 4, 8)  # the smooth part is computed small and upsampled
    c1, c2 = (_random_colour(rng, 0.6, (0.35, 0.95)).astype(np.float32) for _ in range(2))
    t = (_gradient(rng, low)[..., None] + 1) / 2  # (s, s, 1)
    bg = c1 * (1 - t) + c2 * t
    bg = bg * (0.85 + 0.3 * _low_freq(rng, low, 6)[..., None])
    if rng.random() < 0.4:  # ground plane
        horizon = int(low * rng.uniform(0.55, 0.85))
        bg[horizon:] = bg[horizon:] * 0.4 + _random_colour(rng, 0.5, (0.3, 0.8)) * 0.6
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)).resize(
        (side, side), Image.BILINEAR
    )
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(c) for c in _random_colour(rng, 0.5, (0.2, 1.0)))
        cx, cy = rng.uniform(0, side, 2)
        rx, ry = rng.uniform(0.04, 0.25, 2) * side
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
        elif kind == 1:
            box = rotate(np.array([[-rx, -ry], [rx, -ry], [rx, ry], [-rx, ry]]), rng.uniform(0, 3))
            draw.polygon(_xy(box + (cx, cy)), fill=colour)
        else:
            end = (cx + rng.uniform(-1, 1) * side / 2, cy + rng.uniform(-1, 1) * side / 2)
            draw.line([(cx, cy), end], fill=colour, width=int(rng.integers(1, 6)))
    return image


def render_photo(
    parts: Sequence[Part], *, palette: Sequence[RGB], pose: Pose, rng: np.random.Generator,
    size: int, supersample: int = SUPERSAMPLE,
) -> Image.Image:
    """An RGB photo of the object, ``size`` × ``size``."""
    side = size * supersample
    affine = placement(parts, pose, side)
    tones = [
        _jitter_colour(c, rng, random_hue=(i == 0 and rng.random() < 0.2))
        for i, c in enumerate(palette)
    ]
    colour = Image.new("RGB", (side, side))
    draw = ImageDraw.Draw(colour)
    for part in parts:
        if part.kind == "fill":
            draw.polygon(
                _xy(_px(part.points, affine)), fill=tuple(int(c) for c in tones[part.tone])
            )
    mask = silhouette(parts, affine, side)
    shade = 1 + rng.uniform(0.15, 0.4) * _gradient(rng, side)  # (S, S) directional light
    shade *= 0.88 + 0.24 * _low_freq(rng, side, int(rng.integers(4, 12)))
    obj = np.asarray(colour, dtype=np.float32) * shade[..., None]  # (S, S, 3)
    obj_image = Image.fromarray(np.clip(obj, 0, 255).astype(np.uint8))
    image = _background(rng, side)
    if rng.random() < 0.5:  # soft drop shadow
        dx, dy = (int(v) for v in rng.integers(-side // 20, side // 20 + 1, 2))
        shadow = mask.transform(mask.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy))
        shadow = shadow.filter(ImageFilter.GaussianBlur(side / 60)).point(lambda v: v * 45 // 100)
        image = Image.composite(Image.new("RGB", image.size), image, shadow)
    image = Image.composite(obj_image, image, mask)
    draw = ImageDraw.Draw(image)
    scale_px = float(np.linalg.norm(affine[0][:, 0]))  # pixels per object unit
    for part in parts:
        rgb = tuple(int(c) for c in tones[min(part.tone, len(tones) - 1)])
        if part.kind == "mark":
            draw.polygon(_xy(_px(part.points, affine)), fill=rgb)
        elif part.kind == "line":
            dark = tuple(int(c * 0.55) for c in rgb)
            width = max(1, round(float(part.width * scale_px)))
            draw.line(_xy(_px(part.points, affine)), fill=dark, width=width, joint="curve")
    image = image.resize((size, size), Image.LANCZOS)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.8))))
    sigma = rng.uniform(0, 4)
    noisy = np.asarray(image, dtype=np.float32) + sigma * rng.standard_normal(
        (size, size, 3), dtype=np.float32
    )
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


# -------------------------------------------------------------------------- sketch
def _resample(points: np.ndarray, step: float, closed: bool) -> np.ndarray:
    """Points every ``step`` px along the polyline (closing it first if ``closed``)."""
    pts = np.vstack([points, points[:1]]) if closed else points
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc_len = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(arc_len[-1] // step), 2)
    t = np.linspace(0.0, arc_len[-1], n, endpoint=not closed)
    return np.stack([np.interp(t, arc_len, pts[:, 0]), np.interp(t, arc_len, pts[:, 1])], 1)


def _smooth_noise(rng: np.random.Generator, n: int, width: int, closed: bool) -> np.ndarray:
    """(n, 2) Gaussian-smoothed white noise with unit standard deviation."""
    kernel = np.exp(-0.5 * (np.arange(-2 * width, 2 * width + 1) / width) ** 2)
    kernel /= kernel.sum()
    pad = len(kernel) // 2
    if closed:  # periodic noise: pad the sequence with its own wrapped ends
        base = rng.normal(size=(n, 2))
        reps = -(-pad // n) + 1
        raw = np.tile(base, (2 * reps + 1, 1))[reps * n - pad : reps * n + n + pad]
    else:
        raw = rng.normal(size=(n + 2 * pad, 2))
    out = np.stack([np.convolve(raw[:, i], kernel, mode="valid") for i in range(2)], 1)
    return out / (out.std() + 1e-9)


def _runs(keep: np.ndarray, closed: bool) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of True runs; a closed run may wrap (stop > n)."""
    n = len(keep)
    if keep.all():
        return [(0, n + (1 if closed else 0))]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(int), [0]])))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    if closed and len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == n:
        runs = [(runs[-1][0], n + runs[0][1])] + runs[1:-1]
    return runs


def _stroke_pieces(
    points: np.ndarray, closed: bool, rng: np.random.Generator, style: StrokeStyle, px: float
) -> list[np.ndarray]:
    """Break a wobbled path into pen strokes with gaps, overlaps and overshooting ends."""
    n = len(points)
    pieces: list[np.ndarray] = []
    start = int(rng.integers(0, n)) if closed else 0
    end = start + n + (1 if closed else 0)
    i = start
    while i < end - 1:
        length = int(rng.integers(10, 36))
        stop = min(i + length, end)
        idx = np.arange(i, stop) % n
        piece = points[idx] + rng.normal(0, style.wobble * px * 0.5, 2)
        if len(piece) >= 2:
            for head in (True, False):  # overshoot past the corner the pen turns at
                if rng.random() < 0.5:
                    a, b = (piece[0], piece[1]) if head else (piece[-1], piece[-2])
                    d = (a - b) / (np.linalg.norm(a - b) + 1e-9)
                    d = rotate(d[None], rng.normal(0, 0.2))[0]
                    ext = a + d * rng.uniform(0.5, 3.0) * px
                    piece = np.vstack([ext, piece]) if head else np.vstack([piece, ext])
            pieces.append(piece)
        if stop >= end:
            break
        i = stop + (
            int(rng.integers(1, 4)) if rng.random() < style.gap else -int(rng.integers(0, 3))
        )
    return pieces


def _draw_piece(
    draw: ImageDraw.ImageDraw,
    piece: np.ndarray,
    rng: np.random.Generator,
    style: StrokeStyle,
    px: float,
    ink: int,
) -> None:
    """Draw one pen stroke in chunks of varying width (pressure), thinner at both ends."""
    n = len(piece)
    base = style.width * px * rng.uniform(0.8, 1.2)
    chunk = max(3, n // 4)
    for a in range(0, n - 1, chunk - 1):
        seg = piece[a : a + chunk]
        mid = (a + min(a + chunk, n) - 1) / 2 / max(n - 1, 1)  # position along the stroke
        pressure = 0.55 + 0.45 * np.sin(np.pi * mid) * rng.uniform(0.8, 1.2)
        width = max(1, round(float(base * pressure)))
        shade = min(max(ink + int(rng.integers(-12, 13)), 0), 160)
        draw.line(_xy(seg), fill=shade, width=width, joint="curve")


def _hand_draw(
    draw: ImageDraw.ImageDraw,
    path: np.ndarray,
    closed: bool,
    rng: np.random.Generator,
    style: StrokeStyle,
    px: float,
) -> None:
    """Wobble a path (px: pixels per output pixel), split it into strokes and draw them."""
    if len(path) < 2:
        return
    wobble = _smooth_noise(rng, len(path), 4, closed) * style.wobble * px
    drift = _smooth_noise(rng, len(path), 12, closed) * style.wobble * px * 1.5
    moved = path + wobble + drift
    for piece in _stroke_pieces(moved, closed, rng, style, px):
        _draw_piece(draw, piece, rng, style, px, style.ink)
        if rng.random() < style.double:  # a second, lighter pass
            again = piece + rng.normal(0, style.wobble * px, 2)
            _draw_piece(draw, again, rng, style, px, min(style.ink + 60, 200))


def render_sketch(
    parts: Sequence[Part], *, pose: Pose, rng: np.random.Generator, size: int,
    supersample: int = SUPERSAMPLE,
) -> Image.Image:
    """An RGB sketch (dark strokes on white) of the object, ``size`` × ``size``."""
    side = size * supersample
    px = float(supersample)  # canvas pixels per output pixel
    affine = placement(parts, pose, side)
    inside = np.asarray(silhouette(parts, affine, side), dtype=bool)  # (S, S)
    reach = np.arange(-supersample - 1, supersample + 2)
    window = np.stack(np.meshgrid(reach, reach), -1).reshape(-1, 2)  # (W, 2) (dx, dy)
    style = sample_style(rng)
    canvas = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(canvas)
    step = 1.5 * px
    for part in parts:
        closed = part.kind != "line"
        path = _resample(_px(part.points, affine), step, closed)
        if part.kind in ("fill", "hole"):  # outline only where it bounds the silhouette
            cols = np.clip(path[:, :1].astype(int) + window[:, 0], 0, side - 1)  # (N, W)
            rows = np.clip(path[:, 1:].astype(int) + window[:, 1], 0, side - 1)
            around = inside[rows, cols]  # is each window pixel inside the silhouette?
            keep = around.any(1) & ~around.all(1)  # on the silhouette's boundary
            for a, b in _runs(keep, closed):
                if b - a >= 3:
                    run = path[np.arange(a, b) % len(path)]
                    _hand_draw(draw, run, False, rng, style, px)
        elif rng.random() < style.detail:
            _hand_draw(draw, path, closed, rng, style, px)
    return canvas.resize((size, size), Image.LANCZOS).convert("RGB")
