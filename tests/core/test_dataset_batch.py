"""Datasets: walking items and keeping status; batch processing that survives a bad item."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from maskstudio.cli import main
from maskstudio.core.audio_io import load_audio
from maskstudio.core.batch import export_dataset, run_batch
from maskstudio.core.dataset import Dataset
from maskstudio.core.document import Document
from maskstudio.core.project import save_project
from maskstudio.core.stft import STFTConfig
from maskstudio.errors import MaskStudioError

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


def make_dataset(root, n_items=3, broken=None, seconds=1.0):
    n = int(SR * seconds)
    for i in range(n_items):
        item = root / f"song{i}"
        (item / "sources").mkdir(parents=True)
        voice, drums = harmonic(n, f0=200 + 30 * i, seed=i), clicks(n, seed=i)
        sf.write(str(item / "sources" / "voice.wav"), voice, SR, subtype="FLOAT")
        sf.write(str(item / "sources" / "drums.wav"), drums, SR, subtype="FLOAT")
        sf.write(str(item / "mixture.wav"), voice + drums, SR, subtype="FLOAT")
    if broken:
        (root / broken).mkdir()
        (root / broken / "mixture.wav").write_bytes(b"not audio")
    return root


def test_a_dataset_is_walked_and_keeps_its_status(tmp_path):
    root = make_dataset(tmp_path / "ds")
    ds = Dataset.open(root)
    assert [it.name for it in ds.items] == ["song0", "song1", "song2"]
    assert set(ds.items[0].sources) == {"voice", "drums"}
    assert ds.progress() == {"to do": 3, "in progress": 0, "done": 0, "skipped": 0}
    ds.set_status("song0", "done")
    ds.set_status(ds.items[1], "skipped")
    ds.set_labels(["voice", "drums", "voice", " noise "])
    again = Dataset.open(root)  # kept beside the dataset, not inside it
    assert again.status("song0") == "done" and again.labels == ["voice", "drums", "noise"]
    assert again.next_index(0, todo_only=True) == 2 and again.next_index(2, -1) == 1
    assert (tmp_path / "ds.maskstudio" / "dataset.json").exists()
    assert sorted(p.name for p in root.iterdir()) == ["song0", "song1", "song2"]
    with pytest.raises(MaskStudioError, match="status"):
        again.set_status("song0", "maybe")


def test_a_dataset_keeps_one_stft_grid_for_all_its_items(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=1)
    assert Dataset.open(root).config is None
    cfg = STFTConfig(n_fft=1024, hop_length=256, window=("kaiser", 8.0))
    Dataset.open(root).set_config(cfg)
    assert Dataset.open(root).config == cfg


def test_manifests(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=2)
    (tmp_path / "list.csv").write_text(
        "name,mixture,source:voice\na,ds/song0/mixture.wav,ds/song0/sources/voice.wav\n"
        "b,ds/song1/mixture.wav,\n")
    ds = Dataset.open(tmp_path / "list.csv")
    assert [it.name for it in ds.items] == ["a", "b"] and list(ds.items[0].sources) == ["voice"]
    (tmp_path / "list.json").write_text(json.dumps([{"mixture": "ds/song1/mixture.wav"}]))
    assert Dataset.open(tmp_path / "list.json").items[0].name == "song1"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(MaskStudioError, match="manifest"):
        Dataset.open(tmp_path / "bad.json")
    del root


def test_batch_finishes_the_rest_when_an_item_is_broken_and_resumes(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", broken="zz_broken")
    out = tmp_path / "out"
    code = main(["batch", str(root), "--mask", "wiener", "--n-fft", "512", "--jobs", "2",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "item 'zz_broken' failed" in err and "cannot read" in err
    for i in range(3):
        files = sorted(p.name for p in (out / f"song{i}").iterdir())
        assert files == [".done", "drums.wav", "masks.npz", "metrics.json", "residual.wav",
                         "voice.wav"]
        m = json.loads((out / f"song{i}" / "metrics.json").read_text())
        assert m["voice"]["si_sdr"] > 10 and "sdr" in m["voice"] and "sar" in m["drums"]
        mix = load_audio(root / f"song{i}" / "mixture.wav").samples
        total = sum(load_audio(out / f"song{i}" / f"{n}.wav").samples
                    for n in ("voice", "drums", "residual"))
        np.testing.assert_allclose(total, mix, atol=1e-5)
    before = (out / "song0" / "voice.wav").stat().st_mtime_ns
    ds = Dataset.open(root)
    result = run_batch(ds, out, mode=("mask", "wiener"), config=CFG)
    assert sorted(result["skipped"]) == ["song0", "song1", "song2"]  # resumed: not redone
    assert list(result["failed"]) == ["zz_broken"]
    assert (out / "song0" / "voice.wav").stat().st_mtime_ns == before


def test_batch_with_a_separator_and_with_mask_files(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=2)
    ds = Dataset.open(root)
    res = run_batch(ds, tmp_path / "sep", mode=("separator", "hpss"), config=CFG)
    assert res["done"] == ["song0", "song1"]
    assert (tmp_path / "sep" / "song0" / "harmonic.wav").exists()
    res = run_batch(ds, tmp_path / "again", mode=("masks-from", str(tmp_path / "sep")),
                    config=CFG)
    assert res["done"] == ["song0", "song1"] and not res["failed"]
    a = load_audio(tmp_path / "sep" / "song1" / "percussive.wav").samples
    b = load_audio(tmp_path / "again" / "song1" / "percussive.wav").samples
    np.testing.assert_array_equal(a, b)


def test_exporting_an_annotated_dataset(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=2)
    ds = Dataset.open(root)
    item = ds.items[0]
    doc = Document(load_audio(item.mixture), CFG)
    doc.add_oracle_layers("ibm", dict(item.sources))
    doc.set_layer(0, label="drums")
    doc.notes = "checked"
    save_project(doc, ds.project_path(item))
    ds.set_status(item, "done")
    result = export_dataset(ds, tmp_path / "export")
    assert result == {"written": ["song0"], "not annotated": ["song1"]}
    meta = json.loads((tmp_path / "export" / "song0" / "metadata.json").read_text())
    assert meta["status"] == "done" and meta["notes"] == "checked"
    assert meta["layers"][0]["label"] == "drums"
    assert (tmp_path / "export" / "song0" / "masks.npz").exists()


def test_batch_command_line_errors(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=1)
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "batch", str(root), "--separator",
                           "nope", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown separator" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "batch", str(root), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "one of the arguments" in proc.stderr


def test_batch_honours_the_output_format(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=1)
    assert main(["batch", str(root), "--mask", "ibm", "--format", "flac", "--jobs", "1",
                 "--out", str(tmp_path / "out")]) == 0
    files = sorted(p.name for p in (tmp_path / "out" / "song0").iterdir())
    assert "voice.flac" in files and "residual.flac" in files and "voice.wav" not in files
