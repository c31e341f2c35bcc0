"""Batch throughput on a generated dataset, with 1 and 2 jobs.

    python benchmarks/bench_batch.py            # 16 items of 20 s stereo at 44.1 kHz
    python benchmarks/bench_batch.py --quick    # 4 items of 3 s: checks it runs
"""

from __future__ import annotations

import argparse
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    items, seconds = (4, 3.0) if args.quick else (16, 20.0)
    with tempfile.TemporaryDirectory() as d:
        root = make_dataset(Path(d) / "ds", items, seconds)
        ds = Dataset.open(root)
        print(f"batch: {items} items of {seconds:.0f} s stereo 44.1 kHz, Wiener oracle, "
              f"mixture phase, metrics (SI-SDR and BSS Eval)")
        rates = {}
        for jobs in (1, 2):
            t0 = time.perf_counter()
            res = run_batch(ds, Path(d) / f"out{jobs}", mode=("mask", "wiener"),
                            config=STFTConfig(), jobs=jobs)
            dt = time.perf_counter() - t0
            assert not res["failed"], res["failed"]
            rates[jobs] = items / dt
            print(f"  jobs={jobs}: {dt:.1f} s, {rates[jobs]:.2f} items/s, "
                  f"{items * seconds / dt:.0f}x real time")
        print(f"  speed-up with 2 jobs: {rates[2] / rates[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
