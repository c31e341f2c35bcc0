"""The view's selection tools beyond dragged shapes: what they draw and what a click picks.

- the outline of a selection (a dragged rectangle, band, time range or lasso, or the box of
  a picked one) and the tint of a picked selection's strength, pooled to the display grid
  as the overlay is (so it stays right on a log or mel axis);
- the *pick* tools, whose selection comes from the sound at the click
  (:mod:`maskstudio.editing.selections`): ``"harmonic"`` (the clicked partial's harmonics,
  tracked to the note's ends, or over the time a drag went along, previewed when the mouse
  stops) and ``"wand"`` (the connected region within a tolerance of the clicked level, on
  what the view shows).

Their options live in :class:`ToolOptions` (the window's option bar sets them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui

from maskstudio.editing import selections
from maskstudio.editing.edits import Box
from maskstudio.editing.spectrogram import from_scale, to_scale
from maskstudio.ui.view_parts import pool_box

__all__ = ["PICK_TOOLS", "ToolOptions", "Picker", "SelectionTint", "outline_path"]

#: tools whose selection is picked from the sound at a click (or along a drag)
PICK_TOOLS = ("harmonic", "wand")


@dataclasses.dataclass
class ToolOptions:
    """The pick tools' options."""

    width_cents: float = 50.0  #: harmonic: each harmonic's band
    falloff_db: float = 0.0  #: harmonic: strength lost per harmonic
    non_harmonic: bool = False  #: harmonic: everything but the harmonics, in their frames
    tolerance_db: float = 6.0  #: wand: how far from the clicked level a bin may be
    within_layer: bool = False  #: wand: only where the active layer holds a share
    snap: bool = False  #: rectangle and band: frequency edges snapped to spectral peaks


def grid_to_view(view: Any, f: float, t: float) -> QtCore.QPointF:
    """A (bin, frame) point in the view's data coordinates (seconds, scale)."""
    x = t * view.doc.frame_seconds
    y = float(to_scale(max(f * view.doc.bin_hz, 1e-3), view.freq_scale))
    return QtCore.QPointF(x, y)


def outline_path(view: Any, drag_points: list, from_selection: bool) -> QtGui.QPainterPath:
    """The dashed outline: of the drag in progress through ``drag_points``, or of the
    selection made (a lasso's own points, else the selection's box)."""
    path = QtGui.QPainterPath()
    pts = drag_points if not from_selection or view.tool == "lasso" else []
    if from_selection and view.selection is None:
        pts = []
    elif from_selection and (view.tool != "lasso" or len(pts) <= 2):
        b = view.selection[0]
        pts = [(b.f0 - 0.5, b.t0 - 0.5), (b.f1 - 0.5, b.t0 - 0.5),
               (b.f1 - 0.5, b.t1 - 0.5), (b.f0 - 0.5, b.t1 - 0.5)]
    elif not from_selection and view.tool != "lasso" and len(pts) >= 2:
        (f0, t0), (f1, t1) = pts[0], pts[-1]
        if view.tool == "time":
            f0, f1 = 0, view.doc.n_bins
        elif view.tool == "band":
            t0, t1 = 0, view.doc.n_frames
        pts = [(f0, t0), (f1, t0), (f1, t1), (f0, t1)]
    if pts:
        path.moveTo(grid_to_view(view, *pts[0]))
        for p in pts[1:]:
            path.lineTo(grid_to_view(view, *p))
        path.closeSubpath()
    return path


def cells_of(edges: np.ndarray) -> int:
    """How many display cells a grid's ``edges`` make."""
    return max(1, int(edges.size) - 1)


class SelectionTint:
    """A picked selection's strength drawn as a light tint over the view (its bounding box
    alone would not show which bins a harmonic or wand selection holds)."""

    def __init__(self, view: Any):
        self.view = view
        self.item = pg.ImageItem()
        self.item.setZValue(9)
        view.plot.addItem(self.item)
        self.shown = False  #: whether the selection is tinted (a picked one)

    def redraw(self, rows: np.ndarray | None, cols: np.ndarray | None,
               rect: QtCore.QRectF | None) -> None:
        """Draw the tint on the display grid ``rows`` x ``cols`` that covers ``rect``."""
        view = self.view
        sel = view.selection
        if not self.shown or sel is None or rows is None or cols is None or rect is None:
            self.item.setVisible(False)
            return
        box, alpha = sel
        a = pool_box(np.asarray(alpha, np.float32), box, rows, cols, view.doc.n_bins)
        on_rows, on_cols = np.nonzero(a.any(axis=1))[0], np.nonzero(a.any(axis=0))[0]
        if not on_rows.size:
            self.item.setVisible(False)
            return
        r0, r1, c0, c1 = on_rows[0], on_rows[-1] + 1, on_cols[0], on_cols[-1] + 1
        a = a[r0:r1, c0:c1]  # only the cells it covers are drawn (and repainted)
        rgba = np.empty(a.shape + (4,), np.uint8)
        rgba[..., :3] = (255, 236, 120)
        rgba[..., 3] = (a * 150).astype(np.uint8)
        self.item.setImage(rgba, autoLevels=False, levels=None)
        dx, dy = rect.width() / cells_of(cols), rect.height() / cells_of(rows)
        self.item.setRect(QtCore.QRectF(rect.x() + c0 * dx, rect.y() + r0 * dy,
                                        (c1 - c0) * dx, (r1 - r0) * dy))
        self.item.setVisible(True)


class Picker:
    """The harmonic and wand tools of a view: a click picks, a drag along a partial picks
    over the drag's time span (previewed each time the mouse stops, after
    :attr:`SETTLE_MS`), the release picks for good."""

    SETTLE_MS = 30

    def __init__(self, view: Any):
        self.view = view
        self.options = ToolOptions()
        self._press: tuple | None = None
        self._last: tuple | None = None
        self._timer = QtCore.QTimer(view, singleShot=True, interval=self.SETTLE_MS)
        self._timer.timeout.connect(self._settled)

    def click(self, grid: tuple) -> None:
        self.pick(grid, None)

    def drag(self, press: tuple, now: tuple, finished: bool) -> None:
        self._press, self._last = press, now
        if finished:
            self._timer.stop()
            self.pick(press, now)
        else:
            self._timer.start()

    def _settled(self) -> None:
        if self._press is not None and self._last is not None:
            self.pick(self._press, self._last)

    def pick(self, press: tuple, release: tuple | None) -> None:
        """Select what the tool picks at ``press`` = (bin, frame) (a drag: to ``release``)."""
        view = self.view
        doc, o = view.doc, self.options
        f, t = press
        if view.tool == "harmonic":
            span = None
            if release is not None and abs(release[1] - t) >= 2:
                a, b = sorted((t, release[1]))
                span = (int(a), int(np.ceil(b)) + 1)
            sel = selections.harmonic_selection(
                doc, t, max(f, 1.0) * doc.bin_hz, span=span, width_cents=o.width_cents,
                falloff_db=o.falloff_db, inverse=o.non_harmonic)
            what = "no partial was found there: click on a harmonic's line"
        else:
            sel = selections.wand_selection(
                doc, self.visible_box(), (int(round(f)), int(round(t))),
                tolerance_db=o.tolerance_db,
                within=view.active_layer if o.within_layer and doc.layers else None)
            what = "nothing to select there" + (
                ": the active layer holds nothing at the click" if o.within_layer else "")
        if sel is None:
            view.said.emit(what)
        view.set_selection(sel, tinted=True)

    def snapped(self, selection: tuple) -> tuple:
        """A rectangle or band selection with its frequency edges snapped to peaks (a band's
        spectrum is that of the frames on screen)."""
        view = self.view
        box = selection[0]
        frames = view.shown_frames() if view.tool == "band" else None
        box = selections.snap_to_peaks(view.doc, box, frames=frames)
        return box, np.ones(box.shape, np.float32)

    def visible_box(self) -> Box:
        """The bins and frames on screen."""
        view = self.view
        doc = view.doc
        (_, _), (y0, y1) = view.vb.viewRange()
        lo = float(from_scale(y0, view.freq_scale)) / doc.bin_hz
        hi = float(from_scale(y1, view.freq_scale)) / doc.bin_hz
        t0, t1 = view.shown_frames()
        return Box(max(0, int(np.floor(lo))), min(doc.n_bins, int(np.ceil(hi)) + 1),
                   t0, t1).clip(doc.n_bins, doc.n_frames)
