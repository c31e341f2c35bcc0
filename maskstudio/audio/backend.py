"""Where played samples go: the backend protocol, and a null backend that records them.

A backend pulls float32 blocks ``[frames, channels]`` from the player in its own (audio)
thread; the pull only copies samples that are already rendered.  :class:`NullBackend` is a real
backend without a device: it keeps what it was asked to play, and advances either when told
(tests) or in real time on a thread of its own (a machine with no sound card).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

__all__ = ["AudioBackend", "NullBackend", "Pull"]

#: ``pull(frames)`` returns up to ``frames`` rows ``[k, channels]``; fewer (or none) at the end.
Pull = Callable[[int], np.ndarray]


class AudioBackend(Protocol):
    frames_played: int
    latency: float  #: seconds between a pulled sample and its sound
    error: str | None  #: set when the device failed while playing

    def open(self, samplerate: int, channels: int, pull: Pull, *,
             ready: Callable[[], None] | None = None) -> None:
        """Open and start the device; ``ready()`` runs once :attr:`latency` is the device's
        own and before the first ``pull`` (a starting stream may take its whole buffer at
        once: what to render before it does)."""
        ...

    def close(self) -> None: ...

    @property
    def active(self) -> bool: ...


class NullBackend:
    """Plays into a list.  ``advance(frames)`` pulls by hand; ``realtime=True`` pulls a block
    every block's duration on its own thread, as a sound card would."""

    def __init__(self, *, realtime: bool = False, blocksize: int = 1024):
        self.realtime, self.blocksize = realtime, blocksize
        self.frames_played = 0
        self.latency = 0.0
        self.error: str | None = None
        self.played: list[np.ndarray] = []
        self.samplerate: int | None = None  #: as opened (None before)
        self.channels: int | None = None
        self._pull: Pull | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def open(self, samplerate: int, channels: int, pull: Pull, *,
             ready: Callable[[], None] | None = None) -> None:
        self.samplerate, self.channels, self._pull = samplerate, channels, pull
        if ready is not None:
            ready()
        self._active = True
        self._stop.clear()
        if self.realtime:
            self._thread = threading.Thread(target=self._run, args=(samplerate,), daemon=True)
            self._thread.start()

    def _run(self, samplerate: int) -> None:
        period = self.blocksize / samplerate
        next_time = time.perf_counter()
        while not self._stop.is_set() and self._active:
            self.advance(self.blocksize)
            next_time += period
            time.sleep(max(0.0, next_time - time.perf_counter()))

    def advance(self, frames: int) -> np.ndarray:
        """Pull ``frames`` and keep them; returns what was pulled."""
        if not self._active or self._pull is None:
            return np.zeros((0, self.channels or 1), np.float32)
        block = self._pull(frames)
        self.played.append(block.copy())
        self.frames_played += block.shape[0]
        if block.shape[0] < frames:
            self._active = False  # the end: a device would stop here
        return block

    def recording(self) -> np.ndarray:
        """Everything played, ``[frames, channels]``."""
        if not self.played:
            return np.zeros((0, self.channels or 1), np.float32)
        return np.concatenate(self.played, axis=0)

    def close(self) -> None:
        self._stop.set()
        self._active = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
        self._thread = None
