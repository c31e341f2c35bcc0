"""Short-time Fourier transform and its inverse, on scipy.fft, in float32 / complex64.

Parameter names and semantics follow librosa (``n_fft``, ``hop_length``, ``win_length``,
``window``, ``center`` with zero padding), so masks made here fit librosa's spectrograms and the
other way round.  Arrays are ``[..., freq, time]``.

Why not ``scipy.signal.ShortTimeFFT``: measured on 60 s of 44.1 kHz audio (2048/512) it took
104 ms for the forward transform against 18 ms here, because it loops over frames in Python and
always computes in complex128 (``benchmarks/bench_core.py`` repeats the measurement).  Here the
frames are strided views of the signal, windowed and transformed a few dozen at a time so each
block stays in cache.  The STFT's memory is frame-major (each frame contiguous): a range of frames,
the unit of streaming and chunked export, is one contiguous block.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = [
    "STFTConfig",
    "stft",
    "stft_frames",
    "istft",
    "synthesize",
    "synthesize_blocks",
    "get_window",
    "n_frames_for",
    "frame_major",
    "check_window",
    "MAX_N_FFT",
    "WINDOW_SECONDS",
]

WindowSpec = str | tuple | float

#: The largest FFT accepted: over 20 s at 48 kHz, far beyond any analysis.
MAX_N_FFT = 1 << 20

#: Samples beyond this magnitude would overflow float32 spectra and their power sums
#: (|Y| ~ peak * n_fft / 2, and |Y|**2 overflows at 1.8e19), turning finite input into NaN.
MAX_SAMPLE = 1e12

#: The analysis window, in seconds, that :meth:`STFTConfig.for_samplerate` aims at: librosa's
#: n_fft=2048 at 44.1 kHz (46.4 ms), the usual choice for music.
WINDOW_SECONDS = 2048 / 44100

#: Frames transformed together: 128 frames of 2048 float32 samples fit in L2 cache.
_CHUNK = 128


@dataclasses.dataclass(frozen=True)
class STFTConfig:
    """The settings that define a time-frequency grid (librosa's names and defaults).

    ``hop_length`` defaults to ``win_length // 4`` and ``win_length`` to ``n_fft``.
    """

    n_fft: int = 2048
    hop_length: int | None = None
    win_length: int | None = None
    window: WindowSpec = "hann"
    center: bool = True

    def __post_init__(self):
        n_fft = check_number(self.n_fft, "n_fft", lo=2, hi=MAX_N_FFT, integer=True,
                             hint="2048 is usual")
        win_length = n_fft if self.win_length is None else check_number(
            self.win_length, "win_length", lo=1, hi=n_fft, integer=True,
            hint=f"the window must fit in n_fft={n_fft}")
        hop = win_length // 4 if self.hop_length is None else check_number(
            self.hop_length, "hop_length", lo=1, hi=MAX_N_FFT, integer=True,
            hint="a quarter of n_fft is usual")
        window = check_window(self.window)
        center = self.center
        if isinstance(center, (int, np.integer)) and not isinstance(center, (bool, np.bool_)) \
                and center in (0, 1):
            center = bool(center)
        if not isinstance(center, (bool, np.bool_)):
            raise ParameterError(f"center must be True or False, got {self.center!r}")
        object.__setattr__(self, "n_fft", n_fft)
        object.__setattr__(self, "win_length", win_length)
        object.__setattr__(self, "hop_length", hop)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "center", bool(center))
        get_window(window, win_length, n_fft)  # fail now, not halfway through an export

    @classmethod
    def for_samplerate(cls, samplerate, *, hop_length=None, win_length=None, window="hann",
                       center: bool = True) -> STFTConfig:
        """The default grid for audio at ``samplerate``: a window of about 46 ms.

        ``n_fft`` is the power of two nearest (on a log scale) to :data:`WINDOW_SECONDS` of
        audio: 2048 at 44.1 and 48 kHz (46 and 43 ms), 1024 at 16 and 22.05 kHz (64 and
        46 ms), 512 at 8 kHz, 4096 at 96 kHz; the hop is a quarter of it.  One n_fft for
        every rate would give 16 kHz speech 128 ms windows that smear its onsets; 1024 at
        16 kHz keeps 15.6 Hz bins, so the harmonics of a low voice (100 Hz apart) stay
        apart, where 512 (31 Hz bins, a Hann main lobe of 125 Hz) would merge them.

        Parameters
        ----------
        samplerate : int
            Sample rate of the audio, in Hz.
        hop_length, win_length, window, center
            As for :class:`STFTConfig` (explicit values are kept).
        """
        sr = check_number(samplerate, "samplerate", lo=1, hi=10_000_000,
                          hint="a sample rate in Hz, such as 44100")
        n_fft = 2 ** int(np.clip(np.round(np.log2(sr * WINDOW_SECONDS)), 5, 16))
        return cls(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                   center=center)

    @property
    def n_bins(self) -> int:
        """Number of frequency bins, ``1 + n_fft // 2``."""
        return 1 + self.n_fft // 2

    def n_frames(self, n_samples: int) -> int:
        """Number of frames :func:`stft` gives for a signal of ``n_samples``."""
        return n_frames_for(n_samples, n_fft=self.n_fft, hop_length=self.hop_length,
                            center=self.center)

    def frequencies(self, samplerate: float) -> np.ndarray:
        """Centre frequency of each bin in Hz, shape ``[n_bins]``."""
        return np.fft.rfftfreq(self.n_fft, d=1.0 / samplerate)

    def times(self, n_frames: int, samplerate: float) -> np.ndarray:
        """Time of each frame's centre in seconds (librosa's ``frames_to_time``)."""
        offset = 0 if self.center else self.n_fft // 2
        return (np.arange(n_frames) * self.hop_length + offset) / float(samplerate)

    def kwargs(self) -> dict:
        """The settings as keyword arguments for :func:`stft` and :func:`istft`."""
        return dict(n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                    window=self.window, center=self.center)

    def to_dict(self) -> dict:
        """A JSON- and npz-friendly description (the window as a string or list)."""
        d = self.kwargs()
        if isinstance(d["window"], tuple):
            d["window"] = list(d["window"])
        return d

    def describe(self) -> str:
        w = self.window if isinstance(self.window, str) else ",".join(map(str, self.window))
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, window={w}, center={self.center}")


def check_window(window) -> WindowSpec:
    """A window specification as scipy takes it: a name, a ``(name, parameter, ...)`` tuple
    (a list is made a tuple) or a number (a Kaiser beta); anything else is refused."""
    if isinstance(window, list):
        window = tuple(window)
    if isinstance(window, str):
        if not window or len(window) > 64:
            raise ParameterError(f"window {window[:64]!r} is not a window name: use 'hann', "
                                 f"'hamming', 'blackman' or another scipy window")
        return str(window)
    if isinstance(window, tuple) and 1 <= len(window) <= 4 and isinstance(window[0], str):
        params = tuple(check_number(v, f"parameter {i} of window {window[0]!r}", lo=-1e6,
                                    hi=1e6) for i, v in enumerate(window[1:], 1))
        return (str(window[0]),) + params
    if isinstance(window, (int, float, np.integer, np.floating)) \
            and not isinstance(window, (bool, np.bool_)):
        return check_number(window, "window (a Kaiser beta)", lo=0, hi=1e6)
    shown = repr(window)
    raise ParameterError(
        f"window {shown[:80]}{'...' if len(shown) > 80 else ''} is not a window: use a scipy "
        f"window name such as 'hann', or a tuple such as ('kaiser', 8.0)"
    )


#: The common windows as periodic generalised-cosine sums (scipy's definitions, checked
#: against scipy.signal.get_window in the tests), so start-up need not import scipy.signal.
_COSINE_WINDOWS = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46),
                   "blackman": (0.42, 0.5, 0.08)}


def _cosine_window(window, n: int):
    coeffs = _COSINE_WINDOWS.get(window) if isinstance(window, str) else None
    if coeffs is None:
        return None
    if n == 1:
        return np.ones(1)  # as scipy: a one-sample window passes its sample
    phase = 2 * np.pi * np.arange(n) / n
    return sum((-1) ** k * a * np.cos(k * phase) for k, a in enumerate(coeffs))


@functools.lru_cache(maxsize=32)
def _window_cached(window, win_length: int, n_fft: int) -> np.ndarray:
    try:
        w = _cosine_window(window, win_length)
        if w is None:
            import scipy.signal  # imported on demand: it costs 0.3 s at start-up

            with np.errstate(all="ignore"):
                w = np.asarray(scipy.signal.get_window(window, win_length, fftbins=True),
                               dtype=np.float64)
    except (ValueError, TypeError, ArithmeticError, IndexError, KeyError) as exc:
        # scipy refuses unknown names and bad parameters with any of these
        raise ParameterError(
            f"unknown window {window!r}: use a scipy window name such as 'hann', 'hamming', "
            f"'blackman' or ('kaiser', 8.0)"
        ) from exc
    if w.shape != (win_length,) or not np.isfinite(w).all() or not np.any(w):
        raise ParameterError(f"window {window!r} of {win_length} samples is zero or not finite "
                             f"everywhere: choose another window or parameter")
    lpad = (n_fft - win_length) // 2
    w = np.pad(w, (lpad, n_fft - win_length - lpad))
    w = w.astype(np.float32)
    w.setflags(write=False)
    return w


def get_window(window: WindowSpec = "hann", win_length: int = 2048,
               n_fft: int | None = None) -> np.ndarray:
    """The analysis window, ``win_length`` long, zero-padded at both sides to ``n_fft``.

    Returns a read-only float32 array of shape ``[n_fft]``.
    """
    win_length = check_number(win_length, "win_length", lo=1, hi=MAX_N_FFT, integer=True)
    n_fft = win_length if n_fft is None else check_number(n_fft, "n_fft", lo=win_length,
                                                          hi=MAX_N_FFT, integer=True)
    return _window_cached(check_window(window), win_length, n_fft)


def n_frames_for(n_samples: int, *, n_fft: int, hop_length: int, center: bool = True) -> int:
    """Number of STFT frames for a signal of ``n_samples`` (librosa's count)."""
    padded = n_samples + 2 * (n_fft // 2) if center else n_samples
    if padded < n_fft:
        return 0
    return 1 + (padded - n_fft) // hop_length


def frame_major(x: np.ndarray, dtype=None) -> np.ndarray:
    """``x [..., F, T]`` with the memory layout of an STFT (each frame contiguous).

    Element-wise operations between arrays of different layouts run about ten times slower
    than between arrays of the same layout, so iterative loops bring masks and magnitudes to
    the STFT's layout once, before they start.
    """
    x = np.asarray(x, dtype=dtype)
    if x.ndim >= 2 and x.swapaxes(-1, -2).flags.c_contiguous:
        return x
    return np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)


def _check_signal(y) -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        if np.issubdtype(y.dtype, np.complexfloating):
            raise ParameterError("audio must be real-valued, got a complex array")
        y = y.astype(np.float32)
    if y.ndim == 0:
        raise ParameterError("audio must be an array of samples, got a scalar")
    _check_peak(y)
    return y.astype(np.float32, copy=False)


def _check_peak(y: np.ndarray) -> None:
    """Refuse NaN, infinite and absurdly large samples (two passes, no temporary array)."""
    if y.size == 0:
        return
    with np.errstate(invalid="ignore"):
        lo, hi = float(np.min(y)), float(np.max(y))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ParameterError("audio contains NaN or infinite samples: check the file or filter")
    if max(-lo, hi) > MAX_SAMPLE:
        raise ParameterError(f"audio has samples up to {max(-lo, hi):.3g}, far beyond full "
                             f"scale (1.0): its spectrum would overflow; scale it down first")


def _frames_from_padded(padded: np.ndarray, n_frames: int, win: np.ndarray,
                        hop: int) -> np.ndarray:
    """STFT of frames starting at padded[..., t*hop]; result [..., F, n_frames], frame-major."""
    n_fft = win.shape[0]
    lead = padded.shape[:-1]
    flat = padded.reshape(-1, padded.shape[-1])
    n_bins = n_fft // 2 + 1
    out = np.empty((flat.shape[0], n_frames, n_bins), dtype=np.complex64)
    buf = np.empty((min(_CHUNK, max(n_frames, 1)), n_fft), dtype=np.float32)
    for c in range(flat.shape[0]):
        frames = sliding_window_view(flat[c], n_fft)[::hop][:n_frames]
        for t0 in range(0, n_frames, _CHUNK):
            t1 = min(n_frames, t0 + _CHUNK)
            b = buf[: t1 - t0]
            np.multiply(frames[t0:t1], win, out=b)
            out[c, t0:t1] = scipy.fft.rfft(b, axis=-1, overwrite_x=True)
    return out.reshape(lead + (n_frames, n_bins)).swapaxes(-1, -2)


def stft(y, *, n_fft: int = 2048, hop_length: int | None = None, win_length: int | None = None,
         window: WindowSpec = "hann", center: bool = True) -> np.ndarray:
    """Short-time Fourier transform.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
        The signal; leading axes (channels) are transformed independently.
    n_fft, hop_length, win_length, window, center
        As in librosa: ``center`` pads ``n_fft // 2`` zeros at both ends so that frame ``t`` is
        centred at sample ``t * hop_length``.

    Returns
    -------
    np.ndarray [shape=(..., 1 + n_fft // 2, n_frames)], complex64
        Frames are contiguous in memory (the array is the transpose of a ``[..., T, F]`` block).

    Raises
    ------
    ParameterError
        Bad settings, a non-finite signal, or a signal shorter than one frame.
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center)
    y = _check_signal(y)
    n = y.shape[-1]
    T = cfg.n_frames(n)
    if T < 1:
        raise ParameterError(
            f"the signal has {n} samples, fewer than one frame of n_fft={cfg.n_fft}: "
            f"use a smaller n_fft or center=True"
        )
    if cfg.center:
        pad = [(0, 0)] * (y.ndim - 1) + [(cfg.n_fft // 2, cfg.n_fft // 2)]
        y = np.pad(y, pad)
    win = get_window(cfg.window, cfg.win_length, cfg.n_fft)
    return _frames_from_padded(y, T, win, cfg.hop_length)


def stft_frames(y, t0: int, t1: int, *, n_fft: int = 2048, hop_length: int | None = None,
                win_length: int | None = None, window: WindowSpec = "hann",
                center: bool = True) -> np.ndarray:
    """Frames ``t0 <= t < t1`` of ``stft(y, ...)``, computed from the samples they need only.

    Equal to ``stft(y, ...)[..., t0:t1]`` bit for bit; used to process long files in blocks
    without holding the whole STFT.
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center)
    y = np.asarray(y)
    if y.ndim == 0 or np.iscomplexobj(y):
        raise ParameterError("audio must be an array of real samples")
    n = y.shape[-1]
    total = cfg.n_frames(n)
    if not 0 <= t0 <= t1 <= total:
        raise ParameterError(f"frame range [{t0}, {t1}) is outside the {total} frames of the "
                             "signal")
    if t1 == t0:
        return np.zeros(y.shape[:-1] + (cfg.n_bins, 0), dtype=np.complex64)
    offset = cfg.n_fft // 2 if cfg.center else 0
    start = t0 * cfg.hop_length - offset
    stop = (t1 - 1) * cfg.hop_length + cfg.n_fft - offset
    seg = np.zeros(y.shape[:-1] + (stop - start,), dtype=np.float32)
    a, b = max(start, 0), min(stop, n)
    if b > a:
        seg[..., a - start: b - start] = y[..., a:b]
    _check_peak(seg)
    win = get_window(cfg.window, cfg.win_length, cfg.n_fft)
    return _frames_from_padded(seg, t1 - t0, win, cfg.hop_length)


#: A source of STFT frames for :func:`synthesize`: ``get(t0, t1) -> [C, F, t1 - t0]``.
FrameSource = Callable[[int, int], np.ndarray]


def synthesize(get_frames: FrameSource, n_frames: int, n_channels: int, *, n_fft: int,
               hop_length: int, win_length: int | None = None, window: WindowSpec = "hann",
               center: bool = True, length: int | None = None,
               chunk: int = _CHUNK) -> np.ndarray:
    """Inverse STFT of frames pulled block by block from ``get_frames``.

    This is the one overlap-add routine of maskstudio: :func:`istft` feeds it slices of an
    array; mask rendering feeds it ``mask * stft_frames(...)`` so that no whole STFT of a source
    is ever held.  Returns float32 ``[n_channels, length]``; :func:`synthesize_blocks` gives the
    same samples a block at a time.
    """
    kw = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
              center=center, length=length, chunk=chunk)
    total = _synth_length(n_frames, STFTConfig(n_fft, hop_length, win_length, window, center),
                          length)
    y = np.empty((n_channels, total), dtype=np.float32)
    done = 0
    for block in synthesize_blocks(get_frames, n_frames, n_channels, **kw):
        y[:, done:done + block.shape[-1]] = block
        done += block.shape[-1]
    return y


def _synth_length(n_frames: int, cfg: STFTConfig, length: int | None) -> int:
    if length is not None:
        return int(length)
    R = -(-cfg.n_fft // cfg.hop_length)  # without a length: the centring pad off both ends
    return max(0, (n_frames + R - 1) * cfg.hop_length - 2 * (cfg.n_fft // 2 if cfg.center
                                                               else 0))


def synthesize_blocks(get_frames: FrameSource, n_frames: int, n_channels: int, *, n_fft: int,
                      hop_length: int, win_length: int | None = None,
                      window: WindowSpec = "hann", center: bool = True,
                      length: int | None = None, chunk: int = _CHUNK):
    """:func:`synthesize`, a block of samples ``[n_channels, k]`` at a time, in order.

    A sample is final once every frame overlapping it has been added, so after each chunk of
    frames the finished part is normalised and handed out, and only ``chunk + n_fft / hop``
    frames' worth of samples are ever held: a long file is written as it is rendered.
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center)
    win = get_window(cfg.window, cfg.win_length, cfg.n_fft)
    hop = cfg.hop_length
    R = -(-cfg.n_fft // hop)
    n_blocks = n_frames + R - 1
    padded = R * hop != cfg.n_fft
    start = cfg.n_fft // 2 if cfg.center else 0
    total = _synth_length(n_frames, cfg, length)
    norm = _window_normaliser(win, hop, n_frames)
    buf = np.zeros((n_channels, (chunk + R - 1) * hop), dtype=np.float32)
    base = 0  # the hop-sized block of the signal at buf[:, 0]
    pos = -start  # the output sample at buf[:, 0]
    for t0 in range(0, n_frames, chunk):
        t1 = min(n_frames, t0 + chunk)
        block = get_frames(t0, t1)
        off = (t0 - base) * hop
        for c in range(n_channels):
            fr = scipy.fft.irfft(block[c].T, n=cfg.n_fft, axis=-1)
            fr *= win
            if padded:
                fr = np.pad(fr, ((0, 0), (0, R * hop - cfg.n_fft)))
            fr3 = fr.reshape(t1 - t0, R, hop)
            for r in range(R):
                buf[c, off + r * hop: off + (t1 - t0 + r) * hop] += fr3[:, r, :].reshape(-1)
        ready = (n_blocks if t1 == n_frames else t1) - base  # blocks no later frame touches
        done = buf[:, :ready * hop].reshape(n_channels, ready, hop)
        done *= norm(base, base + ready)
        lo, hi = max(0, -pos), min(ready * hop, total - pos)
        if hi > lo:
            yield done.reshape(n_channels, -1)[:, lo:hi].copy()
        keep = buf[:, ready * hop:].copy()
        buf[:] = 0
        buf[:, :keep.shape[-1]] = keep
        base += ready
        pos += ready * hop
    if pos < total:  # asked for more than the frames cover: silence, as librosa pads
        yield np.zeros((n_channels, total - max(pos, 0)), dtype=np.float32)


def _window_normaliser(win: np.ndarray, hop: int, n_frames: int):
    """``norm(b0, b1) -> [b1 - b0, hop]``: what overlap-added blocks ``b0..b1`` are multiplied
    by, the reciprocal of the window's sum of squares (1 where that sum is ~0, as librosa).

    Block ``b`` sums frames ``max(0, b - T + 1) <= t <= min(R - 1, b)``: every block in the
    middle sees all ``R`` window segments, so only ``2 (R - 1)`` blocks have their own row.
    """
    n_fft = win.shape[0]
    R = -(-n_fft // hop)
    w2 = np.zeros(R * hop, dtype=np.float64)
    w2[:n_fft] = win.astype(np.float64) ** 2
    cum = np.concatenate([np.zeros((1, hop)), np.cumsum(w2.reshape(R, hop), axis=0)])
    tiny = np.finfo(np.float32).tiny

    def reciprocal(wss):
        inv = np.ones_like(wss)
        np.divide(1.0, wss, out=inv, where=wss > tiny)
        return inv.astype(np.float32)
    full = reciprocal(cum[R] - cum[0])

    def norm(b0: int, b1: int) -> np.ndarray:
        out = np.empty((b1 - b0, hop), dtype=np.float32)
        out[:] = full
        edges = set(range(b0, min(b1, R - 1))) | set(range(max(b0, n_frames), b1))
        for b in sorted(edges):
            hi = min(R - 1, b) + 1
            lo = max(0, b - n_frames + 1)
            out[b - b0] = reciprocal(cum[hi] - cum[lo])
        return out
    return norm


def istft(S, *, hop_length: int | None = None, win_length: int | None = None,
          n_fft: int | None = None, window: WindowSpec = "hann", center: bool = True,
          length: int | None = None) -> np.ndarray:
    """Inverse short-time Fourier transform by weighted overlap-add.

    Parameters
    ----------
    S : np.ndarray [shape=(..., 1 + n_fft // 2, n_frames)], complex
    hop_length, win_length, n_fft, window, center
        The settings of the forward transform; ``n_fft`` defaults to ``2 * (F - 1)``.
    length : int, optional
        Exact number of output samples (pads or trims), so that ``istft(stft(y), length=len(y))``
        returns ``y`` sample-aligned.

    Returns
    -------
    np.ndarray [shape=(..., length)], float32
    """
    S = np.asarray(S)
    if S.ndim < 2:
        raise ParameterError(f"istft needs an array [..., freq, time], got shape {S.shape}")
    if n_fft is None:
        n_fft = 2 * (S.shape[-2] - 1)
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center)
    if S.shape[-2] != cfg.n_bins:
        raise ParameterError(
            f"the STFT has {S.shape[-2]} frequency bins but n_fft={cfg.n_fft} needs {cfg.n_bins}"
        )
    lead = S.shape[:-2]
    flat = S.reshape((-1,) + S.shape[-2:])
    T = flat.shape[-1]
    y = synthesize(lambda t0, t1: flat[:, :, t0:t1], T, flat.shape[0], length=length,
                   **cfg.kwargs())
    return y.reshape(lead + (y.shape[-1],))
