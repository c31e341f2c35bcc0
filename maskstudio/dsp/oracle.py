"""Oracle masks from reference stems: IBM, IRM, Wiener-like, PSM and cIRM.

With mixture STFT ``Y`` and reference STFTs ``S_i`` (the formulas of DESIGN.md):

- IBM   1 where ``20 log10(|S_i| / |Y - S_i|) > lc_db`` and ``S_i`` is the loudest source
- IRM   ``(|S_i|^p / sum_k |S_k|^p) ** beta``  (p=2, beta=0.5 classic; p=1, beta=1 magnitude ratio)
- Wiener-like  ``|S_i|^2 / sum_k |S_k|^2``
- PSM   ``Re(S_i conj(Y)) / |Y|^2 = |S_i| / |Y| cos(angle S_i - angle Y)``, clipped to [0, 1]
- cIRM  ``S_i / Y`` (complex), optionally compressed ``K (1 - e^{-C M}) / (1 + e^{-C M})``

When the given stems do not add up to the mixture, the rest ``Y - sum S_i`` is one more source
("other") in every sum and every loudness comparison, so the masks of the given sources plus the
residual still describe the whole mixture.  Silent bins give 0, never NaN.

A mask shared by all channels (the default for multichannel audio) pools the channels: the
magnitudes are root-sum-of-squares over channels, and PSM/cIRM use the complex gain that best
maps the mixture onto the source over all channels, ``sum_c S_ic conj(Y_c) / sum_c |Y_c|^2``.
With ``per_channel=True`` every channel gets its own mask ``[C, F, T]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from maskstudio.checks import check_number
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.stft import stft_frames_with
from maskstudio.errors import ParameterError

__all__ = ["MASK_KINDS", "oracle_from_stfts", "oracle_masks", "compress_cirm",
           "uncompress_cirm", "check_oracle_options"]

MASK_KINDS = ("ibm", "irm", "wiener", "psm", "cirm")

_TINY = np.float32(1e-12)

#: Frames per block when computing oracle masks from audio.
_BLOCK = 1024

#: STFT magnitudes above this are scaled down (by a power of two, exactly) before powers and
#: products are taken: float32 squares overflow at 1.8e19 and would give inf / inf = NaN.
_BIG = 2.0 ** 56


def _check_kind(kind: str) -> str:
    k = str(kind).lower()
    if k not in MASK_KINDS:
        raise ParameterError(f"unknown mask kind {kind!r}: choose one of {', '.join(MASK_KINDS)}")
    return k


def _safe_div(num, den):
    out = np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den)),
                   dtype=np.result_type(num, den, np.float32))
    np.divide(num, den, out=out, where=den > _TINY)
    return out


def _check_compression(K, C) -> tuple:
    return (check_number(K, "the cIRM compression's K", lo=0, lo_open=True, hi=1e6,
                         hint="10 is usual"),
            check_number(C, "the cIRM compression's C", lo=0, lo_open=True, hi=1e6,
                         hint="0.1 is usual"))


def compress_cirm(M: np.ndarray, *, K: float = 10.0, C: float = 0.1) -> np.ndarray:
    """Bound a cIRM to (-K, K) per real and imaginary part (Williamson et al. 2016).

    ``K (1 - e^{-C x}) / (1 + e^{-C x})``, computed as ``K tanh(C x / 2)``, which is the same
    function and never overflows.

    Parameters
    ----------
    M : np.ndarray, complex
        The cIRM.
    K, C : float
        Bound and steepness (both > 0).

    Returns
    -------
    np.ndarray, complex64
    """
    K, C = _check_compression(K, C)
    M = np.asarray(M)

    def f(x):
        return K * np.tanh(0.5 * C * x.astype(np.float64))
    return (f(M.real) + 1j * f(M.imag)).astype(np.complex64)


def uncompress_cirm(Mc: np.ndarray, *, K: float = 10.0, C: float = 0.1) -> np.ndarray:
    """Inverse of :func:`compress_cirm` (values at the bounds saturate).

    Parameters
    ----------
    Mc : np.ndarray, complex
        A compressed cIRM.
    K, C : float
        As it was compressed with.

    Returns
    -------
    np.ndarray, complex64
    """
    K, C = _check_compression(K, C)
    Mc = np.asarray(Mc)

    def g(z):
        z = np.clip(z.astype(np.float64), -K * (1 - 1e-6), K * (1 - 1e-6))
        return 2 * np.arctanh(z / K) / C
    return (g(Mc.real) + 1j * g(Mc.imag)).astype(np.complex64)


def check_oracle_options(*, lc_db=0.0, p=2.0, beta=0.5, compress=None) -> dict:
    """The oracle's numeric options, checked (finite, in range) and as numbers.

    Parameters
    ----------
    lc_db : float
        The IBM's local criterion in dB.
    p, beta : float
        The IRM's power and exponent (> 0).
    compress : (K, C), optional
        The cIRM's compression.

    Returns
    -------
    dict
        ``lc_db``, ``p``, ``beta`` and ``compress`` (a pair of floats, or None).

    Raises
    ------
    ParameterError
        A value out of range, or ``compress`` not a pair.
    """
    out: dict[str, Any] = dict(
        lc_db=check_number(lc_db, "lc_db", lo=-200, hi=200,
                           hint="the IBM's local criterion in dB; 0 is usual"),
        p=check_number(p, "p", lo=0, lo_open=True,
                       hint="the IRM's power: 2 for power ratios, 1 for magnitude ratios"),
        beta=check_number(beta, "beta", lo=0, lo_open=True,
                          hint="the IRM's exponent: 0.5 or 1 are usual"),
    )
    if compress is not None:
        try:
            K, C = compress
        except (TypeError, ValueError):
            raise ParameterError(f"compress must be a pair (K, C), got {compress!r}") from None
        out["compress"] = _check_compression(K, C)
    else:
        out["compress"] = None
    return out


def oracle_from_stfts(Y: np.ndarray, refs: Sequence[np.ndarray], kind: str, *,
                      lc_db: float = 0.0, p: float = 2.0, beta: float = 0.5,
                      truncate: bool = True, compress: tuple | None = None,
                      per_channel: bool = False) -> np.ndarray:
    """Oracle masks of the given sources from STFTs.

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T)], complex
        The mixture.
    refs : sequence of np.ndarray [shape=(C, F, T)], complex
        The reference sources; the rest of the mixture counts as one more source.
    kind : {'ibm', 'irm', 'wiener', 'psm', 'cirm'}
    lc_db : float
        IBM local criterion in dB.
    p, beta : float
        IRM power and exponent.
    truncate : bool
        Clip the PSM to [0, 1].
    compress : (K, C) or None
        Compress the cIRM.
    per_channel : bool
        One mask per channel ``[K, C, F, T]`` instead of one shared ``[K, F, T]``.

    Returns
    -------
    np.ndarray [shape=(K, F, T) or (K, C, F, T)], float32 (complex64 for cIRM)

    Raises
    ------
    ParameterError
        An unknown kind or option, no references, or STFTs of different shapes.
    """
    kind = _check_kind(kind)
    if len(refs) == 0:
        raise ParameterError("oracle masks need at least one reference source")
    opts = check_oracle_options(lc_db=lc_db, p=p, beta=beta, compress=compress)
    lc_db, p, beta, compress = opts["lc_db"], opts["p"], opts["beta"], opts["compress"]
    Y = np.asarray(Y, dtype=np.complex64)
    S = np.stack([np.asarray(r, dtype=np.complex64) for r in refs])  # [K, C, F, T]
    if S.shape[1:] != Y.shape:
        raise ParameterError(f"reference STFTs {S.shape[1:]} do not match the mixture {Y.shape}")
    Y, S = _tame(Y, S)
    other = Y - S.sum(axis=0)
    if kind in ("psm", "cirm"):
        if per_channel:
            G = _safe_div(S * np.conj(Y), (np.abs(Y) ** 2)[None])
        else:
            num = (S * np.conj(Y)[None]).sum(axis=1)
            G = _safe_div(num, (np.abs(Y) ** 2).sum(axis=0)[None])
        if kind == "cirm":
            G = G.astype(np.complex64)
            return compress_cirm(G, K=compress[0], C=compress[1]) if compress else G
        m = G.real.astype(np.float32)
        return np.clip(m, 0, 1) if truncate else m

    def mag(x, axis):  # per-channel magnitude, or root-sum-of-squares over channels
        if per_channel:
            return np.abs(x)
        return np.sqrt((np.abs(x) ** 2).sum(axis=axis))

    A = mag(S, 1)  # [K, (C,) F, T]
    A_other = mag(other, 0)
    if kind == "ibm":
        rest = mag(Y[None] - S, 1)
        loudest = A >= np.maximum(A.max(axis=0), A_other)[None]
        thresh = np.float32(10 ** (lc_db / 20))
        m = loudest & (A > rest * thresh) & (A > _TINY)
        return m.astype(np.float32)
    if kind == "wiener":
        p, beta = 2.0, 1.0
    # powers of magnitudes relative to the loudest source of each bin: in [0, 1], so no
    # power overflows whatever p is (|S|**p alone overflows float32 for p = 20)
    top = np.maximum(A.max(axis=0), A_other)
    inv = _safe_div(np.float32(1), top)
    Ap = (A * inv[None]).astype(np.float32) ** np.float32(p)
    den = Ap.sum(axis=0) + (A_other * inv).astype(np.float32) ** np.float32(p)
    m = _safe_div(Ap, den[None])
    if beta != 1:
        m = m ** np.float32(beta)
    return m.astype(np.float32)


def _tame(Y: np.ndarray, S: np.ndarray):
    """``Y`` and ``S`` scaled by one power of two when their magnitudes are so large that
    products and squares would overflow (the masks are ratios: they do not change)."""
    with np.errstate(invalid="ignore"):
        peak = max(float(np.abs(Y).max(initial=0)), float(np.abs(S).max(initial=0)))
    if not np.isfinite(peak):
        raise ParameterError("the STFTs contain NaN or infinite values: check the audio")
    if peak <= _BIG:
        return Y, S
    scale = np.float32(2.0 ** -np.ceil(np.log2(peak)))
    return Y * scale, S * scale


def oracle_masks(mixture: np.ndarray, references: Sequence[np.ndarray], config: STFTConfig,
                 kind: str, *, per_channel: bool = False,
                 progress: Callable[[int, int], None] | None = None, **options
                 ) -> np.ndarray:
    """Oracle masks from time signals.

    Computed over blocks of frames, so that no whole STFT of a stem is held.

    Parameters
    ----------
    mixture : np.ndarray [shape=(C, n)]
    references : sequence of np.ndarray [shape=(C, n)]
        The stems; the rest of the mixture counts as one more source.
    config : STFTConfig
        The grid of the masks.
    kind : {'ibm', 'irm', 'wiener', 'psm', 'cirm'}
    per_channel : bool
        One mask per channel instead of one shared.
    progress : callable(done, total), optional
        Called after each block of frames; it may raise to cancel.
    **options
        Those of :func:`oracle_from_stfts` (``lc_db``, ``p``, ``beta``, ``truncate``,
        ``compress``).

    Returns
    -------
    np.ndarray [shape=(K, F, T) or (K, C, F, T)], float32 (complex64 for cIRM)

    Raises
    ------
    ParameterError
        An unknown kind or option, or signals of different shapes.
    """
    kind = _check_kind(kind)
    check_oracle_options(**{k: v for k, v in options.items()
                            if k in ("lc_db", "p", "beta", "compress")})
    mixture = np.asarray(mixture, dtype=np.float32)
    if mixture.ndim != 2:
        raise ParameterError(f"the mixture must be [channels, samples], got {mixture.shape}")
    refs = [np.asarray(r, dtype=np.float32) for r in references]
    for r in refs:
        if r.shape != mixture.shape:
            raise ParameterError(f"reference shape {r.shape} differs from the mixture's "
                                 f"{mixture.shape}: conform it first")
    T = config.n_frames(mixture.shape[-1])
    C = mixture.shape[0]
    shape = (len(refs),) + ((C,) if per_channel else ()) + (config.n_bins, T)
    out = np.empty(shape, dtype=np.complex64 if kind == "cirm" else np.float32)
    for t0 in range(0, T, _BLOCK):
        t1 = min(T, t0 + _BLOCK)
        Y = stft_frames_with(mixture, t0, t1, config)
        S = [stft_frames_with(r, t0, t1, config) for r in refs]
        out[..., t0:t1] = oracle_from_stfts(Y, S, kind, per_channel=per_channel, **options)
        if progress is not None:
            progress(t1, T)
    return out
