"""BSS Eval v4 (SDR/ISR/SIR/SAR), as museval computes it, and its summaries.

Version 4 is the one SiSEC, MUSDB papers and museval use: the "images" decomposition with
time-invariant distortion filters (512 taps) estimated once over the whole signal and applied
window by window; the published figure of a source is the median over 1 s windows (hop 1 s)
of its framewise figures, windows where a reference or estimate is silent, and infinite
figures, left out (museval's ``TrackStore`` writes an infinite figure as NaN, and its
aggregation skips NaN).  :func:`bss_eval_v4` gives that figure and, from the same filters, the
whole-signal one (one window over everything), which is not what papers quote.

The filters are computed in the frequency domain, the Gram matrix of the references factored
once for every estimate (museval solves it again per source); checked against museval in
``tests/dsp/test_metrics.py`` and ``tests/dsp/test_bsseval_museval.py``.

A reference whose channels are collinear (a source amplitude-panned, or centred) has a
singular Gram matrix: museval solves it regularised by machine epsilon (``np.linalg.solve(G +
eps I)``, ``lstsq`` when that fails), which is the least-squares projection when the channels
are exactly proportional.  Here it is the least-squares projection too, from a Cholesky factor
regularised at ``lstsq``'s default cut-off, and a :class:`CollinearWarning` says so, once per
set of references.  Stored in float32, panned channels are proportional only to 1e-7, and
museval's ISR/SIR/SAR of such a source move by several dB with rounding (measured: a relative
change of 1e-15 in the references moved its ISR 15 dB); SDR does not depend on the filters.

Signals are ``[channels, n]``; sources stack on axis 0.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.fft
import scipy.linalg

from maskstudio.errors import ParameterError

__all__ = ["bss_eval", "bss_eval_v4", "BSSEvalResult", "CollinearWarning", "museval_frames",
           "V4_DEFINITION", "WHOLE_DEFINITION"]

#: How the default figures are defined (the label written beside them).
V4_DEFINITION = "BSS Eval v4 (museval), median of 1 s windows"
#: How the whole-signal figures are defined.
WHOLE_DEFINITION = "BSS Eval v4 filters, whole signal as one window"


class CollinearWarning(UserWarning):
    """A reference's channels are collinear (panned): its Gram matrix is singular."""


def _as_sources(x, name) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, None]
    elif x.ndim == 2:
        x = x[:, None]
    if x.ndim != 3:
        raise ParameterError(f"{name} must be [source, channel, sample], got {x.shape}")
    return x


def _summary(values: np.ndarray) -> np.ndarray:
    """museval's aggregation of framewise figures ``[..., window]``: infinite ones as NaN
    (its ``TrackStore`` writes them so), then the median of the rest (NaN if none)."""
    v = np.where(np.isfinite(values), values, np.nan)
    out = np.full(v.shape[:-1], np.nan)
    some = ~np.all(np.isnan(v), axis=-1)
    if np.any(some):
        out[some] = np.nanmedian(v[some], axis=-1)
    return out


@dataclasses.dataclass
class BSSEvalResult:
    """What :func:`bss_eval` measured: per-source, per-window figures in dB.

    Parameters
    ----------
    sdr, isr, sir, sar : np.ndarray [shape=(source, window)]
        Signal to distortion, image to spatial distortion, signal to interference and signal
        to artefacts ratios (NaN where not evaluated).
    collinear : tuple of int
        The references whose channels are collinear (their filters are least-squares ones).
    whole : dict, optional
        With ``whole=True``: ``"sdr"``, ``"isr"``, ``"sir"``, ``"sar"`` to arrays ``[source]``
        over the whole signal, from the same filters.
    """

    sdr: np.ndarray
    isr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    collinear: tuple = ()
    whole: dict | None = None

    def median(self) -> dict:
        """The SiSEC summary, as museval aggregates: the median over windows of each figure,
        per source, infinite and NaN windows left out.

        Returns
        -------
        dict
            ``"sdr"``, ``"isr"``, ``"sir"``, ``"sar"`` to arrays ``[source]``.
        """
        return {k: _summary(getattr(self, k)) for k in ("sdr", "isr", "sir", "sar")}


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
    G[np.diag_indices_from(G)] += np.finfo(float).eps  # museval's regularisation
    return G


def _solver(G):
    """``(solve, singular)``: solves ``G x = D`` for many ``D``, factoring ``G`` once.

    A singular ``G`` (collinear channels) is factored with ``lstsq``'s default cut-off
    (``eps * size * largest``) added to its diagonal: the least-squares solution museval's
    ``solve``/``lstsq`` reach on exactly proportional channels, at a Cholesky's cost (an
    eigendecomposition, the last resort, is ten times slower)."""
    try:
        factor = scipy.linalg.cho_factor(G, check_finite=False)
        return (lambda D: scipy.linalg.cho_solve(factor, D, check_finite=False)), False
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    ridge = np.finfo(G.dtype).eps * max(G.shape) * float(np.abs(np.diag(G)).max())
    try:
        factor = scipy.linalg.cho_factor(G + ridge * np.eye(G.shape[0]), check_finite=False)
        return (lambda D: scipy.linalg.cho_solve(factor, D, check_finite=False)), True
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        w, V = np.linalg.eigh(G)
        keep = np.abs(w) > np.abs(w).max() * max(G.shape) * np.finfo(G.dtype).eps
        Vk, inv = V[:, keep], 1.0 / w[keep]
        return (lambda D: Vk @ (inv[:, None] * (Vk.T @ D))), True


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


def _windows(n, window, hop):
    """``(starts, window)`` as museval's ``Framing`` cuts ``n`` samples (no partial last)."""
    if window is None or window >= n:
        return [0], n
    window = int(window)
    hop = window if hop is None else int(hop)
    if window < 1 or hop < 1:
        raise ParameterError(f"window ({window}) and hop ({hop}) must be at least 1 sample")
    n_win = int(np.floor((n - window) / hop)) + 1
    return [k * hop for k in range(n_win)], window


def bss_eval(references, estimates, *, window: int | None = None, hop: int | None = None,
             filters_len: int = 512, progress=None, only=None, cache: dict | None = None,
             whole: bool = False) -> BSSEvalResult:
    """BSS Eval v4 (images) of estimates against references.

    Parameters
    ----------
    references, estimates : np.ndarray [shape=(J, C, n)]
        True and estimated source images, in the same order.
    window, hop : int, optional
        Evaluate over windows of ``window`` samples every ``hop`` (museval uses 1 s every
        1 s at the file's rate in SiSEC: :func:`bss_eval_v4`); by default the whole signal
        is one window.
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
    whole : bool
        Also evaluate the whole signal as one window, with the same filters
        (:attr:`BSSEvalResult.whole`).

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
    starts, window = _windows(n, window, hop)
    segments = [(s0, window) for s0 in starts]
    if whole and segments != [(0, n)]:
        segments.append((0, n))
    total = 2 * len(todo) + len(segments) * len(todo)
    done = 0

    def advance():
        if progress is not None:
            progress(done, total)
    advance()
    R_f, solve_all, solve_own, collinear = _reference_side(refs, n_fft, L, cache, advance)
    filt_all, filt_own = {}, {}
    for j in todo:
        E_f = scipy.fft.rfft(ests[j], n=n_fft, axis=-1)
        filt_all[j] = _filters(R_f, E_f, n_fft, L, np.arange(J), solve_all, advance)
        done += 1
        advance()
        filt_own[j] = _filters(R_f, E_f, n_fft, L, np.array([j]), solve_own[j], advance)
        done += 1
        advance()
    out = np.full((4, J, len(segments)), np.nan)
    for w, (s0, length) in enumerate(segments):
        seg = slice(s0, s0 + length)
        r, e = refs[..., seg], ests[..., seg]
        if np.any(np.all(r.reshape(J, -1) == 0, axis=1)) or \
                np.any(np.all(e[todo].reshape(len(todo), -1) == 0, axis=1)):
            continue  # a silent window is undefined, as in museval
        for j in todo:
            advance()  # a check per projection: a long file's are slow
            out[:, j, w] = _decompose(r, e[j], j, filt_own[j], filt_all[j], L, advance)
            done += 1
    k = len(starts)
    result = BSSEvalResult(out[0, :, :k], out[1, :, :k], out[2, :, :k], out[3, :, :k],
                           collinear=collinear)
    if whole:
        result.whole = dict(zip(("sdr", "isr", "sir", "sar"), out[:, :, -1]))
    return result


def _decompose(r, e, j, filt_own, filt_all, L, check):
    """SDR, ISR, SIR, SAR of estimate ``e`` of source ``j`` over one window ``r``."""
    C = r.shape[1]
    s_true = np.zeros((C, r.shape[-1] + L - 1))
    s_true[:, : r.shape[-1]] = r[j]
    p_own = _project(r[j][None], filt_own, L)
    check()
    p_all = _project(r, filt_all, L, check)
    est = np.zeros_like(s_true)
    est[:, : e.shape[-1]] = e
    e_spat = p_own - s_true
    e_interf = p_all - p_own
    e_artif = est - p_all
    energy = float(np.sum(s_true ** 2))
    return (_db(energy, np.sum((e_spat + e_interf + e_artif) ** 2)),
            _db(energy, np.sum(e_spat ** 2)),
            _db(np.sum(p_own ** 2), np.sum(e_interf ** 2)),
            _db(np.sum(p_all ** 2), np.sum(e_artif ** 2)))


def _reference_side(refs, n_fft, L, cache, advance):
    """The references' transforms, solvers and collinear sources (from ``cache`` when it has
    them); warns (once per set of references) when a source's channels are collinear."""
    key = (refs.shape, n_fft, L)
    if cache is not None and cache.get("key") == key:
        return cache["value"]
    J, C, _ = refs.shape
    R_f = scipy.fft.rfft(refs, n=n_fft, axis=-1)
    advance()
    G = _gram(R_f, n_fft, L, advance)
    advance()
    block = C * L  # the rows of source j in G: its channels' delays
    solve_all, _ = _solver(G)
    own = [_solver(G[j * block:(j + 1) * block, j * block:(j + 1) * block]) for j in range(J)]
    collinear = tuple(j for j, (_, singular) in enumerate(own) if singular)
    if collinear:
        which = ", ".join(str(j + 1) for j in collinear)
        warnings.warn(f"reference source(s) {which} of {J} have collinear (panned) channels: "
                      "their Gram matrix is singular, so BSS Eval uses least-squares filters "
                      "as museval does; their ISR/SIR/SAR are sensitive to rounding there, "
                      "SDR is not", CollinearWarning, stacklevel=3)
    value = (R_f, solve_all, [s for s, _ in own], collinear)
    if cache is not None:
        cache.clear()
        cache.update(key=key, value=value)
    return value


def bss_eval_v4(references, estimates, *, samplerate: float, whole: bool = True,
                progress=None) -> BSSEvalResult:
    """BSS Eval v4 as museval's ``evaluate`` computes it: windows of 1 s every 1 s,
    ``compute_permutation=False``, 512-tap filters over the whole signal.

    Parameters
    ----------
    references, estimates : np.ndarray [shape=(J, C, n)]
        True and estimated source images, in the same order.
    samplerate : float
        The signals' rate in Hz: a window is ``int(samplerate)`` samples.
    whole : bool
        Also the whole-signal figures (:attr:`BSSEvalResult.whole`).
    progress : callable(done, total), optional
        As :func:`bss_eval`'s.

    Returns
    -------
    BSSEvalResult
        Its :meth:`~BSSEvalResult.median` is the figure SiSEC and MUSDB papers quote.

    Raises
    ------
    ParameterError
        The shapes differ, a reference is silent, or the rate is not positive.
    """
    if not np.isfinite(samplerate) or samplerate < 1:
        raise ParameterError(f"samplerate must be at least 1 Hz, not {samplerate!r}")
    win = int(samplerate)
    return bss_eval(references, estimates, window=win, hop=win, whole=whole,
                    progress=progress)


def museval_frames(result: BSSEvalResult, names, *, window_s: float = 1.0,
                   hop_s: float = 1.0) -> dict:
    """The framewise figures in museval's JSON form (its ``TrackStore.scores``), which
    museval's ``json2df``, ``EvalStore`` and ``MethodStore`` read.

    Parameters
    ----------
    result : BSSEvalResult
        Framewise figures, one source per name.
    names : sequence of str
        The targets' names, in ``result``'s order.
    window_s, hop_s : float
        The windows' duration and hop in seconds.

    Returns
    -------
    dict
        ``{"targets": [{"name", "frames": [{"time", "duration", "metrics": {"SDR", "SIR",
        "SAR", "ISR"}}]}]}``, figures rounded to 1e-5 dB and infinite ones NaN, as museval
        writes them.

    Raises
    ------
    ParameterError
        The names and the result's sources differ in number.
    """
    names = list(names)
    if len(names) != result.sdr.shape[0]:
        raise ParameterError(f"{len(names)} names for {result.sdr.shape[0]} sources")

    def q(v):
        return round(float(v), 5) if np.isfinite(v) else float("nan")

    targets = []
    for j, name in enumerate(names):
        frames = [{"time": i * hop_s, "duration": window_s,
                   "metrics": {"SDR": q(result.sdr[j, i]), "SIR": q(result.sir[j, i]),
                               "SAR": q(result.sar[j, i]), "ISR": q(result.isr[j, i])}}
                  for i in range(result.sdr.shape[1])]
        targets.append({"name": str(name), "frames": frames})
    return {"targets": targets}
