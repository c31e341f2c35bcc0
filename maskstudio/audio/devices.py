"""Finding PortAudio and its output devices, with a clear word when it is missing."""

from __future__ import annotations

import sys
from types import ModuleType

from maskstudio.errors import MaskStudioError

__all__ = ["AudioUnavailable", "load_sounddevice", "output_devices", "refresh_devices"]


class AudioUnavailable(MaskStudioError):
    """PortAudio or the sounddevice package is missing, or no output device exists."""


def _install_hint() -> str:
    if sys.platform.startswith("linux"):
        return "install PortAudio (Debian/Ubuntu: sudo apt-get install libportaudio2)"
    if sys.platform == "darwin":
        return "install PortAudio (brew install portaudio)"
    return "reinstall the sounddevice package, which bundles PortAudio on this system"


def load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into :class:`AudioUnavailable`."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio is absent
        raise AudioUnavailable(f"playback needs the PortAudio library, which was not found "
                               f"({exc}): {_install_hint()}") from None
    except ImportError:
        raise AudioUnavailable("playback needs the sounddevice package: "
                               "pip install sounddevice") from None
    return sounddevice


def output_devices() -> list[tuple[int, str, int, float]]:
    """``[(index, name, max_output_channels, default_samplerate), ...]`` of output devices."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as exc:  # PortAudio errors are plain exceptions of sounddevice's own
        raise AudioUnavailable(f"PortAudio could not list devices: {exc}") from None
    return [(i, d["name"], d["max_output_channels"], d["default_samplerate"])
            for i, d in enumerate(devices) if d["max_output_channels"] > 0]


def refresh_devices() -> None:
    """Ask PortAudio for the devices again: it lists them once, when it starts, so a sound
    server started (or stopped) since, or a card plugged in, is unknown until it restarts.
    Restarting PortAudio ends every stream, so only call this with none open (the maintainer's
    advice: python-sounddevice issue #125)."""
    sd = load_sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except Exception as exc:  # noqa: BLE001 - PortAudio could not restart: say so, plainly
        raise AudioUnavailable(f"PortAudio could not restart to look for devices: {exc}") \
            from None
