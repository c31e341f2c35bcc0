"""Sound through PortAudio (sounddevice): the only module that opens an audio device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from maskstudio.audio.backend import Pull
from maskstudio.audio.devices import (
    AudioUnavailable,
    load_sounddevice,
    output_devices,
    refresh_devices,
)

#: What to do when no device will play, the same words in the window and the CLI.
CHOOSE = ("choose another output device (Edit > Audio output in the window; "
          "`maskstudio devices` and --device for play)")
NO_DEVICE = ("no audio output device is available: connect one, or start the sound server "
             "(PulseAudio, PipeWire), then play again; editing and export work without")

__all__ = ["SoundDeviceBackend"]


#: Silence played after the last sample, beyond the device's reported latency, before the
#: stream stops: a sound server (PulseAudio's ALSA plugin) holds more than PortAudio reports.
DRAIN_MARGIN = 0.25


class SoundDeviceBackend:
    """An ``OutputStream`` whose callback only copies blocks the player has rendered.

    A missing PortAudio, no device, or a device that fails while playing becomes
    :class:`AudioUnavailable` or :attr:`error`; the editor keeps working either way.

    At the natural end the stream is drained: silence follows the last sample for the
    device's latency and a margin before the callback stops the stream, and :meth:`close`
    then lets the device play what it holds (``stop``) instead of dropping it (``abort``),
    so every sample reaches the speaker. :attr:`underruns` counts the device's underflows
    (audible gaps) since :meth:`open`.
    """

    def __init__(self, device: int | str | None = None, *, blocksize: int = 1024,
                 latency: float | str = "low"):
        self.device, self.blocksize, self.latency_hint = device, blocksize, latency
        self.frames_played = 0
        self.latency = 0.0
        self.error: str | None = None
        self.underruns = 0
        self._ended = False
        self._stream: Any = None  # a sounddevice.OutputStream (sounddevice has no types)
        self._drain_left: int | None = None  # frames of silence still to play at the end

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    def open(self, samplerate: int, channels: int, pull: Pull, *,
             ready: Callable[[], None] | None = None) -> None:
        sd = load_sounddevice()
        if self.device is None and not output_devices():
            refresh_devices()  # the list is PortAudio's, from when it started
            if not output_devices():
                raise AudioUnavailable(NO_DEVICE)
        self.frames_played = 0
        self.underruns = 0
        self.error = None
        self._ended = False
        self._drain_left = None

        def callback(outdata: np.ndarray, frames: int, time_info: object, status: Any) -> None:
            if status.output_underflow:
                self.underruns += 1
            if self._drain_left is not None:  # the sound is over: let the device play it out
                outdata[:] = 0
                self._drain_left -= frames
                if self._drain_left <= 0:
                    self._ended = True
                    raise sd.CallbackStop
                return
            block = pull(frames)
            k = block.shape[0]
            outdata[:k] = block
            self.frames_played += k
            if k < frames:
                outdata[k:] = 0
                self._drain_left = int((self.latency + DRAIN_MARGIN) * samplerate)

        def finished() -> None:  # the stream ended: by our CallbackStop, or the device failed
            if not self._ended and self._stream is not None:
                self.error = "the output device stopped while playing"

        def start() -> Any:
            stream = sd.OutputStream(
                samplerate=samplerate, channels=channels, dtype="float32",
                blocksize=self.blocksize, device=self.device, latency=self.latency_hint,
                callback=callback, finished_callback=finished)
            try:
                self.latency = float(stream.latency)
                if ready is not None:  # the stream takes its whole buffer as it starts
                    ready()
                stream.start()
            except BaseException:
                stream.close()
                raise
            return stream

        try:
            try:
                self._stream = start()
            except Exception:  # noqa: BLE001 - the device list may be stale: look again, once
                refresh_devices()
                if self.device is None and not output_devices():
                    raise AudioUnavailable(NO_DEVICE) from None
                self._stream = start()
        except AudioUnavailable:
            self._stream = None
            raise
        except Exception as exc:  # PortAudioError, ValueError for a bad device, ...
            self._stream = None
            reason = str(exc).removeprefix("Error opening OutputStream: ")
            raise AudioUnavailable(f"cannot play on {self._describe()} ({reason}): "
                                   f"{CHOOSE}") from None
        self.latency = float(self._stream.latency)

    def _describe(self) -> str:
        return "the default output device" if self.device is None else f"device {self.device!r}"

    @property
    def draining(self) -> bool:
        """The last sample was handed over; the device is playing out what it holds."""
        return self._drain_left is not None

    def close(self) -> None:
        """Stop at once (the user stopped), or after the device played everything (the end)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                if self._ended:
                    stream.stop()  # returns once the buffers are played
                else:
                    stream.abort()
                stream.close()
            except Exception as exc:  # a device that vanished: note it, keep going
                self.error = str(exc)


