"""``batch --scheduler``: the items run on a real Dask cluster (a ``distributed.LocalCluster``
of two worker processes on the loopback), with the same outputs, failure report, resume and
command line as a local run."""

import json

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.batch import run_batch
from maskstudio.annotation.dataset import Dataset
from maskstudio.cli import main
from maskstudio.errors import MaskStudioError

from .test_dataset_batch import CFG, make_dataset

distributed = pytest.importorskip("distributed", reason="pip install 'maskstudio[cluster]'")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as c:
        yield c


def _outputs(folder):
    """Every output file of a batch but the timing-free metadata, with its content."""
    got = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix == ".wav":
            got[str(p.relative_to(folder))] = sf.read(str(p), dtype="float32")[0]
        elif p.name == "metrics.json":
            got[str(p.relative_to(folder))] = json.loads(p.read_text())
    return got


def _same(a, b, where):
    """Equal JSON, numbers to 1e-9 relative (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-9, nan_ok=True), where
    else:
        assert a == b, where


def test_a_cluster_batch_equals_a_local_one_and_reports_the_broken_item(tmp_path, cluster):
    root = make_dataset(tmp_path / "ds", n_items=3, broken="zz_broken")
    ds = Dataset.open(root)
    local = run_batch(ds, tmp_path / "local", mode=("mask", "wiener"), config=CFG)
    seen = []
    remote = run_batch(ds, tmp_path / "remote", mode=("mask", "wiener"), config=CFG,
                       scheduler=cluster.scheduler_address,
                       progress=lambda done, total, name: seen.append((done, total, name)))
    assert sorted(remote["done"]) == sorted(local["done"]) == ["song0", "song1", "song2"]
    assert list(remote["failed"]) == ["zz_broken"]
    assert remote["failed"]["zz_broken"] == local["failed"]["zz_broken"]
    assert [s[:2] for s in seen] == [(k, 4) for k in range(1, 5)]
    assert {s[2] for s in seen} == {"song0", "song1", "song2", "zz_broken"}
    a, b = _outputs(tmp_path / "local"), _outputs(tmp_path / "remote")
    assert a.keys() == b.keys() and len(a) == 3 * 4
    for key in a:
        if key.endswith(".wav"):
            np.testing.assert_array_equal(a[key], b[key])
        else:  # a worker's BLAS runs one thread: sums in another order, to the last digits
            _same(a[key], b[key], key)
    # resumed on the cluster: the finished items are skipped, the broken one tried again
    again = run_batch(ds, tmp_path / "remote", mode=("mask", "wiener"), config=CFG,
                      scheduler=cluster.scheduler_address)
    assert sorted(again["skipped"]) == ["song0", "song1", "song2"]
    assert again["done"] == [] and list(again["failed"]) == ["zz_broken"]


def test_the_command_line_runs_on_the_cluster(tmp_path, cluster, capsys):
    root = make_dataset(tmp_path / "ds", n_items=2)
    code = main(["batch", str(root), "--mask", "ibm", "--n-fft", "512", "--hop-length", "128",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "2 processed, 0 already done, 0 failed" in out
    for k in range(2):
        assert (tmp_path / "out" / f"song{k}" / ".done").exists()
        total = sum(sf.read(str(tmp_path / "out" / f"song{k}" / f"{n}.wav"))[0]
                    for n in ("voice", "drums", "residual"))
        mix = sf.read(str(root / f"song{k}" / "mixture.wav"))[0]
        np.testing.assert_allclose(total, mix, atol=1e-5)


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path, monkeypatch, capsys):
    import maskstudio.annotation.cluster as cl

    monkeypatch.setattr(cl, "CONNECT_TIMEOUT", 2.0)  # a closed port on the loopback
    root = make_dataset(tmp_path / "ds", n_items=1)
    code = main(["batch", str(root), "--mask", "ibm", "--scheduler", "tcp://127.0.0.1:9",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in lines[0]
    assert not (tmp_path / "out" / "song0" / ".done").exists()
    with pytest.raises(MaskStudioError, match="Dask scheduler"):
        run_batch(Dataset.open(root), tmp_path / "out", mode=("mask", "ibm"), config=CFG,
                  scheduler="tcp://127.0.0.1:9")


def test_jobs_and_scheduler_together_are_refused(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", n_items=1)
    code = main(["batch", str(root), "--mask", "ibm", "--jobs", "2", "--scheduler",
                 "tcp://127.0.0.1:9", "--out", str(tmp_path / "out")])
    assert code == 2 and "give one of them" in capsys.readouterr().err


def test_two_batches_at_once_on_one_cluster_each_write_their_own(tmp_path, cluster):
    """Two runs on one scheduler (a shared cluster): each item is its run's own task, not
    the other run's result under the same name (which left one output folder empty)."""
    import threading

    root = make_dataset(tmp_path / "ds", n_items=2)
    ds = Dataset.open(root)
    results = {}

    def one(kind):
        results[kind] = run_batch(ds, tmp_path / kind, mode=("mask", kind), config=CFG,
                                  scheduler=cluster.scheduler_address)

    threads = [threading.Thread(target=one, args=(k,)) for k in ("wiener", "irm")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for kind in ("wiener", "irm"):
        assert sorted(results[kind]["done"]) == ["song0", "song1"]
        for item in ("song0", "song1"):
            done = json.loads((tmp_path / kind / item / ".done").read_text())
            assert done["options"]["mode"][:2] == ["mask", kind]
