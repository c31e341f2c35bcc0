"""Parts of the spectrogram view: its colour maps and automatic contrast, its frequency axis,
the pooling of a preview onto the display grid, the waveform's envelope, and the view box
that hands the mouse to the tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui

from maskstudio.editing.edits import Box, polygon, rectangle
from maskstudio.editing.spectrogram import DB_FLOOR, DB_STEP, ENV_BLOCK, from_scale, to_scale
from maskstudio.editing.tiles import cell_ranges, pool_max
from maskstudio.reporting import describe_failure
from maskstudio.ui.bridge import Subscriptions

COLORMAPS = ("grey", "inferno", "viridis", "magma", "CET-L4", "turbo")
#: tools a click acts with (a dab, or a pick: see maskstudio.ui.view_tools)
CLICK_TOOLS = ("brush", "eraser", "harmonic", "wand")


def selection_footprint(tool: str, pts: list, n_bins: int, n_frames: int) -> tuple:
    """``(Box, alpha)`` of a selection dragged through ``pts`` [(bin, frame), ...] with
    ``tool``: "rect", "time" (every bin), "band" (every frame) or "lasso"."""
    (f0, t0), (f1, t1) = pts[0], pts[-1]
    if tool == "rect":
        return rectangle(f0, f1, t0, t1, n_bins=n_bins, n_frames=n_frames)
    if tool == "time":
        return rectangle(0, n_bins, t0, t1, n_bins=n_bins, n_frames=n_frames)
    if tool == "band":
        return rectangle(f0, f1, 0, n_frames, n_bins=n_bins, n_frames=n_frames)
    return polygon(pts, n_bins=n_bins, n_frames=n_frames)


def lookup_table(name: str) -> np.ndarray:
    if name == "grey":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp] * 3, axis=1)
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)


def rgb32_table(name: str, lo: float, hi: float) -> np.ndarray:
    """The colour of each of the 256 levels, as Qt's ``Format_RGB32`` words (``0xffRRGGBB``),
    under the colour map ``name`` stretched over the levels ``[lo, hi)`` (as pyqtgraph maps
    levels through a 256-entry table)."""
    lut = lookup_table(name).astype(np.uint32)
    words = 0xFF000000 | (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]
    span = max(float(hi) - float(lo), 1e-6)
    index = np.clip(np.floor((np.arange(256) - float(lo)) * (256 / span)), 0, 255)
    return words[index.astype(np.intp)].astype(np.uint32)


def rgb32(levels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``[h, w, 4]`` uint8 (B, G, R, 255 in memory) of uint8 ``levels`` through ``table``
    (:func:`rgb32_table`): what :class:`RasterImage` draws."""
    words = np.take(table, levels)
    return words.view(np.uint8).reshape(levels.shape + (4,))


class RasterImage(pg.ImageItem):
    """An image item whose ``[h, w, 4]`` uint8 pictures (from :func:`rgb32`) are wrapped,
    without a copy, as a ``Format_RGB32`` QImage: Qt draws an 800 x 500 screen of it in
    0.4 ms, against 3.2 ms as the ``Indexed8`` image pyqtgraph makes of levels and a lookup
    table (measured offscreen).  Other images are drawn as pyqtgraph draws them."""

    def render(self) -> None:
        image = self.image
        if image is None or image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8 \
                or not image.flags.c_contiguous:
            super().render()
            return
        self.qimage = pg.functions.ndarray_to_qimage(image, QtGui.QImage.Format.Format_RGB32)
        self._renderRequired = False
        self._unrenderable = False


def repaint_cells(item: pg.ImageItem, rgba: np.ndarray | None, rows: slice,
                  cols: slice) -> None:
    """Have Qt repaint the cells ``rows`` x ``cols`` of ``item``'s image, redrawn in place in
    ``rgba``.  When the QImage shown wraps ``rgba`` (pyqtgraph wraps a uint8 RGBA array
    without a copy), only that box of the view is painted again: the spectrogram under it,
    not the whole view nor the axes.  Otherwise the image is wrapped anew and all drawn."""
    shown = getattr(item.qimage, "data", None)
    if item.qimage is None or item._renderRequired or not isinstance(shown, np.ndarray) \
            or rgba is None or not np.shares_memory(shown, rgba):
        item.updateImage()
        return
    # a pixel's margin: the image is scaled to the view, its edges round either way
    item.update(QtCore.QRectF(cols.start - 1, rows.start - 1, cols.stop - cols.start + 2,
                              rows.stop - rows.start + 2))


def color_map(name: str) -> pg.ColorMap:
    """The colour map ``name`` for the colour bar (named, so a change can be seen)."""
    cmap = pg.ColorMap(None, lookup_table(name))
    cmap.name = name
    return cmap


AUTO_PERCENTILES = (2.0, 99.8)  #: automatic contrast: the dB range of these percentiles
AUTO_MIN_SPAN = 40.0  #: ... widened down to at least this many dB


def auto_range(levels: np.ndarray) -> tuple:
    """The dB range that the shown levels (``[h, w]`` uint8 of the display grid) fill: from
    their 2nd to their 99.8th percentile, at least 40 dB wide."""
    sample = levels[::2, ::2] if levels.size > 4096 else levels
    # percentiles of uint8 from their histogram: np.percentile sorts (8 ms a screen)
    counts = np.cumsum(np.bincount(sample.ravel(), minlength=256)) / sample.size
    lo, hi = (DB_FLOOR + DB_STEP * np.searchsorted(
        counts, np.asarray(AUTO_PERCENTILES) / 100)).tolist()
    hi = max(hi + 3.0, DB_FLOOR + AUTO_MIN_SPAN)
    return (float(min(lo, hi - AUTO_MIN_SPAN)), float(hi))


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
NOTE_LABEL_PX = 16  #: the least distance between two note labels on the axis


def note_name(hz: float) -> str:
    """The nearest equal-tempered note (A4 = 440 Hz): ``"A4"``, ``"C#3"``."""
    midi = int(round(69 + 12 * np.log2(max(float(hz), 1e-3) / 440.0)))
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


class FrequencyAxis(pg.AxisItem):
    """Labels a linear, log or mel axis in Hz / kHz, or in note names (:attr:`notes`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale_name = "linear"
        self.notes = False  #: ticks at notes, labelled C4, A4, …

    def _to(self, hz) -> list:
        return [float(to_scale(x, self.scale_name)) for x in hz]

    def _from(self, v: float) -> float:
        return float(from_scale(v, self.scale_name)) if self.scale_name != "linear" else v

    def note_ticks(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N803
        """The Cs of each octave, then the other natural notes, where labels have room."""
        lo, hi = max(self._from(minVal), 16.0), self._from(maxVal)
        if hi <= lo:
            return []
        first = int(np.ceil(69 + 12 * np.log2(lo / 440.0)))
        last = int(np.floor(69 + 12 * np.log2(hi / 440.0)))
        per_px = (maxVal - minVal) / max(size, 1.0)
        taken: list[float] = []
        levels = []
        for keep in ((0,), (2, 4, 5, 7, 9, 11)):
            hz = [440.0 * 2 ** ((m - 69) / 12) for m in range(first, last + 1)
                  if m % 12 in keep]
            chosen = []
            for y in sorted(self._to(hz)):
                if all(abs(y - t) >= NOTE_LABEL_PX * per_px for t in taken):
                    taken.append(y)
                    chosen.append(y)
            levels.append(chosen)
        return [(1.0, levels[0]), (0.5, levels[1])]

    def tickValues(self, minVal, maxVal, size):
        if self.notes:
            return self.note_ticks(minVal, maxVal, size)
        if self.scale_name == "linear":
            return super().tickValues(minVal, maxVal, size)
        lo, hi = self._from(minVal), self._from(maxVal)
        nice = [f * m for m in (1, 10, 100, 1000, 10000) for f in (20, 50, 100, 200, 500)]
        nice = sorted({n for n in nice if lo <= n <= hi})
        minor = sorted({f * m for m in (10, 100, 1000, 10000) for f in range(1, 10)
                        if lo <= f * m <= hi} - set(nice))
        return [(1.0, self._to(nice)), (0.5, self._to(minor[:: max(1, len(minor) // 12)]))]

    def tickStrings(self, values, scale, spacing):
        if self.notes:
            return [note_name(self._from(v)) for v in values]
        out = []
        for v in values:
            hz = self._from(v)
            out.append(f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:.0f}")
        return out


def pool_box(values: np.ndarray, box: Box, rows, cols, n_bins: int) -> np.ndarray:
    """Pool a preview (values over ``box``, zeros elsewhere) onto the display grid."""
    starts, stops = cell_ranges(cols)
    out = np.zeros((rows.size - 1, cols.size - 1), np.float32)
    c0 = int(np.searchsorted(stops, box.t0, side="right"))
    c1 = int(np.searchsorted(starts, box.t1, side="left"))
    if c1 <= c0:
        return out
    full = np.zeros((n_bins, box.t1 - box.t0), np.float32)
    full[box.f0:box.f1] = values
    out[:, c0:c1] = pool_max(full, rows, np.clip(starts[c0:c1], box.t0, box.t1 - 1) - box.t0)
    return out


class Envelope:
    """The waveform of the viewed signal, never read on the GUI thread: the image's envelope
    (min/max per :data:`~maskstudio.editing.spectrogram.ENV_BLOCK` samples, filled with its
    blocks) for long stretches; zoomed in, the samples on screen, which the image's fill reads
    when asked (:meth:`~maskstudio.editing.spectrogram.BlockFill.want_wave`), the envelope
    standing in until they come."""

    BLOCK = ENV_BLOCK

    def __init__(self, spec):
        self.spec = spec

    def view(self, x0: float, x1: float, n: int, sr: int):
        spec = self.spec
        total = spec.n_samples
        a = min(max(0, int(x0 * sr)), max(total - 2, 0))
        b = min(total, max(a + 2, int(x1 * sr)))
        per = max(1, (b - a) // n)
        if per < self.BLOCK or not spec.env_lo.size:
            wave = spec.fill.wave
            if wave is not None and wave[0] <= a and b <= wave[0] + wave[1].size:
                return self._samples(wave[1][a - wave[0]:b - wave[0]], a, per, sr)
            span = b - a  # a margin either side: a small pan needs no new read
            spec.fill.want_wave(max(0, a - span // 2), min(total, b + span // 2))
        if not spec.env_lo.size:
            return np.array([a / sr]), np.zeros(1), np.zeros(1)
        a_b = min(a // self.BLOCK, spec.env_lo.size - 1)
        b_b = max(a_b + 1, b // self.BLOCK)
        lo, hi = spec.env_lo[a_b:b_b], spec.env_hi[a_b:b_b]
        step = max(1, lo.size // n)
        m = max(step, lo.size // step * step)
        lo, hi = lo[:m].reshape(-1, step).min(axis=1), hi[:m].reshape(-1, step).max(axis=1)
        t = (a_b + np.arange(lo.size) * step) * self.BLOCK / sr
        return t, lo, hi

    @staticmethod
    def _samples(seg: np.ndarray, a: int, per: int, sr: int):
        m = seg.size // per * per
        if m == 0:
            return np.array([a / sr]), np.zeros(1), np.zeros(1)
        lo = seg[:m].reshape(-1, per).min(axis=1)
        hi = seg[:m].reshape(-1, per).max(axis=1)
        t = (a + np.arange(lo.size) * per) / sr
        return t, lo, hi


class FillControl:
    """The background fill of the image a view shows (see
    :class:`~maskstudio.editing.spectrogram.BlockFill`) and its waveform's :class:`Envelope`.
    Its events come on the GUI thread: frames on screen (``shown()``, ``(t0, t1)`` or None)
    call ``redraw()``, the waveform's samples ``redraw_wave()``, a failed fill
    ``failed(message)``.  Following another image, or :meth:`cancel` (the window closing),
    stops the fill."""

    def __init__(self, owner: QtCore.QObject, *, redraw: Callable[[], object],
                 redraw_wave: Callable[[], object], shown: Callable[[], Any],
                 failed: Callable[[str], object]):
        self._subs = Subscriptions(owner)
        self._redraw, self._redraw_wave, self._shown, self._failed = \
            redraw, redraw_wave, shown, failed
        self.image: Any = None  #: the image followed
        self.envelope: Envelope | None = None

    def follow(self, image) -> None:
        """Follow ``image``: the previous one's fill stops; this one's starts when the view
        says what it shows (:meth:`~maskstudio.editing.spectrogram.BlockFill.follow`)."""
        if image is self.image:
            return
        self.cancel()
        self.image, self.envelope = image, Envelope(image)
        self._subs.connect(image.fill.filled, self._filled)

    def cancel(self) -> None:
        self._subs.clear()
        if self.image is not None:
            self.image.fill.cancel()
            self.image = None

    @property
    def running(self) -> bool:
        """Whether the image shown is being filled."""
        return self.image is not None and self.image.fill.running

    def _filled(self, event) -> None:
        fill = self.image.fill
        if fill.error is not None:
            error, fill.error = fill.error, None
            self._failed("the spectrogram could not be computed: "
                         + describe_failure(error)[0])
            return
        shown = self._shown()
        if shown is None:
            return
        if event.wave:
            self._redraw_wave()
        elif event.t0 < shown[1] and event.t1 > shown[0]:
            self._redraw()


class CursorInfo:
    """What the status line says of the point under the mouse (seconds, Hz, the dB there and
    each layer's value), said through ``say(info)``: at once, or mid-stroke at most every
    :attr:`INTERVAL_MS` (reading every layer there, on each 100 Hz move of a brush, would
    delay the repaint the move asks for)."""

    INTERVAL_MS = 40

    def __init__(self, owner: QtCore.QObject, doc: Callable[[], Any],
                 say: Callable[[dict], object]):
        self._doc, self._say = doc, say
        self._pending: tuple | None = None
        self._timer = QtCore.QTimer(owner, singleShot=True, interval=self.INTERVAL_MS)
        self._timer.timeout.connect(self.flush)

    def put(self, where: tuple, soon: bool = False) -> None:
        """The mouse is at ``(seconds, hz, bin, frame)``: say so now, or ``soon``."""
        self._pending = where
        if not soon:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        self._timer.stop()
        where, self._pending, doc = self._pending, None, self._doc()
        if where is None or doc is None:
            return
        seconds, hz, f, t = where
        fi, ti = int(round(f)), int(round(t))
        info: dict[str, Any] = {"seconds": seconds, "hz": hz}
        if 0 <= fi < doc.n_bins and 0 <= ti < doc.n_frames:
            if doc.spectrogram.done[ti // doc.spectrogram.BLOCK]:
                info["db"] = doc.spectrogram.db_at(fi, ti)
            info["values"] = doc.values_at(fi, ti)
        self._say(info)


def hover_only_when_released(scene: Any) -> None:
    """Spare ``scene`` (a pyqtgraph GraphicsScene) its hover search on each move of a drag:
    no item may accept a hover mid-drag, yet pyqtgraph looks for the items under the mouse
    every time (1.8 ms a brush dab); hovering resumes with the first move after the release."""
    send = scene.sendHoverEvents

    def send_hover_events(ev: Any, exitOnly: bool = False) -> None:  # noqa: N803 - Qt's name
        if not exitOnly and scene.dragButtons and ev.buttons():
            return
        send(ev, exitOnly)

    scene.sendHoverEvents = send_hover_events


class ToolTarget(Protocol):
    """What the view box hands the mouse to (the spectrogram view)."""

    tool: str

    def tool_drag(self, ev: object) -> None: ...

    def tool_click(self, ev: object) -> None: ...


class EditViewBox(pg.ViewBox):
    """Wheel zooms time (Ctrl+wheel frequency); left drags go to the active tool."""

    def __init__(self, view: ToolTarget):
        super().__init__(enableMenu=False)
        self._view = view

    def wheelEvent(self, ev, axis=None):
        ctrl = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier)
        super().wheelEvent(ev, axis=1 if ctrl else 0)

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == QtCore.Qt.MouseButton.MiddleButton or self._view.tool == "pan" \
                or ev.button() != QtCore.Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        self._view.tool_drag(ev)

    def mouseClickEvent(self, ev):
        shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and not shift \
                and self._view.tool in CLICK_TOOLS:
            ev.accept()  # a dab or a pick, not a seek: the play cursor is moved on the ruler
            self._view.tool_click(ev)
            return
        super().mouseClickEvent(ev)
