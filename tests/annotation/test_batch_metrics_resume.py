"""Batch through the real command line: metrics.json says what its figures are (BSS Eval v4
as museval publishes it, whole-signal beside, SI-SDR per channel), museval.json is museval's
own form, and a resumed batch redoes an item whose options changed, saying so once."""

import json

import numpy as np
import pytest
import soundfile as sf

from maskstudio.cli import main
from maskstudio.dsp.bsseval import bss_eval_v4
from maskstudio.io.audiofile import load_audio

from ..conftest import SR, clicks, harmonic


def _dataset(root, n_items=2, seconds=2.5, panned=False):
    n = int(SR * seconds)
    for i in range(n_items):
        item = root / f"song{i}"
        (item / "sources").mkdir(parents=True)
        voice = harmonic(n, f0=200 + 30 * i, seed=i).astype(np.float32)
        drums = clicks(n, seed=i).astype(np.float32)
        rng = np.random.default_rng(i)
        drums = np.stack([drums, np.roll(drums, 7) + 0.01 * rng.standard_normal(n)], axis=-1)
        if panned:  # the voice amplitude-panned: its channels are proportional
            voice = voice[:, None] * np.array([0.8, 0.3], np.float32)
        else:
            voice = np.stack([voice, 0.5 * voice + 0.05 * rng.standard_normal(n)], axis=-1)
        sf.write(str(item / "sources" / "voice.wav"), voice, SR, subtype="FLOAT")
        sf.write(str(item / "sources" / "drums.wav"), drums, SR, subtype="FLOAT")
        sf.write(str(item / "mixture.wav"), voice + drums, SR, subtype="FLOAT")
    return root


def _batch(root, out, *more):
    return main(["batch", str(root), "--mask", "irm", "--n-fft", "512", "--jobs", "1",
                 "--out", str(out), *more])


def test_metrics_json_says_what_its_figures_are(tmp_path, capsys):
    root = _dataset(tmp_path / "ds", n_items=1)
    out = tmp_path / "out"
    assert _batch(root, out) == 0
    m = json.loads((out / "song0" / "metrics.json").read_text())
    # the default: museval's BSS Eval v4, recomputed here from the files batch wrote
    refs = np.stack([load_audio(root / "song0" / "sources" / f"{n}.wav").samples
                     for n in ("drums", "voice")])
    ests = np.stack([load_audio(out / "song0" / f"{n}.wav").samples for n in ("drums", "voice")])
    want = bss_eval_v4(refs, ests, samplerate=SR)
    med = want.median()
    for j, n in enumerate(("drums", "voice")):
        for k in ("sdr", "isr", "sir", "sar"):
            assert m[n][k] == pytest.approx(med[k][j], abs=0.01)
            assert m[n]["whole_signal"][k] == pytest.approx(want.whole[k][j], abs=0.01)
        assert "median of 1 s windows" in m[n]["definitions"]["sdr/isr/sir/sar"]
        assert "whole signal" in m[n]["definitions"]["whole_signal"]
        chans = m[n]["si_sdr_channels"]
        assert len(chans) == 2 and m[n]["si_sdr"] == pytest.approx(np.mean(chans))
        assert "mean over channels" in m[n]["definitions"]["si_sdr"]
        assert "si_sdr" in m[n]["whole_signal"] and "collinear" not in m[n]
    # and museval's own form beside it, its frames those of the median
    form = json.loads((out / "song0" / "museval.json").read_text())
    voice = next(t for t in form["targets"] if t["name"] == "voice")
    assert [f["time"] for f in voice["frames"]] == [0.0, 1.0]  # 2.5 s: two whole windows
    sdr = [f["metrics"]["SDR"] for f in voice["frames"]]
    assert np.nanmedian(sdr) == pytest.approx(m["voice"]["sdr"], abs=1e-4)
    assert "collinear" not in capsys.readouterr().err


def test_panned_stems_are_said_once_for_the_batch(tmp_path, capsys):
    root = _dataset(tmp_path / "ds", n_items=2, panned=True)
    assert _batch(root, tmp_path / "out") == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "collinear" in ln]
    assert len(lines) == 1 and "2 item(s)" in lines[0] and "warning" in lines[0]
    m = json.loads((tmp_path / "out" / "song1" / "metrics.json").read_text())
    assert m["voice"]["collinear"] is True and "collinear" not in m["drums"]


def test_a_changed_option_redoes_the_item_and_says_so(tmp_path, capsys):
    root = _dataset(tmp_path / "ds", n_items=2, seconds=1.2)
    out = tmp_path / "out"
    assert _batch(root, out) == 0
    done = json.loads((out / "song0" / ".done").read_text())
    assert done["options"]["mode"] == ["mask", "irm"] and done["options"]["stft"]["n_fft"] == 512
    capsys.readouterr()
    stamp = (out / "song0" / "voice.wav").stat().st_mtime_ns
    assert _batch(root, out) == 0  # the same options: nothing redone
    captured = capsys.readouterr()
    assert "0 processed, 2 already done" in captured.out and "again" not in captured.err
    assert (out / "song0" / "voice.wav").stat().st_mtime_ns == stamp
    for more in (["--phase", "fgla"], ["--hop-length", "256"]):
        assert _batch(root, out, *more) == 0
        captured = capsys.readouterr()
        assert "2 processed, 0 already done" in captured.out
        said = [ln for ln in captured.err.splitlines() if "other options" in ln]
        assert len(said) == 1 and said[0].startswith("maskstudio: warning: 2 finished item(s)")
    assert json.loads((out / "song0" / ".done").read_text())["options"]["stft"][
        "hop_length"] == 256
    # a marker from before options were kept: redone, not trusted
    (out / "song1" / ".done").write_text(json.dumps({"ok": True}))
    assert main(["batch", str(root), "--mask", "irm", "--n-fft", "512", "--hop-length", "256",
                 "--jobs", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 processed, 1 already done" in captured.out
    assert "1 finished item(s) were made with other options" in captured.err


def test_the_same_work_spelt_differently_is_not_redone(tmp_path, capsys):
    """Options that change nothing: the default iterations given, iterations for a phase
    that does not iterate, subsets given in another order or spacing."""
    root = _dataset(tmp_path / "ds", n_items=1, seconds=1.0)
    out = tmp_path / "out"
    ways = [(["--phase", "misi", "--mix", "a=voice+drums", "--mix", "b=mixture-voice"],
             ["--phase", "misi", "--n-iter", "5", "--mix", "b = mixture-voice",
              "--mix", "a=voice+drums"]),
            (["--phase", "mixture"], ["--phase", "mixture", "--n-iter", "7"])]
    for first, again in ways:
        assert _batch(root, out, *first) == 0
        capsys.readouterr()
        assert _batch(root, out, *again) == 0
        assert "0 processed, 1 already done" in capsys.readouterr().out, (first, again)
