"""``maskstudio labels export|import`` through real files, and every bad input as one line."""

import csv

import numpy as np
import pytest

from maskstudio.cli import main
from maskstudio.dsp.grid import STFTConfig
from maskstudio.io.savez import write_mask_file

from .conftest import SR, harmonic, noise

CFG = STFTConfig.for_samplerate(SR)
N = 2 * SR
T = CFG.n_frames(N)

RAVEN = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
         "High Freq (Hz)\tAnnotation\n"
         "1\tSpectrogram 1\t1\t0.200000\t0.700000\t300.000000\t1200.000000\tvoice\n"
         "2\tSpectrogram 1\t1\t1.000000\t1.600000\t2000.000000\t5000.000000\tbird\n"
         "3\tSpectrogram 1\t1\t0.900000\t1.100000\t200.000000\t400.000000\tvoice\n")


def run(*args):
    return main([str(a) for a in args])


@pytest.fixture
def files(tmp_path, write_wav):
    mix = write_wav("mix.wav", harmonic(N) + noise(N))
    table = tmp_path / "table.txt"
    table.write_text(RAVEN)
    return dict(mix=mix, table=table, tmp=tmp_path)


def test_import_writes_masks_that_separate_reads_and_export_gives_the_boxes_back(files, capsys):
    masks = files["tmp"] / "boxes.npz"
    assert run("labels", "import", files["table"], "--format", "raven", "--mixture",
               files["mix"], "--out", masks) == 0
    assert "voice (2 box(es)), bird (1 box(es))" in capsys.readouterr().out
    with np.load(masks) as z:
        assert list(z["names"]) == ["voice", "bird"] and z["masks"].shape == (2, CFG.n_bins, T)
    out = files["tmp"] / "sep"
    assert run("separate", files["mix"], "--masks", masks, "--out", out) == 0
    assert {p.name for p in out.iterdir()} >= {"voice.wav", "bird.wav", "residual.wav"}
    # and out again, read by the csv module: the same boxes, to the grid's resolution
    again = files["tmp"] / "again.txt"
    assert run("labels", "export", masks, "--format", "raven", "--out", again,
               "--merge-ms", 0, "--merge-hz", 0) == 0
    with open(again, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    with open(files["table"], newline="") as fh:
        want = list(csv.DictReader(fh, delimiter="\t"))
    want.sort(key=lambda r: float(r["Begin Time (s)"]))
    assert [r["Annotation"] for r in rows] == [r["Annotation"] for r in want]
    for got, exp in zip(rows, want):
        for col, res in (("Begin Time (s)", 256 / SR), ("End Time (s)", 256 / SR),
                         ("Low Freq (Hz)", SR / 1024), ("High Freq (Hz)", SR / 1024)):
            assert abs(float(got[col]) - float(exp[col])) <= res / 2 + 1e-6, col


@pytest.mark.parametrize("fmt, start", [("audacity", "0.2"), ("svl", "<?xml")])
def test_export_in_every_format(files, fmt, start):
    masks = files["tmp"] / "m.npz"
    data = np.zeros((1, CFG.n_bins, T), np.float32)
    data[0, 40:80, 14:40] = 0.8
    write_mask_file(masks, ["voice"], data.shape, lambda i, f0, f1: data[i, f0:f1], CFG, SR)
    out = files["tmp"] / f"out.{fmt}"
    assert run("labels", "export", masks, "--format", fmt, "--out", out) == 0
    assert out.read_text().startswith(start)


def _bad_inputs(f):
    tmp = f["tmp"]
    (tmp / "nocol.txt").write_text("Begin Time (s)\tEnd Time (s)\tLow Freq (Hz)\nx\n")
    (tmp / "nan.txt").write_text(RAVEN.replace("0.700000", "soon"))
    (tmp / "outside.txt").write_text(RAVEN.replace("1.000000\t1.600000", "7.0\t8.0"))
    (tmp / "channel.txt").write_text(RAVEN.replace("\t1\t1.000000", "\t3\t1.000000"))
    (tmp / "name.txt").write_text(RAVEN.replace("bird", "../bird"))
    (tmp / "case.txt").write_text(RAVEN.replace("bird", "Voice"))
    (tmp / "garbage.npz").write_bytes(b"not a zip" * 10)
    (tmp / "table.npz").write_text(RAVEN)  # a table, oddly named: still never overwritten
    np.save(tmp / "bare.npy", np.zeros((CFG.n_bins, T), np.float32))
    masks = tmp / "ok.npz"
    data = np.zeros((1, CFG.n_bins, T), np.float32)
    write_mask_file(masks, ["voice"], data.shape, lambda i, f0, f1: data[i, f0:f1], CFG, SR)
    imp = ("labels", "import")
    mix, out = ("--mixture", f["mix"]), ("--out", tmp / "o.npz")
    return {
        "missing column": (*imp, tmp / "nocol.txt", "--format", "raven", *mix, *out),
        "time not a number": (*imp, tmp / "nan.txt", "--format", "raven", *mix, *out),
        "box outside the file": (*imp, tmp / "outside.txt", "--format", "raven", *mix, *out),
        "channel beyond": (*imp, tmp / "channel.txt", "--format", "raven", *mix, *out),
        "label not a name": (*imp, tmp / "name.txt", "--format", "raven", *mix, *out),
        "labels by case": (*imp, tmp / "case.txt", "--format", "raven", *mix, *out),
        "unknown format": (*imp, f["table"], "--format", "praat", *mix, *out),
        "svl is write-only": (*imp, f["table"], "--format", "svl", *mix, *out),
        "missing table": (*imp, tmp / "none.txt", "--format", "raven", *mix, *out),
        "missing mixture": (*imp, f["table"], "--format", "raven", "--mixture",
                            tmp / "none.wav", *out),
        "out not npz": (*imp, f["table"], "--format", "raven", *mix, "--out", tmp / "o.txt"),
        "out over the table": (*imp, tmp / "table.npz", "--format", "raven", *mix, "--out",
                               tmp / "table.npz"),
        "export unknown format": ("labels", "export", masks, "--format", "praat", "--out",
                                  tmp / "x.txt"),
        "export missing masks": ("labels", "export", tmp / "none.npz", "--format", "raven",
                                 "--out", tmp / "x.txt"),
        "export garbage masks": ("labels", "export", tmp / "garbage.npz", "--format",
                                 "raven", "--out", tmp / "x.txt"),
        "export bare npy": ("labels", "export", tmp / "bare.npy", "--format", "raven",
                            "--out", tmp / "x.txt"),
        "export over its input": ("labels", "export", masks, "--format", "raven", "--out",
                                  masks),
        "threshold zero": ("labels", "export", masks, "--format", "raven", "--out",
                           tmp / "x.txt", "--threshold", 0),
        "negative merge": ("labels", "export", masks, "--format", "raven", "--out",
                           tmp / "x.txt", "--merge-ms", -1),
        "no verb": ("labels",),
    }


def test_every_bad_input_is_one_line_and_writes_nothing(files, capsys):
    before = {p.name: p.read_bytes() for p in files["tmp"].iterdir() if p.is_file()}
    for label, args in _bad_inputs(files).items():
        made = {p.name for p in files["tmp"].iterdir()}
        code = run(*args)
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2, (label, err)
        assert len(lines) == 1 and lines[0].startswith("maskstudio: error: "), (label, err)
        assert {p.name for p in files["tmp"].iterdir()} == made, label  # nothing written
    for name, data in before.items():
        assert (files["tmp"] / name).read_bytes() == data  # no input changed


def test_overlapping_labels_are_warned_about(files, capsys):
    (files["tmp"] / "overlap.txt").write_text(RAVEN.replace("0.900000\t1.100000\t200.000000"
                                                            "\t400.000000",
                                                            "1.000000\t1.300000\t2500.0\t3000.0"))
    assert run("labels", "import", files["tmp"] / "overlap.txt", "--format", "raven",
               "--mixture", files["mix"], "--out", files["tmp"] / "o.npz") == 0
    assert "overlap in" in capsys.readouterr().err


def test_exporting_a_project_never_writes_over_its_mixture(tmp_path, monkeypatch, capsys):
    """A project's mixture is an input too, reached through the project: ``--out`` naming it
    is refused in one line and the mixture is unchanged."""
    import soundfile as sf

    from maskstudio.annotation.project import save_project
    from maskstudio.editing.document import Document
    from maskstudio.io.audiofile import load_audio

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    mix = tmp_path / "mix.wav"
    sf.write(str(mix), np.random.default_rng(0).standard_normal(16000) * 0.1, 16000,
             subtype="FLOAT")
    before = mix.read_bytes()
    doc = Document(load_audio(mix))
    data = np.zeros((doc.n_bins, doc.n_frames), np.float32)
    data[100:140, 5:20] = 1.0
    doc.add_layer("voice", data)
    project = save_project(doc, tmp_path / "take.msproj")
    doc.close()
    code = main(["labels", "export", str(project), "--format", "raven", "--out", str(mix)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("maskstudio: error: ") and len(err.splitlines()) == 1
    assert mix.read_bytes() == before
