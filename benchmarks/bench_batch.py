"""Batch throughput on a generated dataset: 1 job, 2 jobs, and a 2-worker Dask cluster.

    python benchmarks/bench_batch.py            # 16 items of 20 s stereo at 44.1 kHz, 3 rounds
    python benchmarks/bench_batch.py --quick    # 4 items of 3 s, 1 round: checks it runs

The three ways run interleaved, round after round (jobs=1, jobs=2, cluster, jobs=1, ...), so
a machine that slows down mid-run slows all three alike; the median round is reported.  The
cluster is a ``distributed.LocalCluster`` of two single-threaded worker processes on the
loopback, started once before the rounds (as a user's cluster would be running already):
its start is not counted, its scheduling and data transfer are.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.annotation.batch import run_batch
from maskstudio.annotation.dataset import Dataset
from maskstudio.dsp.stft import STFTConfig

SR = 44100


def make_dataset(root: Path, items: int, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    for i in range(items):
        d = root / f"item{i:03d}"
        (d / "sources").mkdir(parents=True)
        voice = 0.2 * np.sin(2 * np.pi * (220 + 10 * i) * t * (1 + 0.01 * np.sin(3 * t)))
        voice = np.stack([voice, 0.7 * voice], axis=1)
        music = 0.05 * rng.standard_normal((n, 2))
        sf.write(str(d / "sources" / "voice.wav"), voice, SR, subtype="PCM_16")
        sf.write(str(d / "sources" / "music.wav"), music, SR, subtype="PCM_16")
        sf.write(str(d / "mixture.wav"), voice + music, SR, subtype="PCM_24")
    return root


def _cluster():
    """Two single-threaded workers (one BLAS thread each, as batch's own workers have)."""
    try:
        import distributed
    except ImportError:
        print("  (no Dask: pip install 'maskstudio[cluster]'; the cluster is left out)")
        return None
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # read by the worker processes as numpy loads
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=50)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(var, None)
    return cluster


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    args = ap.parse_args(argv)
    items, seconds = (4, 3.0) if args.quick else (16, 20.0)
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as d:
        root = make_dataset(Path(d) / "ds", items, seconds)
        ds = Dataset.open(root)
        print(f"batch: {items} items of {seconds:.0f} s stereo 44.1 kHz, Wiener oracle, "
              f"mixture phase, metrics (SI-SDR and BSS Eval); {rounds} interleaved round(s)")
        cluster = _cluster()
        ways = {"jobs=1": dict(jobs=1), "jobs=2": dict(jobs=2)}
        if cluster is not None:
            ways["dask, 2 workers"] = dict(scheduler=cluster.scheduler_address)
        times: dict[str, list[float]] = {w: [] for w in ways}
        try:
            for r in range(rounds):
                for way, kw in ways.items():
                    t0 = time.perf_counter()
                    res = run_batch(ds, Path(d) / f"out-{r}-{len(times[way])}-{way[:6]}",
                                    mode=("mask", "wiener"), config=STFTConfig(), **kw)
                    times[way].append(time.perf_counter() - t0)
                    assert not res["failed"] and len(res["done"]) == items, res
        finally:
            if cluster is not None:
                cluster.close()
        rates = {}
        for way, ts in times.items():
            dt = statistics.median(ts)
            rates[way] = items / dt
            print(f"  {way:<16} median {dt:6.1f} s  {rates[way]:5.2f} items/s  "
                  f"{items * seconds / dt:4.0f}x real time  (rounds: "
                  f"{', '.join(f'{t:.1f}' for t in ts)} s)")
        print(f"  speed-up with 2 jobs: {rates['jobs=2'] / rates['jobs=1']:.2f}x")
        if "dask, 2 workers" in rates:
            print(f"  speed-up on the 2-worker cluster: "
                  f"{rates['dask, 2 workers'] / rates['jobs=1']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
