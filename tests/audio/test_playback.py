"""Playback: the player through a null backend, and a real PortAudio stream into a file."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from maskstudio.audio.backend import NullBackend
from maskstudio.audio.player import PERIOD_BLOCKS, Player
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig
from maskstudio.dsp.stream import Heard, StreamRenderer
from maskstudio.editing.edits import rectangle

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture(scope="module")
def scene():
    n = SR * 2
    s1, s2 = harmonic(n)[None], clicks(n)[None]
    mix = s1 + s2
    masks = oracle_masks(mix, [s1, s2], CFG, "wiener")
    return mix, masks, resynthesize(mix, masks, CFG)


def _renderer(scene, **kw):
    mix, masks, _ = scene
    return StreamRenderer(mix, CFG, lambda a, b: masks[..., a:b], 2, **kw)


def _play_all(player, backend, block=1024):
    while backend.active:
        backend.advance(block)
    return backend.recording().T


def test_what_is_played_is_the_offline_render(scene):
    mix, masks, offline = scene
    backend = NullBackend()
    player = Player(backend, threaded=False)
    r = _renderer(scene)
    r.heard = Heard("layer", (1,))
    player.play(r, SR)
    out = _play_all(player, backend, 700)
    np.testing.assert_allclose(out, offline[1], atol=1e-6)
    assert player.finished and player.underruns == 0


def test_switching_while_playing_changes_the_next_block(scene):
    mix, masks, offline = scene
    backend = NullBackend()
    player = Player(backend, threaded=False)
    r = _renderer(scene, chunk_frames=8)
    r.heard = Heard("layer", (0,))
    player.play(r, SR)
    backend.advance(4096)
    switched_at = r.position  # what had been rendered when the listener switched
    player.set_heard(Heard("residual"))
    out = _play_all(player, backend)
    np.testing.assert_allclose(out[:, :switched_at], offline[0][:, :switched_at], atol=1e-6)
    later = switched_at + CFG.n_fft + 8 * CFG.hop_length  # past one chunk and one window
    np.testing.assert_allclose(out[:, later:], offline[2][:, later:], atol=1e-6)
    step = np.abs(np.diff(out[0, switched_at - 200:later + 200]))
    assert step.max() < 4 * np.abs(np.diff(mix[0])).max()  # a crossfade, not a click


def test_play_from_the_cursor_a_loop_and_a_selection(scene):
    mix, masks, offline = scene
    backend = NullBackend()
    player = Player(backend, threaded=False)
    r = _renderer(scene)
    r.heard = Heard("mixture")
    player.play(r, SR, start=8000, stop=12000, loop=True)
    backend.advance(10000)
    rec = backend.recording()[:, 0]
    np.testing.assert_allclose(rec[:4000], mix[0, 8000:12000], atol=1e-6)
    np.testing.assert_allclose(rec[4000:8000], mix[0, 8000:12000], atol=1e-6)
    assert 8000 <= player.position() < 12000
    player.stop()
    # only a time-frequency box: silence before the box's first frame, sound inside it
    T = CFG.n_frames(mix.shape[1])
    sel = rectangle(10, 60, 100, 150, n_bins=CFG.n_bins, n_frames=T)
    r.heard = Heard("mixture", selection=sel)
    backend2 = NullBackend()
    Player(backend2, threaded=False).play(r, SR)
    out = _play_all(None, backend2)[0]
    assert not out[:90 * CFG.hop_length].any() and not out[160 * CFG.hop_length:].any()
    assert np.abs(out[110 * 128:140 * 128]).max() > 0.01


def test_a_real_portaudio_stream_plays_the_source(tmp_path, scene):
    try:
        from maskstudio.audio.devices import load_sounddevice

        load_sounddevice()
    except Exception as exc:  # pragma: no cover - CI installs libportaudio2
        pytest.skip(f"PortAudio is not available: {exc}")
    raw = tmp_path / "out.raw"
    conf = tmp_path / "asound.conf"
    conf.write_text(open("/usr/share/alsa/alsa.conf").read() + textwrap.dedent(f"""
        pcm.!default {{ type file; slave.pcm "null"; file "{raw}"; format "raw" }}
    """))
    mix, masks, offline = scene
    np.save(tmp_path / "mix.npy", mix)
    np.save(tmp_path / "masks.npy", masks)
    script = textwrap.dedent(f"""
        import time, numpy as np
        from maskstudio.audio.player import Player
        from maskstudio.audio.sd_backend import SoundDeviceBackend
        from maskstudio.dsp.stft import STFTConfig
        from maskstudio.dsp.stream import Heard, StreamRenderer
        mix = np.load({str(tmp_path / 'mix.npy')!r})
        masks = np.load({str(tmp_path / 'masks.npy')!r})
        r = StreamRenderer(mix, STFTConfig(n_fft=512, hop_length=128),
                           lambda a, b: masks[..., a:b], 2)
        r.heard = Heard("layer", (0,))
        backend = SoundDeviceBackend()
        p = Player(backend)
        # ALSA's null slave has no clock (it took 268 million frames in a second here), so
        # no renderer can keep its pace: render the source first, then check what reaches
        # a real PortAudio device sample for sample.  Keeping up in real time is measured
        # by benchmarks/bench_playback.py.
        p.play(r, {SR}, preroll=3.0)
        t0 = time.time()
        while not p.finished and time.time() - t0 < 20:
            time.sleep(0.05)
        p.stop()
        print("underruns", p.underruns, backend.underruns, "error", backend.error)
    """)
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "error None" in proc.stdout
    captured = np.frombuffer(raw.read_bytes(), dtype="<f4")
    want = offline[0][0]
    assert captured.size >= want.size
    # the device may add silence before the sound: align on the first non-zero sample
    lead = int(np.argmax(np.abs(captured) > 0)) - int(np.argmax(np.abs(want) > 0))
    got = captured[lead:lead + want.size]
    np.testing.assert_allclose(got, want, atol=1e-6)


def _alsa_file_env(tmp_path):
    raw = tmp_path / "out.raw"
    conf = tmp_path / "asound.conf"
    conf.write_text(open("/usr/share/alsa/alsa.conf").read()
                    + f'\npcm.!default {{ type file; slave.pcm "null"; file "{raw}"; '
                      f'format "raw" }}\n')
    return raw, dict(os.environ, ALSA_CONFIG_PATH=str(conf))


def test_the_play_command_plays_a_layer_of_a_mask_file(tmp_path, scene):
    pytest.importorskip("sounddevice", exc_type=OSError)
    import soundfile as sf

    from maskstudio.dsp.masks import MaskSet
    from maskstudio.io.npz import save_masks

    mix, masks, offline = scene
    sf.write(str(tmp_path / "mix.wav"), mix.T, SR, subtype="FLOAT")
    save_masks(tmp_path / "m.npz", MaskSet(["voice", "drums"], masks), CFG, SR)
    raw, env = _alsa_file_env(tmp_path)
    cmd = [sys.executable, "-m", "maskstudio", "play", str(tmp_path / "mix.wav"), "--masks",
           str(tmp_path / "m.npz"), "--layer", "drums", "--start", "0.5", "--duration", "1",
           "--preroll", "2"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    captured = np.frombuffer(raw.read_bytes(), dtype="<f4")
    want = offline[1][0, SR // 2:SR // 2 + SR]
    lead = int(np.argmax(np.abs(captured) > 0)) - int(np.argmax(np.abs(want) > 0))
    np.testing.assert_allclose(captured[lead:lead + want.size], want, atol=1e-6)
    bad = subprocess.run(cmd[:7] + ["--layer", "bass"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "no layer 'bass'" in bad.stderr
    nodev = subprocess.run(cmd + ["--device", "99"], env=env, capture_output=True, text=True)
    assert nodev.returncode == 2 and "cannot play" in nodev.stderr
    assert nodev.stderr.count("\n") <= 2 and "Traceback" not in nodev.stderr


def test_a_starting_device_that_takes_its_whole_buffer_at_once_finds_it_rendered(scene):
    """PortAudio's ALSA stream fills its buffer (the reported latency plus a host period of up
    to three blocks) the moment it starts: all of it must be rendered before, or the sound
    has a gap a quarter of a second in."""
    backend = NullBackend()  # pulled by hand, as a starting stream pulls
    backend.latency = 0.2
    player = Player(backend, lookahead=0.05)
    player.play(_renderer(scene), SR)
    try:
        for _ in range(int(0.2 * SR) // player.block + 3):
            backend.advance(player.block)
        assert player.underruns == 0
        assert np.all(np.abs(np.concatenate(backend.played)).max(axis=1) > 0)
    finally:
        player.stop()


def test_render_ahead_covers_the_device_latency_and_grows_after_an_underrun(scene):
    """A device that holds 0.2 s must never find less rendered; after a gap, render further."""
    import time

    mix, masks, _ = scene
    backend = NullBackend(realtime=True)
    backend.latency = 0.2  # what a sound server reports
    player = Player(backend)
    r = _renderer(scene)
    player.play(r, SR)
    deadline = time.monotonic() + 5
    ahead = 0.0
    while time.monotonic() < deadline and not player.finished:
        ahead = max(ahead, (r.position - backend.frames_played) / SR)
        if ahead >= 0.2:
            break
        time.sleep(0.01)
    player.stop()
    assert player.render_ahead >= 0.2 + PERIOD_BLOCKS * player.block / SR
    assert ahead >= 0.2, f"only {ahead:.3f} s rendered ahead of a device holding 0.2 s"

    # a renderer that falls behind (its masks slow to read): the gaps are counted and the
    # render-ahead grows; the next play starts with a clean count
    slow = {"on": True}

    def sluggish(a, b):
        if slow["on"]:
            time.sleep(0.05)
        return masks[..., a:b]

    backend = NullBackend(realtime=True)
    player = Player(backend)
    r = StreamRenderer(mix, CFG, sluggish, 2, chunk_frames=4)
    r.heard = Heard("layer", (0,))
    player.play(r, SR)
    before = player.render_ahead
    deadline = time.monotonic() + 10
    while player.underruns == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player.underruns > 0 and player.gaps >= player.underruns
    assert player.render_ahead > before
    player.stop()
    slow["on"] = False
    player.play(_renderer(scene), SR)
    assert player.underruns == 0 and player.gaps == 0
    player.stop()


def test_a_bad_block_found_while_playing_ends_play_with_its_message(tmp_path, scene):
    """Values are checked as they are read: a NaN near the end of the audio or of the masks
    stops play with the one-line error and exit status 2, never a hang."""
    pytest.importorskip("sounddevice", exc_type=OSError)
    import soundfile as sf

    from maskstudio.dsp.masks import MaskSet
    from maskstudio.io.npz import save_masks

    mix, masks, _ = scene
    _, env = _alsa_file_env(tmp_path)
    bad_audio = mix.copy()
    bad_audio[0, -1000] = np.nan
    sf.write(str(tmp_path / "bad.wav"), bad_audio.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "mix.wav"), mix.T, SR, subtype="FLOAT")
    bad_masks = masks.copy()
    bad_masks[0, 5, -5] = np.nan
    save_masks(tmp_path / "m.npz", MaskSet(["voice", "drums"], masks), CFG, SR)
    save_masks(tmp_path / "bad.npz", MaskSet(["voice", "drums"], np.nan_to_num(bad_masks)),
               CFG, SR)
    from maskstudio.io.ondemand import open_masks

    stored = open_masks(tmp_path / "bad.npz", n_channels=1, n_samples=mix.shape[1],
                        samplerate=SR).data  # damage it in place, past every up-front check
    raw = np.memmap(stored.filename, dtype=stored.dtype, mode="r+", offset=stored.offset,
                    shape=stored.shape)
    raw[0, 5, -5] = np.nan
    raw.flush()
    del raw
    play = [sys.executable, "-m", "maskstudio", "play"]
    for args, word in (([str(tmp_path / "bad.wav")], "NaN"),
                       ([str(tmp_path / "mix.wav"), "--masks", str(tmp_path / "bad.npz"),
                         "--layer", "voice"], "NaN")):
        proc = subprocess.run(play + args, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr[-800:]
        assert word in proc.stderr and "Traceback" not in proc.stderr
    # a start that rounds to the last sample is past the end, said as such
    end = subprocess.run(play + [str(tmp_path / "mix.wav"), "--start",
                                 f"{(mix.shape[1] - 0.4) / SR:.6f}"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert end.returncode == 2 and "past the end" in end.stderr, end.stderr


def test_phase_changes_while_playing_do_not_pile_up_render_ahead(scene):
    import time

    from maskstudio.audio.player import SWITCH_AHEAD

    backend = NullBackend(realtime=True)
    player = Player(backend)
    player.play(_renderer(scene), SR)
    time.sleep(0.1)
    plain = max(player.lookahead, backend.latency + PERIOD_BLOCKS * player.block / SR)
    for phase in ("misi", "mixture", "misi", "mixture"):
        player.set_phase(phase)
        assert player.render_ahead <= SWITCH_AHEAD + 3 * plain + 0.05, player.render_ahead
    player.stop()
