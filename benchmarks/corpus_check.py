"""Oracle masks on real recordings, against an independent computation of the same formulas.

    python benchmarks/corpus_check.py ../shared/corpus/*/

Each folder holds ``mixture.wav`` and ``sources/<name>.wav`` (the stems summing to the mixture).
For every mask kind it computes SI-SDR per source twice: through maskstudio (oracle_masks,
resynthesize, si_sdr) and independently (librosa's STFT, the formulas of DESIGN.md written out
here in plain numpy, and SI-SDR written out here), then prints both and their difference.
It also reports what MISI (5 iterations) adds over the mixture phase for Wiener-like masks.

A per-channel cIRM reconstructs each stem exactly, so both computations land above 100 dB, where
SI-SDR measures only float32 rounding (1e-7 relative error is 140 dB): such pairs are shown as
"exact" and left out of the comparison, which is about the formulas, not about rounding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.dsp.metrics import si_sdr
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig

KINDS = ("ibm", "irm", "wiener", "psm", "cirm")
EXACT_DB = 100.0  #: above this both sides are the source to float precision
N_FFT, HOP = 2048, 512


def independent_si_sdr(ref, est):
    s = ref.ravel().astype(np.float64)
    e = est.ravel().astype(np.float64)
    s, e = s - s.mean(), e - e.mean()
    proj = (e @ s) / (s @ s) * s
    return 10 * np.log10((proj @ proj) / ((e - proj) @ (e - proj)))


def independent_estimates(librosa, mix, refs, kind, per_channel):
    """The formulas, written out directly; channels pooled unless per_channel."""
    Y = librosa.stft(mix, n_fft=N_FFT, hop_length=HOP, pad_mode="constant")  # [C, F, T]
    S = np.stack([librosa.stft(r, n_fft=N_FFT, hop_length=HOP, pad_mode="constant")
                  for r in refs])
    S = np.concatenate([S, (Y - S.sum(axis=0))[None]])  # 'other': whatever the stems miss
    eps = 1e-12
    if per_channel:
        P, Yp, cross = np.abs(S) ** 2, np.abs(Y) ** 2, S * np.conj(Y)
        rest = np.abs(Y[None] - S) ** 2
    else:
        P = (np.abs(S) ** 2).sum(axis=1, keepdims=True)
        Yp = (np.abs(Y) ** 2).sum(axis=0, keepdims=True)
        cross = (S * np.conj(Y)).sum(axis=1, keepdims=True)
        rest = (np.abs(Y[None] - S) ** 2).sum(axis=1, keepdims=True)
    total = P.sum(axis=0)
    if kind == "ibm":
        M = ((P > rest) & (P >= P.max(axis=0))).astype(float)
    elif kind == "irm":
        M = np.sqrt(P / np.maximum(total, eps))
    elif kind == "wiener":
        M = P / np.maximum(total, eps)
    elif kind == "psm":
        M = np.clip(cross.real / np.maximum(Yp, eps), 0, 1)
    else:
        M = cross / np.maximum(Yp, eps)
    return [librosa.istft(M[i] * Y, hop_length=HOP, length=mix.shape[-1])
            for i in range(len(refs))]


def check_folder(folder: Path, librosa, misi_iters: int):
    mix, sr = sf.read(str(folder / "mixture.wav"), dtype="float32", always_2d=True)
    mix = mix.T
    names, refs = [], []
    for p in sorted((folder / "sources").glob("*.wav")):
        x, _ = sf.read(str(p), dtype="float32", always_2d=True)
        names.append(p.stem)
        refs.append(x.T)
    cfg = STFTConfig(n_fft=N_FFT, hop_length=HOP)
    C = mix.shape[0]
    print(f"\n{folder.name}: {sr} Hz, {C} channel(s), {mix.shape[1] / sr:.1f} s, "
          f"sources {', '.join(names)}")
    print(f"  {'mask':<20}" + "".join(f"{n + ' ours':>14}{'direct':>9}{'diff':>8}" for n in names))
    worst = 0.0
    variants = [(k, False) for k in KINDS] + ([(k, True) for k in KINDS] if C > 1 else [])
    for kind, per_channel in variants:
        masks = oracle_masks(mix, refs, cfg, kind, per_channel=per_channel)
        phase = "complex" if kind == "cirm" else "mixture"
        ours = resynthesize(mix, masks, cfg, phase=phase)
        direct = independent_estimates(librosa, mix, refs, kind, per_channel)
        row = f"  {kind + (' per-channel' if per_channel else ''):<20}"
        for i in range(len(names)):
            a, b = si_sdr(refs[i], ours[i]), independent_si_sdr(refs[i], direct[i])
            if a > EXACT_DB and b > EXACT_DB:
                row += f"{a:14.1f}{b:9.1f}{'exact':>8}"
                continue
            worst = max(worst, abs(a - b))
            row += f"{a:14.2f}{b:9.2f}{a - b:8.3f}"
        print(row)
    masks = oracle_masks(mix, refs, cfg, "wiener")
    base = resynthesize(mix, masks, cfg)
    misi = resynthesize(mix, masks, cfg, phase="misi", n_iter=misi_iters)
    gains = [si_sdr(r, m) - si_sdr(r, b) for r, m, b in zip(refs, misi, base)]
    print(f"  MISI ({misi_iters} it.) on Wiener-like masks: " + ", ".join(
        f"{n} {si_sdr(r, b):.2f} -> {si_sdr(r, m):.2f} dB ({g:+.2f})"
        for n, r, b, m, g in zip(names, refs, base, misi, gains)))
    return worst, gains


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--misi-iters", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        import librosa
    except ImportError:
        sys.exit("the independent computation uses librosa: pip install -e '.[reference]'")
    worst, gains = 0.0, []
    for folder in args.folders:
        w, g = check_folder(folder.resolve(), librosa, args.misi_iters)
        worst, gains = max(worst, w), gains + g
    print(f"\nlargest |ours - direct| SI-SDR difference: {worst:.4f} dB (target <= 0.05 dB)")
    print(f"MISI gain over the mixture phase: {min(gains):+.2f} to {max(gains):+.2f} dB, "
          f"mean {np.mean(gains):+.2f} dB")
    return 0 if worst <= 0.05 and np.mean(gains) > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
