"""Parts of the spectrogram view: its colour maps and automatic contrast, its frequency axis,
the pooling of a preview onto the display grid, the waveform's envelope, and the view box
that hands the mouse to the tools."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from maskstudio.editing.edits import Box
from maskstudio.editing.spectrogram import DB_FLOOR, DB_STEP, from_scale, to_scale
from maskstudio.editing.tiles import cell_ranges, pool_max

COLORMAPS = ("grey", "inferno", "viridis", "magma", "CET-L4", "turbo")


def lookup_table(name: str) -> np.ndarray:
    if name == "grey":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp] * 3, axis=1)
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False)


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
    lo, hi = (DB_FLOOR + DB_STEP * np.percentile(sample, AUTO_PERCENTILES)).tolist()
    hi = max(hi + 3.0, DB_FLOOR + AUTO_MIN_SPAN)
    return (float(min(lo, hi - AUTO_MIN_SPAN)), float(hi))


class FrequencyAxis(pg.AxisItem):
    """Labels a linear, log or mel axis in Hz / kHz."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale_name = "linear"

    def tickValues(self, minVal, maxVal, size):
        if self.scale_name == "linear":
            return super().tickValues(minVal, maxVal, size)
        lo = float(from_scale(minVal, self.scale_name))
        hi = float(from_scale(maxVal, self.scale_name))
        nice = [f * m for m in (1, 10, 100, 1000, 10000) for f in (20, 50, 100, 200, 500)]
        nice = sorted({n for n in nice if lo <= n <= hi})
        minor = sorted({f * m for m in (10, 100, 1000, 10000) for f in range(1, 10)
                        if lo <= f * m <= hi} - set(nice))
        to = lambda v: [float(to_scale(x, self.scale_name)) for x in v]  # noqa: E731
        return [(1.0, to(nice)), (0.5, to(minor[:: max(1, len(minor) // 12)]))]

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            hz = float(from_scale(v, self.scale_name)) if self.scale_name != "linear" else v
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
    """Min/max of the viewed signal per block of 1024 samples, for drawing long waveforms fast;
    zoomed in, the samples on screen are read directly."""

    BLOCK = 1024

    def __init__(self, spec):
        self.spec = spec
        n = spec.n_samples // self.BLOCK
        lo, hi = np.zeros(n, np.float32), np.zeros(n, np.float32)
        step = 256 * self.BLOCK
        for a in range(0, n * self.BLOCK, step):
            b = min(n * self.BLOCK, a + step)
            blocks = spec.segment(a, b).reshape(-1, self.BLOCK)
            lo[a // self.BLOCK:b // self.BLOCK] = blocks.min(axis=1)
            hi[a // self.BLOCK:b // self.BLOCK] = blocks.max(axis=1)
        self.lo, self.hi = lo, hi

    def view(self, x0: float, x1: float, n: int, sr: int):
        total = self.spec.n_samples
        a = min(max(0, int(x0 * sr)), max(total - 2, 0))
        b = min(total, max(a + 2, int(x1 * sr)))
        per = max(1, (b - a) // n)
        if per >= self.BLOCK and self.lo.size:
            a_b, b_b = a // self.BLOCK, max(a // self.BLOCK + 1, b // self.BLOCK)
            lo, hi = self.lo[a_b:b_b], self.hi[a_b:b_b]
            step = max(1, lo.size // n)
            m = max(step, lo.size // step * step)
            lo, hi = lo[:m].reshape(-1, step).min(axis=1), hi[:m].reshape(-1, step).max(axis=1)
            t = (a_b + np.arange(lo.size) * step) * self.BLOCK / sr
            return t, lo, hi
        seg = self.spec.segment(a, b)
        m = seg.size // per * per
        if m == 0:
            return np.array([a / sr]), np.zeros(1), np.zeros(1)
        lo = seg[:m].reshape(-1, per).min(axis=1)
        hi = seg[:m].reshape(-1, per).max(axis=1)
        t = (a + np.arange(lo.size) * per) / sr
        return t, lo, hi


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
                and self._view.tool in ("brush", "eraser"):
            ev.accept()  # a dab, not a seek: the play cursor is moved on the ruler
            self._view.tool_click(ev)
            return
        super().mouseClickEvent(ev)
