"""``oracle`` and ``separate`` block by block, through real files: the same files as the
whole-array path (render, oracle_masks, save_masks), every phase, and nothing left on Cancel."""

import os

import numpy as np
import pytest

from maskstudio.cli import main
from maskstudio.dsp.blockwise import ArrayReader, FrameReader, OracleBlocks
from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.metrics import si_sdr
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig
from maskstudio.io.audiofile import conform_reference, load_audio
from maskstudio.io.blockexport import MaskStage, export_blocks
from maskstudio.io.ondemand import open_masks

from .conftest import SR, clicks, harmonic

CFG = STFTConfig(1024, 256)


@pytest.fixture
def files(tmp_path, write_wav):
    n = SR * 3 + 123  # not a whole number of hops; 3 blocks of 512 frames and a bit
    rng = np.random.default_rng(3)
    voice = np.stack([harmonic(n), 0.6 * harmonic(n)])
    drums = np.stack([clicks(n), 0.8 * clicks(n)]) + 0.01 * rng.standard_normal((2, n))
    rest = 0.05 * rng.standard_normal((2, n))  # in the mixture, in no stem
    return dict(mix=write_wav("mix.wav", voice + drums + rest),
                voice=write_wav("stems/voice.wav", voice),
                drums=write_wav("stems/drums.wav", drums), out=tmp_path / "out")


def _oracle(f, *extra, mask="wiener", out=None):
    args = ["oracle", f["mix"], "--source", f"voice={f['voice']}", "--source",
            f"drums={f['drums']}", "--mask", mask, "--n-fft", 1024, "--hop-length", 256,
            "--out", out or f["out"], *extra]
    assert main([str(a) for a in args]) == 0


def _whole(f, mask, phase, per_channel=True, n_iter=None, **options):
    """What the whole-array API gives for the same files (stereo: per channel, the oracle's
    default; ``per_channel=False`` for ``--shared``)."""
    mix = load_audio(f["mix"])
    refs = [conform_reference(load_audio(f[k]), mix) for k in ("voice", "drums")]
    masks = oracle_masks(mix.samples, refs, CFG, mask, per_channel=per_channel, **options)
    return masks, resynthesize(mix.samples, masks, CFG, phase=phase, samplerate=SR,
                               references=refs, n_iter=n_iter)


def _outputs(out, names=("voice", "drums", "residual")):
    return np.stack([load_audio(out / f"{n}.wav").samples for n in names])


@pytest.mark.parametrize("mask,extra,phase", [
    ("wiener", [], "mixture"), ("ibm", ["--shared"], "mixture"),
    ("ibm", ["--per-channel"], "mixture"),  # the default, accepted for older scripts
    ("psm", ["--no-truncate", "--phase", "oracle"], "oracle"),
    ("irm", ["--phase", "oracle", "--shared"], "oracle"),
    ("cirm", [], "complex"), ("cirm", ["--shared"], "complex")])
def test_oracle_files_equal_the_whole_array_path(files, mask, extra, phase):
    _oracle(files, *extra, mask=mask)
    masks, signals = _whole(files, mask, phase, per_channel="--shared" not in extra,
                            truncate="--no-truncate" not in extra)
    got = _outputs(files["out"])
    np.testing.assert_allclose(got, signals, atol=2e-6, rtol=0)
    mix = load_audio(files["mix"]).samples
    if phase != "oracle":
        np.testing.assert_allclose(got.sum(axis=0), mix, atol=1e-5)
    with np.load(files["out"] / "masks.npz") as z:
        np.testing.assert_array_equal(z["masks"], masks)  # the mask file is identical
        assert list(z["names"]) == ["voice", "drums"] and int(z["hop_length"]) == 256


def test_the_oracle_is_per_channel_on_stereo_unless_shared(files, tmp_path, capsys):
    _oracle(files, mask="ibm")
    with np.load(files["out"] / "masks.npz") as z:
        assert z["masks"].shape[:2] == (2, 2)  # [source, channel, F, T]
        per_channel = z["masks"]
    _oracle(files, "--shared", mask="ibm", out=tmp_path / "shared")
    with np.load(tmp_path / "shared" / "masks.npz") as z:
        assert z["masks"].ndim == 3 and not np.array_equal(z["masks"], per_channel[:, 0])
    capsys.readouterr()
    assert main(["oracle", str(files["mix"]), "--source", f"voice={files['voice']}", "--mask",
                 "ibm", "--shared", "--per-channel", "--out", str(tmp_path / "both")]) == 2
    assert "not allowed with" in capsys.readouterr().err  # one line, no traceback


@pytest.mark.parametrize("phase", ["misi", "hybrid", "fgla"])
def test_iterative_phases_are_close_to_whole_file_and_misi_keeps_the_sum(files, phase):
    _oracle(files, "--phase", phase, "--n-iter", "3", mask="irm")
    _, whole = _whole(files, "irm", phase, n_iter=3)
    got = _outputs(files["out"])
    assert got.shape == whole.shape
    refs = [load_audio(files[k]).samples for k in ("voice", "drums")]
    for i, ref in enumerate(refs):  # as good as whole-file against the references
        assert si_sdr(ref, got[i]) > si_sdr(ref, whole[i]) - 0.2
    if phase != "fgla":  # MISI: whole-file's (one chunk here), and the sum is the mixture
        np.testing.assert_allclose(got, whole, atol=2e-6, rtol=0)
        np.testing.assert_allclose(got.sum(axis=0), load_audio(files["mix"]).samples, atol=1e-5)


def test_separate_reads_its_mask_file_on_demand_and_gives_the_oracle_s_files(files, tmp_path):
    _oracle(files, "--phase", "misi", "--n-iter", "2")
    again = tmp_path / "again"
    assert main(["separate", str(files["mix"]), "--masks", str(files["out"] / "masks.npz"),
                 "--phase", "misi", "--n-iter", "2", "--out", str(again)]) == 0
    np.testing.assert_array_equal(_outputs(again), _outputs(files["out"]))
    with np.load(files["out"] / "masks.npz") as a, np.load(again / "masks.npz") as b:
        np.testing.assert_array_equal(a["masks"], b["masks"])
    mix = load_audio(files["mix"])
    assert open_masks(again / "masks.npz", n_channels=2, n_samples=mix.n_samples,
                      samplerate=SR).mapped  # read on demand, not loaded


@pytest.mark.parametrize("option", [["--hop-length", "7"], ["--win-length", "100"],
                                    ["--window", "hamming"]])
def test_separate_refuses_grid_options_it_would_ignore(files, tmp_path, capsys, option):
    """Without --n-fft the grid is the mask file's: a hop asked for was silently ignored."""
    _oracle(files)
    out = tmp_path / "sep"
    assert main(["separate", str(files["mix"]), "--masks", str(files["out"] / "masks.npz"),
                 *option, "--out", str(out)]) == 2
    assert "--n-fft" in capsys.readouterr().err and not out.exists()


def test_separate_normalises_block_by_block_as_the_whole_mask_set(files, tmp_path):
    T = CFG.n_frames(load_audio(files["mix"]).n_samples)
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 0.9, (2, CFG.n_bins, T)).astype(np.float32)
    np.savez(tmp_path / "over.npz", masks=m, names=np.array(["a", "b"]), n_fft=1024,
             hop_length=256, samplerate=SR)
    assert main(["separate", str(files["mix"]), "--masks", str(tmp_path / "over.npz"),
                 "--normalize", "--out", str(files["out"])]) == 0
    fixed = MaskSet(["a", "b"], m).normalized()
    mix = load_audio(files["mix"]).samples
    np.testing.assert_allclose(_outputs(files["out"], ["a", "b", "residual"]),
                               resynthesize(mix, fixed.data, CFG), atol=2e-6, rtol=0)
    with np.load(files["out"] / "masks.npz") as z:
        np.testing.assert_array_equal(z["masks"], fixed.data)


def test_stems_shorter_longer_and_mono_are_conformed_as_before(files, write_wav, capsys):
    n = load_audio(files["mix"]).n_samples
    short = write_wav("short.wav", harmonic(n - 3000))  # mono and short
    long = write_wav("long.wav", np.stack([clicks(n + 5000), clicks(n + 5000)]))
    assert main(["oracle", str(files["mix"]), "--source", f"v={short}", "--source",
                 f"d={long}", "--mask", "irm", "--n-fft", "1024", "--hop-length", "256",
                 "--out", str(files["out"])]) == 0
    said = capsys.readouterr().err
    assert "padded with silence" in said and "trimmed" in said
    mix = load_audio(files["mix"])
    refs = [conform_reference(load_audio(p), mix) for p in (short, long)]
    whole = resynthesize(mix.samples, oracle_masks(mix.samples, refs, CFG, "irm",
                                                   per_channel=True), CFG)
    np.testing.assert_allclose(_outputs(files["out"], ["v", "d", "residual"]), whole,
                               atol=2e-6, rtol=0)


def test_cancel_mid_way_leaves_the_folder_as_it_was(files):
    out = files["out"]
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    n = SR * 20  # three blocks of 512 frames: Ctrl+C after the first is written
    refs = [harmonic(n)[None], clicks(n)[None]]
    mix = refs[0] + refs[1]
    frames = FrameReader(ArrayReader(mix), CFG)
    blocks = OracleBlocks(frames, [FrameReader(ArrayReader(r), CFG) for r in refs], "wiener")
    calls = []

    def cancel(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl+C in the middle of the render
    with pytest.raises(KeyboardInterrupt):
        export_blocks(out, ["voice", "drums"], frames, blocks, CFG,
                      like=load_audio(files["voice"]), mask_shape=(2, CFG.n_bins, frames.n_frames),
                      progress=cancel)
    assert sorted(os.listdir(out)) == ["keep.txt"]
    assert calls[-1] < frames.n_frames


def test_the_mask_stage_reads_back_bands_across_blocks(tmp_path):
    rng = np.random.default_rng(2)
    masks = rng.standard_normal((2, 3, 17, 50)).astype(np.float32)
    stage = MaskStage(tmp_path / "raw", masks.shape, np.float32)
    for t0, t1 in [(0, 7), (7, 32), (32, 50)]:
        stage.write(t0, masks[..., t0:t1])
    for i, f0, f1 in [(0, 0, 17), (1, 5, 9), (1, 16, 17)]:
        np.testing.assert_array_equal(stage.rows(i, f0, f1), masks[i, :, f0:f1])
    with pytest.raises(RuntimeError):
        stage.write(3, masks[..., 3:5])
    stage.close()
    assert not (tmp_path / "raw").exists()


def _peak_mb(args):
    """Peak RSS (MB) of ``python -m maskstudio ARGS`` (or of ``python -c`` code), a child
    process of its own."""
    import subprocess
    import sys

    cmd = [sys.executable, *(["-c", args] if isinstance(args, str) else
                             ["-m", "maskstudio", *map(str, args)])]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, err.decode()
    return usage.ru_maxrss / 1024


def test_the_command_line_never_holds_a_whole_signal(tmp_path):
    # 4 minutes of 44.1 kHz stereo: 85 MB per signal in float32.  The whole-array path held
    # the mixture, both stems, the masks and three outputs (about 700 MB over the
    # interpreter); block by block, the memory is a few blocks, whatever the length.
    import soundfile as sf

    sr, n, block = 44100, 44100 * 240, 44100 * 10
    paths = {k: tmp_path / f"{k}.wav" for k in ("mix", "a", "b")}
    files = {k: sf.SoundFile(str(p), "w", sr, 2, subtype="FLOAT") for k, p in paths.items()}
    rng = np.random.default_rng(0)
    for start in range(0, n, block):
        t = (start + np.arange(block)) / sr
        a = np.stack([0.1 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
        b = (0.05 * rng.standard_normal((2, block))).astype(np.float32)
        files["a"].write(a.T)
        files["b"].write(b.T)
        files["mix"].write((a + b).T)
    for f in files.values():
        f.close()
    base = _peak_mb("import maskstudio.cli, maskstudio.io.blockexport, maskstudio.dsp.oracle")
    peak = _peak_mb(["oracle", paths["mix"], "--source", f"a={paths['a']}", "--source",
                     f"b={paths['b']}", "--mask", "wiener", "--out", tmp_path / "out"])
    assert peak - base < 300, (peak, base)


def test_sigterm_mid_export_unwinds_as_ctrl_c_and_leaves_no_staging(files):
    """A scheduler's or timeout(1)'s stop: the staged masks and partial files are removed."""
    import signal
    import subprocess
    import sys
    import time

    out = files["out"]
    proc = subprocess.Popen([sys.executable, "-m", "maskstudio", "oracle", str(files["mix"]),
                             "--source", f"voice={files['voice']}", "--source",
                             f"drums={files['drums']}", "--mask", "irm", "--phase", "misi",
                             "--n-iter", "400", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not (
            out.exists() and any(p.name.startswith(".maskstudio") for p in out.iterdir())):
        time.sleep(0.02)
    assert proc.poll() is None, "the export ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not out.exists() or not list(out.iterdir())


def test_batch_oracle_is_per_channel_on_stereo_items_unless_shared(files, tmp_path, capsys):
    item = tmp_path / "ds" / "song"
    (item / "sources").mkdir(parents=True)
    for name, key in (("mixture", "mix"), ("sources/voice", "voice"),
                      ("sources/drums", "drums")):
        (item / f"{name}.wav").write_bytes(files[key].read_bytes())
    for extra, out in (([], "per"), (["--shared"], "shared")):
        assert main(["batch", str(tmp_path / "ds"), "--mask", "ibm", "--n-fft", "1024",
                     "--hop-length", "256", "--jobs", "1", *extra,
                     "--out", str(tmp_path / out)]) == 0
    masks, _ = _whole(files, "ibm", "mixture")
    shared, _ = _whole(files, "ibm", "mixture", per_channel=False)
    with np.load(tmp_path / "per" / "song" / "masks.npz") as z:
        assert list(z["names"]) == ["drums", "voice"]  # a batch sorts the stems
        np.testing.assert_array_equal(z["masks"], masks[::-1])  # [source, channel, F, T]
    with np.load(tmp_path / "shared" / "song" / "masks.npz") as z:
        np.testing.assert_array_equal(z["masks"], shared[::-1])
    capsys.readouterr()
    assert main(["batch", str(tmp_path / "ds"), "--separator", "hpss", "--shared",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--shared is an option of the oracle" in capsys.readouterr().err
