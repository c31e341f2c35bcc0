"""Audio output.  Only :mod:`maskstudio.audio.devices` and the stream backend import
sounddevice, and only when asked, so the editor runs without PortAudio."""
