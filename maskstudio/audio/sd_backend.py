"""Sound through PortAudio (sounddevice): the only module that opens an audio device."""

from __future__ import annotations

from typing import Any

import numpy as np

from maskstudio.audio.backend import Pull
from maskstudio.audio.devices import AudioUnavailable, load_sounddevice, output_devices

__all__ = ["SoundDeviceBackend"]


class SoundDeviceBackend:
    """An ``OutputStream`` whose callback only copies blocks the player has rendered.

    A missing PortAudio, no device, or a device that fails while playing becomes
    :class:`AudioUnavailable` or :attr:`error`; the editor keeps working either way.
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

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    def open(self, samplerate: int, channels: int, pull: Pull) -> None:
        sd = load_sounddevice()
        if self.device is None and not output_devices():
            raise AudioUnavailable("this machine has no audio output device: connect one (or "
                                   "start its sound server); editing and export work without")
        self.frames_played = 0
        self.error = None
        self._ended = False

        def callback(outdata: np.ndarray, frames: int, time_info: object, status: Any) -> None:
            if status.output_underflow:
                self.underruns += 1
            block = pull(frames)
            k = block.shape[0]
            outdata[:k] = block
            if k < frames:
                outdata[k:] = 0
                self.frames_played += k
                self._ended = True
                raise sd.CallbackStop
            self.frames_played += k

        def finished() -> None:  # the stream ended: by our CallbackStop, or the device failed
            if not self._ended and self._stream is not None:
                self.error = "the output device stopped while playing"

        try:
            stream = sd.OutputStream(
                samplerate=samplerate, channels=channels, dtype="float32",
                blocksize=self.blocksize, device=self.device, latency=self.latency_hint,
                callback=callback, finished_callback=finished)
            self._stream = stream
            stream.start()
        except Exception as exc:  # PortAudioError, ValueError for a bad device, ...
            self._stream = None
            raise AudioUnavailable(f"cannot play on {self._describe()}: {exc}. Choose another "
                                   f"output device in Edit > Audio output") from None
        self.latency = float(stream.latency)

    def _describe(self) -> str:
        return "the default output device" if self.device is None else f"device {self.device!r}"

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # a device that vanished: note it, keep going
                self.error = str(exc)


