"""What the core costs, side by side with librosa 0.11, in one process on the same signals.

    python benchmarks/bench_core.py            # the whole set (about a minute)
    python benchmarks/bench_core.py --quick    # tiny signals: checks it runs, not the targets

The process is pinned to one CPU so every figure is single-core, ours and librosa's alike.
Targets (issue 2): STFT + inverse >= 2x librosa's throughput; mask apply + inverse >= 600x real
time for 60 s and 600 s of 44.1 kHz; fast Griffin-Lim (32 iterations) >= 2x faster than
librosa.griffinlim(n_iter=32) at equal or better spectral convergence; MISI (5 iterations, two
sources) >= 25x real time.  Each line prints PASS or FAIL against its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

from maskstudio.dsp.phase import fast_griffin_lim, resynthesize, spectral_convergence  # noqa: E402
from maskstudio.dsp.stft import STFTConfig, istft, stft, synthesize  # noqa: E402

SR = 44100
CFG = STFTConfig(n_fft=2048, hop_length=512)
RESULTS = []


def timed(fn, repeat=5):
    fn()  # warm caches and plans
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def report(name, value, target, unit, ok):
    RESULTS.append(ok)
    print(f"  {name:<58} {value:>9.2f} {unit:<8} target {target:<10} {'PASS' if ok else 'FAIL'}")


def music_like(seconds, seed=0):
    """A harmonic melody over noise: realistic spectra without any file."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 16))
    hiss = scipy.signal.lfilter([1], [1, -0.95], rng.standard_normal(n)) * 0.02
    x = 0.2 * tone + hiss
    return (x / np.abs(x).max() * 0.5).astype(np.float32)


def bench_stft(seconds, librosa):
    print(f"\nSTFT + inverse, {seconds:.0f} s mono at 44.1 kHz, hann 2048/512")
    y = music_like(seconds)
    kw = CFG.kwargs()
    S = stft(y, **kw)
    ours_f, _ = timed(lambda: stft(y, **kw))
    ours_i, _ = timed(lambda: istft(S, length=y.size, **kw))
    L = librosa.stft(y, n_fft=2048, hop_length=512)
    lib_f, _ = timed(lambda: librosa.stft(y, n_fft=2048, hop_length=512))
    lib_i, _ = timed(lambda: librosa.istft(L, hop_length=512, length=y.size))
    win = scipy.signal.get_window("hann", 2048)
    sft = scipy.signal.ShortTimeFFT(win, hop=512, fs=SR, mfft=2048)
    sft_f, _ = timed(lambda: sft.stft(y), repeat=2)
    Z = sft.stft(y)
    sft_i, _ = timed(lambda: sft.istft(Z, k1=y.size), repeat=2)
    print(f"  ours       stft {1e3 * ours_f:7.1f} ms   istft {1e3 * ours_i:7.1f} ms")
    print(f"  librosa    stft {1e3 * lib_f:7.1f} ms   istft {1e3 * lib_i:7.1f} ms")
    print(f"  ShortTimeFFT stft {1e3 * sft_f:5.1f} ms   istft {1e3 * sft_i:7.1f} ms (complex128)")
    err = float(np.abs(istft(S, length=y.size, **kw) - y).max())
    print(f"  round-trip max error {err:.1e}")
    ratio = (lib_f + lib_i) / (ours_f + ours_i)
    report("STFT + inverse throughput vs librosa", ratio, ">= 2x", "x", ratio >= 2)


def bench_apply(seconds):
    print(f"\nMask apply + inverse, {seconds:.0f} s mono at 44.1 kHz, one core")
    y = music_like(seconds, seed=1)
    kw = CFG.kwargs()
    S = stft(y, **kw)[None]
    M = np.random.default_rng(2).uniform(0, 1, S.shape[1:]).astype(np.float32)

    def apply():
        return synthesize(lambda t0, t1: S[:, :, t0:t1] * M[:, t0:t1], S.shape[-1], 1,
                          length=y.size, **kw)
    best, med = timed(apply, repeat=3)
    rt = seconds / best
    print(f"  {1e3 * best:.0f} ms best, {1e3 * med:.0f} ms median")
    report(f"mask x STFT -> inverse, {seconds:.0f} s (real-time factor)", rt, ">= 600x", "x RT",
           rt >= 600)
    full, _ = timed(lambda: resynthesize(y[None], M[None], CFG), repeat=3)
    print(f"  from audio (STFT of each block + source + residual): {1e3 * full:.0f} ms, "
          f"{seconds / full:.0f}x real time")


def bench_fgla(seconds, librosa):
    print(f"\nFast Griffin-Lim, 32 iterations, {seconds:.0f} s mono at 44.1 kHz")
    y = music_like(seconds, seed=3)
    kw = CFG.kwargs()
    A = np.abs(stft(y, **kw))
    # librosa draws its random phase from RandomState(seed): start both from that same draw
    init = np.exp(2j * np.pi * np.random.RandomState(0).random(A.shape)).astype(np.complex64)

    def theirs():
        return librosa.griffinlim(A, n_iter=32, hop_length=512, n_fft=2048, length=y.size,
                                  random_state=np.random.RandomState(0))

    def ours():
        return fast_griffin_lim(A, init, CFG, n_iter=32, length=y.size)
    ours_t, _ = timed(ours, 2)
    lib_t, _ = timed(theirs, 2)
    ours_sc = spectral_convergence(A, ours(), CFG)
    lib_sc = spectral_convergence(A, theirs(), CFG)
    print(f"  ours {ours_t:.2f} s (spectral convergence {ours_sc:.4f}); "
          f"librosa {lib_t:.2f} s ({lib_sc:.4f}); both from the same random phase")
    ratio = lib_t / ours_t
    report("fast Griffin-Lim speed vs librosa.griffinlim", ratio, ">= 2x", "x",
           ratio >= 2 and ours_sc <= lib_sc * 1.001)


def bench_misi(seconds):
    print(f"\nMISI, 5 iterations, two sources, {seconds:.0f} s mono at 44.1 kHz")
    s1 = music_like(seconds, seed=4)
    s2 = scipy.signal.lfilter([1], [1, -0.9], np.random.default_rng(5).standard_normal(
        s1.size)).astype(np.float32) * 0.05
    mix = (s1 + s2)[None]
    kw = CFG.kwargs()
    P1, P2 = np.abs(stft(s1, **kw)) ** 2, np.abs(stft(s2, **kw)) ** 2
    masks = np.stack([P1, P2]) / np.maximum(P1 + P2, 1e-12)
    best, _ = timed(lambda: resynthesize(mix, masks, CFG, phase="misi", n_iter=5), repeat=2)
    rt = seconds / best
    print(f"  {best:.2f} s")
    report("MISI, 5 iterations, 2 sources (real-time factor)", rt, ">= 25x", "x RT", rt >= 25)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short signals, for a smoke run")
    args = ap.parse_args(argv)
    try:
        import librosa
    except ImportError:
        sys.exit("benchmarks compare with librosa: pip install -e '.[reference]'")
    print(f"maskstudio core benchmark, one core, librosa {librosa.__version__}, "
          f"numpy {np.__version__}")
    bench_stft(2.0 if args.quick else 60.0, librosa)
    bench_apply(2.0 if args.quick else 60.0)
    bench_apply(6.0 if args.quick else 600.0)
    bench_fgla(1.0 if args.quick else 20.0, librosa)
    bench_misi(2.0 if args.quick else 60.0)
    print(f"\n{sum(RESULTS)} of {len(RESULTS)} targets met")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
