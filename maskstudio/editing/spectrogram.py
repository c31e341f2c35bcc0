"""What the spectrogram view shows: a uint8 dB image, filled block by block, pooled to screen.

The image is the magnitude of one signal (the mid of the channels, or one channel) in dB full
scale, quantised to 0.5 dB steps in a uint8 (a 60-minute file is 318 MB instead of 2.5 GB of
complex STFT).  Blocks are computed on request, so the part on screen can come first and the
rest follow in the background.  :func:`row_edges` maps display rows to bins for a linear, log
or mel frequency axis; :meth:`SpectrogramImage.render` max-pools the image to the viewport.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from maskstudio.dsp.stft import STFTConfig, get_window, stft_frames_with
from maskstudio.editing.tiles import cell_ranges, pool_max
from maskstudio.errors import ParameterError

__all__ = ["SpectrogramImage", "DB_FLOOR", "DB_STEP", "FREQ_SCALES", "to_scale", "from_scale",
           "row_edges", "level_of", "db_of"]

DB_FLOOR = -120.0  #: level 0
DB_STEP = 0.5  #: dB per level; level 255 is +7.5 dBFS
FREQ_SCALES = ("linear", "log", "mel")
LOG_FMIN = 20.0


def level_of(db):
    """uint8 level of a dB value (clipped to the image's range)."""
    return np.clip(np.round((np.asarray(db) - DB_FLOOR) / DB_STEP), 0, 255).astype(np.uint8)


def db_of(level):
    return DB_FLOOR + DB_STEP * np.asarray(level, dtype=np.float32)


def to_scale(freq, scale: str):
    """Frequency in Hz to the display axis of ``scale``."""
    f = np.asarray(freq, dtype=np.float64)
    if scale == "linear":
        return f
    if scale == "log":
        return np.log10(np.maximum(f, LOG_FMIN))
    if scale == "mel":
        return 2595.0 * np.log10(1 + f / 700.0)
    raise ParameterError(f"unknown frequency scale {scale!r}: choose {', '.join(FREQ_SCALES)}")


def from_scale(y, scale: str):
    """Display-axis value back to Hz."""
    y = np.asarray(y, dtype=np.float64)
    if scale == "linear":
        return y
    if scale == "log":
        return 10 ** y
    if scale == "mel":
        return 700.0 * (10 ** (y / 2595.0) - 1)
    raise ParameterError(f"unknown frequency scale {scale!r}: choose {', '.join(FREQ_SCALES)}")


def row_edges(y0: float, y1: float, n_rows: int, scale: str, bin_hz: float, n_bins: int
              ) -> np.ndarray:
    """First bin of each of ``n_rows`` display rows spanning ``[y0, y1]`` on the scale's axis,
    plus the end edge: ``n_rows + 1`` non-decreasing bin indices in ``[0, n_bins]``."""
    ys = np.linspace(y0, y1, n_rows + 1)
    f = from_scale(ys, scale)
    edges = np.floor(f / bin_hz + 0.5).astype(np.intp)
    return np.clip(edges, 0, n_bins)


def time_edges(t0: float, t1: float, n_cols: int, n_frames: int) -> np.ndarray:
    """First frame of each of ``n_cols`` display columns over frames ``[t0, t1]``, plus the end."""
    edges = np.floor(np.linspace(t0, t1, n_cols + 1)).astype(np.intp)
    return np.clip(edges, 0, n_frames)


class SpectrogramImage:
    """uint8 dB image ``[F, T]`` of one view of ``samples [C, n]`` (the mid of the channels, or
    channel ``channel``), filled by blocks.  The mid is formed block by block, never held."""

    BLOCK = 512  #: frames per block

    def __init__(self, samples: np.ndarray, config: STFTConfig, channel="mid"):
        self.samples = samples if samples.ndim == 2 else np.asarray(samples)[None]
        self.channel = channel
        self.config = config
        self.n_samples = self.samples.shape[-1]
        self.n_bins = config.n_bins
        self.n_frames = config.n_frames(self.n_samples)
        # np.zeros maps untouched pages lazily: memory grows as blocks are computed
        self.levels = np.zeros((self.n_bins, self.n_frames), dtype=np.uint8)
        self.n_blocks = -(-self.n_frames // self.BLOCK)
        self.done = np.zeros(self.n_blocks, dtype=bool)
        self._win = get_window(config.window, config.win_length, config.n_fft)
        # the segment handed over is already padded as ``center`` pads: frame it uncentred
        self._frames_config = dataclasses.replace(config, center=False)
        self._ref = float(self._win.sum()) / 2  # a full-scale sine peaks at 0 dB
        self._lock = threading.Lock()

    @property
    def reference(self) -> float:
        """The magnitude that reads as 0 dB: a full-scale sine's peak."""
        return self._ref

    def segment(self, start: int, stop: int) -> np.ndarray:
        """The viewed signal over samples ``[start, stop)``, zero outside the file."""
        out = np.zeros(stop - start, dtype=np.float32)
        a, b = max(start, 0), min(stop, self.n_samples)
        if b > a:
            x = self.samples[:, a:b]
            out[a - start:b - start] = x.mean(axis=0) if self.channel == "mid" \
                else x[int(self.channel)]
        return out

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def blocks_for(self, t0: int, t1: int) -> range:
        return range(max(0, t0 // self.BLOCK), min(self.n_blocks, -(-t1 // self.BLOCK)))

    def compute_block(self, b: int) -> None:
        if self.done[b]:
            return
        t0, t1 = b * self.BLOCK, min(self.n_frames, (b + 1) * self.BLOCK)
        cfg = self.config
        offset = cfg.n_fft // 2 if cfg.center else 0
        start = t0 * cfg.hop_length - offset
        seg = self.segment(start, (t1 - 1) * cfg.hop_length + cfg.n_fft - offset)
        S = stft_frames_with(seg, 0, t1 - t0, self._frames_config)
        mag = np.abs(S)
        mag *= np.float32(1 / self._ref)
        np.maximum(mag, np.float32(1e-9), out=mag)
        db = np.log10(mag)
        db *= np.float32(20 / DB_STEP)
        db -= np.float32(DB_FLOOR / DB_STEP - 0.5)  # + 0.5: round to the nearest level
        np.clip(db, 0, 255, out=db)
        with self._lock:
            self.levels[:, t0:t1] = db.astype(np.uint8)
            self.done[b] = True

    def compute_range(self, t0: int, t1: int) -> None:
        for b in self.blocks_for(t0, t1):
            self.compute_block(b)

    def pending_blocks(self, first: range | None = None) -> list:
        """Blocks still to compute, those of ``first`` (the viewport) at the front."""
        todo = [b for b in range(self.n_blocks) if not self.done[b]]
        if first is None:
            return todo
        front = [b for b in first if not self.done[b]]
        return front + [b for b in todo if b not in set(front)]

    def render(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Max-pooled levels ``[len(rows) - 1, len(cols) - 1]`` (see :func:`row_edges`)."""
        starts, stops = cell_ranges(cols)
        a, b = int(starts[0]), int(stops[-1])
        return pool_max(self.levels[:, a:b], rows, starts - a)

    def db_at(self, f: int, t: int) -> float:
        return float(db_of(self.levels[f, t]))
