"""The player: renders ahead of the playhead on a worker thread, hands blocks to a backend.

No Qt here and no heavy work in the audio callback (python-sounddevice's advice): a producer
thread renders ahead with a :class:`~maskstudio.dsp.stream.StreamRenderer` into a queue, and
the backend's ``pull`` only copies from it.  The render-ahead is at least the device's latency
plus four blocks (a device that holds 0.2 s must never find less than that rendered, and
PortAudio's reported latency leaves out the host period it writes in: up to three blocks on
PulseAudio's ALSA plugin; a starting stream takes all of it at once), at least
three times what rendering a chunk has lately cost (MISI's chunks cost far more than the
mixture's), and grows after each underrun.  A phase change is planned a little ahead: the
player renders further in the old mode, then the new one takes over, so the first, slower
chunk of a costlier mode never leaves the device without sound.  Changing what is heard, or
editing a mask, reaches the sound with the next rendered chunk.  The GUI polls
:meth:`Player.position` with a timer.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from maskstudio.audio.backend import AudioBackend
from maskstudio.dsp.stream import Heard, StreamRenderer

__all__ = ["Player", "SWITCH_AHEAD"]

#: Seconds between a phase change asked for while playing and the sample it is heard from:
#: time for the old mode to render that far ahead before the new mode's first chunk.
SWITCH_AHEAD = 0.25
#: Blocks rendered beyond the device's reported latency: PortAudio leaves out the host
#: period it writes in (three 1024-frame blocks on PulseAudio's ALSA plugin, measured).
PERIOD_BLOCKS = 4


class Player:
    """Plays a renderer's output on a backend, from ``start`` to ``stop``, optionally looping."""

    def __init__(self, backend: AudioBackend, *, lookahead: float = 0.12, block: int = 1024,
                 threaded: bool = True):
        self.backend = backend
        self.threaded = threaded  # False: the pull renders what it needs (deterministic tests)
        self.lookahead, self.block = lookahead, block
        self.renderer: StreamRenderer | None = None
        self.underruns = 0  #: times rendering fell behind (silence was played) in this play
        #: what stopped rendering in this play (a bad block of the file), None if nothing
        self.error: Exception | None = None
        self._grow = 1.0  # the render-ahead's factor, raised after an underrun
        self._cost = 0.0  # seconds the costliest recent render call took (decaying)
        self._boost = 0.0  # seconds to render ahead while a phase change is coming
        self.t_play: float | None = None  #: perf_counter when play() was called
        #: perf_counter of the first non-silent block handed over
        self.t_first_sound: float | None = None
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._done_rendering = False
        self._start = self._stop_at = 0
        self._loop = False
        self._base = 0  # sample index of the first frame handed to the backend
        self._frames0 = 0
        self.samplerate = 1

    # -- control ----------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.renderer is not None and self.backend.active

    def play(self, renderer: StreamRenderer, samplerate: int, *, start: int = 0,
             stop: int | None = None, loop: bool = False, preroll: float = 0.0) -> None:
        """Start playing ``renderer`` at sample ``start`` (until ``stop``, looping if asked).

        One block is rendered before the stream opens, or ``preroll`` seconds if more."""
        self.stop()
        self.t_play = time.perf_counter()
        self.t_first_sound = None
        self.underruns = 0
        self.error = None
        self._grow = 1.0
        self._cost = self._boost = 0.0
        self.renderer, self.samplerate = renderer, samplerate
        n = renderer.n_samples
        self._start = int(np.clip(start, 0, n))
        self._stop_at = n if stop is None else int(np.clip(stop, self._start + 1, n))
        self._loop = loop
        self._base = self._start
        renderer.seek(self._start)
        self._queue.clear()
        self._queued = 0
        self._done_rendering = False
        self._stop_event.clear()
        self._frames0 = 0
        # sound starts at once: rendered before the device starts are the render-ahead
        # (what the first chunk renders anyway; it covers the device's buffer, which a
        # starting stream takes in one gulp), or the preroll asked for if more
        self.backend.open(samplerate, renderer.n_channels, self._pull, ready=lambda: self._fill(
            max(self.block, int(max(preroll, self._plain_ahead()) * samplerate))))
        self._frames0 = self.backend.frames_played
        if self.threaded:
            thread = threading.Thread(target=self._produce, name="maskstudio-render",
                                      daemon=True)
            self._thread = thread
            thread.start()

    def set_heard(self, heard: Heard) -> None:
        """Hear ``heard`` from the next rendered chunk (crossfaded by the windows)."""
        if self.renderer is not None:
            self.renderer.heard = heard

    def set_phase(self, phase: str, **options) -> None:
        """Resynthesise with ``phase`` in the running stream, crossfaded by the windows, with
        no gap (:meth:`StreamRenderer.set_phase`): from :data:`SWITCH_AHEAD` seconds past what
        is rendered when playing, while the player renders further ahead in the old mode.

        Raises
        ------
        ParameterError
            The renderer cannot use ``phase``; nothing changes.
        """
        r = self.renderer
        if r is None:
            return
        if not (self.threaded and self.backend.active):
            r.set_phase(phase, **options)
            return
        at = r.position + int(SWITCH_AHEAD * self.samplerate)
        r.set_phase(phase, at=at, **options)
        self._boost = SWITCH_AHEAD + self._plain_ahead()

    def stop(self) -> int:
        """Stop; returns the sample the playhead had reached."""
        pos = self.position()
        self._stop_event.set()
        self.backend.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._thread = None
        return pos

    def position(self) -> int:
        """The sample being heard now (played frames, less the device's latency)."""
        if self.renderer is None:
            return 0
        played = self.backend.frames_played - self._frames0
        heard = max(0, played - int(self.backend.latency * self.samplerate))
        span = self._stop_at - self._start
        if self._loop and span > 0:
            return self._start + (self._base - self._start + heard) % span
        return min(self._base + heard, self._stop_at)

    @property
    def finished(self) -> bool:
        return self._done_rendering and self._queued == 0 and not self.backend.active

    @property
    def gaps(self) -> int:
        """Audible gaps in this play: rendering fell behind, or the device ran dry."""
        return self.underruns + int(getattr(self.backend, "underruns", 0))

    @property
    def render_ahead(self) -> float:
        """Seconds rendered ahead of the device: the lookahead, at least the device's latency
        plus :data:`PERIOD_BLOCKS` blocks and three times a chunk's recent cost, grown after
        underruns, more while a phase change is coming (up to 2 s)."""
        return min(2.0, max(self._plain_ahead(), self._boost * self._grow))

    def _plain_ahead(self) -> float:
        """The render-ahead with no phase change coming."""
        floor = float(self.backend.latency) + PERIOD_BLOCKS * self.block / max(1, self.samplerate)
        return min(2.0, max(self.lookahead, floor, 3 * self._cost) * self._grow)

    # -- rendering thread -----------------------------------------------------------------
    def _fill(self, frames: int) -> None:
        r = self.renderer
        if r is None:
            return
        want = frames
        while want > 0 and not self._done_rendering:
            left = self._stop_at - r.position
            if left <= 0:
                if self._loop:
                    r.seek(self._start)
                    continue
                self._done_rendering = True
                break
            t0 = time.perf_counter()
            block = r.render(min(want, left))
            self._cost = max(0.98 * self._cost, time.perf_counter() - t0)
            if self._boost and not r.phase_pending:
                self._boost = 0.0  # the new mode has taken over
            if block.shape[1] == 0:
                self._done_rendering = True
                break
            with self._lock:
                self._queue.append(np.ascontiguousarray(block.T))
                self._queued += block.shape[1]
            want -= block.shape[1]

    def _produce(self) -> None:
        try:
            while not self._stop_event.is_set() and not self._done_rendering:
                if self._queued < int(self.render_ahead * self.samplerate):
                    self._fill(self.block)
                else:
                    time.sleep(0.002)
        except Exception as exc:  # noqa: BLE001 - handed to whoever watches the player
            # a bad block found while playing (NaN in the file, the file gone): the sound
            # ends after what was rendered, and the failure is the player's to report
            self.error = exc
            self._done_rendering = True

    # -- audio thread -----------------------------------------------------------------------
    def _pull(self, frames: int) -> np.ndarray:
        if not self.threaded and self._queued < frames:
            self._fill(frames - self._queued)
        channels = self.renderer.n_channels if self.renderer is not None else 1
        out = np.zeros((frames, channels), np.float32)
        got = 0
        with self._lock:
            while got < frames and self._queue:
                head = self._queue[0]
                k = min(frames - got, head.shape[0])
                out[got:got + k] = head[:k]
                if k == head.shape[0]:
                    self._queue.popleft()
                else:
                    self._queue[0] = head[k:]
                self._queued -= k
                got += k
        if got < frames:
            if self._done_rendering:
                out = out[:got]  # the end
            else:  # rendering fell behind: silence rather than a stall, and more ahead now
                self.underruns += 1
                self._grow = min(self._grow * 1.5, 8.0)
        if self.t_first_sound is None and got and np.any(out[:got]):
            self.t_first_sound = time.perf_counter()
        return out
