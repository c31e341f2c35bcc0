"""The mask overlay drawn over the spectrogram: what each layer holds, in its own colour.

A bin's opacity is the mask's value times the layer's opacity, whatever the mixture's level
there: a mask over a quiet region shows as plainly as one over a loud region.  Where layers
share a bin, the one that holds most of it gives its colour (soft layers keep their own colours
instead of blending into one).  In outline mode each layer's region (values >= 0.5) is drawn as a
contour in its colour with a dark edge outside it, readable on any colour map, over a faint fill.
"""

from __future__ import annotations

import numpy as np

DIFF_MORE = np.array([255, 150, 30], np.uint8)  #: the mask takes more than the oracle
DIFF_LESS = np.array([40, 150, 255], np.uint8)  #: the mask takes less than the oracle
OUTLINE_LEVEL = 0.5  #: a layer's region, in outline mode
OUTLINE_FILL = 0.3  #: the fill's share of its opacity in outline mode
EDGE = np.array([0, 0, 0, 220], np.uint8)  #: the dark edge outside a contour


def compose(values, colors, opacities, *, residual=None, outline: bool = False) -> np.ndarray:
    """RGBA ``[h, w, 4]`` uint8 of the shown layers.

    Parameters
    ----------
    values : list of ndarray
        The shown layers' mask values ``[h, w]`` in [0, 1] on the display grid.
    colors, opacities : sequences
        Each shown layer's RGB colour and opacity in [0, 1].
    residual : (ndarray, color, opacity) or None
        The residual's values (1 − Σ of every layer) when it is shown.
    outline : bool
        Draw contours of ``values >= 0.5`` over a faint fill instead of the fill alone.
    """
    layers = list(zip(values, colors, opacities))
    if residual is not None:
        layers.append(residual)
    if not layers:
        return np.zeros(values[0].shape + (4,) if values else (1, 1, 4), np.uint8)
    h, w = layers[0][0].shape
    alpha = np.stack([np.clip(v, 0, 1) * float(o) for v, _, o in layers]).astype(np.float32)
    palette = np.array([c for _, c, _ in layers], np.uint8)
    top = np.argmax(alpha, axis=0)
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = palette[top]
    a = np.take_along_axis(alpha, top[None], axis=0)[0]
    out[..., 3] = np.round(255 * a * (OUTLINE_FILL if outline else 1.0)).astype(np.uint8)
    if outline:
        for v, c, o in layers:
            inside = v >= OUTLINE_LEVEL
            if not inside.any():
                continue
            edge, outside = _contour(inside)
            out[outside] = EDGE
            out[edge, :3] = c
            out[edge, 3] = int(round(255 * max(float(o), 0.6)))
    return out


def difference(d: np.ndarray) -> np.ndarray:
    """RGBA of ``mask − oracle``: orange where the mask takes more, blue where less."""
    out = np.zeros(d.shape + (4,), np.uint8)
    out[..., :3] = np.where((d > 0)[..., None], DIFF_MORE, DIFF_LESS)
    out[..., 3] = np.round(255 * np.clip(np.abs(d) * 1.5, 0, 1)).astype(np.uint8)
    return out


def _contour(inside: np.ndarray):
    """The pixels of a region next to its outside (the contour) and the outside pixels next to
    the region (its dark edge); a region touching the border of the view is not closed there."""
    p = np.pad(inside, 1, mode="edge")
    near_out = ~(p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:])
    near_in = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return inside & near_out, ~inside & near_in
