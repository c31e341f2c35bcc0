"""Datasets: walking items and keeping status; batch processing that survives a bad item."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstudio.annotation.batch import export_dataset, run_batch
from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.evaluation import options_record
from maskstudio.annotation.project import save_project
from maskstudio.cli import main
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.sources import add_oracle_layers
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio

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
        assert files == [".done", "drums.wav", "masks.npz", "metrics.json", "museval.json",
                         "residual.wav", "voice.wav"]
        m = json.loads((out / f"song{i}" / "metrics.json").read_text())
        assert m["voice"]["si_sdr"] > 10 and "sdr" in m["voice"] and "sar" in m["drums"]
        mix = load_audio(root / f"song{i}" / "mixture.wav").samples
        total = sum(load_audio(out / f"song{i}" / f"{n}.wav").samples
                    for n in ("voice", "drums", "residual"))
        np.testing.assert_allclose(total, mix, atol=1e-5)
    before = (out / "song0" / "voice.wav").stat().st_mtime_ns
    ds = Dataset.open(root)
    result = run_batch(ds, out, mode=("mask", "wiener"), config=STFTConfig(n_fft=512))
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
    # the mask files read are inputs: never written over, even by an item's own output
    kept = (tmp_path / "sep" / "song0" / "masks.npz").read_bytes()
    (tmp_path / "sep" / "song0" / ".done").unlink()  # so that a run into 'sep' redoes it
    res = run_batch(ds, tmp_path / "sep", mode=("masks-from", str(tmp_path / "sep")),
                    config=CFG)
    assert "song0" in res["failed"] and "overwrite" in res["failed"]["song0"]
    assert (tmp_path / "sep" / "song0" / "masks.npz").read_bytes() == kept
    code = main(["batch", str(root), "--masks-from", str(tmp_path / "sep"), "--out",
                 str(tmp_path / "sep" / ".")])
    assert code == 2 and (tmp_path / "sep" / "song0" / "masks.npz").read_bytes() == kept


def test_exporting_an_annotated_dataset(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=2)
    ds = Dataset.open(root)
    item = ds.items[0]
    doc = Document(load_audio(item.mixture), CFG)
    add_oracle_layers(doc, "ibm", dict(item.sources))
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


# -- manifests, field by field -------------------------------------------------------------
def _one_line_error(path):
    with pytest.raises(MaskStudioError) as err:
        Dataset.open(path)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


@pytest.mark.parametrize("rows, expect", [
    ([{"mixture": 5}], "must be a path"),
    ([{"mixture": None}], "must be a path"),
    ([{"mixture": ["a.wav"]}], "must be a path"),
    ([{"mixture": ""}], "must be a path"),
    ([{"mixture": "a\x00.wav"}], "NUL"),
    ([{"mixture": "a.wav", "name": 5}], "not text"),
    ([{"mixture": "a.wav", "name": ".."}], "only of dots"),
    ([{"mixture": "a.wav", "name": "x/y"}], "separator"),
    ([{"mixture": "a.wav", "sources": ["v.wav"]}], "'sources' must be an object"),
    ([{"mixture": "a.wav", "sources": {"v": 3}}], "must be a path"),
    ([{"mixture": "a.wav", "sources": {"residual": "v.wav"}}], "reserved"),
    ([{"mixture": "a.wav", "name": "A"}, {"mixture": "b.wav", "name": "a"}], "twice"),
    ([{"mixture": "a.wav", "name": "x"}, {"mixture": "b.wav", "name": "x"}], "twice"),
    ({"mixture": "a.wav"}, "list of items"),
    ([], "holds no items"),
    ([7], "has no 'mixture'"),
])
def test_json_manifests_are_checked_field_by_field(tmp_path, rows, expect):
    (tmp_path / "list.json").write_text(json.dumps(rows))
    assert expect in _one_line_error(tmp_path / "list.json")


@pytest.mark.parametrize("text, expect", [
    ("", "no header"),
    ("name,path\na,x.wav\n", "no 'mixture' column"),
    ("mixture,mixture\na.wav,b.wav\n", "column 'mixture' twice"),
    ("mixture,name\na.wav,x,extra\n", "3 fields but the header 2"),
    ("mixture,name\n,x\n", "must be a path"),
    ("mixture,source:../x\na.wav,v.wav\n", "separator"),
    ("mixture,name\na.wav,con\n", "Windows reserves"),
    ("mixture,name\na.wav,x\nb.wav,X\n", "twice"),
    ("mixture\n\"a.wav\n", "check its quotes"),  # an unclosed quote would swallow the rest
    ("mixture,name\n\"a.wav\"x,y\n", "check its quotes"),
    ("mixture\na\x00.wav\n", "NUL"),
])
def test_csv_manifests_are_checked_field_by_field(tmp_path, text, expect):
    (tmp_path / "list.csv").write_text(text)
    assert expect in _one_line_error(tmp_path / "list.csv")


def test_manifests_in_other_encodings_and_with_a_bom(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffname,mixture\nsong,/abs/mix.wav\n".encode())
    ds = Dataset.open(tmp_path / "bom.csv")  # a BOM is fine, an absolute mixture too
    assert ds.items[0].name == "song" and ds.items[0].mixture == Path("/abs/mix.wav")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(
        [{"mixture": "a/m.wav"}]).encode())
    assert Dataset.open(tmp_path / "bom.json").items[0].name == "a"
    (tmp_path / "latin.csv").write_bytes("name,mixture\nchanson \xe9t\xe9,m.wav\n".encode(
        "latin-1"))
    assert "not UTF-8" in _one_line_error(tmp_path / "latin.csv")
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    assert "JSON" in _one_line_error(tmp_path / "deep.json")
    (tmp_path / "big.json").write_text("[" + "9" * 5000 + "]")
    assert "JSON" in _one_line_error(tmp_path / "big.json")
    os.mkfifo(tmp_path / "fifo.csv")
    assert "not a regular file" in _one_line_error(tmp_path / "fifo.csv")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                max_size=4),
    max_leaves=12)
_fields = st.sampled_from(["mixture", "name", "sources", "x"])
_rows = st.lists(st.dictionaries(_fields, _json | st.text(max_size=30), max_size=3)
                 | _json, max_size=4)


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(_json, _rows))
def test_any_json_manifest_gives_items_or_one_clear_error(value):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.json"
        path.write_text(json.dumps(value))
        _open_or_refuse(path)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".json"]),
       head=st.sampled_from([b"", b"mixture,name,source:v\n", b"name,mixture\n", b"[{"]))
def test_any_bytes_as_a_manifest_give_items_or_one_clear_error(data, suffix, head):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"list{suffix}"
        path.write_bytes(head + data)
        _open_or_refuse(path)


def _open_or_refuse(path):
    try:
        ds = Dataset.open(path)
    except MaskStudioError as exc:
        assert "\n" not in str(exc)
        return
    for it in ds.items:  # whatever was accepted is usable as folder and file names
        assert ds.project_path(it).parent == ds.annotations / "items"
        assert isinstance(it.mixture, Path) and all(isinstance(p, Path)
                                                    for p in it.sources.values())


# -- dataset state ---------------------------------------------------------------------------
@pytest.mark.parametrize("state", ['[1, 2]', '{"status": []}', '{"status": {"a": 3}}',
                                   '{"status": {"a": "maybe"}}', '{"labels": "voice"}',
                                   '{"labels": [1]}', '{"stft": 2048}', '{"stft": {"n": 1}}',
                                   "{", "\xff"])
def test_a_dataset_state_of_the_wrong_types_is_one_clear_error(tmp_path, state):
    root = make_dataset(tmp_path / "ds", n_items=1)
    (tmp_path / "ds.maskstudio").mkdir()
    (tmp_path / "ds.maskstudio" / "dataset.json").write_bytes(state.encode("latin-1"))
    msg = _one_line_error(root)
    assert "dataset.json" in msg and "move it aside" in msg


def test_unusable_stft_settings_in_the_state_are_one_clear_error(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=1)
    (tmp_path / "ds.maskstudio").mkdir()
    (tmp_path / "ds.maskstudio" / "dataset.json").write_text(
        json.dumps({"stft": {"n_fft": "big", "window": {"a": 1}}}))
    with pytest.raises(MaskStudioError, match="dataset.json"):
        _ = Dataset.open(root).config


def test_two_sessions_on_one_dataset_keep_each_others_status(tmp_path):
    root = make_dataset(tmp_path / "ds", n_items=3)
    one, two = Dataset.open(root), Dataset.open(root)
    one.set_status("song0", "done")
    two.set_status("song1", "skipped")  # two read the state before one's change
    two.set_labels(["voice"])
    one.set_config(CFG)
    again = Dataset.open(root)
    assert again.status("song0") == "done" and again.status("song1") == "skipped"
    assert again.labels == ["voice"] and again.config == CFG
    assert one.status("song1") == "skipped"  # a write brings the others' changes in


def test_two_processes_setting_statuses_lose_nothing(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    code = ("import sys\nfrom maskstudio.annotation.dataset import Dataset, Item\n"
            "ds = Dataset(sys.argv[1], [])\n"
            "for i in range(40):\n    ds.set_status(f'{sys.argv[2]}{i}', 'done')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root), who])
             for who in ("a", "b")]
    assert [p.wait(120) for p in procs] == [0, 0]
    state = json.loads((tmp_path / "ds.maskstudio" / "dataset.json").read_text())
    assert len(state["status"]) == 80


# -- batch: a linear skip list, bounded jobs, a quiet Ctrl+C --------------------------------
def test_the_skip_list_is_linear_in_the_items(tmp_path, monkeypatch):
    import time

    from maskstudio.annotation.dataset import Item

    n = 10000  # the quadratic list took 10 s here (39 s at 20,000)
    items = [Item(f"item{i:05d}", tmp_path / "missing.wav") for i in range(n)]
    for i in range(0, n, 20):
        (tmp_path / "out" / items[i].name).mkdir(parents=True)
        (tmp_path / "out" / items[i].name / ".done").write_text(json.dumps(
            {"options": options_record(mode=("mask", "ibm"), config=CFG, phase="mixture",
                                       n_iter=None, cutoff_hz=6000.0, fmt="wav")}))
    compared = []
    monkeypatch.setattr(Item, "__eq__", lambda a, b: compared.append(1) or a is b)
    ds = Dataset(tmp_path / "ds", items)
    seen = []
    t0 = time.perf_counter()
    result = run_batch(ds, tmp_path / "out", mode=("mask", "ibm"), config=CFG,
                       progress=lambda done, total, name: seen.append(total))
    elapsed = time.perf_counter() - t0
    assert len(result["skipped"]) == n // 20 and len(result["failed"]) == n - n // 20
    assert seen[0] == n - n // 20 and compared == []
    assert elapsed < 30, elapsed


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_are_refused(tmp_path, jobs):
    root = make_dataset(tmp_path / "ds", n_items=1)
    proc = subprocess.run([sys.executable, "-m", "maskstudio", "batch", str(root), "--mask",
                           "ibm", f"--jobs={jobs}", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"--jobs {jobs} cannot be used" in proc.stderr and not (tmp_path / "o").exists()


def test_a_huge_jobs_is_capped_at_the_cores_and_the_items(tmp_path, monkeypatch, capsys):
    import concurrent.futures

    from maskstudio.annotation.batch import available_cores

    one = make_dataset(tmp_path / "one", n_items=1)
    assert main(["batch", str(one), "--mask", "ibm", "--n-fft", "512", "--jobs", "1000",
                 "--out", str(tmp_path / "o")]) == 0
    assert f"using {available_cores()}" in capsys.readouterr().err
    root = make_dataset(tmp_path / "ds", n_items=2)
    pools = []

    class Pool:
        def __init__(self, max_workers, **kw):
            pools.append(max_workers)
            raise KeyboardInterrupt  # stop here: only the size matters
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr("maskstudio.annotation.batch.available_cores", lambda: 64)
    with pytest.raises(KeyboardInterrupt):
        run_batch(Dataset.open(root), tmp_path / "p", mode=("mask", "ibm"), config=CFG,
                  jobs=1000)
    assert pools == [2]  # two items left: two workers, not a thousand
    help_text = subprocess.run([sys.executable, "-m", "maskstudio", "batch", "--help"],
                               capture_output=True, text=True).stdout
    assert "at most: the number of cores" in " ".join(help_text.split())


def _children(pid: int) -> int:
    """How many processes have ``pid`` as their parent (Linux's /proc)."""
    n = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            n += int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid
        except (OSError, IndexError, ValueError):
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("when", ["workers starting", "workers importing", "items running"])
def test_ctrl_c_during_a_parallel_batch_is_one_line_and_exit_130(tmp_path, when):
    import signal
    import time

    root = make_dataset(tmp_path / "ds", n_items=4, seconds=1.0)
    proc = subprocess.Popen([sys.executable, "-m", "maskstudio", "batch", str(root), "--mask",
                             "irm", "--phase", "fgla", "--n-iter", "40", "--n-fft", "512",
                             "--jobs", "2", "--out", str(tmp_path / "o")],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    t0 = time.monotonic()
    if when == "items running":
        first = proc.stderr.readline()  # "1/4 songN": the workers are busy with the next
        assert first.startswith("1/4"), first
    else:  # the old batch printed a worker's KeyboardInterrupt traceback here
        while _children(proc.pid) < 2 and time.monotonic() - t0 < 30:
            time.sleep(0.01)
        time.sleep(0.0 if when == "workers starting" else 0.3)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 20  # the running items are stopped, not waited for
    lines = [ln for ln in err.splitlines() if not ln[:1].isdigit()]
    assert proc.returncode == 130, err
    assert lines == ["maskstudio: interrupted"], err
    again = run_batch(Dataset.open(root), tmp_path / "o", mode=("mask", "irm"), config=CFG)
    assert not again["failed"] and len(again["done"]) + len(again["skipped"]) == 4
    for item in (tmp_path / "o").iterdir():  # what the stopped workers left is gone
        assert not [p for p in item.iterdir() if p.name.startswith(".maskstudio")]


def _in_session(sid: int) -> int:
    """How many live processes belong to session ``sid`` (Linux's /proc)."""
    n = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            n += int(fields[3]) == sid and fields[0] != "Z"
        except (OSError, IndexError, ValueError):
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_to_a_parallel_batch_stops_its_workers_too(tmp_path):
    """A service manager's or a cluster's stop (SIGTERM to the batch alone): the workers go
    with it (they were left running, holding the caller's pipes), exit status 143."""
    import signal
    import time

    root = make_dataset(tmp_path / "ds", n_items=4, seconds=1.0)
    proc = subprocess.Popen([sys.executable, "-m", "maskstudio", "batch", str(root), "--mask",
                             "irm", "--phase", "fgla", "--n-iter", "60", "--n-fft", "512",
                             "--jobs", "2", "--out", str(tmp_path / "o")],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = proc.stderr.readline()
    assert first.startswith("1/4"), first
    proc.send_signal(signal.SIGTERM)  # the batch alone, not its process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    t0 = time.monotonic()
    while _in_session(proc.pid) and time.monotonic() - t0 < 20:
        time.sleep(0.1)
    assert _in_session(proc.pid) == 0  # no worker left behind
    for item in (tmp_path / "o").iterdir():  # finished items whole, nothing half-written
        names = {p.name for p in item.iterdir()}
        assert ".done" in names or not names - {".maskstudio"}, names
