"""The spectrogram with its mask overlay, the waveform strip above it, and the editing tools.

Rendering follows pyqtgraph's rules for speed: only the viewport is drawn, at screen
resolution (max-pooled from the document), as a uint8 image with a 256-entry lookup table and
explicit levels, under a uint8 RGBA overlay of the layers.  After an edit only the screen
columns of the changed box are recomputed.  Axes: seconds across; Hz on a linear, log or mel
scale up.  The wheel zooms time (Ctrl: frequency); dragging with the middle button, or with the
hand tool, pans.  A click with the brush paints one dab; a click on the waveform or the time
ruler (or a Shift+click on the spectrogram) moves the play cursor.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.editing.edits import Box, brush_stroke
from maskstudio.editing.spectrogram import (
    DB_FLOOR,
    DB_STEP,
    from_scale,
    row_edges,
    time_edges,
    to_scale,
)
from maskstudio.errors import MaskStudioError
from maskstudio.ui import overlay
from maskstudio.ui.active_layer import ActiveLayer
from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.overlay import DIFF_LESS, DIFF_MORE  # noqa: F401 - the view's legend
from maskstudio.ui.overlay_worker import (
    INLINE_BINS,
    OverlayWorker,
    PendingNote,
    view_cost,
    view_scene,
)
from maskstudio.ui.view_parts import (  # noqa: F401
    COLORMAPS,
    CursorInfo,
    EditViewBox,
    Envelope,
    FillControl,
    FrequencyAxis,
    RasterImage,
    auto_range,
    color_map,
    hover_only_when_released,
    lookup_table,
    pool_box,
    repaint_cells,
    rgb32,
    rgb32_table,
    selection_footprint,
)
from maskstudio.ui.view_tools import PICK_TOOLS, Picker, SelectionTint, outline_path

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

TOOLS = ("brush", "eraser", "rect", "time", "band", "lasso", "harmonic", "wand", "pan")
SELECTION_TOOLS = ("rect", "time", "band", "lasso")
LONG_FILE_SECONDS = 300.0  #: longer files open zoomed on their beginning
OPENING_SECONDS = 60.0


def opening_frames(doc) -> int:
    """How many frames the view opens on: all of a file, the first minute of a long one."""
    long = doc.n_frames * doc.frame_seconds > LONG_FILE_SECONDS
    return min(doc.n_frames, int(OPENING_SECONDS / doc.frame_seconds) + 2) if long \
        else doc.n_frames


class SpectrogramView(QtWidgets.QWidget):
    """Shows a :class:`~maskstudio.editing.document.Document` and edits it with the mouse."""

    cursorMoved = QtCore.Signal(object)  # dict for the status line, or None
    rendered = QtCore.Signal()
    selectionChanged = QtCore.Signal()
    errorRaised = QtCore.Signal(str)
    said = QtCore.Signal(str)  # a tool's word for the status bar (nothing was picked)

    def __init__(self, parent=None, active=None):
        super().__init__(parent)
        self.doc = None
        self._subscriptions = Subscriptions(self)
        #: the active layer, shared with the Layers panel (see :attr:`active_layer`)
        self.active = active if active is not None else ActiveLayer(self)
        self.tool = "brush"
        self.brush_px = 12.0
        self.hardness = 0.8
        self.brush_value = 1.0
        self.freq_scale = "linear"
        self.db_range = (-100.0, 0.0)
        self.colormap = "grey"
        self.sounds_like = False  # show mask x mixture for the active layer
        self.outline = False  # layers as contours of mask >= 0.5 over a faint fill
        self.auto_levels = True  # the dB range from percentiles of what is on screen
        self.shown_db = self.db_range  # the dB range in use (automatic or db_range)
        self.selection = None  # (Box, alpha) in bins and frames
        self.preview = None  # (Box, values) drawn instead of the active layer (threshold)
        self.difference = None  # {layer: (oracle store, index)}: draw mask − oracle instead
        self.composer = overlay.OverlayComposer()  # the overlay and the values it was made of
        self.overlay_worker = OverlayWorker(self)  # a wide view's overlay, composed beside
        self.overlay_worker.ready.connect(self._overlay_ready)
        self.overlay_worker.failed.connect(lambda exc: self.errorRaised.emit(str(exc)))
        self.pending_note = PendingNote(self, self.overlay_worker)
        self._stroke_last = None
        self._drag_points = []
        self._rows = self._cols = self._rect = None

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#1b1b1f")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.wave = self.graphics.addPlot(row=0, col=0)
        self.wave.setMaximumHeight(90)
        self.wave.setMouseEnabled(x=True, y=False)
        self.wave.hideAxis("bottom")
        self.wave.getAxis("left").setWidth(56)
        self.wave.setMenuEnabled(False)
        self.wave_curve = self.wave.plot(pen=pg.mkPen("#8fb3ff", width=1))
        self.vb = EditViewBox(self)
        self.freq_axis = FrequencyAxis("left")
        self.plot = self.graphics.addPlot(row=1, col=0, viewBox=self.vb,
                                          axisItems={"left": self.freq_axis})
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.hideButtons()  # pyqtgraph's "A" (auto range): Ctrl+0 fits
        self.wave.hideButtons()
        self.plot.setLabel("left", "frequency (Hz)")
        self.freq_axis.setWidth(56)
        self.wave.setXLink(self.plot)
        self.image = RasterImage()
        self.overlay = pg.ImageItem()
        self.plot.addItem(self.image)
        self.plot.addItem(self.overlay)
        self.sel_item = QtWidgets.QGraphicsPathItem()
        self.sel_item.setPen(pg.mkPen("#ffffff", width=1.5, style=QtCore.Qt.PenStyle.DashLine))
        self.sel_item.setZValue(10)
        self.vb.addItem(self.sel_item, ignoreBounds=True)
        self.tint, self.picker = SelectionTint(self), Picker(self)  # the pick tools
        self.cursor_item = QtWidgets.QGraphicsEllipseItem()
        self.cursor_item.setPen(pg.mkPen("#ffffff", width=1))
        self.cursor_item.setZValue(11)
        self.cursor_item.setVisible(False)
        self.vb.addItem(self.cursor_item, ignoreBounds=True)
        self._info = CursorInfo(self, lambda: self.doc, self.cursorMoved.emit)
        self._render_timer = QtCore.QTimer(self, singleShot=True, interval=15)
        self._render_timer.timeout.connect(self.render)
        self.filling = FillControl(  # the window cancels it when it closes
            self, redraw=self._render_timer.start, failed=self.errorRaised.emit,
            redraw_wave=lambda: self._render_wave(*self.vb.viewRange()[0]),
            shown=lambda: None if self._cols is None else self.shown_frames())
        self.vb.sigRangeChanged.connect(lambda *a: self._render_timer.start())
        self.vb.sigResized.connect(lambda *a: self._render_timer.start())
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        hover_only_when_released(self.plot.scene())
        self.colorbar = pg.ColorBarItem(values=self.db_range, width=12, interactive=False,
                                        colorMap=color_map(self.colormap), label="dB")
        self.graphics.addItem(self.colorbar, row=1, col=1)
        self.empty = QtWidgets.QLabel("Open a file (Ctrl+O) or drop one here", self)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("#emptyState { background: #1b1b1f; color: #9a9aa6; "
                                 "font-size: 15px; }")

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.empty.setGeometry(self.rect())  # the empty state covers the unlabelled axes

    # -- document ---------------------------------------------------------------------------
    @property
    def active_layer(self) -> int | None:
        """The row of the layer the tools act on: always a layer that exists, None only when
        there is none (the shared :class:`~maskstudio.ui.active_layer.ActiveLayer`)."""
        return self.active.index

    @active_layer.setter
    def active_layer(self, index: int) -> None:
        self.active.set(index)

    def set_document(self, doc) -> None:
        self.doc = doc
        subs = self._subscriptions
        subs.clear()
        subs.connect(doc.events.masks, lambda e: self.update_overlay(e.box, e.layers))
        subs.connect(doc.events.layers, lambda e: self.update_overlay(None))
        # a history event (a stroke ended, undo) changes no value by itself: what it changed
        # came as masks and layers events, so it recomposes nothing (a wide view's overlay
        # would be composed again after every stroke)
        subs.connect(doc.events.spectrogram, self._spectrogram_changed)
        self.empty.hide()
        self.selection = None
        self.preview = None
        self.active.set_document(doc)
        self.filling.follow(doc.spectrogram)
        self.vb.setLimits(xMin=-1.0, xMax=self.duration + 1.0)
        self.zoom_to_fit()
        if self.duration > LONG_FILE_SECONDS:  # open long files on their first minute
            self.vb.setXRange(0, OPENING_SECONDS, padding=0)
        self.render()

    @property
    def duration(self) -> float:
        return self.doc.n_frames * self.doc.frame_seconds if self.doc else 1.0

    def zoom_to_fit(self) -> None:
        if self.doc is None:
            return
        ny = self.doc.samplerate / 2
        lo = to_scale(0 if self.freq_scale != "log" else 20.0, self.freq_scale)
        self.vb.setYRange(float(lo), float(to_scale(ny, self.freq_scale)), padding=0)
        self.vb.setXRange(0, self.duration, padding=0)
        self.wave.setYRange(-1, 1, padding=0.02)

    def set_freq_scale(self, scale: str) -> None:
        (x0, x1), (y0, y1) = self.vb.viewRange()
        hz0, hz1 = from_scale(y0, self.freq_scale), from_scale(y1, self.freq_scale)
        self.freq_scale = scale
        self.freq_axis.scale_name = scale
        self.vb.setYRange(float(to_scale(max(hz0, 20 if scale == "log" else 0), scale)),
                          float(to_scale(hz1, scale)), padding=0)
        self.freq_axis.picture = None
        self.freq_axis.update()
        self.render()

    def _spectrogram_changed(self, event) -> None:
        self.filling.follow(self.doc.spectrogram)
        self._render_timer.start()

    # -- coordinates --------------------------------------------------------------------------
    def to_grid(self, x: float, y: float) -> tuple:
        """Data coordinates (seconds, scale) to fractional (bin, frame)."""
        hz = float(from_scale(y, self.freq_scale))
        return hz / self.doc.bin_hz, x / self.doc.frame_seconds

    def pixel_size(self) -> tuple:
        """Seconds and scale units per screen pixel."""
        px = self.vb.viewPixelSize()
        return float(px[0]), float(px[1])

    # -- rendering ----------------------------------------------------------------------------
    def _view_grid(self):
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w = max(1, int(self.vb.width()))
        h = max(1, int(self.vb.height()))
        fs = self.doc.frame_seconds
        cols = time_edges(x0 / fs + 0.5, x1 / fs + 0.5, w, self.doc.n_frames)
        rows = row_edges(y0, y1, h, self.freq_scale, self.doc.bin_hz, self.doc.n_bins)
        return (x0, x1, y0, y1), rows, cols

    def render(self) -> None:
        if self.doc is None:
            return
        (x0, x1, y0, y1), rows, cols = self._view_grid()
        self._rows, self._cols, self._rect = rows, cols, QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
        spec = self.doc.spectrogram
        spec.fill.follow(int(cols[0]), int(max(cols[-1], cols[0] + 1)), cols)  # never computed
        levels = spec.render(rows, cols)
        if self.sounds_like and self.doc.layers:
            k = min(self.active_layer or 0, len(self.doc.layers) - 1)
            m = self.doc.store.pooled(k, rows, cols, channel=self.shown_channel())
            gain = 20 * np.log10(np.maximum(m, 1e-6)) / DB_STEP
            levels = np.clip(levels + gain, 0, 255).astype(np.uint8)
        self.shown_db = auto_range(levels) if self.auto_levels else self.db_range
        lo, hi = ((np.asarray(self.shown_db) - DB_FLOOR) / DB_STEP)
        self._levels = levels  # the picture: the levels' colours, drawn as Qt's RGB32
        self.image_levels = (float(lo), float(hi))
        self.image.setImage(rgb32(levels, rgb32_table(self.colormap, lo, hi)),
                            autoLevels=False, levels=None)
        self.colorbar.setLevels(self.shown_db)
        if self.colorbar.colorMap().name != self.colormap:
            self.colorbar.setColorMap(color_map(self.colormap))
        self.image.setRect(self._rect)
        self._draw_overlay(rows, cols, self._rect)
        self.tint.redraw(rows, cols, self._rect)
        self._render_wave(x0, x1)
        self.rendered.emit()

    def _draw_overlay(self, rows, cols, rect) -> None:
        """Compose the overlay here, or beside when the view holds too much of the masks
        (:mod:`maskstudio.ui.overlay_worker`): the last one stays until the new one is ready."""
        args = self._overlay_scene(rows, cols)
        if view_cost(self.doc.store, args[0], self.difference, rows, cols) > INLINE_BINS:
            self.overlay_worker.request(args, (rows, rect))
            return
        self.overlay_worker.cancel()
        composer = overlay.OverlayComposer()
        composer.compose(*args)
        self._show_overlay(composer, rect)

    def _overlay_ready(self, composer, context, edits) -> None:
        rows, rect = context
        if self.doc is None or rows is not self._rows:
            return  # a newer view has been asked for since
        _, _, _, values_of, oracle_of, key = args = self._overlay_scene(rows, self._cols)
        for box, layers in edits:  # what was painted while it was composed
            composer.update(box, args[0], values_of, oracle_of, key, layers)
        self._show_overlay(composer, rect)

    def _show_overlay(self, composer, rect) -> None:
        self.composer = composer
        # uint8 RGBA without levels: pyqtgraph wraps the array in a QImage, no conversion
        self._overlay = composer.rgba
        self.overlay.setImage(self._overlay, autoLevels=False, levels=None)
        self.overlay.setRect(rect)

    def shown_frames(self) -> tuple[int, int]:
        """The frames the last render showed, ``(start, stop)``."""
        cols = self._cols
        return int(cols[0]), int(max(cols[-1], cols[0] + 1))

    def visible_db(self) -> np.ndarray:
        """dB of what is on screen (pooled), for the levels histogram."""
        return DB_FLOOR + DB_STEP * self._levels[::2, ::2].astype(np.float32)

    def _render_wave(self, x0, x1) -> None:
        n = max(2, int(self.vb.width()))
        t, lo, hi = self.filling.envelope.view(x0, x1, n, self.doc.samplerate)
        self.wave_curve.setData(np.repeat(t, 2), np.stack([lo, hi], axis=1).ravel(),
                                connect="pairs")

    def shown_channel(self) -> int | None:
        """The channel whose masks the overlay draws (a channel view), or None: the mean of
        the channels (the mid or side view, or masks shared by the channels)."""
        channel = self.doc.view_channel if self.doc is not None else "mid"
        return None if channel in ("mid", "side") else int(channel)

    def set_difference(self, difference) -> None:
        """Show the active layer minus its oracle (``{layer: (store, j)}``), or None."""
        if difference is None and self.difference is None:
            return  # nothing to redraw (this is asked on every document change)
        self.difference = difference
        self.update_overlay(None)

    def _overlay_scene(self, rows, cols) -> tuple:
        """What the overlay shows now (:func:`~maskstudio.ui.overlay_worker.view_scene`)."""
        return view_scene(self.doc, rows, cols, preview=self.preview,
                          active=self.active_layer, difference=self.difference,
                          outline=self.outline, channel=self.shown_channel())

    def _compose(self, rows, cols, levels=None) -> np.ndarray:
        """RGBA of the layers over the view, composed afresh (see :mod:`maskstudio.ui.overlay`):
        a bin's opacity is its mask value times the layer's opacity, whatever the mixture's
        level."""
        return overlay.OverlayComposer().compose(*self._overlay_scene(rows, cols))

    def update_overlay(self, box: Box | None, layers=None) -> None:
        """Redraw the overlay where ``box`` meets the view (all of it for None): the cached
        values of the other layers, the changed ones (``layers``; None: any) pooled again."""
        if self.doc is None or self._rows is None:
            return
        if self.sounds_like or box is None:
            self.render()
            return
        scene, _, _, values_of, oracle_of, key = self._overlay_scene(self._rows, self._cols)
        if self.overlay_worker.busy:  # the view being composed beside gets this dab too
            self.overlay_worker.note_edit(box, layers)
            if not self.composer.matches(scene, key):
                return
        # the overlay shown (the view's, or the last one while another is composed beside)
        redrawn = self.composer.update(box, scene, values_of, oracle_of, key, layers)
        if redrawn is not None:
            repaint_cells(self.overlay, self.composer.rgba, *redrawn)  # that box, in place

    # -- tools ----------------------------------------------------------------------------
    def _brush_radii(self, f: float) -> tuple:
        sx, sy = self.pixel_size()
        fs = self.doc.frame_seconds
        y = float(to_scale(max(f * self.doc.bin_hz, 1.0), self.freq_scale))
        dhz = float(from_scale(y + sy, self.freq_scale) - from_scale(y, self.freq_scale))
        return (max(0.5, self.brush_px * abs(dhz) / self.doc.bin_hz),
                max(0.5, self.brush_px * sx / fs))

    def _paint_to(self, f: float, t: float) -> None:
        doc = self.doc
        k = self.active_layer
        rf, rt = self._brush_radii(f)
        pts = [(f, t)] if self._stroke_last is None else [self._stroke_last, (f, t)]
        box, alpha = brush_stroke(pts, rf, rt, hardness=self.hardness, n_bins=doc.n_bins,
                                  n_frames=doc.n_frames)
        self._stroke_last = (f, t)
        value = 0.0 if self.tool == "eraser" else self.brush_value
        doc.apply(k, box, alpha, value)

    def tool_drag(self, ev) -> None:
        if self.doc is None:
            return
        pos = self.vb.mapSceneToView(ev.scenePos())
        f, t = self.to_grid(pos.x(), pos.y())
        try:
            if self.tool in ("brush", "eraser"):
                if not self.doc.layers:
                    raise MaskStudioError("there is no layer to paint on: add one with "
                                          "Masks > New layer (Ctrl+N)")
                if ev.isStart():
                    # the drag is reported from the first move: start where the button went down
                    self._stroke_last = None
                    self.doc.begin_edit("erase" if self.tool == "eraser" else "brush")
                    self._paint_to(*self._press_grid(ev))
                self._paint_to(f, t)
                if ev.isFinish():
                    self.doc.end_edit()
                    self._stroke_last = None
            elif self.tool in SELECTION_TOOLS:
                if ev.isStart():
                    self._drag_points = [self._press_grid(ev)]
                self._drag_points.append((f, t))
                self._draw_selection_outline()
                if ev.isFinish():
                    self._finish_selection()
            elif self.tool in PICK_TOOLS:
                self.picker.drag(self._press_grid(ev), (f, t), ev.isFinish())
        except Exception as exc:  # noqa: BLE001 - every failed stroke gets its dialog
            self._stroke_failed(exc)

    def tool_click(self, ev) -> None:
        """A click with the brush or the eraser paints one dab: one undo step."""
        if self.doc is None:
            return
        pos = self.vb.mapSceneToView(ev.scenePos())
        if self.tool in PICK_TOOLS:
            try:
                self.picker.click(self.to_grid(pos.x(), pos.y()))
            except Exception as exc:  # noqa: BLE001 - a failed pick gets its dialog
                self._stroke_failed(exc)
            return
        try:
            if not self.doc.layers:
                raise MaskStudioError("there is no layer to paint on: add one with "
                                      "Masks > New layer (Ctrl+N)")
            self._stroke_last = None
            self.doc.begin_edit("erase" if self.tool == "eraser" else "brush")
            self._paint_to(*self.to_grid(pos.x(), pos.y()))
            self.doc.end_edit()
        except Exception as exc:  # noqa: BLE001 - every failed dab gets its dialog
            self._stroke_failed(exc)
        finally:
            self._stroke_last = None

    def _stroke_failed(self, exc) -> None:
        if self.doc.history.recording:
            self.doc.end_edit()
        from maskstudio.reporting import describe_failure

        self.errorRaised.emit(describe_failure(exc)[0])

    def is_seek_click(self, ev) -> bool:
        """Whether a click moves the play cursor: a left click on the waveform or on the time
        ruler under the spectrogram, or a Shift+click on the spectrogram."""
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return False
        p = ev.scenePos()
        if self.wave.sceneBoundingRect().contains(p) \
                or self.plot.getAxis("bottom").sceneBoundingRect().contains(p):
            return True
        shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        return shift and self.vb.sceneBoundingRect().contains(p)

    def _press_grid(self, ev) -> tuple:
        pos = self.vb.mapSceneToView(ev.buttonDownScenePos())
        return self.to_grid(pos.x(), pos.y())

    def _finish_selection(self) -> None:
        doc = self.doc
        sel = selection_footprint(self.tool, self._drag_points, doc.n_bins, doc.n_frames)
        if self.picker.options.snap and self.tool in ("rect", "band") and not sel[0].empty:
            sel = self.picker.snapped(sel)
        self.set_selection(None if sel[0].empty else sel)

    def set_selection(self, selection, tinted: bool = False) -> None:
        """Select ``(Box, alpha)`` (None: nothing); ``tinted``: its strength is drawn."""
        self.selection = selection
        self.tint.shown = tinted
        self._draw_selection_outline(from_selection=True)
        self.tint.redraw(self._rows, self._cols, self._rect)
        self.selectionChanged.emit()

    def _draw_selection_outline(self, from_selection: bool = False) -> None:
        self.sel_item.setPath(outline_path(self, self._drag_points, from_selection))

    def _mouse_moved(self, scene_pos) -> None:
        if self.doc is None or not self.plot.sceneBoundingRect().contains(scene_pos):
            self.cursor_item.setVisible(False)
            self.cursorMoved.emit(None)
            return
        pos = self.vb.mapSceneToView(scene_pos)
        f, t = self.to_grid(pos.x(), pos.y())
        if self.tool in ("brush", "eraser"):
            sx, sy = self.pixel_size()
            r = self.brush_px
            self.cursor_item.setRect(QtCore.QRectF(pos.x() - r * sx, pos.y() - r * sy,
                                                   2 * r * sx, 2 * r * sy))
            self.cursor_item.setVisible(True)
        else:
            self.cursor_item.setVisible(False)
        self._info.put((pos.x(), float(from_scale(pos.y(), self.freq_scale)), f, t),
                       soon=self._stroke_last is not None)  # mid-stroke: a few times a second
