"""Box annotations of a long file through the real command line: time and peak memory of
``maskstudio labels export`` and ``labels import`` on a 60-minute 16 kHz mixture whose mask file
holds two layers of boxes (a layer is 462 MB dense: 513 bins x 225,001 frames of float32).

Each run is a child process (``python -m maskstudio ...``) whose peak RSS is its own
(``os.wait4``).  The export must find every box that was drawn (1,800 + 1,200), and the import
of the exported table must give back the drawn masks exactly (compared block by block).
Target, printed PASS/FAIL: each command peaks below the size of one dense layer (the masks are
read, labelled and written a block of frames or a band of bins at a time, never whole).
Inputs are cached in /tmp/maskstudio-bench/labels-<minutes>min/.

    flock /tmp/maskstudio-bench.lock python benchmarks/bench_labels.py   # 60 minutes
    python benchmarks/bench_labels.py --minutes 2                        # a quick check
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.dsp.grid import STFTConfig
from maskstudio.io.ondemand import open_masks
from maskstudio.io.savez import write_mask_file

SR = 16000
CACHE = Path("/tmp/maskstudio-bench")
CFG = STFTConfig.for_samplerate(SR)  # 1024 / 256
MB = 1 << 20
#: (every, length) in seconds and (low, high) in bins of each layer's boxes
LAYERS = {"call": ((2.0, 0.5), (20, 96)), "song": ((3.0, 1.0), (128, 256))}


def _layer_rows(name: str, f0: int, f1: int, n_frames: int) -> np.ndarray:
    (every, length), (lo, hi) = LAYERS[name]
    centres = np.arange(n_frames) * CFG.hop_length / SR
    on = (centres % every) < length
    rows = np.zeros((f1 - f0, n_frames), np.float32)
    a, b = max(f0, lo) - f0, min(f1, hi) - f0
    if a < b:
        rows[a:b, on] = 0.9
    return rows


def generate(minutes: float) -> dict[str, Path]:
    folder = CACHE / f"labels-{minutes:g}min"
    folder.mkdir(parents=True, exist_ok=True)
    n = int(minutes * 60 * SR)
    mix, masks = folder / "mix.wav", folder / "masks.npz"
    if not (mix.exists() and sf.info(str(mix)).frames == n):
        rng = np.random.default_rng(0)
        with sf.SoundFile(str(mix), "w", SR, 1, subtype="PCM_16") as fh:
            for start in range(0, n, 60 * SR):
                fh.write(0.1 * rng.standard_normal(min(60 * SR, n - start)))
    n_frames = CFG.n_frames(n)
    if not masks.exists():
        names = list(LAYERS)
        write_mask_file(masks, names, (len(names), CFG.n_bins, n_frames),
                        lambda i, f0, f1: _layer_rows(names[i], f0, f1, n_frames), CFG, SR)
    return dict(mix=mix, masks=masks, folder=folder)


def run(*args: object) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB and stdout of ``python -m maskstudio *args`` (its own peak,
    from ``os.wait4``)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "maskstudio", *map(str, args)],
                                stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"maskstudio {' '.join(map(str, args))} failed: "
                             f"{err.read().strip()}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args()
    files = generate(args.minutes)
    n = int(args.minutes * 60 * SR)
    n_frames = CFG.n_frames(n)
    layer_mb = CFG.n_bins * n_frames * 4 / MB
    table, back = files["folder"] / "boxes.txt", files["folder"] / "back.npz"
    for path in (table, back):
        path.unlink(missing_ok=True)
    secs, peak, out = run("labels", "export", files["masks"], "--format", "raven", "--out",
                          table)
    rows = table.read_text().splitlines()[1:]
    centres = np.arange(n_frames) * CFG.hop_length / SR
    want = sum(int(np.count_nonzero(np.diff(np.r_[0, (centres % every) < length]) == 1))
               for (every, length), _ in LAYERS.values())
    found = len(rows)
    ok_export = peak < layer_mb and found == want
    print(f"export {args.minutes:g} min, 2 layers of {layer_mb:.0f} MB: {secs:.1f} s, peak "
          f"{peak:.0f} MB, {found} boxes (drawn {want}) "
          f"{'PASS' if ok_export else 'FAIL'} (< {layer_mb:.0f} MB)")
    secs, peak, out = run("labels", "import", table, "--format", "raven", "--mixture",
                          files["mix"], "--out", back)
    a = open_masks(files["masks"], n_channels=1, n_samples=n, samplerate=SR)
    b = open_masks(back, n_channels=1, n_samples=n, samplerate=SR)
    same = all(np.array_equal(a.frames(t, min(n_frames, t + 4096)) >= 0.5,
                              b.frames(t, min(n_frames, t + 4096)) >= 0.5)
               for t in range(0, n_frames, 4096))
    ok_import = peak < layer_mb and same
    print(f"import {args.minutes:g} min, {found} boxes: {secs:.1f} s, peak {peak:.0f} MB, "
          f"masks {'equal' if same else 'DIFFER'} {'PASS' if ok_import else 'FAIL'} "
          f"(< {layer_mb:.0f} MB)")
    return 0 if ok_export and ok_import else 1


if __name__ == "__main__":
    sys.exit(main())
