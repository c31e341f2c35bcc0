"""Per-channel against shared oracle masks on real stereo material: SI-SDR of each source.

    python benchmarks/bench_stereo_oracle.py [FOLDER ...]

Each FOLDER holds ``mixture.wav`` and ``sources/<name>.wav`` (stems summing to the mixture);
by default the stereo items of ``../shared/corpus`` (its README), plus one item made here from
that corpus (cached under ``/tmp/maskstudio-bench/stereo-oracle``): three sources panned apart,
the corpus's left-panned voice, its stereo music, and the ``voice_noise_48k`` noise resampled
to 44.1 kHz and panned right.

For every mask kind it runs ``maskstudio oracle`` twice, as a user would (block by block,
mixture phase): by default (one mask per channel) and with ``--shared`` (one mask from the
channels' pooled power), and prints each source's SI-SDR (channels flattened, as the live
scores give it) and the gain of the per-channel default.  The issue sets no target: the
figures are for the closing note of issue 13.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.cli import main
from maskstudio.dsp.metrics import si_sdr

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CACHE = Path("/tmp/maskstudio-bench/stereo-oracle")
KINDS = ("ibm", "irm", "wiener", "psm")
N_FFT, HOP = 2048, 512


def panned_three(corpus: Path) -> Path | None:
    """The three-source stereo item made from the corpus (cached); None without the corpus."""
    import scipy.signal

    stereo, noisy = corpus / "voice_music_stereo_44k", corpus / "voice_noise_48k"
    if not (stereo / "mixture.wav").exists() or not (noisy / "mixture.wav").exists():
        return None
    out = CACHE / "panned_three_44k"
    if (out / "mixture.wav").exists():
        return out
    voice, sr = sf.read(str(stereo / "sources" / "voice.wav"), dtype="float32")
    music, _ = sf.read(str(stereo / "sources" / "music.wav"), dtype="float32")
    noise48, sr48 = sf.read(str(noisy / "sources" / "noise.wav"), dtype="float32")
    noise = scipy.signal.resample_poly(noise48 if noise48.ndim == 1 else noise48.mean(axis=1),
                                       sr, sr48).astype(np.float32)
    n = min(len(voice), len(noise))
    noise = np.resize(noise, len(voice)) if n < len(voice) else noise[:len(voice)]
    noise = np.stack([0.25 * noise, 0.9 * noise], axis=1)  # panned right
    noise *= 0.5 * np.sqrt((music ** 2).mean() / max((noise ** 2).mean(), 1e-12))
    (out / "sources").mkdir(parents=True, exist_ok=True)
    for name, x in (("voice", voice), ("music", music), ("noise", noise)):
        sf.write(str(out / "sources" / f"{name}.wav"), x, sr, subtype="FLOAT")
    sf.write(str(out / "mixture.wav"), voice + music + noise, sr, subtype="FLOAT")
    return out


def items(folders: list[str]) -> list[Path]:
    if folders:
        return [Path(f) for f in folders]
    found = [p for p in sorted(CORPUS.glob("*/")) if (p / "mixture.wav").exists()
             and sf.info(str(p / "mixture.wav")).channels > 1]
    made = panned_three(CORPUS)
    return found + ([made] if made is not None else [])


def run_oracle(item: Path, kind: str, out: Path, shared: bool) -> dict:
    """SI-SDR by source of ``maskstudio oracle`` on ``item``."""
    stems = sorted((item / "sources").glob("*.wav"))
    args = ["oracle", str(item / "mixture.wav"), "--mask", kind, "--n-fft", str(N_FFT),
            "--hop-length", str(HOP), "--out", str(out)]
    for s in stems:
        args += ["--source", f"{s.stem}={s}"]
    if shared:
        args.append("--shared")
    said = io.StringIO()  # the files it wrote, and its warnings (PSM overlaps): not figures
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        status = main(args)
    if status != 0:
        raise SystemExit(f"maskstudio oracle failed on {item}: {said.getvalue()}")
    scores = {}
    for s in stems:
        ref, _ = sf.read(str(s), dtype="float32")
        est, _ = sf.read(str(out / f"{s.stem}.wav"), dtype="float32")
        scores[s.stem] = si_sdr(ref.T, est.T)
    return scores


def main_() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", help="items (default: the corpus's stereo items)")
    args = ap.parse_args()
    found = items(args.folders)
    if not found:
        print(f"no stereo item found (looked in {CORPUS})")
        return 0
    gains: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in found:
            info = sf.info(str(item / "mixture.wav"))
            print(f"\n{item.name}: {info.channels} ch, {info.samplerate} Hz, "
                  f"{info.duration:.1f} s; {N_FFT}/{HOP}, mixture phase")
            print(f"  {'mask':7s} {'source':8s} {'per-channel':>12s} {'shared':>8s} {'gain':>7s}")
            for kind in KINDS:
                t = time.perf_counter()
                per = run_oracle(item, kind, Path(tmp) / f"{item.name}-{kind}-per", False)
                shared = run_oracle(item, kind, Path(tmp) / f"{item.name}-{kind}-sh", True)
                seconds = time.perf_counter() - t
                for name in per:
                    gain = per[name] - shared[name]
                    gains.append(gain)
                    print(f"  {kind:7s} {name:8s} {per[name]:12.2f} {shared[name]:8.2f} "
                          f"{gain:+7.2f}")
                print(f"  ({kind}: both runs {seconds:.1f} s)")
    print(f"\nper-channel default over --shared: mean gain {np.mean(gains):+.2f} dB, "
          f"smallest {min(gains):+.2f} dB, largest {max(gains):+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
