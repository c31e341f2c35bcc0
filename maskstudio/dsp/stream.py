"""Streaming resynthesis for playback: what is heard, block by block, from any point.

:class:`StreamRenderer` produces the samples of the mixture, one layer, the residual, the
soloed layers or everything but the muted layers (optionally only inside a selection), with any
phase mode, a chunk of frames at a time.  Its overlap-add is the inverse STFT's
(:class:`~maskstudio.dsp.stft.OverlapAdd`, restarted at every seek), so with the mixture's or
the oracle's phase a layer or the residual streams bit for bit as the offline export renders
it, and nothing is computed for the whole file before the first sound.  "What is heard" is read
at every chunk: changing it takes effect from the next chunk, and since every frame is windowed
and overlapped the change crossfades over one window instead of clicking.  Iterative phases
(MISI, hybrid, fast Griffin-Lim, the multichannel Wiener filter) run on each chunk with context
frames on both sides.  The
phase mode changes the same way (:meth:`StreamRenderer.set_phase`): inside the running stream,
crossfaded by the overlapping windows, with no new stream and no gap.

The samples are an array or a reader (``read(start, stop)``, zeros outside the file; e.g.
:class:`~maskstudio.io.ondemand.AudioReader`): a reader is asked for the samples of the frames
being rendered only, so playing from the middle of an hour decodes nothing before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from maskstudio.dsp.blockwise import (
    ITERATIVE,
    SampleReader,
    iterative_context,
    iterative_frames,
)
from maskstudio.dsp.grid import STFTConfig, frame_major
from maskstudio.dsp.phase import DEFAULT_ITERATIONS, PHASE_MODES, gains, oracle_phase
from maskstudio.dsp.stft import OverlapAdd, stft_frames_with
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

#: ``set_phase``'s default for masks and stems: keep those the renderer has.
KEEP = object()


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

    def __init__(self, samples: np.ndarray | SampleReader, config: STFTConfig,
                 masks: MaskSource | None,
                 n_layers: int, *, phase: str = "mixture", samplerate: int | None = None,
                 n_iter: int | None = None, cutoff_hz: float = 6000.0,
                 references: Sequence[np.ndarray] | None = None, chunk_frames: int = 16):
        self.samples = samples
        self.config = config
        self.masks = masks
        self.n_layers = n_layers
        self.samplerate = samplerate
        self.references = references
        self.chunk = int(chunk_frames)
        self.heard = Heard()
        if isinstance(samples, np.ndarray):
            self.n_channels, self.n_samples = samples.shape
        else:
            self.n_channels, self.n_samples = int(samples.n_channels), int(samples.n_samples)
        self.n_frames = config.n_frames(self.n_samples)
        # a reader's frames are cut from the samples they need, zero-padded as center pads
        self._uncentred = dataclasses.replace(config, center=False)
        self._pending: tuple | None = None  # (first frame, settings) of a coming phase change
        self.set_phase(phase, n_iter=n_iter, cutoff_hz=cutoff_hz)
        self.seek(0)

    def set_phase(self, phase: str, *, n_iter: int | None = None, cutoff_hz: float = 6000.0,
                  at: int | None = None, masks: MaskSource | None | object = KEEP,
                  references: Sequence[np.ndarray] | None | object = KEEP) -> None:
        """Render with another phase mode from the next chunk on (or from sample ``at``),
        inside the running stream, with new masks or stems if the mode needs them (a cIRM's
        complex masks, the oracle's stems).

        The frames already rendered keep the old mode; the overlap-add joins them to the new
        ones through the windows' overlap, a crossfade of one window, with no gap.  A player
        switching to a costlier mode passes ``at`` a little ahead, so that it can render
        further ahead in the old mode before the first, slower chunk of the new one.

        Parameters
        ----------
        phase : str
            One of :data:`~maskstudio.dsp.phase.PHASE_MODES`.
        n_iter : int, optional
            Iterations of the iterative modes (their default if None).
        cutoff_hz : float
            The hybrid mode's cutoff.
        at : int, optional
            The sample from which the new mode is heard (from the next chunk if None).
        masks : callable(t0, t1) -> np.ndarray, optional
            The masks to read from then on (the same ones if not given).
        references : sequence of np.ndarray, optional
            The stems for the oracle phase (the same ones if not given).

        Raises
        ------
        ParameterError
            An unknown mode, or one this renderer lacks the inputs for (the oracle phase
            without stems, the hybrid phase without the sample rate); nothing changes then.
        """
        if phase not in PHASE_MODES:
            raise ParameterError(f"unknown phase mode {phase!r}: choose one of "
                                 f"{', '.join(PHASE_MODES)}")
        refs = self.references if references is KEEP else \
            cast("Sequence[np.ndarray] | None", references)
        source = self.masks if masks is KEEP else cast("MaskSource | None", masks)
        if phase == "oracle" and (refs is None or len(refs) != self.n_layers):
            raise ParameterError("the oracle phase needs the stems of every layer: load them "
                                 "with the oracle")
        if phase == "hybrid" and self.samplerate is None:
            raise ParameterError("the hybrid phase needs the sample rate")
        from maskstudio.checks import check_phase_options

        n_iter, cutoff_hz = check_phase_options(
            DEFAULT_ITERATIONS.get(phase, 0) if n_iter is None else n_iter, cutoff_hz)
        cfg = self.config
        rate = self.samplerate
        cutoff_bin = (int(np.searchsorted(cfg.frequencies(rate), cutoff_hz))
                      if phase == "hybrid" and rate is not None else None)
        context = iterative_context(cfg, phase, n_iter)
        settings = (phase, n_iter, cutoff_bin, context, source, refs)
        if at is None:
            self._apply(settings)
        else:  # a whole chunk at a time: from the first chunk starting at or after ``at``
            self._pending = (-(-int(at) // cfg.hop_length), settings)

    @property
    def phase_pending(self) -> bool:
        """Whether a phase change asked for with ``at`` has yet to take over."""
        return self._pending is not None

    def _apply(self, settings: tuple) -> None:
        self._pending = None
        (self.phase, self.n_iter, self.cutoff_bin, self.context, self.masks,
         self.references) = settings

    def _mixture_frames(self, t0: int, t1: int, source=None) -> np.ndarray:
        """The mixture's (or a stem's, ``source``) STFT frames ``t0..t1``: from the array, or
        from the reader's samples for exactly those frames (the same values: ``center`` pads
        zeros, as the reader does outside the file)."""
        samples = self.samples if source is None else source
        if isinstance(samples, np.ndarray):
            return stft_frames_with(samples, t0, t1, self.config)
        cfg = self.config
        if t1 <= t0:
            return np.zeros((self.n_channels, cfg.n_bins, 0), np.complex64)
        start = t0 * cfg.hop_length - (cfg.n_fft // 2 if cfg.center else 0)
        segment = samples.read(start, start + (t1 - t0 - 1) * cfg.hop_length + cfg.n_fft)
        return stft_frames_with(segment, 0, t1 - t0, self._uncentred)

    # -- position -------------------------------------------------------------------------
    def seek(self, sample: int) -> None:
        """Continue from ``sample``: the overlap-add restarts with every frame touching it.

        Parameters
        ----------
        sample : int
            Where to continue (clipped to the signal).
        """
        sample = int(np.clip(sample, 0, self.n_samples))
        if self._pending is not None:  # a change planned for later holds from here
            self._apply(self._pending[1])
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
        pending = self._pending
        if pending is not None and t0 >= pending[0]:
            self._apply(pending[1])
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
            X = self._mixture_frames(t0, t1)
        elif self.phase in ITERATIVE:
            X = self._iterative(t0, t1, weights)
        else:
            g = self._gains(t0, t1)
            if self.phase == "oracle":  # mixture and stems: arrays, or read on demand
                Y = self._mixture_frames(t0, t1)
                S = np.stack([self._mixture_frames(t0, t1, r) for r in self.references or ()])
                X = np.tensordot(weights, oracle_phase(g * Y[None], Y, S), axes=(0, 0))
            else:  # the heard layers' gains summed first: one product with the mixture
                X = np.tensordot(weights, g, axes=(0, 0)) * self._mixture_frames(t0, t1)
        return X * sel if sel is not None else X

    def _iterative(self, t0: int, t1: int, weights: np.ndarray) -> np.ndarray:
        c = self.context
        a, b = max(0, t0 - c), min(self.n_frames, t1 + c)
        Y = self._mixture_frames(a, b)
        g = self._gains(a, b)
        X = iterative_frames(Y, g, self.config, phase=self.phase, n_iter=self.n_iter,
                             cutoff_bin=self.cutoff_bin, keep=(t0 - a, t1 - a))
        return np.tensordot(weights, X, axes=(0, 0))

