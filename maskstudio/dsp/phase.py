"""Resynthesis of sources and residual from masks, with a choice of phase.

- ``mixture``: ``|M| * Y``, the mixture's own phase.  Exact and the default: with it the
  sources plus the residual equal the mixture to float precision, because the inverse STFT is
  linear.  Computed block by block; no whole STFT of a source is held.
- ``complex``: ``M * Y`` for complex masks (cIRM): the mask's own phase.
- ``oracle``: the masked magnitude with the phase of each reference stem (an upper bound).
- ``misi``: multiple input spectrogram inversion (Gunawan & Sen 2010).  All sources and the
  residual are made consistent together, and each iteration's error ``mixture - sum`` is shared
  out, so the estimates keep summing to the mixture.  The correction that improves a separated
  source.
- ``fgla``: fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) per layer, started from the
  mixture phase: consistent, for content whose magnitude was painted.
- ``hybrid``: MISI below ``cutoff_hz`` (6 kHz by default, the HANCE design), the mixture phase
  above it.
- ``mwf``: the multichannel Wiener filter (:mod:`maskstudio.dsp.mwf`): each layer's and the
  residual's power and spatial covariance estimated from the masked mixture and refined by EM
  (``n_iter`` iterations, 1 by default); the residual is the mixture less the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from maskstudio.checks import check_phase_options
from maskstudio.dsp.grid import STFTConfig, frame_major
from maskstudio.dsp.masks import residual as residual_mask
from maskstudio.dsp.stft import (
    istft_with,
    stft_frames_with,
    stft_with,
    synthesize_blocks_with,
)
from maskstudio.errors import ParameterError

__all__ = ["PHASE_MODES", "DEFAULT_ITERATIONS", "resynthesize", "fast_griffin_lim",
           "misi_stft", "spectral_convergence", "render_blocks", "gains", "source_frames",
           "oracle_phase"]

PHASE_MODES = ("mixture", "misi", "fgla", "hybrid", "mwf", "oracle", "complex")
DEFAULT_ITERATIONS = {"misi": 5, "hybrid": 5, "fgla": 32, "mwf": 1}

_TINY = np.float32(1e-12)

Progress = Callable[[int, int], None]


def _unit(X: np.ndarray) -> np.ndarray:
    """``X / |X|`` (0 where X is 0); dividing is twice as fast as ``exp(1j * angle)``."""
    mag = np.abs(X)
    np.maximum(mag, _TINY, out=mag)
    return X / mag


def _impose_magnitude(X: np.ndarray, A: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``X <- A * X / |X|`` in place; ``scale`` is a float32 buffer shaped and laid out like A.

    Taking the ratio ``A / |X|`` in float32 avoids a complex division; all three arrays share
    the STFT's memory layout (see :func:`frame_major`).
    """
    np.abs(X, out=scale)
    np.maximum(scale, _TINY, out=scale)
    np.divide(A, scale, out=scale)
    X *= scale
    return X


def _layers(masks: np.ndarray, n_channels: int, n_bins: int, n_frames: int) -> np.ndarray:
    m = np.asarray(masks)
    if m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or m.shape[2:] != (n_bins, n_frames) or m.shape[1] not in (1, n_channels):
        raise ParameterError(
            f"masks of shape {np.shape(masks)} do not fit this mixture's STFT "
            f"[freq, time] = ({n_bins}, {n_frames}) with {n_channels} channel(s)"
        )
    return m


def gains(masks: np.ndarray, phase: str, *, include_residual: bool = True) -> np.ndarray:
    """What each layer multiplies the mixture's STFT by, the residual's appended.

    The export, the offline render and playback all form their gains here: the masks' magnitude
    in float32 (a complex mask's own value, complex64, for the ``complex`` phase), in the masks'
    memory layout, and the residual ``1 - sum`` after them.

    Parameters
    ----------
    masks : np.ndarray [shape=(N, C or 1, F, t)], real or complex
    phase : str
        One of :data:`PHASE_MODES`.
    include_residual : bool
        Append the residual.

    Returns
    -------
    np.ndarray [shape=(N + 1, C or 1, F, t)], float32 or complex64
        ``N`` rows without the residual.
    """
    if phase == "complex":
        g = masks.astype(np.complex64)
    else:
        g = np.abs(masks).astype(np.float32) if np.iscomplexobj(masks) \
            else masks.astype(np.float32)
    if include_residual:
        g = np.concatenate([g, residual_mask(g)[None]], axis=0)
    return g


def source_frames(mixture: np.ndarray, g: np.ndarray, t0: int, t1: int, config: STFTConfig,
                  references: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Frames ``t0 <= t < t1`` of every source: the gains times the mixture's frames, with the
    phase of each reference stem for the oracle.

    With ``references``, each source keeps its masked magnitude and takes its stem's phase;
    the residual takes the phase of the mixture less the stems, and a silent stem the
    mixture's.  The export and playback both take their oracle phase from here.

    Parameters
    ----------
    mixture : np.ndarray [shape=(C, n)]
    g : np.ndarray [shape=(L, C or 1, F, t1 - t0)]
        Gains (:func:`gains`), the residual's last if it is wanted.
    t0, t1 : int
        The frames.
    config : STFTConfig
    references : sequence of np.ndarray [shape=(C, n)], optional
        One stem per mask, for the ``oracle`` phase.

    Returns
    -------
    np.ndarray [shape=(L, C, F, t1 - t0)], complex64
    """
    Y = stft_frames_with(mixture, t0, t1, config)  # [C, F, t]
    X = g * Y[None]
    if references is not None:
        S = np.stack([stft_frames_with(r, t0, t1, config) for r in references])
        X = oracle_phase(X, Y, S)
    return X


def oracle_phase(X: np.ndarray, Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """The masked frames ``X`` with the phase of each reference's frames: the oracle phase.

    Each source keeps its magnitude and takes its stem's phase; the residual (a row of ``X``
    beyond the stems) the phase of the mixture less the stems; a silent stem the mixture's.

    Parameters
    ----------
    X : np.ndarray [shape=(L, C, F, t)], complex
        The masked frames, the residual's last if it is there (``L`` is ``K`` or ``K + 1``).
    Y : np.ndarray [shape=(C, F, t)], complex
        The mixture's frames.
    S : np.ndarray [shape=(K, C, F, t)], complex
        The stems' frames.

    Returns
    -------
    np.ndarray [shape=(L, C, F, t)], complex64
    """
    S = np.concatenate([S, (Y - S.sum(axis=0))[None]], axis=0)[:X.shape[0]]
    return np.abs(X) * np.where(np.abs(S) > _TINY, _unit(S), _unit(Y)[None])


def resynthesize(mixture: np.ndarray, masks: np.ndarray, config: STFTConfig, *,
                 phase: str = "mixture", samplerate: float | None = None,
                 n_iter: int | None = None, cutoff_hz: float = 6000.0,
                 momentum: float = 0.99, references: Sequence[np.ndarray] | None = None,
                 include_residual: bool = True, progress: Progress | None = None
                 ) -> np.ndarray:
    """Time signals of every masked layer (and the residual, last).

    Parameters
    ----------
    mixture : np.ndarray [shape=(C, n)], float
    masks : np.ndarray [shape=(N, F, T) or (N, C, F, T)]
        Real masks in [0, 1], or complex masks.
    config : STFTConfig
        The grid the masks live on.
    phase : {'mixture', 'misi', 'fgla', 'hybrid', 'mwf', 'oracle', 'complex'}
    samplerate : float
        Needed by ``hybrid`` to place ``cutoff_hz``.
    n_iter : int, optional
        Iterations of MISI / fast Griffin-Lim / the Wiener filter's EM (defaults: 5, 5, 32, 1).
    references : sequence of np.ndarray [shape=(C, n)], optional
        One reference per mask, for ``oracle``.
    include_residual : bool
        Append the residual ``1 - sum(masks)``.
    progress : callable(done, total), optional
        Called as work advances; it may raise to cancel.

    Returns
    -------
    np.ndarray [shape=(N + 1, C, n)], float32

    Raises
    ------
    ParameterError
        An unknown phase mode or bad option, masks that do not fit the mixture's STFT, real
        masks for the complex phase, or what the phase mode needs missing (the stems for
        ``oracle``, the sample rate for ``hybrid``).
    """
    if phase not in PHASE_MODES:
        raise ParameterError(f"unknown phase mode {phase!r}: choose one of "
                             f"{', '.join(PHASE_MODES)}")
    mixture = np.asarray(mixture, dtype=np.float32)
    if mixture.ndim != 2:
        raise ParameterError(f"the mixture must be [channels, samples], got {mixture.shape}")
    C, n = mixture.shape
    T = config.n_frames(n)
    m = _layers(masks, C, config.n_bins, T)
    if phase == "complex" and not np.iscomplexobj(m):
        raise ParameterError("the 'complex' phase mode needs complex masks (cIRM); these are "
                             "real: use the 'mixture' phase")
    if n_iter is None:
        n_iter = DEFAULT_ITERATIONS.get(phase, 0)
    n_iter, cutoff_hz = check_phase_options(n_iter, cutoff_hz)  # finite, whole, in range
    if phase == "oracle":
        if references is None or len(references) != m.shape[0]:
            raise ParameterError("the 'oracle' phase needs one reference stem per mask")
    if phase == "hybrid" and samplerate is None:
        raise ParameterError("the 'hybrid' phase needs the sample rate to place its cutoff")
    if phase in ("mixture", "complex", "oracle"):
        return _render_linear(mixture, m, config, phase, include_residual, references, progress)
    if phase == "mwf":  # the residual is one of the filter's sources, wanted or not
        return _mwf(mixture, gains(m, phase), config, n_iter, include_residual, progress)
    g = gains(m, phase, include_residual=include_residual)
    if phase == "fgla":
        return _fgla(mixture, g, config, n_iter, momentum, progress)
    cutoff_bin = None
    if samplerate is not None and phase == "hybrid":  # (checked above: hybrid has a rate)
        freqs = config.frequencies(samplerate)
        cutoff_bin = int(np.searchsorted(freqs, cutoff_hz))
    return _misi(mixture, g, config, n_iter, cutoff_bin, progress)


def _render_linear(mixture, m, config: STFTConfig, phase, include_residual, references,
                   progress):
    """``gain * Y`` (with the oracle's phase if asked), inverted block by block."""
    C, n = mixture.shape
    out = np.empty((m.shape[0] + (1 if include_residual else 0), C, n), dtype=np.float32)
    done = 0
    for block in render_blocks(mixture, lambda t0, t1: m[..., t0:t1], m.shape[0], config,
                               phase=phase, references=references,
                               include_residual=include_residual, progress=progress):
        out[..., done:done + block.shape[-1]] = block
        done += block.shape[-1]
    return out


def render_blocks(mixture: np.ndarray, mask_block: Callable[[int, int], np.ndarray],
                  n_masks: int, config: STFTConfig, *, phase: str = "mixture",
                  references: Sequence[np.ndarray] | None = None,
                  include_residual: bool = True, progress: Progress | None = None
                  ) -> Iterator[np.ndarray]:
    """The sources (and the residual) of the linear phase modes, a block of samples at a
    time, in order: what export streams to its files.

    The masks need not be held whole either (the editor reads them from its tiles).  Gains
    (and the residual) are formed per block, in the block's memory layout.

    Parameters
    ----------
    mixture : np.ndarray [shape=(C, n)], float32
    mask_block : callable(t0, t1) -> np.ndarray [shape=(N, 1 or C, F, t1 - t0)]
        The masks of frames ``t0 <= t < t1``, asked for in order.
    n_masks : int
        ``N``.
    config : STFTConfig
        The grid of the masks.
    phase : {'mixture', 'complex', 'oracle'}
    references : sequence of np.ndarray [shape=(C, n)], optional
        One stem per mask, for ``oracle``.
    include_residual : bool
        Render the residual too (last).
    progress : callable(done, total), optional
        Called with the frames done; it may raise to cancel.

    Returns
    -------
    iterator of np.ndarray [shape=(N + 1, C, k)], float32
        ``N`` rows without the residual.

    Raises
    ------
    ParameterError
        A phase mode that needs the whole file, or the oracle's without its stems (when the
        first block is asked for).
    """
    if phase not in ("mixture", "complex", "oracle"):
        raise ParameterError(f"the {phase!r} phase works on the whole file, not block by "
                             f"block: use resynthesize")
    C, n = mixture.shape
    L = n_masks + (1 if include_residual else 0)
    T = config.n_frames(n)
    refs = None
    if phase == "oracle":
        if references is None or len(references) != n_masks:
            raise ParameterError("the 'oracle' phase needs one reference stem per mask")
        refs = [np.asarray(r, dtype=np.float32) for r in references]

    def frames(t0, t1):
        g = gains(frame_major(mask_block(t0, t1)), phase, include_residual=include_residual)
        X = source_frames(mixture, g, t0, t1, config, refs)  # [L, C, F, t]
        if progress is not None:
            progress(t1, T)
        return X.reshape((L * C,) + X.shape[2:])

    for block in synthesize_blocks_with(frames, T, L * C, config, length=n):
        yield block.reshape(L, C, -1)


def misi_stft(Y: np.ndarray, g: np.ndarray, config: STFTConfig, *, n_iter: int = 5,
              cutoff_bin: int | None = None, length: int | None = None,
              progress: Progress | None = None) -> np.ndarray:
    """MISI on an STFT: consistent estimates of every layer of the mixture ``Y``, whose sum
    stays the mixture.

    Works on a whole file or on a segment of frames (playback runs it block by block with
    context).

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T)], complex
        The mixture's STFT.
    g : np.ndarray [shape=(L, C or 1, F, T)]
        Gains of every layer, the residual's included (:func:`gains`).
    config : STFTConfig
    n_iter : int
        Iterations.
    cutoff_bin : int, optional
        Keep the mixture's phase from this bin up (the hybrid).
    length : int, optional
        Samples of the signals in between (the mixture's length).
    progress : callable(done, total), optional
        Called after each iteration; it may raise to cancel.

    Returns
    -------
    np.ndarray [shape=(L, C, F, T)], complex64
    """
    X = frame_major(g) * Y[None]  # [L, C, F, T], mixture phase to start
    A = np.abs(X)
    scale = np.empty_like(A)
    above = X[:, :, cutoff_bin:].copy() if cutoff_bin is not None else None
    L = X.shape[0]
    y_ref = istft_with(Y, config, length=length)  # the mixture as the grid sees it
    for it in range(n_iter):
        x = istft_with(X, config, length=length)
        x += (y_ref - x.sum(axis=0)) / L
        X = _impose_magnitude(stft_with(x, config), A, scale)
        if above is not None:  # hybrid: the mixture's phase above the cutoff
            X[:, :, cutoff_bin:] = above
        if progress is not None:
            progress(it + 1, n_iter + 1)
    return X


def _misi(mixture, g, config: STFTConfig, n_iter, cutoff_bin, progress):
    n = mixture.shape[-1]
    Y = stft_with(mixture, config)
    X = misi_stft(Y, g, config, n_iter=n_iter, cutoff_bin=cutoff_bin, length=n,
                  progress=progress)
    x = istft_with(X, config, length=n)
    x += (istft_with(Y, config, length=n) - x.sum(axis=0)) / X.shape[0]  # the sum is the mixture
    if progress is not None:
        progress(n_iter + 1, n_iter + 1)
    return x


def _mwf(mixture, g, config: STFTConfig, n_iter, include_residual, progress):
    """The multichannel Wiener filter on the whole file: one spatial covariance per frequency."""
    from maskstudio.dsp.mwf import mwf_frames

    n = mixture.shape[-1]
    X = mwf_frames(stft_with(mixture, config), g, n_iter=n_iter)
    if progress is not None:
        progress(n_iter, n_iter + 1)
    x = istft_with(X if include_residual else X[:-1], config, length=n)
    if progress is not None:
        progress(n_iter + 1, n_iter + 1)
    return x


def fast_griffin_lim(magnitude: np.ndarray, init: np.ndarray, config: STFTConfig, *,
                     n_iter: int = 32, momentum: float = 0.99, length: int | None = None,
                     progress: Progress | None = None) -> np.ndarray:
    """A signal whose STFT magnitude approaches ``magnitude``, by fast Griffin-Lim.

    Perraudin, Balazs & Sondergaard (2013): alternate projections onto consistent spectrograms
    and onto the target magnitude, with momentum.  Unlike ``librosa.griffinlim`` it starts from
    a given phase, ``init`` (complex, same shape; only its phase is used).

    Parameters
    ----------
    magnitude : np.ndarray [shape=(..., F, T)], real
    init : np.ndarray [shape=(..., F, T)], complex
    config : STFTConfig
    n_iter : int
    momentum : float
        0 gives the classic Griffin-Lim; 0.99 converges faster.
    length : int, optional
        Samples of the output.

    Returns
    -------
    np.ndarray [shape=(..., length)], float32
    """
    n_iter, _ = check_phase_options(n_iter)
    from maskstudio.checks import check_number

    momentum = check_number(momentum, "momentum", lo=0, hi=1, hint="0.99 is usual")
    A = frame_major(magnitude, np.float32)
    alpha = np.float32(momentum)
    c_prev = A * _unit(frame_major(init, np.complex64))
    t = c_prev.copy()
    scale = np.empty_like(A)
    for it in range(n_iter):
        c = _impose_magnitude(stft_with(istft_with(t, config, length=length), config), A,
                              scale)
        # t <- c + alpha (c - c_prev), reusing c_prev's buffer
        np.subtract(c, c_prev, out=c_prev)
        c_prev *= alpha
        c_prev += c
        t, c_prev = c_prev, c
        if progress is not None:
            progress(it + 1, n_iter + 1)
    return istft_with(c_prev, config, length=length)


def _fgla(mixture, g, config: STFTConfig, n_iter, momentum, progress):
    n = mixture.shape[-1]
    X = frame_major(g) * stft_with(mixture, config)[None]
    return fast_griffin_lim(np.abs(X), X, config, n_iter=n_iter, momentum=momentum, length=n,
                            progress=progress)


def spectral_convergence(target_mag: np.ndarray, y: np.ndarray, config: STFTConfig) -> float:
    """``|| A - |STFT(y)| ||_F / ||A||_F``: how consistent a signal is with a magnitude.

    Parameters
    ----------
    target_mag : np.ndarray [shape=(..., F, T)]
        The magnitude ``A``.
    y : np.ndarray [shape=(..., n)]
        The signal.
    config : STFTConfig

    Returns
    -------
    float
        0 when the signal's STFT has exactly that magnitude.
    """
    rebuilt = np.abs(stft_with(y, config))
    target_mag = np.asarray(target_mag)
    return float(np.linalg.norm(target_mag - rebuilt) / max(np.linalg.norm(target_mag), 1e-20))
