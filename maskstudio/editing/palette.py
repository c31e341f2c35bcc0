"""Layer colours that stay apart: from each other, for any number of layers, and from the grey
spectrogram under them.

The first ten are a qualitative palette of saturated colours (CIELAB chroma >= 44, pairwise
ΔE >= 28); after them each new colour is the saturated colour farthest (in CIELAB) from every
colour already in use, so a twentieth layer is as easy to tell apart as possible.
"""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = ["PALETTE", "next_color", "lab", "delta_e"]

PALETTE = [(230, 25, 75), (0, 130, 200), (60, 180, 75), (255, 225, 25), (240, 50, 230),
           (70, 240, 240), (245, 130, 48), (145, 30, 180), (210, 245, 60), (170, 110, 40)]

_CANDIDATES = [tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h / 36, s, v))
               for h in range(36) for s in (0.7, 0.95) for v in (0.75, 1.0)]
MIN_CHROMA = 40.0  #: no candidate is near a grey of the colour map


def lab(rgb) -> np.ndarray:
    """CIELAB (D65) of sRGB colours ``[..., 3]`` in 0-255."""
    c = np.asarray(rgb, np.float64) / 255
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                  [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


_lab = lab(np.array(_CANDIDATES))
_CANDIDATES = [c for c, chroma in zip(_CANDIDATES, np.hypot(_lab[:, 1], _lab[:, 2]))
               if chroma >= MIN_CHROMA]


def delta_e(a, b) -> np.ndarray:
    """CIE76 colour difference of sRGB colours (broadcast)."""
    return np.linalg.norm(lab(a) - lab(b), axis=-1)


def next_color(used) -> tuple:
    """The colour for a new layer when the layers have the colours ``used``: the first palette
    colour not in use, else the candidate farthest from every used colour."""
    used = [tuple(int(v) for v in c) for c in used]
    for c in PALETTE:
        if c not in used:
            return c
    gap = delta_e(np.array(_CANDIDATES)[:, None], np.array(used)[None]).min(axis=1)
    return _CANDIDATES[int(np.argmax(gap))]
