"""Quality measures: SI-SDR, BSS Eval v4 (SDR/ISR/SIR/SAR), and mask IoU / F1.

BSS Eval here is version 4, the one SiSEC and museval use: the "images" decomposition with
time-invariant distortion filters (512 taps) estimated once over the whole signal and applied
window by window.  It is computed in the frequency domain and checked against museval in
``tests/dsp/test_metrics.py``.  Signals are ``[channels, n]``; sources stack on axis 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft
import scipy.linalg

from maskstudio.errors import ParameterError

__all__ = ["si_sdr", "bss_eval", "BSSEvalResult", "mask_iou", "mask_f1"]


def _as_sources(x, name) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, None]
    elif x.ndim == 2:
        x = x[:, None]
    if x.ndim != 3:
        raise ParameterError(f"{name} must be [source, channel, sample], got {x.shape}")
    return x


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


@dataclasses.dataclass
class BSSEvalResult:
    """What :func:`bss_eval` measured: per-source, per-window figures in dB.

    Parameters
    ----------
    sdr, isr, sir, sar : np.ndarray [shape=(source, window)]
        Signal to distortion, image to spatial distortion, signal to interference and signal
        to artefacts ratios (NaN where not evaluated).
    """

    sdr: np.ndarray
    isr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray

    def median(self) -> dict:
        """The SiSEC summary: the median over windows of each figure, per source.

        Returns
        -------
        dict
            ``"sdr"``, ``"isr"``, ``"sir"``, ``"sar"`` to arrays ``[source]``.
        """
        return {k: np.nanmedian(getattr(self, k), axis=1) for k in ("sdr", "isr", "sir", "sar")}


def _db(num, den):
    with np.errstate(divide="ignore"):
        return 10 * np.log10(num / den) if den > 0 else np.inf


def _xcorr(a_f, b_f, n_fft, L):
    """c[k] = sum_t a[t] b[t + k] for k in (-L, L), as [..., 2L - 1] with lag -L+1 first."""
    c = scipy.fft.irfft(np.conj(a_f) * b_f, n=n_fft, axis=-1)
    return np.concatenate([c[..., n_fft - L + 1:], c[..., :L]], axis=-1)


def _gram(R_f, n_fft, L, check=None) -> np.ndarray:
    """Correlations of every delayed reference channel with every other:
    ``G[a, l, b, l'] = sum_t r_a[t - l] r_b[t - l']``, as an ``(m L) x (m L)`` matrix.

    It depends on the references only, so it is built (and factored) once for all estimates;
    it is symmetric, so only the pairs ``b >= a`` are correlated.  ``check()`` is called
    between channels (it may raise to cancel).
    """
    refs = R_f.reshape(-1, R_f.shape[-1])  # [m, K]
    m = refs.shape[0]
    lags = np.arange(L)
    toe = lags[:, None] - lags[None, :]  # l - l'
    G = np.empty((m, L, m, L))
    for a in range(m):
        xc = _xcorr(refs[a][None], refs[a:], n_fft, L)  # [m - a, 2L-1], c_ab[k]
        for i, c in enumerate(xc):
            G[a, :, a + i] = c[toe + L - 1]
            G[a + i, :, a] = G[a, :, a + i].T
        if check is not None:
            check()
    G = G.reshape(m * L, m * L)
    G[np.diag_indices_from(G)] += np.finfo(float).eps
    return G


def _solver(G):
    """Solves ``G x = D`` for many ``D``, factoring ``G`` once."""
    try:
        factor = scipy.linalg.cho_factor(G, check_finite=False)
        return lambda D: scipy.linalg.cho_solve(factor, D, check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        # dependent channels (a source panned to the centre): the least-squares solution of
        # least norm, as lstsq gives it, from one eigendecomposition kept for every estimate
        w, V = np.linalg.eigh(G)
        keep = np.abs(w) > np.abs(w).max() * max(G.shape) * np.finfo(G.dtype).eps
        Vk, inv = V[:, keep], 1.0 / w[keep]
        return lambda D: Vk @ (inv[:, None] * (Vk.T @ D))


def _filters(R_f, E_f, n_fft, L, idx, solve, check=None):
    """Least-squares filters that best build each estimate channel from delayed references
    ``idx`` (with ``solve`` for their Gram matrix).  Returns [len(idx), C, L, C_est].
    ``check()`` is called between reference channels (it may raise to cancel)."""
    refs = R_f[idx].reshape(-1, R_f.shape[-1])  # [m, K]
    D = np.empty((refs.shape[0], E_f.shape[0], L))
    for a in range(refs.shape[0]):  # one reference channel at a time: a long file's are slow
        D[a] = _xcorr(refs[a][None], E_f, n_fft, L)[..., L - 1:]  # [C_est, L]
        if check is not None:
            check()
    D = np.moveaxis(D, 1, 2).reshape(refs.shape[0] * L, -1)
    return solve(D).reshape(len(idx), R_f.shape[1], L, -1)


def _project(refs, filt, L, check=None):
    """Sum over sources and channels of refs filtered by filt: [J, C, n] x [J, C, L, Ce].

    Overlap-add convolution: the filters are short (``L`` taps), so this costs about
    ``n log L`` per pair where a whole-signal FFT would cost ``n log n``.  ``check()`` is
    called between sources (it may raise to cancel)."""
    from scipy.signal import oaconvolve

    J, C, n = refs.shape
    out = np.zeros((filt.shape[-1], n + L - 1))
    for j in range(J):
        for c in range(C):
            out += oaconvolve(refs[j, c][None], filt[j, c].T, axes=-1)
        if check is not None:
            check()
    return out


def bss_eval(references, estimates, *, window: int | None = None, hop: int | None = None,
             filters_len: int = 512, progress=None, only=None, cache: dict | None = None
             ) -> BSSEvalResult:
    """BSS Eval v4 (images) of estimates against references.

    Parameters
    ----------
    references, estimates : np.ndarray [shape=(J, C, n)]
        True and estimated source images, in the same order.
    window, hop : int, optional
        Evaluate over windows of ``window`` samples every ``hop`` (museval uses 1 s every
        1 s at the file's rate in SiSEC); by default the whole signal is one window.
    filters_len : int
        Taps of the distortion filters.
    progress : callable(done, total), optional
        Called after each source's filters and before each projection; it may raise to
        cancel.
    only : sequence of int, optional
        Evaluate these estimates only (the others are NaN).  Each estimate's figures depend on
        it and the references alone, so an unchanged estimate need not be evaluated again.
    cache : dict, optional
        Kept by the caller between calls with the same references: their transforms, Gram
        matrix and its factors are computed once (about half the work of a call).

    Returns
    -------
    BSSEvalResult

    Raises
    ------
    ParameterError
        The shapes differ, or a reference is silent.
    """
    refs = _as_sources(references, "references")
    ests = _as_sources(estimates, "estimates")
    if refs.shape != ests.shape:
        raise ParameterError(f"references {refs.shape} and estimates {ests.shape} differ")
    J, C, n = refs.shape
    if np.any(np.all(refs.reshape(J, -1) == 0, axis=1)):
        raise ParameterError("a reference source is silent: BSS Eval is undefined for it")
    L = int(filters_len)
    n_fft = scipy.fft.next_fast_len(n + L - 1, real=True)
    todo = list(range(J)) if only is None else sorted({int(j) for j in only})
    if window is None or window >= n:
        starts, window = [0], n
    else:
        hop = window if hop is None else int(hop)
        n_win = int(np.floor((n - window) / hop)) + 1
        starts = [k * hop for k in range(n_win)]
    total = 2 * len(todo) + len(starts) * len(todo)
    done = 0

    def advance():
        if progress is not None:
            progress(done, total)
    advance()
    R_f, G, solve_all, solve_own = _reference_side(refs, n_fft, L, cache, advance)
    filt_all, filt_own = {}, {}
    for j in todo:
        E_f = scipy.fft.rfft(ests[j], n=n_fft, axis=-1)
        filt_all[j] = _filters(R_f, E_f, n_fft, L, np.arange(J), solve_all, advance)
        done += 1
        advance()
        filt_own[j] = _filters(R_f, E_f, n_fft, L, np.array([j]), solve_own[j], advance)
        done += 1
        advance()
    out = np.full((4, J, len(starts)), np.nan)
    for w, s0 in enumerate(starts):
        seg = slice(s0, s0 + window)
        r, e = refs[..., seg], ests[..., seg]
        if np.any(np.all(r.reshape(J, -1) == 0, axis=1)) or \
                np.any(np.all(e[todo].reshape(len(todo), -1) == 0, axis=1)):
            continue  # a silent window is undefined, as in museval
        for j in todo:
            advance()  # a check per projection: a long file's are slow
            s_true = np.zeros((C, r.shape[-1] + L - 1))
            s_true[:, : r.shape[-1]] = r[j]
            p_own = _project(r[j][None], filt_own[j], L)
            advance()
            p_all = _project(r, filt_all[j], L, advance)
            est = np.zeros_like(s_true)
            est[:, : e.shape[-1]] = e[j]
            e_spat = p_own - s_true
            e_interf = p_all - p_own
            e_artif = est - p_all
            energy = float(np.sum(s_true ** 2))
            out[0, j, w] = _db(energy, np.sum((e_spat + e_interf + e_artif) ** 2))
            out[1, j, w] = _db(energy, np.sum(e_spat ** 2))
            out[2, j, w] = _db(np.sum(p_own ** 2), np.sum(e_interf ** 2))
            out[3, j, w] = _db(np.sum(p_all ** 2), np.sum(e_artif ** 2))
            done += 1
    return BSSEvalResult(*out)


def _reference_side(refs, n_fft, L, cache, advance):
    """The references' transforms, Gram matrix and solvers (from ``cache`` when it has them)."""
    key = (refs.shape, n_fft, L)
    if cache is not None and cache.get("key") == key:
        return cache["value"]
    J, C, _ = refs.shape
    R_f = scipy.fft.rfft(refs, n=n_fft, axis=-1)
    advance()
    G = _gram(R_f, n_fft, L, advance)
    advance()
    block = C * L  # the rows of source j in G: its channels' delays
    value = (R_f, G, _solver(G),
             [_solver(G[j * block:(j + 1) * block, j * block:(j + 1) * block])
              for j in range(J)])
    if cache is not None:
        cache.clear()
        cache.update(key=key, value=value)
    return value


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
