"""The command line, through real files: the forms users rely on, and every bad input."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from maskstudio.cli import main
from maskstudio.io.audiofile import load_audio

from .conftest import SR, clicks, harmonic


@pytest.fixture
def stems(tmp_path, write_wav):
    n = SR * 2
    voice, drums = harmonic(n)[None], clicks(n)[None]
    return dict(mix=write_wav("mix.wav", voice + drums), voice=write_wav("stems/voice.wav", voice),
                drums=write_wav("stems/drums.wav", drums), out=tmp_path / "out")


def run(*args):
    return main([str(a) for a in args])


def oracle_args(s, *extra, mask="wiener"):
    return ["oracle", s["mix"], "--source", f"voice={s['voice']}", "--source",
            f"drums={s['drums']}", "--mask", mask, "--out", s["out"], *extra]


def _total(out, names):
    return sum(load_audio(out / f"{n}.wav").samples for n in names)


@pytest.mark.parametrize("mask", ["ibm", "wiener", "psm", "cirm"])
def test_oracle_writes_sources_residual_and_masks_that_sum_to_the_mixture(stems, mask, capsys):
    assert run(*oracle_args(stems, "--n-fft", 1024, "--hop-length", 256, mask=mask)) == 0
    out = stems["out"]
    assert sorted(p.name for p in out.iterdir()) == ["drums.wav", "masks.npz", "residual.wav",
                                                      "voice.wav"]
    mix = load_audio(stems["mix"]).samples
    np.testing.assert_allclose(_total(out, ["voice", "drums", "residual"]), mix, atol=1e-5)
    with np.load(out / "masks.npz") as z:
        assert list(z["names"]) == ["voice", "drums"] and int(z["n_fft"]) == 1024
    assert "voice.wav" in capsys.readouterr().out


def test_oracle_with_some_sources_leaves_the_rest_in_the_residual(stems):
    assert run("oracle", stems["mix"], "--source", f"voice={stems['voice']}", "--mask", "ibm",
               "--out", stems["out"]) == 0
    assert not (stems["out"] / "drums.wav").exists()
    residual = load_audio(stems["out"] / "residual.wav").samples
    drums = load_audio(stems["drums"]).samples
    assert np.corrcoef(residual[0], drums[0])[0, 1] > 0.8


@pytest.mark.parametrize("phase", ["misi", "hybrid", "fgla", "oracle"])
def test_oracle_phase_modes(stems, phase):
    assert run(*oracle_args(stems, "--phase", phase, "--n-iter", 2)) == 0
    assert (stems["out"] / "voice.wav").exists()


def test_separate_applies_a_model_mask_file_with_its_own_settings(stems, tmp_path):
    assert run(*oracle_args(stems, "--n-fft", 512, "--hop-length", 128)) == 0
    first = load_audio(stems["out"] / "voice.wav").samples
    again = tmp_path / "again"
    assert run("separate", stems["mix"], "--masks", stems["out"] / "masks.npz",
               "--out", again) == 0
    np.testing.assert_array_equal(load_audio(again / "voice.wav").samples, first)
    mix = load_audio(stems["mix"]).samples
    np.testing.assert_allclose(_total(again, ["voice", "drums", "residual"]), mix, atol=1e-5)


def test_separate_with_a_separator_writes_its_layers_and_masks_that_round_trip(stems,
                                                                            tmp_path):
    """``separate --separator NAME``: the separator's own masks on the asked grid, sources +
    residual equal to the mixture, and a masks.npz that ``separate --masks`` plays back the
    same."""
    from maskstudio.dsp.separators import run_separator
    from maskstudio.dsp.stft import STFTConfig, stft_with

    assert run("separate", stems["mix"], "--separator", "hpss", "--n-fft", 1024,
               "--hop-length", 256, "--out", stems["out"]) == 0
    out = stems["out"]
    assert sorted(p.name for p in out.iterdir()) == ["harmonic.wav", "masks.npz",
                                                      "percussive.wav", "residual.wav"]
    mix = load_audio(stems["mix"]).samples
    np.testing.assert_allclose(_total(out, ["harmonic", "percussive", "residual"]), mix,
                               atol=1e-5)
    config = STFTConfig(n_fft=1024, hop_length=256)
    names, want = run_separator("hpss", stft_with(mix, config), samplerate=SR, config=config)
    with np.load(out / "masks.npz") as z:
        assert list(z["names"]) == names and int(z["n_fft"]) == 1024
        np.testing.assert_allclose(z["masks"], want, atol=1e-6)
    drums = load_audio(stems["drums"]).samples
    percussive = load_audio(out / "percussive.wav").samples
    harmonic_ = load_audio(out / "harmonic.wav").samples
    # the clicks land in the percussive layer rather than the harmonic one
    assert np.corrcoef(percussive[0], drums[0])[0, 1] > np.corrcoef(harmonic_[0], drums[0])[0, 1]
    again = tmp_path / "again"
    assert run("separate", stems["mix"], "--masks", out / "masks.npz", "--out", again) == 0
    np.testing.assert_array_equal(load_audio(again / "percussive.wav").samples, percussive)


def test_separate_accepts_a_bare_npy_with_settings(stems, tmp_path):
    T = 1 + SR * 2 // 256
    np.save(tmp_path / "voice.npy", np.full((513, T), 0.25, np.float32))
    assert run("separate", stems["mix"], "--masks", tmp_path / "voice.npy", "--n-fft", 1024,
               "--out", stems["out"]) == 0
    mix = load_audio(stems["mix"]).samples
    np.testing.assert_allclose(load_audio(stems["out"] / "voice.wav").samples, 0.25 * mix,
                               atol=1e-5)


def test_overlapping_masks_are_reported_and_normalised_on_request(stems, tmp_path, capsys):
    T = 1 + SR * 2 // 512
    m = np.full((2, 1025, T), 0.75, np.float32)  # sums to 1.5 everywhere
    np.savez(tmp_path / "over.npz", masks=m, names=np.array(["a", "b"]), n_fft=2048,
             hop_length=512, samplerate=SR)
    assert run("separate", stems["mix"], "--masks", tmp_path / "over.npz", "--out",
               stems["out"]) == 0
    err = capsys.readouterr().err
    assert "overlap" in err and "100.0%" in err and "--normalize" in err
    mix = load_audio(stems["mix"]).samples
    assert np.abs(load_audio(stems["out"] / "residual.wav").samples).max() < 1e-6  # clipped
    assert run("separate", stems["mix"], "--masks", tmp_path / "over.npz", "--normalize",
               "--out", stems["out"]) == 0
    assert "overlap" not in capsys.readouterr().err
    np.testing.assert_allclose(load_audio(stems["out"] / "a.wav").samples, 0.5 * mix, atol=1e-5)
    np.testing.assert_allclose(_total(stems["out"], ["a", "b", "residual"]), mix, atol=1e-5)


def test_references_are_conformed_with_warnings(stems, write_wav, capsys):
    short = write_wav("short.wav", harmonic(SR // 2)[None], sr=SR // 2)  # 1 s of 2
    assert run("oracle", stems["mix"], "--source", f"voice={short}", "--mask", "ibm",
               "--out", stems["out"]) == 0
    err = capsys.readouterr().err
    assert "maskstudio: warning:" in err and "resampled" in err and "padded" in err


def test_flac_output_in_the_mixtures_sample_format(stems, write_wav, tmp_path):
    mix16 = write_wav("mix16.wav", load_audio(stems["mix"]).samples, subtype="PCM_16")
    assert run("oracle", mix16, "--source", f"voice={stems['voice']}", "--mask", "ibm",
               "--format", "flac", "--out", stems["out"]) == 0
    info = sf.info(str(stems["out"] / "voice.flac"))
    assert info.format == "FLAC" and info.subtype == "PCM_16"


def test_info_describes_audio_and_masks(stems, capsys):
    assert run("info", stems["mix"]) == 0
    out = capsys.readouterr().out
    assert f"{SR} Hz" in out and "channels    1" in out and "duration" in out
    run(*oracle_args(stems))
    capsys.readouterr()
    assert run("info", stems["out"] / "masks.npz") == 0
    out = capsys.readouterr().out
    assert "voice, drums" in out and "n_fft=1024" in out and "soft" in out  # 64 ms at 16 kHz


def test_demo_runs_headless(tmp_path, capsys):
    assert run("demo", "--out", tmp_path) == 0
    out = capsys.readouterr().out
    assert "voice: SI-SDR" in out
    assert (tmp_path / "voice.wav").exists() and (tmp_path / "residual.wav").exists()


def _bad_inputs(s, tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"definitely not audio" * 50)
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1)), SR)
    data = s["mix"].read_bytes()
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(data[: len(data) // 3])
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.zeros((SR * 2, 2)), SR)
    T = 1 + SR * 2 // 512
    np.savez(tmp_path / "nan.npz", masks=np.full((1, 1025, T), np.nan, np.float32), n_fft=2048,
             hop_length=512, samplerate=SR)
    np.savez(tmp_path / "shape.npz", masks=np.zeros((1, 1025, T + 9), np.float32), n_fft=2048,
             hop_length=512, samplerate=SR)
    np.savez(tmp_path / "rate.npz", masks=np.zeros((1, 1025, T), np.float32), n_fft=2048,
             hop_length=512, samplerate=44100)
    np.save(tmp_path / "transposed.npy", np.zeros((T, 1025), np.float32))
    outfile = tmp_path / "a_file"
    outfile.write_text("x")
    v, mix, out = f"voice={s['voice']}", s["mix"], s["out"]
    masks = ("--masks", tmp_path / "ok.npz")
    return {
        "missing mixture": ("oracle", tmp_path / "nope.wav", "--source", v, "--mask", "ibm",
                            "--out", out),
        "garbage mixture": ("oracle", garbage, "--source", v, "--mask", "ibm", "--out", out),
        "empty mixture": ("oracle", empty, "--source", v, "--mask", "ibm", "--out", out),
        "truncated mixture": ("oracle", truncated, "--source", v, "--mask", "ibm", "--out", out),
        "missing stem": ("oracle", mix, "--source", v, "--source", f"x={tmp_path / 'no.wav'}",
                         "--mask", "ibm", "--out", out),
        "stem channels": ("oracle", mix, "--source", f"x={stereo}", "--mask", "ibm", "--out",
                          out),
        "no source": ("oracle", mix, "--mask", "ibm", "--out", out),
        "source spec": ("oracle", mix, "--source", "voice", "--mask", "ibm", "--out", out),
        "source name": ("oracle", mix, "--source", f"../evil={s['voice']}", "--mask", "ibm",
                        "--out", out),
        "reserved name": ("oracle", mix, "--source", f"residual={s['voice']}", "--mask", "ibm",
                          "--out", out),
        "duplicate": ("oracle", mix, "--source", v, "--source", v, "--mask", "ibm", "--out", out),
        "mask kind": ("oracle", mix, "--source", v, "--mask", "magic", "--out", out),
        "phase": ("oracle", mix, "--source", v, "--mask", "ibm", "--phase", "nope", "--out", out),
        "n_fft text": ("oracle", mix, "--source", v, "--mask", "ibm", "--n-fft", "big", "--out",
                       out),
        "n_fft zero": ("oracle", mix, "--source", v, "--mask", "ibm", "--n-fft", "0", "--out",
                       out),
        "hop": ("oracle", mix, "--source", v, "--mask", "ibm", "--hop-length", "-5", "--out", out),
        "window": ("oracle", mix, "--source", v, "--mask", "ibm", "--window", "squiggle",
                   "--out", out),
        "out is a file": ("oracle", mix, "--source", v, "--mask", "ibm", "--out", outfile),
        "missing --out": ("oracle", mix, "--source", v, "--mask", "ibm"),
        "missing masks": ("separate", mix, "--masks", tmp_path / "none.npz", "--out", out),
        "nan masks": ("separate", mix, "--masks", tmp_path / "nan.npz", "--out", out),
        "shape masks": ("separate", mix, "--masks", tmp_path / "shape.npz", "--out", out),
        "rate masks": ("separate", mix, "--masks", tmp_path / "rate.npz", "--out", out),
        "transposed": ("separate", mix, "--masks", tmp_path / "transposed.npy", "--n-fft", 2048,
                       "--out", out),
        "npy without settings": ("separate", mix, "--masks", tmp_path / "transposed.npy",
                                 "--out", out),
        "mask is audio": ("separate", mix, "--masks", s["voice"], "--out", out),
        "complex phase, real masks": ("separate", mix, *masks, "--phase", "complex", "--out",
                                      out),
        "oracle phase without stems": ("separate", mix, *masks, "--phase", "oracle", "--out",
                                       out),
        "neither masks nor separator": ("separate", mix, "--out", out),
        "masks and separator": ("separate", mix, *masks, "--separator", "hpss", "--out", out),
        "unknown separator": ("separate", mix, "--separator", "magic", "--out", out),
        "separator, complex phase": ("separate", mix, "--separator", "hpss", "--phase",
                                     "complex", "--out", out),
        "separator, bad grid": ("separate", mix, "--separator", "hpss", "--n-fft", "0", "--out",
                                out),
        "separator, missing mixture": ("separate", tmp_path / "nope.wav", "--separator", "hpss",
                                       "--out", out),
        "info missing": ("info", tmp_path / "nothing.flac"),
        "info garbage": ("info", garbage),
        "unknown command": ("frobnicate",),
    }


def test_every_bad_input_exits_2_with_one_clear_line_and_writes_nothing(stems, tmp_path,
                                                                       capsys):
    ok = tmp_path / "ok"
    assert run(*oracle_args(stems, "--out", ok)[:-2], "--out", ok) == 0
    (ok / "masks.npz").rename(tmp_path / "ok.npz")
    capsys.readouterr()
    for label, args in _bad_inputs(stems, tmp_path).items():
        code = run(*args)
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2, (label, err)
        assert len(lines) == 1 and lines[0].startswith("maskstudio: error: "), (label, err)
        assert "Traceback" not in err
        assert not stems["out"].exists() or not any(stems["out"].iterdir()), label


def test_never_overwrites_an_input(stems):
    before = stems["voice"].read_bytes()
    code = run("oracle", stems["mix"], "--source", f"voice={stems['voice']}", "--mask", "ibm",
               "--out", stems["voice"].parent)
    assert code == 2
    assert stems["voice"].read_bytes() == before


def test_the_installed_command_prints_one_line_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "info", tmp_path / "x.wav"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    version = subprocess.run([sys.executable, "-m", "maskstudio", "--version"],
                             capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("maskstudio ")


def test_the_editor_without_a_display_explains_instead_of_crashing(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([]) == 2
    assert "no display" in capsys.readouterr().err


@pytest.mark.parametrize("sr, n_fft", [(16000, 1024), (44100, 2048)])
def test_oracle_without_n_fft_uses_about_46_ms_at_the_mixture_s_rate(tmp_path, write_wav, sr,
                                                                        n_fft):
    n = sr // 2
    voice, drums = harmonic(n, sr=sr)[None], clicks(n, sr=sr)[None]
    s = dict(mix=write_wav("mix.wav", voice + drums, sr=sr),
             voice=write_wav("voice.wav", voice, sr=sr), drums=write_wav("d.wav", drums, sr=sr),
             out=tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "maskstudio", *map(str, oracle_args(s))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with np.load(s["out"] / "masks.npz") as z:
        assert (int(z["n_fft"]), int(z["hop_length"])) == (n_fft, n_fft // 4)
    # explicit settings are kept, and a hop alone keeps the rate's n_fft
    assert run(*oracle_args(s, "--n-fft", 512, "--hop-length", 100)) == 0
    with np.load(s["out"] / "masks.npz") as z:
        assert (int(z["n_fft"]), int(z["hop_length"])) == (512, 100)
    assert run(*oracle_args(s, "--hop-length", 100)) == 0
    with np.load(s["out"] / "masks.npz") as z:
        assert (int(z["n_fft"]), int(z["hop_length"])) == (n_fft, 100)


def test_help_says_the_default_n_fft_follows_the_rate():
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "oracle", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "46 ms" in proc.stdout and "default 2048" not in proc.stdout


def test_batch_without_n_fft_uses_the_grid_of_the_first_item_s_rate(tmp_path, write_wav):
    for name in ("a", "b"):
        n = SR // 2
        write_wav(f"ds/{name}/mixture.wav", harmonic(n)[None] + clicks(n)[None])
        write_wav(f"ds/{name}/sources/voice.wav", harmonic(n)[None])
    assert run("batch", tmp_path / "ds", "--mask", "ibm", "--jobs", 1, "--out",
               tmp_path / "out") == 0
    for name in ("a", "b"):
        with np.load(tmp_path / "out" / name / "masks.npz") as z:
            assert int(z["n_fft"]) == 1024  # 16 kHz: 64 ms, not 128 ms
