"""``maskstudio batch ... --mix NAME=a+b``: each item's stem subsets beside its sources, the
sums of the files written; refused specs say one line and write nothing; the resume counts
--mix as an option."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from maskstudio.cli import main
from maskstudio.io.audiofile import load_audio

from .test_dataset_batch import make_dataset


def _batch(root, out, *more, jobs="1"):
    return main(["batch", str(root), "--mask", "wiener", "--n-fft", "512", "--jobs", jobs,
                 "--out", str(out), *more])


def test_batch_writes_each_items_subsets_as_sums_of_its_files(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", n_items=2, seconds=0.5)
    out = tmp_path / "out"
    assert _batch(root, out, "--mix", "both=voice+drums", "--mix", "minus-voice=mixture-voice",
                  "--mix", "rest=drums+residual", jobs="2") == 0
    for i in range(2):
        folder = out / f"song{i}"
        read = {p.stem: load_audio(p).samples for p in folder.glob("*.wav")}
        assert set(read) == {"voice", "drums", "residual", "both", "minus-voice", "rest"}
        mixture = load_audio(root / f"song{i}" / "mixture.wav").samples
        np.testing.assert_allclose(read["both"], read["voice"] + read["drums"], atol=1e-6)
        np.testing.assert_allclose(read["minus-voice"], mixture - read["voice"], atol=1e-4)
        np.testing.assert_allclose(read["rest"], read["drums"] + read["residual"], atol=1e-6)
        done = json.loads((folder / ".done").read_text())
        assert done["options"]["mix"] == ["both=voice+drums", "minus-voice=mixture-voice",
                                          "rest=drums+residual"]
    capsys.readouterr()
    # the same options: nothing to do; other subsets: every item again
    assert _batch(root, out, "--mix", "both=voice+drums", "--mix",
                  "minus-voice=mixture-voice", "--mix", "rest=drums+residual") == 0
    assert "0 processed, 2 already done" in capsys.readouterr().out
    assert _batch(root, out, "--mix", "both=voice+drums") == 0
    assert "2 processed" in capsys.readouterr().out
    done = json.loads((out / "song0" / ".done").read_text())
    assert done["options"]["mix"] == ["both=voice+drums"]


def test_a_batch_without_mix_resumes_as_before(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", n_items=1, seconds=0.5)
    out = tmp_path / "out"
    assert _batch(root, out) == 0
    assert "mix" not in json.loads((out / "song0" / ".done").read_text())["options"]
    capsys.readouterr()
    assert _batch(root, out) == 0
    assert "0 processed, 1 already done" in capsys.readouterr().out
    assert _batch(root, out, "--mix", "both=voice+drums") == 0  # a subset asked: redone
    assert (out / "song0" / "both.wav").exists()


def test_a_bad_mix_spec_is_one_line_and_nothing_is_written(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=2, seconds=0.5)
    for spec, words in [("karaoke", "NAME=a+b"), ("k=mixture-guitar", "guitar"),
                        ("voice=drums", "name of a source"), ("k=voice+", "k=voice+"),
                        ("../k=voice", "k")]:
        out = tmp_path / "out"
        proc = subprocess.run([sys.executable, "-m", "maskstudio", "batch", str(root),
                               "--mask", "ibm", "--n-fft", "512", "--jobs", "1", "--mix", spec,
                               "--out", str(out)], capture_output=True, text=True)
        assert proc.returncode != 0, spec
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("maskstudio:"), proc.stderr
        assert words in lines[0] and "Traceback" not in proc.stderr
        assert not out.exists(), spec
    # with a separator's layers (known per item) the form is still checked first
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "batch", str(root),
                           "--separator", "hpss", "--mix", "both=", "--out",
                           str(tmp_path / "o2")], capture_output=True, text=True)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o2").exists()
