"""The mask overlay drawn over the spectrogram: what each layer holds, in its own colour.

A bin's opacity is the mask's value times the layer's opacity, whatever the mixture's level
there: a mask over a quiet region shows as plainly as one over a loud region.  Where layers
share a bin, the one that holds most of it gives its colour (soft layers keep their own colours
instead of blending into one).  In outline mode each layer's region (values >= 0.5) is drawn as a
contour in its colour with a dark edge outside it, readable on any colour map, over a faint fill.

A brush dab must not recompose the whole view: the :class:`OverlayComposer` keeps every layer's
values at screen resolution as the last full composition left them, and on an edit pools again
only the changed layers over the screen cells the edit's box meets (reading just those bins and
frames, :func:`pooled_area`), then composes that sub-rectangle from the cache into the RGBA image
in place.  Composition is local to a pixel (a contour to its four neighbours), so the result is
identical, bit for bit, to composing the whole view again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from maskstudio.editing.edits import Box
from maskstudio.editing.tiles import cell_ranges, channel_mean, pool_max

__all__ = ["compose", "difference", "Scene", "compose_scene", "pooled_area", "cells_meeting",
           "OverlayComposer", "DENSE_CELLS"]

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


DENSE_CELLS = 1 << 21  #: bins x frames read at once by :func:`pooled_area` (8 MB of float32)

ValuesOf = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
OracleOf = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Scene:
    """What the overlay draws besides the values: which layers, how, and the residual."""

    n_layers: int
    shown: tuple = ()  #: the rows of the layers drawn (solo ones, else the visible ones)
    colors: tuple = ()  #: their RGB colours
    opacities: tuple = ()
    residual: tuple | None = None  #: (colour, opacity) of the residual when it is shown
    outline: bool = False
    difference: int | None = None  #: draw this layer minus its oracle instead of the layers

    @classmethod
    def of(cls, doc, *, outline: bool = False, difference: int | None = None) -> Scene:
        """The scene of ``doc``'s layers as they are now."""
        layers = doc.layers
        solo = any(layer.solo for layer in layers)
        shown = tuple(i for i, layer in enumerate(layers)
                      if (layer.solo if solo else layer.visible))
        res = doc.residual
        return cls(len(layers), shown, tuple(tuple(layers[i].color) for i in shown),
                   tuple(float(layers[i].opacity) for i in shown),
                   (tuple(res.color), float(res.opacity)) if res.visible and layers else None,
                   bool(outline), difference)

    def needs(self) -> range | tuple:
        """The layers whose values the composition reads."""
        if self.difference is not None:
            return (self.difference,)
        return range(self.n_layers)


def compose_scene(values: dict, scene: Scene, oracle: np.ndarray | None = None,
                  shape: tuple | None = None) -> np.ndarray:
    """RGBA ``[h, w, 4]`` of ``scene`` from the layers' values (``{row: [h, w]}``, every row
    of :meth:`Scene.needs`); ``oracle`` is the oracle's values in difference mode."""
    if scene.difference is not None:
        return difference(values[scene.difference] - oracle)
    residual = None
    if scene.residual is not None:
        residual = (np.clip(1 - sum(values[i] for i in range(scene.n_layers)), 0, 1),
                    *scene.residual)
    if not scene.shown and residual is None:
        h, w = shape if shape is not None else next(iter(values.values())).shape
        return np.zeros((h, w, 4), np.uint8)
    return compose([values[i] for i in scene.shown], list(scene.colors),
                   list(scene.opacities), residual=residual, outline=scene.outline)


def pooled_area(store, layer: int, rows: np.ndarray, cols: np.ndarray,
                channel: int | None = None) -> np.ndarray:
    """``store.pooled(layer, rows, cols, channel=channel)`` of a small area, reading only the
    bins and frames
    under its cells (``store.pooled`` visits every bin of each tile the columns meet).

    Parameters
    ----------
    store : TiledMasks
        The masks.
    layer : int
        The layer pooled.
    rows, cols : ndarray
        Display cell edges in bins and frames, as :meth:`TiledMasks.pooled` takes them.
    channel : int, optional
        The channel drawn of per-channel masks (None: their mean over the channels).

    Returns
    -------
    ndarray
        ``[rows.size - 1, cols.size - 1]`` float32, equal to ``store.pooled``.
    """
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    n_bins, n_frames = store.n_bins, store.n_frames
    starts, stops = cell_ranges(cols)
    t0, t1 = int(starts[0]), int(stops[-1])
    # the bins pool_max reads: from the first cell's to the last cell's end (it clips edges
    # past the data to the data's height, which ``top`` is whenever an edge reaches it)
    f0 = min(int(rows[0]), n_bins - 1)
    clipped = np.minimum(rows, n_bins)
    top = min(n_bins, max(int(clipped[-1]), int(clipped[-2]) + 1))
    if (top - f0) * (t1 - t0) > DENSE_CELLS:
        return store.pooled(layer, rows, cols, channel=channel)
    end = min(t1, n_frames)
    if t0 >= end or not _any_tile(store, layer, t0, end):
        return np.zeros((rows.size - 1, cols.size - 1), dtype=np.float32)
    vals = np.abs(store.read([layer], f0, top, t0, end)[0])
    if store.lead:
        vals = vals[channel] if channel is not None \
            else channel_mean(vals, tuple(range(len(store.lead))))
    if end < t1:  # frames past the end read as zeros, as the last tile's padding does
        vals = np.pad(vals, ((0, 0), (0, t1 - end)))
    return pool_max(vals, rows - f0, starts - t0).astype(np.float32, copy=False)


def _any_tile(store, layer: int, t0: int, t1: int) -> bool:
    tiles = store.stored_tiles(layer)
    return any(k in tiles for k in range(t0 // store.tile, (t1 - 1) // store.tile + 1))


def cells_meeting(edges: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The display cells ``[i0, i1)`` (of ``edges``, as :func:`cell_ranges` reads them) that
    meet the bins or frames ``[lo, hi)``."""
    starts, stops = cell_ranges(edges)
    return (int(np.searchsorted(stops, lo, side="right")),
            int(np.searchsorted(starts, hi, side="left")))


class OverlayComposer:
    """The overlay of one view and the screen-resolution values it was composed from.

    :meth:`compose` draws the whole view and keeps every layer's values (and the oracle's in
    difference mode); :meth:`update` redraws the sub-rectangle an edit's box meets, pooling
    again only the layers it names.  The cache holds for one grid (``rows``, ``cols``), one
    scene and one ``key`` (what else the values depend on: the layers, a preview, the grid of
    the document); :meth:`update` under any other composes the whole view again.
    """

    def __init__(self) -> None:
        self.rgba: np.ndarray | None = None  #: the overlay, ``[h, w, 4]`` uint8
        self.rows: np.ndarray | None = None
        self.cols: np.ndarray | None = None
        self._values: dict[int, np.ndarray] = {}
        self._oracle: np.ndarray | None = None
        self._scene: Scene | None = None
        self._key: Hashable = None

    def clear(self) -> None:
        """Forget the cache (the next :meth:`update` composes the whole view)."""
        self._scene = None

    def matches(self, scene: Scene, key: Hashable = None) -> bool:
        """Whether :meth:`update` under ``scene`` and ``key`` redraws only a box (else it
        composes the whole view again)."""
        return self.rgba is not None and scene == self._scene and key == self._key

    def compose(self, scene: Scene, rows, cols, values_of: ValuesOf,
                oracle_of: OracleOf | None = None, key: Hashable = None) -> np.ndarray:
        """The whole overlay over ``rows`` x ``cols`` (a new array), cached."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        self._values = {i: values_of(i, rows, cols) for i in scene.needs()}
        self._oracle = None
        if scene.difference is not None and oracle_of is not None:
            self._oracle = oracle_of(rows, cols)
        self.rows, self.cols, self._scene, self._key = rows, cols, scene, key
        self.rgba = compose_scene(self._values, scene, self._oracle,
                                  (rows.size - 1, cols.size - 1))
        return self.rgba

    def update(self, box: Box, scene: Scene, values_of: ValuesOf,
               oracle_of: OracleOf | None = None, key: Hashable = None,
               layers: Sequence[int] | None = None) -> tuple[slice, slice] | None:
        """Redraw, in :attr:`rgba`, the cells that ``box`` (bins x frames) meets after the
        values of ``layers`` (None: any layer) changed there.  Returns the rows and columns
        redrawn, or None when nothing was.  Under another scene or key the whole view is
        composed again, in place."""
        if self.rgba is None or self.rows is None or self.cols is None:
            return None
        rows, cols = self.rows, self.cols
        n_rows, n_cols = rows.size - 1, cols.size - 1
        if scene != self._scene or key != self._key:
            shown = self.rgba  # the array the view's image wraps: redrawn in place
            shown[...] = self.compose(scene, rows, cols, values_of, oracle_of, key)
            self.rgba = shown
            return slice(0, n_rows), slice(0, n_cols)
        r0, r1 = cells_meeting(rows, box.f0, box.f1)
        c0, c1 = cells_meeting(cols, box.t0, box.t1)
        r1, c1 = min(r1, n_rows), min(c1, n_cols)
        if r1 <= r0 or c1 <= c0:
            return None
        # pool one more row and column than needed: a sub-grid's last cell is pooled to the
        # end of its last edge, the whole grid's to the next cell's start
        er, ec = min(n_rows, r1 + 1), min(n_cols, c1 + 1)
        sub_rows, sub_cols = rows[r0:er + 1], cols[c0:ec + 1]
        changed = scene.needs() if layers is None else [i for i in layers if i in self._values]
        for i in changed:
            self._values[i][r0:r1, c0:c1] = values_of(i, sub_rows, sub_cols)[:r1 - r0, :c1 - c0]
        # a contour pixel depends on its four neighbours: one more pixel each side changes,
        # composed with one more of context
        m = 1 if scene.outline and scene.difference is None else 0
        a0, a1 = max(0, r0 - 2 * m), min(n_rows, r1 + 2 * m)
        b0, b1 = max(0, c0 - 2 * m), min(n_cols, c1 + 2 * m)
        part = compose_scene({i: v[a0:a1, b0:b1] for i, v in self._values.items()}, scene,
                             None if self._oracle is None else self._oracle[a0:a1, b0:b1],
                             (a1 - a0, b1 - b0))
        k0, k1 = max(0, r0 - m), min(n_rows, r1 + m)
        l0, l1 = max(0, c0 - m), min(n_cols, c1 + m)
        self.rgba[k0:k1, l0:l1] = part[k0 - a0:k1 - a0, l0 - b0:l1 - b0]
        return slice(k0, k1), slice(l0, l1)
