"""The time-frequency grid: the STFT's settings (:class:`STFTConfig`), its windows and frame count.

Everything that decides where a mask's bins and frames fall is here, checked once when a
:class:`STFTConfig` is made; the transforms themselves (:mod:`maskstudio.dsp.stft`) take a config
and trust it.  Names and defaults are librosa's (``n_fft``, ``hop_length``, ``win_length``,
``window``, ``center``), so masks made here fit librosa's spectrograms and the other way round.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypedDict

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = [
    "STFTConfig",
    "STFTKwargs",
    "WindowSpec",
    "check_window",
    "get_window",
    "n_frames_for",
    "MAX_N_FFT",
    "WINDOW_SECONDS",
]

#: A window as scipy takes it: a name, a ``(name, parameter, ...)`` tuple or a Kaiser beta.
WindowSpec = str | tuple | float

#: The largest FFT accepted: over 20 s at 48 kHz, far beyond any analysis.
MAX_N_FFT = 1 << 20

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

    def window_array(self) -> np.ndarray:
        """The analysis window, zero-padded to ``n_fft`` (cached, read-only).

        Returns
        -------
        np.ndarray [shape=(n_fft,)], float32
        """
        return _window_cached(self.window, self.win_length, self.n_fft)

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


def check_window(window: object) -> WindowSpec:
    """A window specification as scipy takes it, checked.

    Parameters
    ----------
    window : str, tuple, list or float
        A name, a ``(name, parameter, ...)`` tuple (a list is made a tuple) or a number (a
        Kaiser beta).

    Returns
    -------
    str, tuple or float
        The specification, a tuple's parameters made finite floats.

    Raises
    ------
    ParameterError
        Anything else, or a parameter that is not a finite number.
    """
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


def _cosine_window(window: WindowSpec, n: int) -> np.ndarray | None:
    coeffs = _COSINE_WINDOWS.get(window) if isinstance(window, str) else None
    if coeffs is None:
        return None
    if n == 1:
        return np.ones(1)  # as scipy: a one-sample window passes its sample
    phase = 2 * np.pi * np.arange(n) / n
    return sum((-1) ** k * a * np.cos(k * phase) for k, a in enumerate(coeffs))


@functools.lru_cache(maxsize=32)
def _window_cached(window: WindowSpec, win_length: int, n_fft: int) -> np.ndarray:
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

    Parameters
    ----------
    window : str, tuple or float
        As for :class:`STFTConfig`.
    win_length : int
        Length of the window itself.
    n_fft : int, optional
        Length after padding; ``win_length`` by default.

    Returns
    -------
    np.ndarray [shape=(n_fft,)], float32
        Read-only (it is cached).

    Raises
    ------
    ParameterError
        An unknown window, a bad length, or a window that is zero or not finite.
    """
    win_length = check_number(win_length, "win_length", lo=1, hi=MAX_N_FFT, integer=True)
    n_fft = win_length if n_fft is None else check_number(n_fft, "n_fft", lo=win_length,
                                                          hi=MAX_N_FFT, integer=True)
    return _window_cached(check_window(window), win_length, n_fft)


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
