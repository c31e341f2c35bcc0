"""Analysis windows: their specifications, their samples, and the overlap-add's normalisation.

A window is given as scipy takes it (a name, a ``(name, parameter, ...)`` tuple or a Kaiser
beta), checked by :func:`check_window`; :func:`get_window` gives its samples, cached and
read-only.  The common cosine windows are computed here, so start-up need not import
scipy.signal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = ["WindowSpec", "check_window", "get_window", "window_normaliser", "MAX_N_FFT"]

#: A window as scipy takes it: a name, a ``(name, parameter, ...)`` tuple or a Kaiser beta.
WindowSpec = str | tuple | float

#: The largest FFT accepted: over 20 s at 48 kHz, far beyond any analysis.
MAX_N_FFT = 1 << 20


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


def window_normaliser(win: np.ndarray, hop: int, n_frames: int
                      ) -> Callable[[int, int], np.ndarray]:
    """What the inverse STFT's overlap-added samples are multiplied by: the reciprocal of the
    window's sum of squares over the frames that reach them (1 where that sum is ~0, as librosa).

    The signal is cut in ``hop``-sized blocks; block ``b`` sums frames
    ``max(0, b - n_frames + 1) <= t <= min(R - 1, b)`` (``R = ceil(n_fft / hop)``), so every
    block in the middle sees all ``R`` window segments and only ``2 (R - 1)`` blocks at the
    ends have their own row.

    Parameters
    ----------
    win : np.ndarray [shape=(n_fft,)]
        The analysis window (:func:`get_window`).
    hop : int
        The hop length.
    n_frames : int
        Frames of the whole signal.

    Returns
    -------
    callable(b0, b1) -> np.ndarray [shape=(b1 - b0, hop)], float32
        The factors of blocks ``b0 <= b < b1``.
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
