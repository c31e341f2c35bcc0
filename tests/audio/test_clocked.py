"""Playback on a real, clocked sound server (PulseAudio's null sink, recorded from its monitor).

What a listener hears: the whole sound, tail included, at the pace of the clock, equal to the
export at the sink's int16 precision, and a word about every gap. ALSA's file plugin
(tests/audio/test_playback.py) has no clock and cannot show these.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig
from maskstudio.io.npz import save_masks

from ..conftest import clicks, harmonic
from .pulse import RATE, PulseServer, PulseUnavailable

CFG = STFTConfig(n_fft=1024, hop_length=256)
INT16 = 1.5 / 32768  # the sink's sample format: one step, and rounding


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    try:
        pytest.importorskip("sounddevice", exc_type=OSError)
        with PulseServer(tmp_path_factory.mktemp("pulse")) as server:
            yield server
    except PulseUnavailable as exc:
        if "CI" in __import__("os").environ:
            raise  # CI installs PulseAudio: its absence there is a failure, not a skip
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 3 s stereo mixture of two sources ending loud (a cut tail is audible), its masks, and
    the exported source the player must reproduce."""
    folder = tmp_path_factory.mktemp("song")
    n = 3 * RATE
    voice, drums = harmonic(n, RATE), clicks(n, RATE)
    ramp = np.linspace(0.2, 1.0, n, dtype=np.float32)  # loudest at the very end
    mix = np.stack([voice + drums, 0.8 * voice + drums]) * ramp
    sf.write(str(folder / "mix.wav"), mix.T, RATE, subtype="FLOAT")
    from maskstudio.dsp.oracle import oracle_masks

    masks = oracle_masks(mix, np.stack([np.stack([voice, 0.8 * voice]) * ramp,
                                        np.stack([drums, drums]) * ramp]), CFG, "irm")
    save_masks(folder / "m.npz", MaskSet(["voice", "drums"], masks), CFG, RATE)
    voice_out = resynthesize(mix, masks, CFG, phase="mixture", samplerate=RATE)[0]
    return folder, mix, voice_out


#: A stream joining a running sink makes it rewind and mix the stream in; the monitor has
#: already been given the rewound part, so its recording misses the first few milliseconds
#: (9 ms here) that a speaker hears. Samples are compared after this.
JOIN = int(0.05 * RATE)


def _align(captured: np.ndarray, want: np.ndarray) -> np.ndarray:
    """The capture lined up with ``want``: the offset of a probe 1 s into the sound."""
    probe = want[0, RATE:RATE + 4096]
    lead = int(np.argmax(np.abs(captured[0]) > 1e-3))
    starts = range(lead, min(lead + 2 * RATE, captured.shape[1] - probe.size))
    best = min(starts, key=lambda s: np.abs(captured[0, s:s + probe.size] - probe).mean())
    start = best - RATE
    assert start >= 0, "the sound began before the recording"
    return captured[:, start:start + want.shape[1]]


def _play(pulse, tmp_path, *args):
    cmd = [sys.executable, "-m", "maskstudio", "play", *args]
    with pulse.record(tmp_path / "cap.raw"):
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=pulse.env, capture_output=True, text=True, timeout=120)
        wall = time.monotonic() - t0
    return proc, wall, pulse.captured(tmp_path / "cap.raw")


@pytest.mark.parametrize("run", range(3))  # three in a row: a clocked test must not flake
def test_play_is_heard_whole_in_real_time_and_equal_to_the_export(pulse, song, tmp_path, run):
    folder, mix, voice = song
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import maskstudio.cli, maskstudio.audio.player, "
                    "maskstudio.audio.sd_backend, maskstudio.io.npz, sounddevice; "
                    "sounddevice.query_devices()"], env=pulse.env, check=True,
                   capture_output=True)
    startup = time.monotonic() - start  # the interpreter, imports, PortAudio: not the sound
    proc, wall, captured = _play(pulse, tmp_path, str(folder / "mix.wav"), "--masks",
                                 str(folder / "m.npz"), "--layer", "voice")
    assert proc.returncode == 0, proc.stderr
    assert "played 3.00 s, 0 underruns" in proc.stderr
    duration = voice.shape[1] / RATE
    # the clock: never faster than the sound, and not much slower (start-up, the drain)
    assert duration <= wall - startup + 0.05, (wall, startup)
    assert wall - startup < duration + 2.0, (wall, startup)
    got = _align(captured, voice)
    assert got.shape == voice.shape, "the capture is shorter than the sound: the tail was cut"
    np.testing.assert_allclose(got[:, JOIN:], voice[:, JOIN:], atol=INT16)
    assert np.abs(got[:, :JOIN]).max() > 0.01  # the start is heard too
    tail = int(0.1 * RATE)  # the loudest part, which a cut tail loses first
    assert np.abs(got[:, -tail:]).max() > 0.05
    np.testing.assert_allclose(got[:, -tail:], voice[:, -tail:], atol=INT16)


def test_a_run_that_falls_behind_says_how_many_gaps(pulse, song, tmp_path):
    folder, mix, voice = song
    # MISI with hundreds of iterations per block cannot keep up on any machine
    proc, wall, captured = _play(pulse, tmp_path, str(folder / "mix.wav"), "--masks",
                                 str(folder / "m.npz"), "--layer", "voice", "--phase", "misi",
                                 "--n-iter", "400", "--duration", "1")
    assert proc.returncode == 0, proc.stderr
    assert "underrun(s), each an audible gap" in proc.stderr, proc.stderr
    assert "0 underruns" not in proc.stderr


def test_a_server_that_went_and_came_back_is_found_again(tmp_path):
    """PortAudio lists devices once; the backend looks again when a stream fails to open, so a
    stopped server gives one clear message (not PortAudio's "Illegal combination of I/O
    devices") and a restarted one plays, in the same process, as in a window left open."""
    pytest.importorskip("sounddevice", exc_type=OSError)
    script = tmp_path / "session.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        import numpy as np
        from maskstudio.audio.devices import AudioUnavailable
        from maskstudio.audio.sd_backend import SoundDeviceBackend
        backend = SoundDeviceBackend()
        pull = lambda n: np.zeros((n, 2), np.float32)
        for line in sys.stdin:  # the test says when the server is up or down
            try:
                backend.open(44100, 2, pull)
                time.sleep(0.2)
                print("played", backend.active, flush=True)
                backend.close()
            except AudioUnavailable as exc:
                print("refused", exc, flush=True)
    """))
    try:
        server = PulseServer(tmp_path / "pa").__enter__()
    except PulseUnavailable as exc:
        pytest.skip(str(exc))
    proc = subprocess.Popen([sys.executable, str(script)], env=server.env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        def ask():
            proc.stdin.write("go\n")
            proc.stdin.flush()
            return proc.stdout.readline().strip()

        assert ask() == "played True"
        server.__exit__(None, None, None)
        down = ask()
        assert down.startswith("refused no audio output device is available"), down
        assert "PaErrorCode" not in down and "Illegal" not in down
        server = PulseServer(tmp_path / "pa").__enter__()
        assert ask() == "played True"
    finally:
        proc.stdin.close()
        proc.wait(10)
        server.__exit__(None, None, None)


WINDOW_SESSION = """
import json, sys, time
from pathlib import Path
from pyqtgraph.Qt import QtCore
from maskstudio.dsp.stft import STFTConfig
from maskstudio.ui.app import make_app
from maskstudio.ui.main_window import MainWindow

folder = Path(sys.argv[1])
app = make_app()
settings = QtCore.QSettings(str(folder / "settings.ini"), QtCore.QSettings.Format.IniFormat)
win = MainWindow(settings)
win.confirm_close = False
win.show()
win.projects.open_path(folder / "mix.wav", config=STFTConfig(n_fft=1024, hop_length=256),
                       wait=True)
win.mask_sources.compute_oracle("wiener", {"voice": folder / "voice.wav",
                                           "drums": folder / "drums.wav"})
pb = win.playback
report = {}
state = {}

# the window's own event loop runs throughout (app.exec releases the GIL while it waits, as
# in the editor), and each step is a timer, as a user's clicks would be
def wait_for_layers():
    if len(win.doc.layers) < 2:
        QtCore.QTimer.singleShot(50, wait_for_layers)
        return
    pb.transport.heard.setCurrentIndex(1)  # the active layer: voice
    pb.toggle_play()
    report["playing"] = pb.playing
    state["renderer"] = pb.player.renderer
    QtCore.QTimer.singleShot(1000, to_oracle)

# the oracle phase (the stems' phase, known after the oracle) needs new inputs in the running
# stream; it costs little, so the test shows the switch, not whether a slow machine keeps up
# with MISI (benchmarks/bench_playback.py measures that switch: 0 ms of silence)
def to_oracle():
    pb.transport.phase.setCurrentText("oracle")
    report["switched"] = pb.player.renderer.phase_pending or \
        pb.player.renderer.phase == "oracle"
    QtCore.QTimer.singleShot(1500, to_mixture)

def to_mixture():
    pb.transport.phase.setCurrentText("mixture")
    QtCore.QTimer.singleShot(700, stop)

def stop():
    report["same_stream"] = pb.player.renderer is state["renderer"]
    report["gaps"] = [pb.player.gaps, pb.player.underruns]
    report["still_playing"] = pb.playing
    report["before_stop"] = pb.transport.time_label.text().strip()
    pb.stop_or_clear()  # Esc
    report["after_stop"] = pb.transport.time_label.text().strip()
    report["playing_after"] = pb.playing
    QtCore.QTimer.singleShot(300, app.quit)

QtCore.QTimer.singleShot(0, wait_for_layers)
app.exec()
print(json.dumps(report), flush=True)
"""


@pytest.fixture
def own_pulse(tmp_path):
    """A server of its own: a window test must not inherit what earlier tests did to one."""
    pytest.importorskip("sounddevice", exc_type=OSError)
    try:
        with PulseServer(tmp_path / "pa") as server:
            yield server
    except PulseUnavailable as exc:
        if "CI" in __import__("os").environ:
            raise
        pytest.skip(str(exc))


@pytest.mark.parametrize("run", range(3))  # three in a row: a clocked test must not flake
def test_the_window_plays_switches_phase_and_stops_on_a_clocked_server(own_pulse, tmp_path,
                                                                      run):
    pulse = own_pulse
    n = 5 * RATE
    voice, drums = harmonic(n, RATE), clicks(n, RATE)
    for name, x in (("voice", voice), ("drums", drums), ("mix", voice + drums)):
        sf.write(str(tmp_path / f"{name}.wav"), np.stack([x, x]).T, RATE, subtype="FLOAT")
    script = tmp_path / "session.py"
    script.write_text(WINDOW_SESSION)
    env = dict(pulse.env, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    with pulse.record(tmp_path / "cap.raw"):
        proc = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    assert report["playing"] and report["still_playing"] and report["same_stream"]
    assert report["switched"]
    # the renderer never fell behind; what the device heard is judged below from the capture
    # itself (ALSA's pulse plugin flags underflows the server bridges: a count, not a gap)
    assert report["gaps"][1] == 0, report
    assert report["after_stop"] == "0:00.00" and not report["playing_after"]
    assert report["before_stop"] != "0:00.00"
    captured = pulse.captured(tmp_path / "cap.raw")
    loud = np.abs(captured).max(axis=0) > 1e-4
    first, last = int(np.argmax(loud)), len(loud) - int(np.argmax(loud[::-1]))
    heard = (last - first) / RATE
    assert 2.9 < heard < 4.5, heard  # about 1 + 1.5 + 0.7 s of sound, then Esc stops it
    # the sound is continuous through both phase changes: no silence longer than 5 ms
    quiet = ~loud[first:last]
    run_len = longest = 0
    for q in quiet:
        run_len = run_len + 1 if q else 0
        longest = max(longest, run_len)
    assert longest < 0.005 * RATE, f"{1e3 * longest / RATE:.1f} ms of silence while playing"
