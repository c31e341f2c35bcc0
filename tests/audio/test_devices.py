import builtins

import pytest

from maskstudio.audio import devices
from maskstudio.cli import main


def test_missing_portaudio_is_explained(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(devices.AudioUnavailable, match="libportaudio2|portaudio"):
        devices.load_sounddevice()
    assert main(["devices"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PortAudio" in err


def test_devices_are_listed_when_portaudio_is_present(capsys):
    try:
        devices.load_sounddevice()
    except devices.AudioUnavailable:
        pytest.skip("PortAudio is not installed here")
    assert main(["devices"]) == 0
    assert "PortAudio" in capsys.readouterr().out
