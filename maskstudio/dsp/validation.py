"""Masks from elsewhere (files, models, projects) checked before they are used.

A mask must fit the mixture's STFT: ``[F, T]`` for every channel or ``[C, F, T]`` per channel
(a transposed ``[T, F]`` one is recognised and explained, never applied), hold finite numbers,
and lie in [0, 1] if real; a complex (cIRM) mask may exceed one, up to
:data:`MAX_COMPLEX_GAIN`.  Each failure is a :class:`~maskstudio.errors.MaskFileError` that says
what to do.
"""

from __future__ import annotations

import numpy as np

from maskstudio.errors import MaskFileError

__all__ = ["check_mask", "check_mask_shape", "MAX_COMPLEX_GAIN"]

#: Rounding tolerance of a real mask's range.
_EPS = 1e-6

#: The largest complex-mask magnitude accepted: far above any cIRM (``|S| / |Y|`` with
#: ``|Y| > 1e-6``), and low enough that ``mask * STFT`` cannot overflow float32.
MAX_COMPLEX_GAIN = 1e20


def check_mask_shape(shape: tuple, *, n_bins: int, n_frames: int, n_channels: int,
                     name: str = "mask") -> None:
    """Raise :class:`MaskFileError` unless a mask of ``shape`` fits a ``[C, F, T]`` mixture
    STFT: ``[F, T]`` or ``[C, F, T]``.  A transposed ``[T, F]`` shape is explained.

    Checking the shape alone lets a file's declared shape be judged before its data is read.

    Parameters
    ----------
    shape : tuple of int
    n_bins, n_frames, n_channels : int
        The mixture's STFT.
    name : str
        How the message names the mask.

    Raises
    ------
    MaskFileError
        The shape fits neither ``[F, T]`` nor ``[C, F, T]``.
    """
    shape = tuple(int(k) for k in shape)
    want = (n_bins, n_frames)
    if shape[-2:] == want and len(shape) in (2, 3) and (len(shape) == 2
                                                         or shape[0] == n_channels):
        return
    if shape[-2:] == want[::-1]:
        raise MaskFileError(
            f"{name} has shape {shape}, which is [time, freq]; maskstudio expects "
            f"[freq, time] = {want}: transpose it (mask.T) before loading"
        )
    raise MaskFileError(
        f"{name} has shape {shape} but this mixture's STFT needs [freq, time] = {want}"
        f" (or [channel, freq, time] with {n_channels} channel(s)): compute it with the same "
        f"n_fft and hop_length as the mixture"
    )


def check_mask(mask: np.ndarray, *, n_bins: int, n_frames: int, n_channels: int,
               name: str = "mask", allow_complex: bool = True,
               unbounded: bool = False) -> np.ndarray:
    """Validate a mask for a ``[C, F, T]`` mixture STFT; return it as float32 or complex64.

    A transposed ``[T, F]`` mask is recognised and explained, never applied.  NaN and
    infinite values are refused (with their count), real values outside [0, 1] beyond a
    rounding tolerance too, and complex values only where ``allow_complex``.

    Parameters
    ----------
    mask : np.ndarray
    n_bins, n_frames, n_channels : int
        The mixture's STFT.
    name : str
        How the message names the mask.
    allow_complex : bool
        Whether a complex (cIRM) mask is accepted.
    unbounded : bool
        Accept real values outside [0, 1] as they are (an untruncated phase-sensitive
        mask: ``oracle --mask psm --no-truncate``).

    Returns
    -------
    np.ndarray [shape=(F, T) or (C, F, T)], float32 or complex64
        Real values clipped to [0, 1] (unless ``unbounded``).

    Raises
    ------
    MaskFileError
        A wrong shape or type, NaN or infinite values, values outside [0, 1], or a complex
        mask where it is not allowed or too large.
    """
    m = np.asarray(mask)
    if np.iscomplexobj(m):
        if not allow_complex:
            raise MaskFileError(f"{name} is complex (a cIRM), but real masks in [0, 1] are "
                                f"needed here: save its magnitude (np.abs) instead")
        m = m.astype(np.complex64)
    elif np.issubdtype(m.dtype, np.number) or m.dtype == bool:
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused
            m = m.astype(np.float32)
    else:
        raise MaskFileError(f"{name} has values of type {m.dtype}: a mask holds numbers")
    check_mask_shape(m.shape, n_bins=n_bins, n_frames=n_frames, n_channels=n_channels,
                     name=name)
    finite = np.isfinite(m)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise MaskFileError(f"{name} contains {bad} NaN or infinite value(s) out of "
                            f"{m.size}: fix the model's output (e.g. np.nan_to_num) and save "
                            f"it again")
    del finite
    if not np.iscomplexobj(m) and not unbounded:
        lo, hi = float(m.min(initial=0)), float(m.max(initial=0))
        if lo < -_EPS or hi > 1 + _EPS:
            raise MaskFileError(
                f"{name} has values from {lo:.3g} to {hi:.3g}; a real mask lies in [0, 1] "
                f"(save a complex mask as complex64 if it may exceed one)"
            )
        np.clip(m, 0, 1, out=m)
    elif np.iscomplexobj(m):
        peak = float(np.abs(m).max(initial=0))
        if peak > MAX_COMPLEX_GAIN:
            raise MaskFileError(f"{name} has complex values up to {peak:.3g} in magnitude, "
                                f"which would overflow the spectrum: compress the cIRM or "
                                f"clip it")
    return m
