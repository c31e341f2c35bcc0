"""Short-time Fourier transform and its inverse, on scipy.fft, in float32 / complex64.

Parameter names and semantics follow librosa (``n_fft``, ``hop_length``, ``win_length``,
``window``, ``center`` with zero padding), so masks made here fit librosa's spectrograms and the
other way round.  Arrays are ``[..., freq, time]``.  The settings, their checks and the windows
are :mod:`maskstudio.dsp.grid`'s; they are imported here too, where callers have always found
them.

Two faces: the librosa-style functions (:func:`stft`, :func:`stft_frames`, :func:`istft`,
:func:`synthesize`, :func:`synthesize_blocks`) take the settings as keywords and check them;
their ``*_with`` twins take an :class:`STFTConfig`, already checked, which is what maskstudio's
own loops pass (a render does not rebuild and re-check a config for every block).

Why not ``scipy.signal.ShortTimeFFT``: measured on 60 s of 44.1 kHz audio (2048/512) it took
104 ms for the forward transform against 18 ms here, because it loops over frames in Python and
always computes in complex128 (``benchmarks/bench_core.py`` repeats the measurement).  Here the
frames are strided views of the signal, windowed and transformed a few dozen at a time so each
block stays in cache.  The STFT's memory is frame-major (each frame contiguous): a range of frames,
the unit of streaming and chunked export, is one contiguous block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from maskstudio.dsp.grid import (
    MAX_N_FFT,
    WINDOW_SECONDS,
    STFTConfig,
    WindowSpec,
    check_window,
    get_window,
    n_frames_for,
)
from maskstudio.errors import ParameterError

__all__ = [
    "stft",
    "stft_with",
    "stft_frames",
    "stft_frames_with",
    "istft",
    "istft_with",
    "synthesize",
    "synthesize_with",
    "synthesize_blocks",
    "synthesize_blocks_with",
    "frame_major",
    "FrameSource",
    # the grid's, imported here where callers have always found them
    "STFTConfig",
    "WindowSpec",
    "get_window",
    "n_frames_for",
    "check_window",
    "MAX_N_FFT",
    "WINDOW_SECONDS",
]

#: Samples beyond this magnitude would overflow float32 spectra and their power sums
#: (|Y| ~ peak * n_fft / 2, and |Y|**2 overflows at 1.8e19), turning finite input into NaN.
MAX_SAMPLE = 1e12

#: Frames transformed together: 128 frames of 2048 float32 samples fit in L2 cache.
_CHUNK = 128


def frame_major(x, dtype=None) -> np.ndarray:
    """``x [..., F, T]`` with the memory layout of an STFT (each frame contiguous).

    Element-wise operations between arrays of different layouts run about ten times slower
    than between arrays of the same layout, so iterative loops bring masks and magnitudes to
    the STFT's layout once, before they start.

    Parameters
    ----------
    x : array_like [shape=(..., F, T)]
    dtype : numpy dtype, optional
        Converted to it on the way.

    Returns
    -------
    np.ndarray [shape=(..., F, T)]
        ``x`` itself when it already has that layout (and dtype).
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
    return stft_with(y, STFTConfig(n_fft, hop_length, win_length, window, center))


def stft_with(y, config: STFTConfig) -> np.ndarray:
    """:func:`stft` on the grid ``config``.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
        The signal; leading axes (channels) are transformed independently.
    config : STFTConfig
        The grid.

    Returns
    -------
    np.ndarray [shape=(..., config.n_bins, n_frames)], complex64
        Frame-major, as :func:`stft`.

    Raises
    ------
    ParameterError
        A non-finite signal, or a signal shorter than one frame.
    """
    y = _check_signal(y)
    n = y.shape[-1]
    T = config.n_frames(n)
    if T < 1:
        raise ParameterError(
            f"the signal has {n} samples, fewer than one frame of n_fft={config.n_fft}: "
            f"use a smaller n_fft or center=True"
        )
    if config.center:
        pad = [(0, 0)] * (y.ndim - 1) + [(config.n_fft // 2, config.n_fft // 2)]
        y = np.pad(y, pad)
    return _frames_from_padded(y, T, config.window_array(), config.hop_length)


def stft_frames(y, t0: int, t1: int, *, n_fft: int = 2048, hop_length: int | None = None,
                win_length: int | None = None, window: WindowSpec = "hann",
                center: bool = True) -> np.ndarray:
    """Frames ``t0 <= t < t1`` of ``stft(y, ...)``, computed from the samples they need only.

    Equal to ``stft(y, ...)[..., t0:t1]`` bit for bit; used to process long files in blocks
    without holding the whole STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
        The signal.
    t0, t1 : int
        The range of frames, ``0 <= t0 <= t1 <= n_frames``.
    n_fft, hop_length, win_length, window, center
        As for :func:`stft`.

    Returns
    -------
    np.ndarray [shape=(..., 1 + n_fft // 2, t1 - t0)], complex64

    Raises
    ------
    ParameterError
        Bad settings, a complex or non-finite signal, or a range outside the signal's frames.
    """
    return stft_frames_with(y, t0, t1, STFTConfig(n_fft, hop_length, win_length, window,
                                                  center))


def stft_frames_with(y, t0: int, t1: int, config: STFTConfig) -> np.ndarray:
    """:func:`stft_frames` on the grid ``config``.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
        The signal.
    t0, t1 : int
        The range of frames, ``0 <= t0 <= t1 <= n_frames``.
    config : STFTConfig
        The grid.

    Returns
    -------
    np.ndarray [shape=(..., config.n_bins, t1 - t0)], complex64

    Raises
    ------
    ParameterError
        A complex or non-finite signal, or a range outside the signal's frames.
    """
    y = np.asarray(y)
    if y.ndim == 0 or np.iscomplexobj(y):
        raise ParameterError("audio must be an array of real samples")
    n = y.shape[-1]
    total = config.n_frames(n)
    if not 0 <= t0 <= t1 <= total:
        raise ParameterError(f"frame range [{t0}, {t1}) is outside the {total} frames of the "
                             "signal")
    if t1 == t0:
        return np.zeros(y.shape[:-1] + (config.n_bins, 0), dtype=np.complex64)
    offset = config.n_fft // 2 if config.center else 0
    start = t0 * config.hop_length - offset
    stop = (t1 - 1) * config.hop_length + config.n_fft - offset
    seg = np.zeros(y.shape[:-1] + (stop - start,), dtype=np.float32)
    a, b = max(start, 0), min(stop, n)
    if b > a:
        seg[..., a - start: b - start] = y[..., a:b]
    _check_peak(seg)
    return _frames_from_padded(seg, t1 - t0, config.window_array(), config.hop_length)


#: A source of STFT frames for :func:`synthesize`: ``get(t0, t1) -> [C, F, t1 - t0]``.
FrameSource = Callable[[int, int], np.ndarray]


def synthesize(get_frames: FrameSource, n_frames: int, n_channels: int, *, n_fft: int,
               hop_length: int, win_length: int | None = None, window: WindowSpec = "hann",
               center: bool = True, length: int | None = None,
               chunk: int = _CHUNK) -> np.ndarray:
    """Inverse STFT of frames pulled block by block from ``get_frames``.

    :func:`istft` feeds it slices of an array; mask rendering feeds it
    ``mask * stft_frames(...)`` so that no whole STFT of a source is ever held;
    :func:`synthesize_blocks` gives the same samples a block at a time.

    Parameters
    ----------
    get_frames : callable(t0, t1) -> np.ndarray [shape=(n_channels, F, t1 - t0)]
        The frames, asked for in order.
    n_frames, n_channels : int
        How many frames and channels ``get_frames`` gives.
    n_fft, hop_length, win_length, window, center
        The settings of the forward transform.
    length : int, optional
        Exact number of output samples (pads or trims).
    chunk : int
        Frames asked for at a time.

    Returns
    -------
    np.ndarray [shape=(n_channels, length)], float32

    Raises
    ------
    ParameterError
        Bad settings.
    """
    return synthesize_with(get_frames, n_frames, n_channels,
                           STFTConfig(n_fft, hop_length, win_length, window, center),
                           length=length, chunk=chunk)


def synthesize_with(get_frames: FrameSource, n_frames: int, n_channels: int,
                    config: STFTConfig, *, length: int | None = None,
                    chunk: int = _CHUNK) -> np.ndarray:
    """:func:`synthesize` on the grid ``config``.

    Parameters
    ----------
    get_frames : callable(t0, t1) -> np.ndarray [shape=(n_channels, F, t1 - t0)]
        The frames, asked for in order.
    n_frames, n_channels : int
        How many frames and channels ``get_frames`` gives.
    config : STFTConfig
        The grid of the frames.
    length : int, optional
        Exact number of output samples (pads or trims).
    chunk : int
        Frames asked for at a time.

    Returns
    -------
    np.ndarray [shape=(n_channels, length)], float32
    """
    total = _synth_length(n_frames, config, length)
    y = np.empty((n_channels, total), dtype=np.float32)
    done = 0
    for block in synthesize_blocks_with(get_frames, n_frames, n_channels, config,
                                        length=length, chunk=chunk):
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
                      length: int | None = None, chunk: int = _CHUNK) -> Iterator[np.ndarray]:
    """:func:`synthesize`, a block of samples ``[n_channels, k]`` at a time, in order.

    A sample is final once every frame overlapping it has been added, so after each chunk of
    frames the finished part is normalised and handed out, and only ``chunk + n_fft / hop``
    frames' worth of samples are ever held: a long file is written as it is rendered.

    Parameters
    ----------
    get_frames, n_frames, n_channels, n_fft, hop_length, win_length, window, center, length, chunk
        As for :func:`synthesize`.

    Yields
    ------
    np.ndarray [shape=(n_channels, k)], float32
        The samples, in order.

    Raises
    ------
    ParameterError
        Bad settings.
    """
    return synthesize_blocks_with(get_frames, n_frames, n_channels,
                                  STFTConfig(n_fft, hop_length, win_length, window, center),
                                  length=length, chunk=chunk)


def synthesize_blocks_with(get_frames: FrameSource, n_frames: int, n_channels: int,
                           config: STFTConfig, *, length: int | None = None,
                           chunk: int = _CHUNK) -> Iterator[np.ndarray]:
    """:func:`synthesize_blocks` on the grid ``config``.

    Parameters
    ----------
    get_frames, n_frames, n_channels, length, chunk
        As for :func:`synthesize`.
    config : STFTConfig
        The grid of the frames.

    Yields
    ------
    np.ndarray [shape=(n_channels, k)], float32
        The samples, in order.
    """
    cfg = config
    win = cfg.window_array()
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


def _window_normaliser(win: np.ndarray, hop: int, n_frames: int
                       ) -> Callable[[int, int], np.ndarray]:
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

    def reciprocal(wss: np.ndarray) -> np.ndarray:
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

    Raises
    ------
    ParameterError
        Bad settings, or an array whose bins do not fit ``n_fft``.
    """
    S = np.asarray(S)
    if S.ndim < 2:
        raise ParameterError(f"istft needs an array [..., freq, time], got shape {S.shape}")
    if n_fft is None:
        n_fft = 2 * (S.shape[-2] - 1)
    return istft_with(S, STFTConfig(n_fft, hop_length, win_length, window, center),
                      length=length)


def istft_with(S, config: STFTConfig, *, length: int | None = None) -> np.ndarray:
    """:func:`istft` on the grid ``config``.

    Parameters
    ----------
    S : np.ndarray [shape=(..., config.n_bins, n_frames)], complex
    config : STFTConfig
        The grid of ``S``.
    length : int, optional
        Exact number of output samples (pads or trims).

    Returns
    -------
    np.ndarray [shape=(..., length)], float32

    Raises
    ------
    ParameterError
        An array whose bins do not fit the grid.
    """
    S = np.asarray(S)
    if S.ndim < 2:
        raise ParameterError(f"istft needs an array [..., freq, time], got shape {S.shape}")
    if S.shape[-2] != config.n_bins:
        raise ParameterError(
            f"the STFT has {S.shape[-2]} frequency bins but n_fft={config.n_fft} needs "
            f"{config.n_bins}"
        )
    lead = S.shape[:-2]
    flat = S.reshape((-1,) + S.shape[-2:])
    y = synthesize_with(lambda t0, t1: flat[:, :, t0:t1], flat.shape[-1], flat.shape[0],
                        config, length=length)
    return y.reshape(lead + (y.shape[-1],))
