"""The multichannel Wiener filter: the ``mwf`` reconstruction mode.

Each layer and the residual are modelled as local Gaussian sources (Duong, Vincent & Gribonval
2010): a power spectral density ``v_j(f, t)`` and a spatial covariance ``R_j(f)`` per
frequency, shared by the frames of a segment.  Starting from the masked mixture
``x_j = g_j * y`` (the residual's gain ``1 - sum(masks)``), each EM iteration (Nugraha, Liutkus &
Vincent 2016, the simplified update that norbert and Open-Unmix use) re-estimates

- ``v_j = mean_c |x_jc|^2`` and ``R_j = sum_t x_j x_j^H / sum_t v_j``, then
- ``x_j = v_j R_j (sum_k v_k R_k + d I)^-1 y``, the multichannel Wiener filter,

and the residual is taken last as ``y - sum of the layers`` in the STFT domain, so the layers and
the residual sum to the mixture exactly (the inverse STFT is linear).  ``n_iter`` counts the
iterations (1, as Open-Unmix uses; 0 leaves the masked mixture).  With one channel ``R_j`` is
1 and the filter is the single-channel Wiener filter ``v_j / sum_k v_k``: one iteration turns
soft masks ``g`` into ``g^2 / sum g^2`` (residual included); each further one sharpens them.

Why not ``norbert.expectation_maximization`` (sigsep's norbert 0.2.1, which does run with
numpy 2.4, and whose EM this is: ``tests/dsp/test_mwf.py`` checks the two agree to 1e-3 where
their regularisations do): its regularisation ``sqrt(eps) I`` is absolute, so a quiet mixture
(STFT values about 1e-3) came out with its sources summing to 0.3 % of it; it loops over frames
in Python (300 frames x 1025 bins, stereo, four sources, one iteration: 0.40 s against 0.14 s
here, best of 7, same loaded machine); its PSDs are float64 beside complex64 covariances; and
it filters every frame it is given, where a chunk's context frames need only statistics.
Here the regularisation ``d`` is relative, ``1e-6`` of the bin's mean channel power
(scale-free: a quiet file separates like a loud one; ten times float32's resolution, so the
model stays positive definite when every source's covariance is singular, as in a mono
recording in a stereo file), ``R_j`` of a silent source is 0, the statistics are float32 and
the mixture's model is built and solved in float64 (a 2 x 2 closed form for stereo), a block
of frames at a time.

Long files go a chunk of frames at a time with context frames on both sides (the spatial
covariances are estimated on the chunk and its context), through the chunking of the iterative
phases (:mod:`maskstudio.dsp.blockwise`, :mod:`maskstudio.dsp.stream`).
"""

from __future__ import annotations

import numpy as np

from maskstudio.checks import check_phase_options
from maskstudio.dsp.grid import frame_major
from maskstudio.errors import ParameterError

__all__ = ["mwf_frames", "spatial_covariances", "MWF_CONTEXT", "REGULARISATION"]

#: Context frames on each side of a chunk: the spatial covariances see at least this much
#: around every frame (0.74 s at 44.1 kHz, hop 512).
MWF_CONTEXT = 64

#: The white noise added to the model of the mixture, relative to its mean channel power.
REGULARISATION = 1e-6

_TINY = np.float32(1e-30)
#: Frames filtered at a time (bounds the temporaries of a whole file).
_BLOCK = 256


def spatial_covariances(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Spatial covariance of each source per frequency, ``sum_t x x^H / sum_t v``.

    Parameters
    ----------
    X : np.ndarray [shape=(L, C, t, F)], complex
        The sources' frames (time before frequency).
    P : np.ndarray [shape=(L, C, t, F)], float
        Their powers ``|x|^2``; the power spectral densities ``v`` are their mean over the
        channels.

    Returns
    -------
    np.ndarray [shape=(L, C, C, F)], complex64
        Hermitian, trace ``C`` where the source has power, 0 where it is silent.
    """
    L, C = X.shape[:2]
    R = np.empty((L, C, C, X.shape[-1]), np.complex64)
    for j in range(L):
        cross = {(c, d): np.einsum("tf,tf->f", X[j, c], X[j, d].conj())
                 for c in range(C) for d in range(c + 1, C)}
        _fill(R[j], P[j].sum(axis=1, dtype=np.float32), cross)
    return R


def _fill(R: np.ndarray, diagonal: np.ndarray, cross: dict) -> None:
    """``R [C, C, F]`` from the sums over frames of the powers ``[C, F]`` and of the cross
    products ``(c, d) -> [F]`` (c < d), divided by ``sum_t v`` (0 for a silent source)."""
    weight = diagonal.mean(axis=0)
    np.maximum(weight, _TINY, out=weight)
    for c in range(R.shape[0]):
        R[c, c] = diagonal[c]
    for (c, d), value in cross.items():
        R[c, d] = value
        R[d, c] = np.conj(value)
    R /= weight


def _gain_statistics(Gt: np.ndarray, Yt: np.ndarray, v: np.ndarray, R: np.ndarray) -> None:
    """The first iteration's ``v`` and ``R``, of ``x_j = g_j y``, from the gains ``[L, C or 1,
    t, F]`` and the mixture ``[C, t, F]`` without forming ``x``: real products of the squared
    gains with ``|y_c|^2`` and ``y_c y_d^*``, whose context frames then cost little."""
    C = Yt.shape[0]
    Y2 = np.abs(Yt)
    np.square(Y2, out=Y2)
    pairs = [(c, d) for c in range(C) for d in range(c + 1, C)]
    products = {}
    for c, d in pairs:
        yy = Yt[c] * Yt[d].conj()
        products[c, d] = (np.ascontiguousarray(yy.real), np.ascontiguousarray(yy.imag))
    for j in range(Gt.shape[0]):
        g2 = np.square(Gt[j])  # [C or 1, t, F]
        P = g2 * Y2
        np.mean(P, axis=0, out=v[j])
        cross = {}
        for (c, d), (re, im) in products.items():
            w = g2[0] if Gt.shape[1] == 1 else Gt[j, c] * Gt[j, d]
            cross[c, d] = np.einsum("tf,tf->f", w, re) + 1j * np.einsum("tf,tf->f", w, im)
        _fill(R[j], P.sum(axis=1, dtype=np.float32), cross)


def _solve(Cxx: list, Y: np.ndarray) -> np.ndarray:
    """``Cxx^-1 y`` per bin; ``Cxx[c][d]`` are ``[t, F]`` arrays, ``Y`` is ``[C, t, F]``."""
    C = Y.shape[0]
    if C == 1:
        return Y / Cxx[0][0]
    if C == 2:  # closed form: Cxx is Hermitian, its diagonal and determinant real
        a, b, d = Cxx[0][0], Cxx[0][1], Cxx[1][1]
        det = a * d - (b.real * b.real + b.imag * b.imag)
        np.maximum(det, _TINY, out=det)
        Z = np.empty_like(Y)
        Z[0] = (d * Y[0] - b * Y[1]) / det
        Z[1] = (a * Y[1] - b.conj() * Y[0]) / det
        return Z
    M = np.stack([np.stack(row, axis=-1) for row in Cxx], axis=-2)  # [t, F, C, C]
    return np.moveaxis(np.linalg.solve(M, np.moveaxis(Y, 0, -1)[..., None])[..., 0], -1, 0)


def _filter(Y: np.ndarray, v: np.ndarray, R: np.ndarray, regularisation: float) -> np.ndarray:
    """The Wiener estimates ``v_j R_j Cxx^-1 y`` of a block of frames, ``[L, C, t, F]``."""
    C, L = Y.shape[0], v.shape[0]
    v64 = v.astype(np.float64)

    def model(c: int, d: int) -> np.ndarray:  # sum_j v_j R_j[c, d], [t, F], float64
        r = R[:, c, d].real.astype(np.float64) if c == d else R[:, c, d].astype(np.complex128)
        acc = v64[0] * r[0]
        for j in range(1, L):
            acc += v64[j] * r[j]
        return acc

    Cxx = [[model(c, d) if d >= c else np.empty(0) for d in range(C)] for c in range(C)]
    for c in range(C):
        for d in range(c):
            Cxx[c][d] = Cxx[d][c].conj()
    load = sum(Cxx[c][c] for c in range(C)) * (regularisation / C) + 1e-30
    for c in range(C):
        Cxx[c][c] += load
    Z = _solve(Cxx, Y.astype(np.complex128)).astype(np.complex64)  # [C, t, F]
    out = np.empty((L, C) + Y.shape[1:], np.complex64)
    for c in range(C):
        acc = R[:, c, 0, None, :] * Z[0]
        for d in range(1, C):
            acc += R[:, c, d, None, :] * Z[d]
        acc *= v
        out[:, c] = acc
    return out


def mwf_frames(Y: np.ndarray, g: np.ndarray, *, n_iter: int = 1,
               keep: tuple[int, int] | None = None,
               regularisation: float = REGULARISATION) -> np.ndarray:
    """Every layer's frames and the residual's under the multichannel Wiener filter.

    Works on a whole STFT or on a segment of frames: block-wise renders give it a chunk and its
    context, and ``keep`` the chunk.  The spatial covariances are estimated over all the frames
    given; the last iteration filters only the frames kept, so context costs little more than
    its statistics.

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, t)], complex
        The mixture's frames.
    g : np.ndarray [shape=(L, C or 1, F, t)], real
        Gains of every layer, the residual's last (:func:`~maskstudio.dsp.phase.gains`): the
        initial estimates are ``g * Y``.
    n_iter : int
        EM iterations; 0 gives the masked mixture back (the residual ``Y`` less the layers).
    keep : (int, int), optional
        The frames ``s0 <= s < s1`` to return (all of them if None).
    regularisation : float
        White noise added to the mixture's model, relative to its mean channel power in each
        bin.

    Returns
    -------
    np.ndarray [shape=(L, C, F, s1 - s0)], complex64
        In the STFT's memory layout; the last row is ``Y`` less the others, so the rows sum to
        ``Y``.

    Raises
    ------
    ParameterError
        Gains that do not fit the mixture's frames, complex gains, frames to keep outside
        them, or a bad ``n_iter`` or ``regularisation``.
    """
    n_iter, _ = check_phase_options(n_iter)
    if not np.isfinite(regularisation) or not 0 <= regularisation <= 1:
        raise ParameterError(f"regularisation must be within [0, 1], got {regularisation}")
    Y = frame_major(Y, np.complex64)
    g = np.asarray(g)
    if np.iscomplexobj(g):
        raise ParameterError("the multichannel Wiener filter takes real gains (the masks' "
                             "magnitudes)")
    if Y.ndim != 3 or g.ndim != 4 or g.shape[2:] != Y.shape[1:] or \
            g.shape[1] not in (1, Y.shape[0]) or g.shape[0] < 1:
        raise ParameterError(f"gains of shape {g.shape} do not fit mixture frames of shape "
                             f"{Y.shape}")
    t = Y.shape[-1]
    s0, s1 = (0, t) if keep is None else (int(keep[0]), int(keep[1]))
    if not 0 <= s0 <= s1 <= t:
        raise ParameterError(f"frames {s0}..{s1} to keep are not within the {t} given")
    L, C = g.shape[0], Y.shape[0]
    Gt, Yt = frame_major(g, np.float32).swapaxes(-1, -2), Y.swapaxes(-1, -2)  # [.., t, F]
    Xt = np.empty((L, C) + Yt.shape[1:], np.complex64)  # the estimates, contiguous frames
    X = Xt.swapaxes(-1, -2)  # [L, C, F, t] in the STFT's layout
    if n_iter == 0:  # the masked mixture
        Xt[:, :, s0:s1] = Gt[:, :, s0:s1] * Yt[:, s0:s1]
    v = np.empty((L,) + Yt.shape[1:], np.float32)  # the power spectral densities, [L, t, F]
    R = np.empty((L, C, C, Yt.shape[-1]), np.complex64)
    for it in range(n_iter):
        if it == 0:  # of the masked mixture, from the gains
            _gain_statistics(Gt, Yt, v, R)
        else:
            for j in range(L):  # one source's powers at a time: no [L, C, t, F] temporary
                P = np.abs(Xt[j:j + 1])
                np.square(P, out=P)
                R[j] = spatial_covariances(Xt[j:j + 1], P)[0]
                np.mean(P[0], axis=0, out=v[j])
        lo, hi = (s0, s1) if it == n_iter - 1 else (0, t)
        for s in range(lo, hi, _BLOCK):
            e = min(hi, s + _BLOCK)
            Xt[:, :, s:e] = _filter(Yt[:, s:e], v[:, s:e], R, regularisation)
    X = X[..., s0:s1]
    Xt = X.swapaxes(-1, -2)
    Xt[-1] = Yt[:, s0:s1] - Xt[:-1].sum(axis=0)
    return X
