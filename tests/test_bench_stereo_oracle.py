"""benchmarks/bench_stereo_oracle.py keeps working on a generated stereo item (its figures on
the corpus are read by people, not checked here)."""

import pathlib
import subprocess
import sys

import numpy as np
import soundfile as sf

from .conftest import SR, clicks, harmonic

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def test_the_stereo_oracle_benchmark_prints_per_channel_and_shared_figures(tmp_path):
    n = SR * 2
    stems = {"tone": np.stack([harmonic(n), 0.1 * harmonic(n, f0=330)]),
             "hits": np.stack([0.1 * clicks(n), clicks(n, seed=4)])}
    (tmp_path / "sources").mkdir()
    for name, x in stems.items():
        sf.write(str(tmp_path / "sources" / f"{name}.wav"), x.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "mixture.wav"), sum(stems.values()).T, SR, subtype="FLOAT")
    proc = subprocess.run([sys.executable, str(BENCH / "bench_stereo_oracle.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()
            if line.split()[:1] in (["ibm"], ["irm"], ["wiener"], ["psm"])
            and len(line.split()) == 5]
    assert len(rows) == 8  # 4 kinds x 2 sources: per-channel, shared, gain
    gains = [float(r[4]) for r in rows]
    assert max(gains) > 1.0  # sources placed apart: per channel is clearly better somewhere
    assert "mean gain" in proc.stdout
