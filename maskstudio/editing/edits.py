"""Mask edits as pure functions on boxes of the ``[freq, time]`` grid.

Every tool (brush, eraser, rectangle, lasso, fill, invert, binarise, smooth, threshold) comes
down to the same step: inside a box, move one layer toward a target value by a per-bin amount
``alpha``, then restore the partition of unity (:func:`rebalance`): what the layer gains comes
first from the residual, then from the other unlocked layers in proportion to their values;
what it gives up goes to the residual.  Locked layers never change.

Footprints are ``(Box, alpha)``: a box in bins and frames and a float32 alpha of its shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from maskstudio.errors import ParameterError

__all__ = ["Box", "brush_stroke", "rectangle", "polygon", "edit_layer", "rebalance",
           "smooth_values"]


@dataclasses.dataclass(frozen=True)
class Box:
    """Half-open ``[f0, f1) x [t0, t1)`` in bins and frames."""

    f0: int
    f1: int
    t0: int
    t1: int

    @property
    def empty(self) -> bool:
        return self.f1 <= self.f0 or self.t1 <= self.t0

    @property
    def shape(self) -> tuple:
        return (max(0, self.f1 - self.f0), max(0, self.t1 - self.t0))

    def clip(self, n_bins: int, n_frames: int) -> Box:
        return Box(max(0, self.f0), min(n_bins, self.f1), max(0, self.t0), min(n_frames, self.t1))

    def union(self, other: Box) -> Box:
        if self.empty:
            return other
        if other.empty:
            return self
        return Box(min(self.f0, other.f0), max(self.f1, other.f1),
                   min(self.t0, other.t0), max(self.t1, other.t1))

    def grow(self, df: int, dt: int) -> Box:
        return Box(self.f0 - df, self.f1 + df, self.t0 - dt, self.t1 + dt)


def _stamp_alpha(df: np.ndarray, dt: np.ndarray, hardness: float) -> np.ndarray:
    """Alpha of a round stamp at normalised distances: 1 inside ``hardness``, a raised-cosine
    fall to 0 at the rim."""
    r = np.sqrt(df ** 2 + dt ** 2)
    if hardness >= 1:
        return (r <= 1).astype(np.float32)
    edge = np.clip((r - hardness) / (1 - hardness), 0, 1)
    return (0.5 * (1 + np.cos(np.pi * edge))).astype(np.float32) * (r <= 1)


def brush_stroke(points: Sequence[tuple], radius_f: float, radius_t: float, *,
                 hardness: float = 0.8, n_bins: int, n_frames: int):
    """Footprint of a brush dragged through ``points`` ``[(bin, frame), ...]``.

    The brush is an ellipse of radii ``radius_f`` bins and ``radius_t`` frames (round on
    screen when the caller converts a pixel radius).  Between points the footprint is the
    swept ellipse, so a fast stroke whose mouse events are far apart leaves no gaps.
    Returns ``(Box, alpha)``, the box clipped to the grid.
    """
    if radius_f <= 0 or radius_t <= 0:
        raise ParameterError("the brush needs a positive size")
    if not 0 <= hardness <= 1:
        raise ParameterError(f"hardness={hardness} must lie in [0, 1]")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return Box(0, 0, 0, 0), np.zeros((0, 0), np.float32)
    f, t = pts[:, 0], pts[:, 1]
    box = Box(int(np.floor(f.min() - radius_f)), int(np.ceil(f.max() + radius_f)) + 1,
              int(np.floor(t.min() - radius_t)), int(np.ceil(t.max() + radius_t)) + 1
              ).clip(n_bins, n_frames)
    if box.empty:
        return box, np.zeros(box.shape, np.float32)
    f = (np.arange(box.f0, box.f1, dtype=np.float64)[:, None])
    t = (np.arange(box.t0, box.t1, dtype=np.float64)[None, :])
    alpha = np.zeros(box.shape, np.float32)
    segments = [(pts[0], pts[0])] if len(pts) == 1 else list(zip(pts[:-1], pts[1:]))
    for p, q in segments:
        # distance (in radii) from each bin to the segment p-q, in the brush's own metric
        d = (q - p) / (radius_f, radius_t)
        u = np.stack(np.broadcast_arrays((f - p[0]) / radius_f, (t - p[1]) / radius_t))
        denom = float(d @ d)
        s = np.clip((u[0] * d[0] + u[1] * d[1]) / denom, 0, 1) if denom > 0 else 0.0
        np.maximum(alpha, _stamp_alpha(u[0] - s * d[0], u[1] - s * d[1], hardness), out=alpha)
    return box, alpha


def rectangle(f0: float, f1: float, t0: float, t1: float, *, n_bins: int, n_frames: int):
    """Footprint of a rectangle from bin/frame coordinates (in any order)."""
    lo_f, hi_f = sorted((f0, f1))
    lo_t, hi_t = sorted((t0, t1))
    box = Box(int(np.floor(lo_f)), int(np.ceil(hi_f)) + 1, int(np.floor(lo_t)),
              int(np.ceil(hi_t)) + 1).clip(n_bins, n_frames)
    return box, np.ones(box.shape, np.float32)


def polygon(vertices: Sequence[tuple], *, n_bins: int, n_frames: int):
    """Footprint of a closed polygon (a lasso) of ``[(bin, frame), ...]``: bins whose centre
    lies inside, by the even-odd rule."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if v.shape[0] < 3:
        return Box(0, 0, 0, 0), np.zeros((0, 0), np.float32)
    box = Box(int(np.floor(v[:, 0].min())), int(np.ceil(v[:, 0].max())) + 1,
              int(np.floor(v[:, 1].min())), int(np.ceil(v[:, 1].max())) + 1).clip(n_bins, n_frames)
    if box.empty:
        return box, np.zeros(box.shape, np.float32)
    f = np.arange(box.f0, box.f1, dtype=np.float64)[:, None]
    t = np.arange(box.t0, box.t1, dtype=np.float64)[None, :]
    inside = np.zeros(box.shape, dtype=bool)
    for (fa, ta), (fb, tb) in zip(v, np.roll(v, -1, axis=0)):
        if ta == tb:
            continue
        crosses = (ta > t) != (tb > t)
        f_at = fa + (t - ta) * (fb - fa) / (tb - ta)
        inside ^= crosses & (f < f_at)
    return box, inside.astype(np.float32)


def rebalance(old: np.ndarray, target_new: np.ndarray, k: int, locked: Sequence[bool]
              ) -> np.ndarray:
    """Set layer ``k`` to ``target_new`` while keeping the layers a partition of unity.

    ``old`` is ``[L, ..., h, w]``.  A gain is taken from the residual ``1 - sum`` first, then
    from the unlocked other layers in proportion to their values; when they cannot give
    enough, layer ``k`` gains only what they can.  A loss goes to the residual.
    """
    old = np.asarray(old, dtype=np.float32)
    new = old.copy()
    is_locked = np.asarray(locked, dtype=bool)
    if is_locked[k]:
        return new
    cur = old[k]
    want = np.clip(np.broadcast_to(target_new, cur.shape), 0, 1).astype(np.float32)
    gain = np.maximum(want - cur, 0)
    residual = np.maximum(1 - old.sum(axis=0), 0)
    from_residual = np.minimum(gain, residual)
    needed = gain - from_residual
    others = [j for j in range(old.shape[0]) if j != k and not is_locked[j]]
    taken = np.zeros_like(cur)
    if others and needed.any():
        pool = old[others].sum(axis=0)
        taken = np.minimum(needed, pool)
        keep = np.where(pool > 0, 1 - taken / np.maximum(pool, 1e-12), 1).astype(np.float32)
        new[others] = old[others] * keep
    new[k] = np.where(want >= cur, cur + from_residual + taken, want)
    return new


def edit_layer(old: np.ndarray, k: int, target: np.ndarray | float, alpha: np.ndarray,
               locked: Sequence[bool]) -> np.ndarray:
    """Move layer ``k`` toward ``target`` by ``alpha`` (0..1 per bin), keeping the partition.

    ``old`` is ``[L, ..., h, w]``; ``target`` a value or an array of the box's shape.
    """
    old = np.asarray(old, dtype=np.float32)
    alpha = np.asarray(alpha, dtype=np.float32)
    cur = old[k]
    want = cur + alpha * (np.asarray(target, dtype=np.float32) - cur)
    return rebalance(old, want, k, locked)


def smooth_values(values: np.ndarray, sigma_f: float, sigma_t: float) -> np.ndarray:
    """Gaussian smoothing of a mask box over frequency and time (in bins and frames)."""
    import scipy.ndimage  # imported on first use, not at start-up

    sig = (0,) * (values.ndim - 2) + (sigma_f, sigma_t)
    return np.clip(scipy.ndimage.gaussian_filter(values, sig, mode="nearest"), 0, 1
                   ).astype(np.float32)
