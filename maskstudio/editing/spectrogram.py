"""What the spectrogram view shows: a uint8 dB image, filled block by block, pooled to screen.

The image is the magnitude of one signal (the mid of the channels, their side (L - R) / 2, or
one channel; :func:`~maskstudio.editing.channels.view_signal`) in dB full
scale, quantised to 0.5 dB steps in a uint8 (a 60-minute file is 318 MB instead of 2.5 GB of
complex STFT).  Blocks are computed on request, so the part on screen can come first and the
rest follow in the background.  :func:`row_edges` maps display rows to bins for a linear, log
or mel frequency axis; :meth:`SpectrogramImage.render` max-pools the image to the viewport.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from maskstudio.dsp.stft import STFTConfig
from maskstudio.dsp.stream import SampleReader
from maskstudio.editing.channels import view_signal
from maskstudio.editing.events import Emitter
from maskstudio.editing.tiles import cell_ranges
from maskstudio.errors import ParameterError

__all__ = ["SpectrogramImage", "BlockFill", "Filled", "DB_FLOOR", "DB_STEP", "FREQ_SCALES",
           "ENV_BLOCK", "to_scale", "from_scale", "row_edges", "level_of", "db_of"]

DB_FLOOR = -120.0  #: level 0
DB_STEP = 0.5  #: dB per level; level 255 is +7.5 dBFS
FREQ_SCALES = ("linear", "log", "mel")
LOG_FMIN = 20.0
ENV_BLOCK = 1024  #: samples per min/max pair of the waveform's envelope
CHUNK = 128  #: frames per FFT call
PYRAMID = (4, 16, 64)  #: frames per column of the image's coarser copies
#: FFT threads of the fill: the second core, beside the GUI thread (measured in bench_editor)
FFT_WORKERS = 2 if (os.cpu_count() or 1) >= 2 else 1


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
    """uint8 dB image ``[F, T]`` of one view (``channel``: "mid", "side" or a channel index)
    of ``samples``: an array ``[C, n]`` or a reader (``n_channels``, ``n_samples``,
    ``read(start, stop)`` -> ``[C, k]`` float32, zeros outside the file; see
    :class:`~maskstudio.dsp.stream.SampleReader`), filled by blocks.  A block reads only the
    samples its frames need (the centred STFT's padding included), so the values are those
    of the whole file's STFT.  The mid or side is formed block by block, never held.

    Nothing here computes unasked: :meth:`render` pools what is filled (unfilled frames are
    level 0, blank) and :attr:`fill` computes the rest on a thread of its own, the frames on
    screen first (:meth:`BlockFill.follow`).  Its waveform envelope (:attr:`env_lo`,
    :attr:`env_hi`, min and max of each :data:`ENV_BLOCK` samples) fills with the blocks.
    """

    BLOCK = 512  #: frames per block

    def __init__(self, samples: np.ndarray | SampleReader, config: STFTConfig, channel="mid",
                 *, workers: int = FFT_WORKERS):
        if isinstance(samples, np.ndarray):
            self.samples: np.ndarray | None = samples if samples.ndim == 2 else samples[None]
            self.reader: SampleReader | None = None
            self.n_samples = self.samples.shape[-1]
        else:
            self.samples, self.reader = None, samples
            self.n_samples = int(samples.n_samples)
        self.channel = channel
        self.config = config
        self.workers = int(workers)
        self.n_bins = config.n_bins
        self.n_frames = config.n_frames(self.n_samples)
        # np.zeros maps untouched pages lazily: memory grows as blocks are computed
        # stored frame-major: a screen column gathers whole frames (a frame's bins are
        # contiguous); ``levels`` is the [F, T] view of it
        #: the levels ``[T, F]`` and copies max-pooled over 4, 16 and 64 frames (filled with
        #: the blocks), for wide views
        self.pyramid = {k: np.zeros((-(-self.n_frames // k), self.n_bins), np.uint8)
                        for k in (1,) + PYRAMID}
        self.levels = self.pyramid[1].T
        self.n_blocks = -(-self.n_frames // self.BLOCK)
        self.done = np.zeros(self.n_blocks, dtype=bool)
        n_env = self.n_samples // ENV_BLOCK
        self.env_lo = np.zeros(n_env, np.float32)
        self.env_hi = np.zeros(n_env, np.float32)
        self._win = config.window_array()
        self._ref = float(self._win.sum()) / 2  # a full-scale sine peaks at 0 dB
        self._lock = threading.Lock()
        self.fill = BlockFill(self)

    @property
    def reference(self) -> float:
        """The magnitude that reads as 0 dB: a full-scale sine's peak."""
        return self._ref

    def segment(self, start: int, stop: int) -> np.ndarray:
        """The viewed signal over samples ``[start, stop)``, zero outside the file (a reader
        is read: call it off the GUI thread)."""
        if self.reader is not None:
            x = np.asarray(self.reader.read(start, stop), dtype=np.float32)
            return view_signal(x, self.channel)
        out = np.zeros(stop - start, dtype=np.float32)
        a, b = max(start, 0), min(stop, self.n_samples)
        if b > a and self.samples is not None:
            out[a - start:b - start] = view_signal(self.samples[:, a:b], self.channel)
        return out

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def blocks_for(self, t0: int, t1: int) -> range:
        return range(max(0, t0 // self.BLOCK), min(self.n_blocks, -(-t1 // self.BLOCK)))

    def missing(self, t0: int, t1: int) -> list:
        """The blocks of frames ``[t0, t1)`` not computed yet."""
        return [b for b in self.blocks_for(t0, t1) if not self.done[b]]

    def _levels_of(self, frames: np.ndarray) -> np.ndarray:
        """uint8 levels ``[k, F]`` of windowed-to-be frames ``[k, n_fft]`` (float32)."""
        frames *= self._win
        mag = np.abs(scipy.fft.rfft(frames, axis=-1, overwrite_x=True, workers=self.workers))
        mag *= np.float32(1 / self._ref)
        np.maximum(mag, np.float32(1e-9), out=mag)
        db = np.log10(mag)
        db *= np.float32(20 / DB_STEP)
        db -= np.float32(DB_FLOOR / DB_STEP - 0.5)  # + 0.5: round to the nearest level
        np.clip(db, 0, 255, out=db)
        return db.astype(np.uint8)

    def _first_sample(self, t: int) -> int:
        cfg = self.config
        return t * cfg.hop_length - (cfg.n_fft // 2 if cfg.center else 0)

    def compute_block(self, b: int) -> None:
        """Compute block ``b`` (on any thread; the fill's, in the window)."""
        if self.done[b]:
            return
        cfg = self.config
        t0, t1 = b * self.BLOCK, min(self.n_frames, (b + 1) * self.BLOCK)
        start, stop = self._first_sample(t0), self._first_sample(t1 - 1) + cfg.n_fft
        # the envelope's blocks that start in this block's samples
        n_env = self.env_lo.size
        e0 = min(n_env, -(-t0 * cfg.hop_length // ENV_BLOCK))
        e1 = n_env if t1 == self.n_frames else min(n_env, -(-t1 * cfg.hop_length // ENV_BLOCK))
        a, z = min(start, e0 * ENV_BLOCK), max(stop, e1 * ENV_BLOCK)
        seg = self.segment(a, z)
        levels = np.empty((t1 - t0, cfg.n_bins), np.uint8)
        frames = sliding_window_view(seg[start - a:stop - a], cfg.n_fft)[::cfg.hop_length]
        for c in range(0, t1 - t0, CHUNK):
            levels[c:c + CHUNK] = self._levels_of(np.array(frames[c:c + CHUNK]))
        env = seg[e0 * ENV_BLOCK - a:e1 * ENV_BLOCK - a].reshape(-1, ENV_BLOCK)
        coarse = {1: levels}
        for k in PYRAMID:  # BLOCK is a multiple of every k: a block's cells are its own
            coarse[k] = _pool_frames(levels, k)
        with self._lock:
            for k, v in coarse.items():
                self.pyramid[k][t0 // k:t0 // k + v.shape[0]] = v
            if e1 > e0:
                self.env_lo[e0:e1] = env.min(axis=1)
                self.env_hi[e0:e1] = env.max(axis=1)
            self.done[b] = True

    def compute_frames(self, frames: np.ndarray) -> None:
        """Compute single frames (a coarse overview: one per screen column) of blocks not yet
        computed, where they are in the image; their blocks stay to be computed."""
        cfg = self.config
        frames = np.asarray([t for t in frames if not self.done[t // self.BLOCK]], np.intp)
        for c in range(0, frames.size, CHUNK):
            part = frames[c:c + CHUNK]
            batch = np.stack([self.segment(s, s + cfg.n_fft)
                              for s in (self._first_sample(int(t)) for t in part)])
            levels = self._levels_of(batch)
            with self._lock:
                keep = ~self.done[part // self.BLOCK]  # a block may have landed meanwhile
                for k, pooled in self.pyramid.items():
                    cells = part[keep] // k
                    pooled[cells] = np.maximum(pooled[cells], levels[keep])

    def compute_range(self, t0: int, t1: int) -> None:
        for b in self.blocks_for(t0, t1):
            self.compute_block(b)

    def pending_blocks(self, first: range | None = None) -> list:
        """Blocks still to compute, those of ``first`` (the viewport) at the front."""
        todo = [b for b in range(self.n_blocks) if not self.done[b]]
        if first is None:
            return todo
        front = [b for b in first if not self.done[b]]
        chosen = set(front)
        return front + [b for b in todo if b not in chosen]

    def render(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Max-pooled levels ``[len(rows) - 1, len(cols) - 1]`` (see :func:`row_edges`) of what
        is computed (level 0 elsewhere); never computes.

        A column at least 4 k frames wide (k = 4, 16, 64) pools the copy max-pooled over k
        frames: its edges move out by less than a quarter of it, and the cost stays that of a
        few screens of pixels however long the file (pooling every frame of an hour with
        ``reduceat`` took 0.3-0.4 s).  Time is pooled first, gathering whole frames, then
        frequency on the screen's columns.
        """
        starts, stops = cell_ranges(cols)
        narrowest = int((stops - starts).min())
        k = max([1] + [k for k in PYRAMID if 4 * k <= narrowest])
        src = self.pyramid[k]
        s = np.minimum(starts // k, src.shape[0] - 1)
        e = np.minimum(np.maximum(-(-stops // k), s + 1), src.shape[0])
        e = np.maximum(e, s + 1)
        out = src[s]
        for j in range(1, int((e - s).max())):
            np.maximum(out, src[np.minimum(s + j, e - 1)], out=out)
        out[starts >= self.n_frames] = 0  # past the end
        return _pool_rows(np.ascontiguousarray(out.T), rows)

    def db_at(self, f: int, t: int) -> float:
        return float(db_of(self.levels[f, t]))


def _pool_frames(levels: np.ndarray, k: int) -> np.ndarray:
    """Max over each ``k`` frames of ``levels [T, F]`` (the last group may be shorter)."""
    n = levels.shape[0] // k * k
    out = levels[:n].reshape(-1, k, levels.shape[1]).max(axis=1)
    if n < levels.shape[0]:
        out = np.concatenate([out, levels[n:].max(axis=0, keepdims=True)])
    return out


def _pool_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Max over the display rows' bins, as :func:`~maskstudio.editing.tiles.pool_max` pools
    rows: ``[len(rows) - 1, values.shape[1]]``, zero above the data.  Whole rows are gathered
    and compared (numpy's ``reduceat`` loops per column: 0.4 s for a screen of an hour)."""
    rows = np.asarray(rows, dtype=np.intp)
    n = values.shape[0]
    out = np.zeros((rows.size - 1, values.shape[1]), values.dtype)
    ok = np.flatnonzero(rows[:-1] < n)
    if ok.size == 0 or values.shape[1] == 0:
        return out
    s = rows[:-1][ok]
    e = np.maximum(np.minimum(np.maximum(rows[1:], rows[:-1] + 1)[ok], n), s + 1)
    pooled = values[s]
    width = e - s
    for j in range(1, int(width.max())):
        wide = np.flatnonzero(width > j)
        pooled[wide] = np.maximum(pooled[wide], values[s[wide] + j])
    out[ok] = pooled
    return out


@dataclasses.dataclass(frozen=True)
class Filled:
    """Frames ``[t0, t1)`` of the image were filled in (``wave``: the waveform asked for)."""

    t0: int
    t1: int
    wave: bool = False


class BlockFill:
    """Fills a :class:`SpectrogramImage` on a thread of its own, the view's frames first.

    The view says what it shows (:meth:`follow`); the thread computes, in this order: the
    samples of a zoomed-in waveform (:meth:`want_wave`), a coarse overview of a wide view
    (one frame per screen column, when more than :attr:`COARSE_BLOCKS` of its blocks are
    missing), the view's missing blocks, then every other block from the view onwards.
    :attr:`filled` emits :class:`Filled` from that thread (a GUI subscriber hands it to its
    own thread, :mod:`maskstudio.ui.bridge`): for frames on screen at most every
    :attr:`SHOWN` seconds, otherwise every :attr:`QUIET` seconds.  The thread ends when all
    is filled (a later request starts another); :meth:`cancel` ends it for good.
    """

    COARSE_BLOCKS = 8  #: a view missing more blocks is first drawn from a coarse pass
    QUIET = 0.25  #: seconds between events for frames off screen
    SHOWN = 0.1  #: ... and on screen (each redraws the view: an hour fills in 600 blocks)

    def __init__(self, image: SpectrogramImage):
        self.image = image
        self.filled: Emitter[Filled] = Emitter("filled")
        self.wave: tuple | None = None  #: (start, mid samples) of the last waveform asked
        self._cond = threading.Condition()
        self._view: tuple | None = None  # (t0, t1, column centres)
        self._coarse_done: tuple | None = None
        self._wave_want: tuple | None = None
        self._cancelled = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  #: what stopped the fill, if it failed

    # -- asked from the GUI thread --------------------------------------------------------
    def start(self) -> None:
        """Start filling, unless it is running or cancelled."""
        with self._cond:
            self._start()

    def _start(self) -> None:  # with the lock held
        if self._thread is None and not self._cancelled:
            self._thread = threading.Thread(target=self._run, name="spectrogram-fill",
                                            daemon=True)
            self._thread.start()

    def follow(self, t0: int, t1: int, cols: np.ndarray | None = None) -> None:
        """The view shows frames ``[t0, t1)`` over screen columns of edges ``cols``: fill
        them first (and start filling, unless all is filled or the fill was cancelled)."""
        centres = None if cols is None else (cols[:-1] + np.maximum(cols[1:], cols[:-1] + 1)) // 2
        with self._cond:
            self._view = (int(t0), int(t1), centres)
            self._cond.notify()
            if self._thread is None and not self.image.complete:
                self._start()

    def want_wave(self, start: int, stop: int) -> None:
        """Read the viewed signal over samples ``[start, stop)`` for the waveform."""
        with self._cond:
            if self._wave_want != (start, stop):
                self._wave_want = (int(start), int(stop))
                self._cond.notify()
                self._start()

    def cancel(self) -> None:
        """Stop filling (the block being computed is finished first)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after :meth:`cancel`, or all filled); whether it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    # -- the thread -----------------------------------------------------------------------
    def _next(self):
        """The next job, or None when there is nothing to do (call with the lock held)."""
        image = self.image
        if self._wave_want is not None:
            return ("wave", self._wave_want)
        view = self._view
        if view is not None:
            t0, t1, centres = view
            gaps = image.missing(t0, t1)
            if len(gaps) > self.COARSE_BLOCKS and centres is not None \
                    and self._coarse_done != (t0, t1):
                return ("coarse", (t0, t1, centres))
            if gaps:
                return ("block", gaps[0])
        todo = np.flatnonzero(~image.done)
        if todo.size == 0:
            return None
        after = todo[todo >= (view[1] // image.BLOCK if view is not None else 0)]
        return ("block", int(after[0] if after.size else todo[0]))

    def _run(self) -> None:
        image = self.image
        pending: tuple | None = None  # frames filled off screen, not said yet
        said = -np.inf  # the first blocks are said at once
        while True:
            with self._cond:
                job = None if self._cancelled else self._next()
                if self._cancelled or (job is None and pending is None):
                    self._thread = None  # done (or cancelled): asking more starts anew
                    return
                view = self._view
            try:
                if job is None:
                    event = Filled(*pending) if pending is not None else None
                    pending = None
                    if event is not None:
                        self.filled.emit(event)
                    continue
                kind, arg = job
                if kind == "wave":
                    start, stop = arg
                    samples = image.segment(start, stop)
                    with self._cond:
                        self.wave = (start, samples)
                        if self._wave_want == arg:
                            self._wave_want = None
                    self.filled.emit(Filled(start // max(1, image.config.hop_length),
                                            stop // max(1, image.config.hop_length), wave=True))
                    continue
                if kind == "coarse":
                    t0, t1, centres = arg
                    image.compute_frames(centres)
                    with self._cond:
                        self._coarse_done = (t0, t1)
                    self.filled.emit(Filled(t0, t1))
                    continue
                image.compute_block(arg)
            except Exception as exc:  # noqa: BLE001 - a failed read ends the fill, said once
                self.error = exc
                self.filled.emit(Filled(0, 0))
                return
            f0, f1 = arg * image.BLOCK, min(image.n_frames, (arg + 1) * image.BLOCK)
            pending = (f0, f1) if pending is None else (min(pending[0], f0), max(pending[1], f1))
            shown = view is not None and f0 < view[1] and f1 > view[0]
            now = time.monotonic()
            if now - said >= (self.SHOWN if shown else self.QUIET):
                self.filled.emit(Filled(*pending))
                pending, said = None, now
