"""Long files through the real command line: time and peak memory of ``maskstudio oracle`` and
``separate`` on 1-, 10-, 20- and 60-minute stereo 44.1 kHz mixtures with two stems.

Each run is a child process (``python -m maskstudio ...``) whose peak RSS is its own
(``os.wait4``'s resource usage).  The outputs are checked block by block: sources + residual
must equal the mixture to 1e-5 (the files are 32-bit float WAV, so the check is exact).
Targets, printed PASS/FAIL: peak <= 1.5 GB at 20 and 60 minutes; flat memory (the 60-minute
peak <= 1.5x the 1-minute peak); linear time (60-minute time per minute <= 1.5x the
10-minute's).  Inputs are cached in /tmp/maskstudio-bench/.

    python benchmarks/bench_long.py            # 1, 10, 20, 60 minutes (run inside
                                               # flock /tmp/maskstudio-bench.lock ...)
    python benchmarks/bench_long.py --quick    # 1 minute, a check that it runs
    python benchmarks/bench_long.py --old /tmp/maskstudio-old
                                               # also the whole-array path of an old checkout
                                               # (git worktree add), at 1 and 10 minutes
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
CACHE = Path("/tmp/maskstudio-bench")
ROOT = Path(__file__).resolve().parent.parent
GB = 1 << 30


def _stems_block(start: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two stereo stems for samples start..start+n: a chord with vibrato, and noise bursts."""
    t = (start + np.arange(n)) / SR
    a = np.zeros((2, n), np.float64)
    for k, f in enumerate((220.0, 277.2, 329.6, 440.0)):
        a[0] += 0.08 * np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 0.5 * t + k))
        a[1] += 0.06 * np.sin(2 * np.pi * f * 1.01 * t + k)
    rng = np.random.default_rng(seed + start)
    gate = (np.floor(t * 4) % 3 == 0).astype(np.float64)  # bursts 4 times a second
    b = 0.1 * gate * rng.standard_normal((2, n))
    return a.astype(np.float32), b.astype(np.float32)


def generate(minutes: int) -> dict[str, Path]:
    """The mixture and its two stems of ``minutes``, written once (FLOAT WAV, mixture = sum)."""
    folder = CACHE / f"long-{minutes}min"
    files = {k: folder / f"{k}.wav" for k in ("mix", "a", "b")}
    n = minutes * 60 * SR
    if all(p.exists() and sf.info(str(p)).frames == n for p in files.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder))
    try:
        outs = {k: sf.SoundFile(str(tmp / p.name), "w", SR, 2, subtype="FLOAT")
                for k, p in files.items()}
        block = SR * 10
        for start in range(0, n, block):
            a, b = _stems_block(start, min(block, n - start), seed=minutes)
            outs["a"].write(a.T)
            outs["b"].write(b.T)
            outs["mix"].write((a + b).T)
        for f in outs.values():
            f.close()
        for p in files.values():
            os.replace(tmp / p.name, p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files


def run(args: list[str], *, pythonpath: Path = ROOT) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of ``python -m maskstudio ARGS`` in a child process."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    t0 = time.perf_counter()
    # run from the checkout: ``-m`` puts the working folder first on the path
    p = subprocess.Popen([sys.executable, "-m", "maskstudio", *map(str, args)], env=env,
                         cwd=pythonpath, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"maskstudio {' '.join(map(str, args[:2]))} failed: "
                         f"{err.decode(errors='replace').strip()}")
    return elapsed, usage.ru_maxrss / 1024  # kB on Linux


def sum_error(mix: Path, outs: list[Path]) -> float:
    """max |sum(outputs) - mixture|, read a block at a time."""
    worst = 0.0
    readers = [sf.blocks(str(p), blocksize=SR * 10, dtype="float32") for p in outs]
    for m, *parts in zip(sf.blocks(str(mix), blocksize=SR * 10, dtype="float32"), *readers):
        worst = max(worst, float(np.abs(sum(parts) - m).max()))
    return worst


def bench(minutes: int, out_root: Path, *, phases: tuple[str, ...], old: Path | None) -> dict:
    f = generate(minutes)
    row: dict = {"minutes": minutes}
    out = out_root / f"{minutes}min"
    oracle = ["oracle", f["mix"], "--source", f"a={f['a']}", "--source", f"b={f['b']}",
              "--mask", "wiener"]
    row["oracle"] = run([*oracle, "--out", out / "oracle"])
    row["sum"] = sum_error(f["mix"], [out / "oracle" / f"{k}.wav" for k in ("a", "b", "residual")])
    row["separate"] = run(["separate", f["mix"], "--masks", out / "oracle" / "masks.npz",
                           "--out", out / "separate"])
    shutil.rmtree(out / "separate", ignore_errors=True)
    for phase in phases:
        row[phase] = run([*oracle, "--phase", phase, "--out", out / phase])
        row[f"sum {phase}"] = sum_error(f["mix"], [out / phase / f"{k}.wav"
                                                   for k in ("a", "b", "residual")])
        shutil.rmtree(out / phase, ignore_errors=True)
    if old is not None:
        row["old"] = run([*oracle, "--out", out / "old"], pythonpath=old)
        shutil.rmtree(out / "old", ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 minute only")
    p.add_argument("--minutes", type=int, nargs="*", default=None)
    p.add_argument("--iterative", default="misi",
                   help="the iterative phase also run at 1 and 10 minutes (default misi)")
    p.add_argument("--old", type=Path, default=None,
                   help="a checkout of the whole-array path (git worktree add) to time too")
    p.add_argument("--old-minutes", type=int, nargs="*", default=[1, 10],
                   help="the lengths the old path runs at (default 1 and 10: it holds "
                        "everything, 11 GB at 60 minutes)")
    p.add_argument("--out", type=Path, default=None, help="scratch folder for the outputs")
    args = p.parse_args(argv)
    minutes = [1] if args.quick else (args.minutes or [1, 10, 20, 60])
    out_root = args.out or Path(tempfile.mkdtemp(prefix="bench-long-", dir=CACHE
                                                 if CACHE.exists() else None))
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    print(f"{'min':>4} {'oracle s':>9} {'peak MB':>8} {'s/min':>6} {'sum err':>8} "
          f"{'separate s':>10} {'peak MB':>8} {'iterative s':>11} {'peak MB':>8} "
          f"{'old s':>6} {'old MB':>7}")
    try:
        for m in minutes:
            phases = (args.iterative,) if m <= 10 and args.iterative else ()
            r = bench(m, out_root, phases=phases,
                      old=args.old if m in args.old_minutes else None)
            rows.append(r)
            it = r.get(args.iterative, (float("nan"), float("nan")))
            o = r.get("old", (float("nan"), float("nan")))
            print(f"{m:>4} {r['oracle'][0]:>9.1f} {r['oracle'][1]:>8.0f} "
                  f"{r['oracle'][0] / m:>6.2f} {r['sum']:>8.1e} {r['separate'][0]:>10.1f} "
                  f"{r['separate'][1]:>8.0f} {it[0]:>11.1f} {it[1]:>8.0f} {o[0]:>6.1f} "
                  f"{o[1]:>7.0f}", flush=True)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    by = {r["minutes"]: r for r in rows}
    checks = []
    for r in rows:
        sums = [v for k, v in r.items() if k.startswith("sum") and "fgla" not in k]
        checks.append((f"sources + residual = mixture at {r['minutes']} min (<= 1e-5)",
                       max(sums) <= 1e-5))
    for m in (20, 60):
        if m in by:
            peak = max(by[m]["oracle"][1], by[m]["separate"][1])
            checks.append((f"peak memory at {m} min <= 1.5 GB ({peak:.0f} MB)", peak <= 1536))
    if 1 in by and 60 in by:
        ratio = by[60]["oracle"][1] / by[1]["oracle"][1]
        checks.append((f"flat memory: 60-min peak / 1-min peak = {ratio:.2f} <= 1.5",
                       ratio <= 1.5))
    if 10 in by and 60 in by:
        per = (by[60]["oracle"][0] / 60) / (by[10]["oracle"][0] / 10)
        checks.append((f"linear time: 60-min s/min / 10-min s/min = {per:.2f} <= 1.5",
                       per <= 1.5))
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
