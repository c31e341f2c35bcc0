"""Streaming resynthesis for playback: what is heard, block by block, from any point.

:class:`StreamRenderer` produces the samples of the mixture, one layer, the residual, the
soloed layers or everything but the muted layers (optionally only inside a selection), with any
phase mode, a chunk of frames at a time.  Its overlap-add is the inverse STFT's
(:class:`~maskstudio.dsp.stft.OverlapAdd`, restarted at every seek), so with the mixture's or
the oracle's phase a layer or the residual streams bit for bit as the offline export renders
it, and nothing is computed for the whole file before the first sound.  "What is heard" is read
at every chunk: changing it takes effect from the next chunk, and since every frame is windowed
and overlapped the change crossfades over one window instead of clicking.  Iterative phases
(MISI, hybrid, fast Griffin-Lim) run on each chunk with context frames on both sides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from maskstudio.dsp.grid import STFTConfig, frame_major
from maskstudio.dsp.phase import (
    DEFAULT_ITERATIONS,
    PHASE_MODES,
    fast_griffin_lim,
    gains,
    misi_stft,
    source_frames,
)
from maskstudio.dsp.stft import OverlapAdd, stft_frames_with, stft_with
from maskstudio.errors import ParameterError

__all__ = ["Heard", "StreamRenderer", "HEARD_KINDS"]

HEARD_KINDS = ("mixture", "layer", "residual", "solo", "unmuted")


@dataclasses.dataclass(frozen=True)
class Heard:
    """What the listener hears.

    Parameters
    ----------
    kind : {'mixture', 'layer', 'residual', 'solo', 'unmuted'}
        "layer" is ``layers[0]``; "solo" the sum of ``layers``; "unmuted" the mixture without
        ``layers`` (the muted ones).
    layers : tuple of int
        Layer positions.
    selection : (Box, alpha), optional
        Restricts the sound to a time-frequency region: a box and its weights ``[f, t]``.

    Raises
    ------
    ParameterError
        An unknown kind.
    """

    kind: str = "mixture"
    layers: tuple = ()
    selection: tuple | None = None

    def __post_init__(self):
        if self.kind not in HEARD_KINDS:
            raise ParameterError(f"cannot play {self.kind!r}: choose {', '.join(HEARD_KINDS)}")

    def weights(self, n_layers: int) -> np.ndarray | None:
        """Weight of each layer and the residual in what is heard.

        Parameters
        ----------
        n_layers : int
            Layers of the document.

        Returns
        -------
        np.ndarray [shape=(n_layers + 1,)], float32 or None
            The residual's weight last; None for the mixture.

        Raises
        ------
        ParameterError
            A soloed or played layer that does not exist.
        """
        w = np.zeros(n_layers + 1, np.float32)
        if self.kind == "mixture":
            return None
        if self.kind == "residual":
            w[-1] = 1
        elif self.kind in ("layer", "solo"):
            for i in self.layers[:1] if self.kind == "layer" else self.layers:
                if not 0 <= i < n_layers:
                    raise ParameterError(f"there is no layer {i} to play")
                w[i] = 1
        else:  # unmuted: everything, residual included, but the muted layers
            w[:] = 1
            for i in self.layers:
                if 0 <= i < n_layers:
                    w[i] = 0
        return w


MaskSource = Callable[[int, int], np.ndarray]  # (t0, t1) -> masks [L, (C,) F, t1 - t0]


class StreamRenderer:
    """Renders what is heard (:attr:`heard`, read at every chunk) of a mixture under masks.

    Parameters
    ----------
    samples : np.ndarray [shape=(C, n)], float32
        The mixture.
    config : STFTConfig
        The grid of the masks.
    masks : callable(t0, t1) -> np.ndarray [shape=(L, (C,) F, t1 - t0)], optional
        The masks of frames ``t0 <= t < t1``, read when they are rendered (edits are heard
        from the next chunk); None plays the mixture only.
    n_layers : int
        ``L``.
    phase : str
        One of :data:`~maskstudio.dsp.phase.PHASE_MODES`.
    samplerate : int, optional
        Needed by ``hybrid``.
    n_iter : int, optional
        Iterations of the iterative phases (their defaults otherwise).
    cutoff_hz : float
        The hybrid's cutoff.
    references : sequence of np.ndarray [shape=(C, n)], optional
        One stem per layer, for ``oracle``.
    chunk_frames : int
        Frames rendered at a time.

    Raises
    ------
    ParameterError
        An unknown phase mode or bad option, or what the phase mode needs missing.
    """

    def __init__(self, samples: np.ndarray, config: STFTConfig, masks: MaskSource | None,
                 n_layers: int, *, phase: str = "mixture", samplerate: int | None = None,
                 n_iter: int | None = None, cutoff_hz: float = 6000.0,
                 references: Sequence[np.ndarray] | None = None, chunk_frames: int = 16):
        if phase not in PHASE_MODES:
            raise ParameterError(f"unknown phase mode {phase!r}: choose one of "
                                 f"{', '.join(PHASE_MODES)}")
        if phase == "oracle" and (references is None or len(references) != n_layers):
            raise ParameterError("the oracle phase needs the stems of every layer: load them "
                                 "with the oracle")
        if phase == "hybrid" and samplerate is None:
            raise ParameterError("the hybrid phase needs the sample rate")
        self.samples = samples
        self.config = config
        self.masks = masks
        self.n_layers = n_layers
        self.phase = phase
        from maskstudio.checks import check_phase_options

        self.n_iter, cutoff_hz = check_phase_options(
            DEFAULT_ITERATIONS.get(phase, 0) if n_iter is None else n_iter, cutoff_hz)
        self.cutoff_bin = (int(np.searchsorted(config.frequencies(samplerate), cutoff_hz))
                           if phase == "hybrid" and samplerate is not None else None)
        self.references = references
        self.chunk = int(chunk_frames)
        self.heard = Heard()
        self.n_channels, self.n_samples = samples.shape
        self.n_frames = config.n_frames(self.n_samples)
        R = -(-config.n_fft // config.hop_length)
        self.context = min(24, max(R, self.n_iter * (R - 1))) if phase in (
            "misi", "hybrid", "fgla") else 0
        self.seek(0)

    # -- position -------------------------------------------------------------------------
    def seek(self, sample: int) -> None:
        """Continue from ``sample``: the overlap-add restarts with every frame touching it.

        Parameters
        ----------
        sample : int
            Where to continue (clipped to the signal).
        """
        sample = int(np.clip(sample, 0, self.n_samples))
        self._ola = OverlapAdd(self.config, self.n_frames, self.n_channels,
                               length=self.n_samples, start=sample)
        self._ready = np.zeros((self.n_channels, 0), np.float32)  # finished, not handed out
        self.position = sample

    @property
    def finished(self) -> bool:
        """Whether every sample has been rendered."""
        return self.position >= self.n_samples

    # -- rendering ------------------------------------------------------------------------
    def render(self, n: int) -> np.ndarray:
        """The next (up to) ``n`` samples.

        Parameters
        ----------
        n : int
            How many samples are wanted.

        Returns
        -------
        np.ndarray [shape=(C, k)], float32
            ``k == 0`` at the end.
        """
        out = []
        got = 0
        while got < n and not self.finished:
            if self._ready.shape[1] == 0:
                self._process_chunk()
            block = self._ready[:, :n - got]
            self._ready = self._ready[:, block.shape[1]:]
            self.position += block.shape[1]
            if block.shape[1]:
                out.append(block)
                got += block.shape[1]
        if not out:
            return np.zeros((self.n_channels, 0), np.float32)
        return np.concatenate(out, axis=1)

    def _process_chunk(self) -> None:
        t0 = self._ola.next_frame
        t1 = min(self.n_frames, t0 + self.chunk)
        X = self._heard_frames(t0, t1) if t1 > t0 else \
            np.zeros((self.n_channels, self.config.n_bins, 0), np.complex64)  # the silence left
        self._ready = self._ola.add(X)

    def _gains(self, t0: int, t1: int) -> np.ndarray:
        """Gains of every layer and the residual over frames [t0, t1): [L + 1, C|1, F, k]."""
        if self.masks is None:  # a bug: gains are asked for only when there are masks
            raise RuntimeError("no masks to take gains from")
        m = frame_major(self.masks(t0, t1))
        return gains(m[:, None] if m.ndim == 3 else m, self.phase)

    def _selection(self, t0: int, t1: int):
        sel = self.heard.selection
        if sel is None:
            return None
        box, alpha = sel
        a = np.zeros((self.config.n_bins, t1 - t0), np.float32)
        lo, hi = max(t0, box.t0), min(t1, box.t1)
        if hi > lo:
            a[box.f0:box.f1, lo - t0:hi - t0] = alpha[:, lo - box.t0:hi - box.t0]
        return a

    def _heard_frames(self, t0: int, t1: int) -> np.ndarray:
        heard = self.heard
        # the mixture needs no masks and no phase correction: it is its own exact phase
        weights = None if self.masks is None or heard.kind == "mixture" \
            else heard.weights(self.n_layers)
        sel = self._selection(t0, t1)
        if weights is None:
            X = stft_frames_with(self.samples, t0, t1, self.config)
        elif self.phase in ("misi", "hybrid", "fgla"):
            X = self._iterative(t0, t1, weights)
        else:
            g = self._gains(t0, t1)
            if self.phase == "oracle":
                X = np.tensordot(weights, source_frames(self.samples, g, t0, t1, self.config,
                                                        self.references), axes=(0, 0))
            else:  # the heard layers' gains summed first: one product with the mixture
                X = np.tensordot(weights, g, axes=(0, 0)) * stft_frames_with(
                    self.samples, t0, t1, self.config)
        return X * sel if sel is not None else X

    def _iterative(self, t0: int, t1: int, weights: np.ndarray) -> np.ndarray:
        c = self.context
        a, b = max(0, t0 - c), min(self.n_frames, t1 + c)
        Y = stft_frames_with(self.samples, a, b, self.config)
        g = self._gains(a, b)
        if self.phase == "fgla":
            init = g * Y[None]
            x = fast_griffin_lim(np.abs(init), init, self.config, n_iter=self.n_iter)
            X = _stft_of(x, self.config, b - a)
        else:
            X = misi_stft(Y, g, self.config, n_iter=self.n_iter, cutoff_bin=self.cutoff_bin)
        X = np.tensordot(weights, X, axes=(0, 0))
        return X[..., t0 - a:t1 - a]


def _stft_of(x: np.ndarray, config: STFTConfig, n_frames: int) -> np.ndarray:
    """STFT of locally resynthesised signals, trimmed or padded to ``n_frames``."""
    X = stft_with(x, config)
    if X.shape[-1] >= n_frames:
        return X[..., :n_frames]
    pad = [(0, 0)] * (X.ndim - 1) + [(0, n_frames - X.shape[-1])]
    return np.pad(X, pad)
