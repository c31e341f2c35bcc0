"""The benchmark scripts keep working (their figures are checked by people, not here)."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from .conftest import SR, clicks, harmonic

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.reference
def test_core_benchmark_runs_and_reports_every_target():
    pytest.importorskip("librosa")
    proc = subprocess.run([sys.executable, str(BENCH / "bench_core.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr  # 1 = a target missed on tiny signals
    assert proc.stdout.count("target >=") == 5 and "targets met" in proc.stdout


@pytest.mark.reference
def test_corpus_check_agrees_with_the_independent_computation(tmp_path):
    pytest.importorskip("librosa")
    n = SR * 2
    stems = {"tone": np.stack([harmonic(n), harmonic(n, f0=330)]),
             "hits": np.stack([clicks(n), clicks(n, seed=4)])}
    (tmp_path / "sources").mkdir()
    for name, x in stems.items():
        sf.write(str(tmp_path / "sources" / f"{name}.wav"), x.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "mixture.wav"), sum(stems.values()).T, SR, subtype="FLOAT")
    proc = subprocess.run([sys.executable, str(BENCH / "corpus_check.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "per-channel" in proc.stdout and "MISI" in proc.stdout


def test_editor_benchmark_runs_and_reports_every_target(tmp_path):
    # twice on the kept file: the second run asks no question about the first one's session
    # (each run has its own state folder, removed afterwards)
    state = tmp_path / "state"
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(BENCH / "bench_editor.py"), "--quick",
                               "--runs", "1", "--keep", str(tmp_path)], capture_output=True,
                              text=True, timeout=600, env=env)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: a target missed (tiny file)
        assert proc.stdout.count("target <=") == 8 and "targets met" in proc.stdout
    assert list(tmp_path.glob("*.wav")) == [tmp_path / "editor-2min.wav"]  # kept, nothing else
    assert not state.exists()  # nothing written to the user's state folder


def test_playback_benchmark_runs_and_reports_every_target(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "bench_playback.py"), "--quick",
                           "--keep", str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert proc.stdout.count("target") >= 5 and "targets met" in proc.stdout


def test_batch_benchmark_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "bench_batch.py"), "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "jobs=1" in proc.stdout and "jobs=2" in proc.stdout and "items/s" in proc.stdout
    assert "dask, 2 workers" in proc.stdout  # CI installs the cluster extra


def test_live_scores_benchmark_runs():
    proc = subprocess.run([sys.executable, str(BENCH / "bench_metrics.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout.count("target <=") == 3 and "targets met" in proc.stdout


def test_tools_benchmark_runs():
    proc = subprocess.run([sys.executable, str(BENCH / "bench_tools.py"), "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: the time target missed
    assert "harmonic selection" in proc.stdout and "target <= 50 ms" in proc.stdout
    assert "magic wand" in proc.stdout and "local threshold" in proc.stdout


def test_mwf_benchmark_runs():
    proc = subprocess.run([sys.executable, str(BENCH / "bench_mwf.py"), "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: a target missed
    assert "real-time factor, misi x5" in proc.stdout and "mwf x1" in proc.stdout
    assert "targets met" in proc.stdout
