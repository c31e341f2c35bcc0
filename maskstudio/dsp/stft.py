"""Short-time Fourier transform and its inverse, on scipy.fft, in float32 / complex64.

Arrays are ``[..., freq, time]``; the settings are librosa's, held by an
:class:`~maskstudio.dsp.grid.STFTConfig` (imported here too, with the windows, where callers
have always found them).  Two faces: the librosa-style functions (:func:`stft`,
:func:`stft_frames`, :func:`istft`, :func:`synthesize`, :func:`synthesize_blocks`) take the
settings as keywords and check them; their ``*_with`` twins take a config, already checked,
which is what maskstudio's own loops pass.  Every inverse goes through one overlap-add,
:class:`OverlapAdd`.

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

from maskstudio.dsp.grid import WINDOW_SECONDS, STFTConfig, n_frames_for
from maskstudio.dsp.windows import (
    MAX_N_FFT,
    WindowSpec,
    check_window,
    get_window,
    window_normaliser,
)
from maskstudio.errors import ParameterError

__all__ = ["stft", "stft_with", "stft_frames", "stft_frames_with", "istft", "istft_with",
           "synthesize", "synthesize_blocks", "synthesize_blocks_with", "OverlapAdd",
           "FrameSource",
           # the grid's and the windows', imported here where callers have always found them
           "STFTConfig", "WindowSpec", "get_window", "n_frames_for", "check_window",
           "MAX_N_FFT", "WINDOW_SECONDS"]

#: Samples beyond this magnitude would overflow float32 spectra and their power sums
#: (|Y| ~ peak * n_fft / 2, and |Y|**2 overflows at 1.8e19), turning finite input into NaN.
MAX_SAMPLE = 1e12

#: Frames transformed together: 128 frames of 2048 float32 samples fit in L2 cache.
_CHUNK = 128


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
    """:func:`stft` on the grid ``config`` (already checked).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
    config : STFTConfig

    Returns
    -------
    np.ndarray [shape=(..., config.n_bins, n_frames)], complex64

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
    """:func:`stft_frames` on the grid ``config`` (already checked).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
    t0, t1 : int
    config : STFTConfig

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
    config = STFTConfig(n_fft, hop_length, win_length, window, center)
    return _gather(synthesize_blocks_with(get_frames, n_frames, n_channels, config,
                                          length=length, chunk=chunk),
                   n_channels, config.n_samples(n_frames) if length is None else int(length))


def _gather(blocks: Iterator[np.ndarray], n_channels: int, total: int) -> np.ndarray:
    y = np.empty((n_channels, total), dtype=np.float32)
    done = 0
    for block in blocks:
        y[:, done:done + block.shape[-1]] = block
        done += block.shape[-1]
    return y


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

    Returns
    -------
    iterator of np.ndarray [shape=(n_channels, k)], float32
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
    """:func:`synthesize_blocks` on the grid ``config`` (already checked).

    Parameters
    ----------
    get_frames, n_frames, n_channels, length, chunk
        As for :func:`synthesize`.
    config : STFTConfig

    Returns
    -------
    iterator of np.ndarray [shape=(n_channels, k)], float32
    """
    ola = OverlapAdd(config, n_frames, n_channels, length=length)
    for t0 in range(0, n_frames, chunk):
        block = ola.add(get_frames(t0, min(n_frames, t0 + chunk)))
        if block.shape[-1]:
            yield block
    if ola.position < ola.length:  # no frames at all: the silence asked for
        yield ola.add(np.zeros((n_channels, config.n_bins, 0), np.complex64))


class OverlapAdd:
    """The inverse STFT's weighted overlap-add, fed frames in order, carried across chunks.

    The one overlap-add of maskstudio: :func:`istft`, the export's block-by-block render and
    playback's stream (a new one at every seek) all go through it.  Each :meth:`add` takes the
    next frames and returns the samples no later frame can touch, normalised by the window's
    sum of squares (1 where that sum is ~0, as librosa), so only ``k + n_fft / hop`` frames'
    worth of samples are ever held.  Every sample is the sum of its frames in time order, so how
    the frames are chunked does not change a bit: playback (16 frames at a time) gives the
    export's samples exactly.  Add frames until :attr:`position` reaches :attr:`length`; once
    :attr:`next_frame` is ``n_frames`` (at once, if ``start`` is past every frame), adding an
    empty block returns the silence that is left.

    Parameters
    ----------
    config : STFTConfig
        The grid of the frames.
    n_frames : int
        Frames of the whole signal (the normalisation of its last samples depends on it).
    n_channels : int
        Channels of the frames added.
    length : int, optional
        Samples of the whole output (trims, or pads with silence as librosa); by default what
        the frames cover less the centring pad.
    start : int
        The first sample wanted: adding begins at the first frame that touches it
        (:attr:`next_frame`), and no sample before it is returned.
    """

    def __init__(self, config: STFTConfig, n_frames: int, n_channels: int, *,
                 length: int | None = None, start: int = 0) -> None:
        hop = config.hop_length
        self.config = config
        self.n_frames = n_frames
        self.n_channels = n_channels
        self.length = config.n_samples(n_frames) if length is None else int(length)
        self._win = config.window_array()
        self._R = -(-config.n_fft // hop)  # frames overlapping each hop-sized block
        self._norm = window_normaliser(self._win, hop, n_frames)
        pad = config.n_fft // 2 if config.center else 0
        #: the next frame :meth:`add` expects
        self.next_frame = min(n_frames, max(0, (start + pad - config.n_fft) // hop + 1))
        #: the next sample :meth:`add` returns
        self.position = start
        self._base = self.next_frame  # the hop-sized block at _buf[:, 0]
        self._pos = self._base * hop - pad  # the output sample at _buf[:, 0]
        self._buf = np.zeros((n_channels, (self._R - 1) * hop), np.float32)

    def add(self, frames: np.ndarray) -> np.ndarray:
        """Add the next frames; return the samples they finish.

        Parameters
        ----------
        frames : np.ndarray [shape=(n_channels, n_bins, k)], complex
            Frames ``next_frame <= t < next_frame + k``.

        Returns
        -------
        np.ndarray [shape=(n_channels, m)], float32
            The samples from :attr:`position` on that no later frame touches; after the last
            frame, every sample up to ``length``.

        Raises
        ------
        ValueError
            More frames than the signal has (a bug of the caller).
        """
        cfg, hop, R = self.config, self.config.hop_length, self._R
        k = frames.shape[-1]
        t1 = self.next_frame + k
        if t1 > self.n_frames:
            raise ValueError(f"frames up to {t1} added to an overlap-add of {self.n_frames}")
        need = (k + R - 1) * hop
        if self._buf.shape[1] < need:
            self._buf = np.concatenate(
                [self._buf, np.zeros((self.n_channels, need - self._buf.shape[1]), np.float32)],
                axis=1)
        buf = self._buf
        for c in range(self.n_channels if k else 0):
            fr = scipy.fft.irfft(frames[c].T, n=cfg.n_fft, axis=-1)
            fr *= self._win
            if R * hop != cfg.n_fft:
                fr = np.pad(fr, ((0, 0), (0, R * hop - cfg.n_fft)))
            fr3 = fr.reshape(k, R, hop)
            for r in reversed(range(R)):  # each sample sums its frames in time order
                buf[c, r * hop:(k + r) * hop] += fr3[:, r, :].reshape(-1)
        self.next_frame = t1
        last = t1 == self.n_frames
        ready = (t1 + R - 1 if last else t1) - self._base  # blocks no later frame touches
        done = buf[:, :ready * hop].reshape(self.n_channels, ready, hop)
        done *= self._norm(self._base, self._base + ready)
        # final now: the samples up to the end of the ready blocks, or after the last frame
        # every sample left (silence where no frame reaches, as librosa pads)
        end = self.length if last else min(self._pos + ready * hop, self.length)
        out = np.zeros((self.n_channels, max(0, end - self.position)), np.float32)
        lo, hi = max(self._pos, self.position), min(self._pos + ready * hop, end)
        if hi > lo:
            out[:, lo - self.position:hi - self.position] = \
                done.reshape(self.n_channels, -1)[:, lo - self._pos:hi - self._pos]
        keep = buf[:, ready * hop:].copy()
        buf[:] = 0
        buf[:, :keep.shape[-1]] = keep
        self._base += ready
        self._pos += ready * hop
        self.position += out.shape[-1]
        return out


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
    """:func:`istft` on the grid ``config`` (already checked).

    Parameters
    ----------
    S : np.ndarray [shape=(..., config.n_bins, n_frames)], complex
    config : STFTConfig
    length : int, optional

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
    T = flat.shape[-1]
    y = _gather(synthesize_blocks_with(lambda t0, t1: flat[:, :, t0:t1], T, flat.shape[0],
                                       config, length=length),
                flat.shape[0], config.n_samples(T) if length is None else int(length))
    return y.reshape(lead + (y.shape[-1],))
