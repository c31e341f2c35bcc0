"""Quality measures: SI-SDR (channels flattened, or per channel), and mask IoU / F1.

BSS Eval v4 (SDR/ISR/SIR/SAR, museval's) is :mod:`maskstudio.dsp.bsseval`'s, named here too
for callers.  Signals are ``[channels, n]``; sources stack on axis 0.
"""

from __future__ import annotations

import numpy as np

from maskstudio.dsp.bsseval import BSSEvalResult, bss_eval, bss_eval_v4
from maskstudio.errors import ParameterError

__all__ = ["si_sdr", "si_sdr_channels", "bss_eval", "bss_eval_v4", "BSSEvalResult",
           "mask_iou", "mask_f1"]


def si_sdr(reference, estimate, *, zero_mean: bool = True) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019) of one source, channels flattened.

    ``10 log10(|a s|^2 / |a s - e|^2)`` with ``a = <e, s> / <s, s>``.

    Parameters
    ----------
    reference, estimate : np.ndarray
        The true source and its estimate, of one shape.
    zero_mean : bool
        Remove each signal's mean first.

    Returns
    -------
    float
        NaN for a silent reference, +inf for a perfect estimate, -inf for an orthogonal one.

    Raises
    ------
    ParameterError
        The shapes differ.
    """
    s = np.asarray(reference, dtype=np.float64).ravel()
    e = np.asarray(estimate, dtype=np.float64).ravel()
    if s.shape != e.shape:
        raise ParameterError(f"reference {np.shape(reference)} and estimate "
                             f"{np.shape(estimate)} differ in shape")
    if zero_mean:
        s = s - s.mean()
        e = e - e.mean()
    ss = float(s @ s)
    if ss == 0:
        return float("nan")
    target = (float(e @ s) / ss) * s
    noise = e - target
    nn = float(noise @ noise)
    tt = float(target @ target)
    if nn == 0:
        return float("inf")
    if tt == 0:
        return float("-inf")
    return 10 * np.log10(tt / nn)


def si_sdr_channels(reference, estimate, *, zero_mean: bool = True) -> np.ndarray:
    """SI-SDR in dB of each channel on its own (:func:`si_sdr` of one row at a time).

    :func:`si_sdr` flattens the channels into one signal, so a loud channel outweighs a quiet
    one; a figure per channel says how each fares, and their mean (``np.nanmean``, silent
    channels left out) is what maskstudio reports as "mean of channels".

    Parameters
    ----------
    reference, estimate : np.ndarray [shape=(C, n) or (n,)]
        The true source and its estimate, of one shape.
    zero_mean : bool
        Remove each channel's mean first.

    Returns
    -------
    np.ndarray [shape=(C,)]
        NaN for a silent reference channel, +inf for a perfect one, -inf for an orthogonal one.

    Raises
    ------
    ParameterError
        The shapes differ or are not ``[channels, samples]``.
    """
    s = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if s.shape != e.shape:
        raise ParameterError(f"reference {s.shape} and estimate {e.shape} differ in shape")
    if s.ndim == 1:
        s, e = s[None], e[None]
    if s.ndim != 2:
        raise ParameterError(f"signals must be [channels, samples], not {s.shape}")
    return np.array([si_sdr(a, b, zero_mean=zero_mean) for a, b in zip(s, e)])


def _binary_pair(estimate, reference, threshold):
    """Both masks binarised at ``threshold`` (``|mask| > threshold``), of one shape."""
    a = np.abs(np.asarray(estimate)) > threshold
    b = np.abs(np.asarray(reference)) > threshold
    if a.shape != b.shape:
        raise ParameterError(f"mask shapes differ: {a.shape} and {b.shape}")
    return a, b


def mask_iou(estimate, reference, *, threshold: float = 0.5) -> float:
    """Intersection over union of two masks binarised at ``threshold``.

    Parameters
    ----------
    estimate, reference : np.ndarray
        Masks of one shape.
    threshold : float
        Bins where ``|mask| > threshold`` count.

    Returns
    -------
    float
        In [0, 1]; 1.0 if both are empty.

    Raises
    ------
    ParameterError
        The shapes differ.
    """
    a, b = _binary_pair(estimate, reference, threshold)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def mask_f1(estimate, reference, *, threshold: float = 0.5) -> float:
    """F1 score (Dice) of a binarised mask against a reference mask.

    Parameters
    ----------
    estimate, reference : np.ndarray
        Masks of one shape.
    threshold : float
        Bins where ``|mask| > threshold`` count.

    Returns
    -------
    float
        In [0, 1]; 1.0 if both are empty.

    Raises
    ------
    ParameterError
        The shapes differ.
    """
    a, b = _binary_pair(estimate, reference, threshold)
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 1.0 if total == 0 else 2 * np.count_nonzero(a & b) / total
