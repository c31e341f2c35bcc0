"""The time-frequency grid: the STFT's settings (:class:`STFTConfig`), frame counts, layout.

What decides where a mask's bins and frames fall is here (the windows themselves are in
:mod:`maskstudio.dsp.windows`), checked once when an :class:`STFTConfig` is made; the
transforms (:mod:`maskstudio.dsp.stft`) take a config and trust it.  Names and defaults are
librosa's (``n_fft``, ``hop_length``, ``win_length``, ``window``, ``center``), so masks made
here fit librosa's spectrograms and the other way round.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from maskstudio.checks import check_number
from maskstudio.dsp.windows import MAX_N_FFT, WindowSpec, check_window, get_window
from maskstudio.errors import ParameterError

__all__ = ["STFTConfig", "STFTKwargs", "n_frames_for", "frame_major", "WINDOW_SECONDS"]

#: The analysis window, in seconds, that :meth:`STFTConfig.for_samplerate` aims at: librosa's
#: n_fft=2048 at 44.1 kHz (46.4 ms), the usual choice for music.
WINDOW_SECONDS = 2048 / 44100


class STFTKwargs(TypedDict):
    """A config's settings as the keyword arguments of :func:`~maskstudio.dsp.stft.stft`."""

    n_fft: int
    hop_length: int
    win_length: int
    window: WindowSpec
    center: bool


@dataclasses.dataclass(frozen=True, init=False)
class STFTConfig:
    """The settings that define a time-frequency grid (librosa's names and defaults).

    Made as ``STFTConfig(n_fft=2048, hop_length=None, win_length=None, window="hann",
    center=True)``, by keyword or position; ``win_length=None`` means ``n_fft`` and
    ``hop_length=None`` means ``win_length // 4``, as in librosa.  Every setting is checked
    here, once, and stored resolved: ``hop_length`` and ``win_length`` are always ints, the
    window a checked specification, ``center`` a bool.

    Parameters
    ----------
    n_fft : int
        FFT size, ``2 <= n_fft <= MAX_N_FFT``.
    hop_length : int or None
        Samples between frames; None for ``win_length // 4``.
    win_length : int or None
        Window length, at most ``n_fft`` (zero-padded to it); None for ``n_fft``.
    window : str, tuple or float
        A scipy window name, a ``(name, parameter, ...)`` tuple or a Kaiser beta.
    center : bool
        Pad ``n_fft // 2`` zeros at both ends so frame ``t`` is centred at ``t * hop_length``.

    Raises
    ------
    ParameterError
        A setting is not a number, out of range, or names no usable window.
    """

    n_fft: int
    hop_length: int
    win_length: int
    window: WindowSpec
    center: bool

    def __init__(self, n_fft: int = 2048, hop_length: int | None = None,
                 win_length: int | None = None, window: WindowSpec = "hann",
                 center: bool = True) -> None:
        n_fft = check_number(n_fft, "n_fft", lo=2, hi=MAX_N_FFT, integer=True,
                             hint="2048 is usual")
        win = n_fft if win_length is None else check_number(
            win_length, "win_length", lo=1, hi=n_fft, integer=True,
            hint=f"the window must fit in n_fft={n_fft}")
        hop = win // 4 if hop_length is None else check_number(
            hop_length, "hop_length", lo=1, hi=MAX_N_FFT, integer=True,
            hint="a quarter of n_fft is usual")
        spec = check_window(window)
        flag: object = center
        if isinstance(flag, (int, np.integer)) and not isinstance(flag, (bool, np.bool_)) \
                and flag in (0, 1):
            flag = bool(flag)
        if not isinstance(flag, (bool, np.bool_)):
            raise ParameterError(f"center must be True or False, got {center!r}")
        object.__setattr__(self, "n_fft", n_fft)
        object.__setattr__(self, "win_length", win)
        object.__setattr__(self, "hop_length", hop)
        object.__setattr__(self, "window", spec)
        object.__setattr__(self, "center", bool(flag))
        get_window(spec, win, n_fft)  # fail now, not halfway through an export

    @classmethod
    def for_samplerate(cls, samplerate: float, *, hop_length: int | None = None,
                       win_length: int | None = None, window: WindowSpec = "hann",
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

        Returns
        -------
        STFTConfig

        Raises
        ------
        ParameterError
            The sample rate or a setting is out of range.
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
        """Number of frames :func:`~maskstudio.dsp.stft.stft` gives for ``n_samples``.

        Parameters
        ----------
        n_samples : int
            Length of the signal.

        Returns
        -------
        int
        """
        return n_frames_for(n_samples, n_fft=self.n_fft, hop_length=self.hop_length,
                            center=self.center)

    def n_samples(self, n_frames: int) -> int:
        """Samples the inverse STFT of ``n_frames`` gives when no length is asked for: what
        the frames cover, less the centring pad at both ends.

        Parameters
        ----------
        n_frames : int
            Number of frames.

        Returns
        -------
        int
        """
        R = -(-self.n_fft // self.hop_length)
        return max(0, (n_frames + R - 1) * self.hop_length
                   - 2 * (self.n_fft // 2 if self.center else 0))

    def window_array(self) -> np.ndarray:
        """The analysis window, zero-padded to ``n_fft`` (cached, read-only).

        Returns
        -------
        np.ndarray [shape=(n_fft,)], float32
        """
        return get_window(self.window, self.win_length, self.n_fft)

    def frequencies(self, samplerate: float) -> np.ndarray:
        """Centre frequency of each bin in Hz.

        Parameters
        ----------
        samplerate : float
            Sample rate of the audio, in Hz.

        Returns
        -------
        np.ndarray [shape=(n_bins,)], float
        """
        return np.fft.rfftfreq(self.n_fft, d=1.0 / samplerate)

    def times(self, n_frames: int, samplerate: float) -> np.ndarray:
        """Time of each frame's centre in seconds (librosa's ``frames_to_time``).

        Parameters
        ----------
        n_frames : int
            Number of frames.
        samplerate : float
            Sample rate of the audio, in Hz.

        Returns
        -------
        np.ndarray [shape=(n_frames,)], float
        """
        offset = 0 if self.center else self.n_fft // 2
        return (np.arange(n_frames) * self.hop_length + offset) / float(samplerate)

    def kwargs(self) -> STFTKwargs:
        """The settings as keyword arguments for :func:`~maskstudio.dsp.stft.stft` and
        :func:`~maskstudio.dsp.stft.istft`.

        Returns
        -------
        dict
            ``n_fft``, ``hop_length``, ``win_length``, ``window`` and ``center``.
        """
        return STFTKwargs(n_fft=self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, center=self.center)

    def to_dict(self) -> dict[str, Any]:
        """A JSON- and npz-friendly description (the window as a string or list).

        Returns
        -------
        dict
            The settings of :meth:`kwargs`, a tuple window made a list.
        """
        d: dict[str, Any] = dict(self.kwargs())
        if isinstance(d["window"], tuple):
            d["window"] = list(d["window"])
        return d

    def describe(self) -> str:
        """The settings on one line, for messages and the status bar.

        Returns
        -------
        str
        """
        w = self.window if isinstance(self.window, str) else \
            ",".join(map(str, self.window)) if isinstance(self.window, tuple) else self.window
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, window={w}, center={self.center}")


def n_frames_for(n_samples: int, *, n_fft: int, hop_length: int, center: bool = True) -> int:
    """Number of STFT frames for a signal of ``n_samples`` (librosa's count).

    Parameters
    ----------
    n_samples : int
        Length of the signal.
    n_fft, hop_length, center
        As for :class:`STFTConfig`.

    Returns
    -------
    int
        0 when the signal is shorter than one frame.
    """
    padded = n_samples + 2 * (n_fft // 2) if center else n_samples
    if padded < n_fft:
        return 0
    return 1 + (padded - n_fft) // hop_length


def frame_major(x: ArrayLike, dtype: DTypeLike | None = None) -> np.ndarray:
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
