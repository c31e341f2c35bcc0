"""The multichannel Wiener filter (``--phase mwf``) against MISI: real-time factors on a
3-minute stereo song, and the SDR gain over the mixture phase, generated and on the corpus.

    python benchmarks/bench_mwf.py              # 3 minutes of generated stereo song, 44.1 kHz
    python benchmarks/bench_mwf.py --quick      # 10 s: checks it runs
    python benchmarks/bench_mwf.py --corpus /work/shared/corpus   # and voice_music_stereo_44k

Both modes render block by block (:func:`~maskstudio.dsp.blockwise.render_stream`, what
``oracle``, ``separate`` and the window's export run; ``batch`` renders an item whole) from oracle
Wiener masks (soft, shared by the channels), the residual included.  The song: a voice-like
harmonic melody panned left, a bass and pad panned right, drums in the centre with a short
stereo room, overlapping in frequency.  Targets: ``mwf`` (one EM iteration) renders faster
than real time, improves the mean SI-SDR over the mixture phase, and plays (the stream
renderer, 16-frame chunks) in under half of real time.  Quality figures are BSS Eval
v4 SDR (images, whole signal; on the corpus, for the shared Wiener masks) and SI-SDR, per
source.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maskstudio.dsp.blockwise import ArrayReader, render_stream  # noqa: E402
from maskstudio.dsp.metrics import bss_eval, si_sdr  # noqa: E402
from maskstudio.dsp.oracle import oracle_masks  # noqa: E402
from maskstudio.dsp.stft import STFTConfig  # noqa: E402
from maskstudio.dsp.stream import Heard, StreamRenderer  # noqa: E402

RESULTS: list[bool] = []
SR = 44100
CFG = STFTConfig(2048)  # the CLI's grid at 44.1 kHz: hop 512


def report(name: str, value: float, target: str, unit: str, ok: bool | None) -> None:
    if ok is not None:
        RESULTS.append(ok)
    verdict = "" if ok is None else f"target {target:<8} {'PASS' if ok else 'FAIL'}"
    print(f"  {name:<58} {value:>8.2f} {unit:<3} {verdict}")


def song(seconds: float, *, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A stereo song of three sources with different spatial images, ``(mixture, stems)``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = 0.5  # 120 bpm
    # voice: a melody of harmonic notes with vibrato, panned left
    notes = 220.0 * 2 ** (rng.choice([0, 2, 3, 5, 7, 8, 10, 12], size=int(seconds / beat) + 1)
                          / 12)
    f0 = np.repeat(notes, int(beat * SR))[:n] * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    ph = 2 * np.pi * np.cumsum(f0) / SR
    env = 0.5 - 0.5 * np.cos(2 * np.pi * (t % beat) / beat)
    voice = env * sum(np.sin(k * ph) / k ** 1.2 for k in range(1, 16))
    # bass and pad: low notes and a sustained chord, panned right
    bass_f = np.repeat(55.0 * 2 ** (rng.choice([0, 3, 5, 7], size=int(seconds / 2) + 1) / 12),
                       2 * SR)[:n]
    bass = np.sin(2 * np.pi * np.cumsum(bass_f) / SR)
    pad = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in (261.6, 329.6, 392.0))
    keys = 0.6 * bass + 0.25 * pad * (1 + 0.3 * np.sin(2 * np.pi * 0.2 * t))
    # drums: noise bursts on the beat, centred, in a short stereo room
    hits = np.zeros(n)
    hit = int(0.08 * SR)
    decay = np.exp(-np.arange(hit) / (0.015 * SR))
    for start in range(0, n - hit, int(beat * SR / 2)):
        hits[start:start + hit] += decay * rng.standard_normal(hit)
    room = [np.exp(-np.arange(600) / 150.0) * rng.standard_normal(600) * 0.05 for _ in (0, 1)]
    for r in room:
        r[0] = 1.0
    drums = np.stack([scipy.signal.fftconvolve(hits, r)[:n] for r in room])
    stems = {"voice": np.stack([0.85 * voice, 0.3 * voice]),
             "keys": np.stack([0.3 * keys, 0.85 * keys]),
             "drums": 0.5 * drums}
    peak = max(np.abs(sum(stems.values())).max(), 1e-9) / 0.8
    stems = {k: (v / peak).astype(np.float32) for k, v in stems.items()}
    return np.stack(list(stems.values())).sum(axis=0), stems


def render(mix: np.ndarray, masks: np.ndarray, phase: str, n_iter: int | None = None
           ) -> tuple[np.ndarray, float]:
    """Every layer and the residual, block by block; and the seconds it took."""
    start = time.perf_counter()
    out = np.concatenate(list(render_stream(ArrayReader(mix), lambda a, b: masks[..., a:b],
                                            masks.shape[0], CFG, phase=phase, n_iter=n_iter,
                                            samplerate=SR)), axis=-1)
    return out, time.perf_counter() - start


def compare(label: str, refs: list[np.ndarray], mix: np.ndarray, masks: np.ndarray,
            modes: list[tuple[str, int | None]], *, seconds: float | None = None,
            sdr: tuple[str, ...] = ()) -> None:
    """Each mode's render (timed when ``seconds`` is given), its SI-SDR per source and, for
    the modes in ``sdr``, BSS Eval SDR; the gains over the first mode."""
    first: dict[str, np.ndarray] = {}
    for phase, n_iter in modes:
        mode = phase if n_iter is None else f"{phase} x{n_iter}"
        out, took = render(mix, masks, phase, n_iter)
        if seconds is not None:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            report(f"{label}: real-time factor, {mode} (render s / audio s)", took / seconds,
                   "< 1", "", took / seconds < 1 if mode == "mwf x1" else None)
            print(f"  {'':<58} {took:8.2f} s   (peak RSS so far {rss:.0f} MB)")
        figures = {"SI-SDR": np.array([si_sdr(r, e) for r, e in zip(refs, out)])}
        if mode in sdr:
            figures["SDR"] = bss_eval(np.stack(refs), out).median()["sdr"]
        err = float(np.linalg.norm(out.sum(axis=0) - mix) / np.linalg.norm(mix))
        del out
        print(f"  {label} {mode:<10} " + "  ".join(
            f"{k} {np.array2string(v, precision=2)}" for k, v in figures.items())
            + f"  (sum error {err:.1e})")
        if not first:
            first = figures
            continue
        for k, v in figures.items():
            if k in first:
                gain = float(np.mean(v - first[k]))
                target = k == "SI-SDR" and mode == "mwf x1" and label == "song"
                report(f"{label}: {mode} mean {k} gain over {modes[0][0]}", gain, "> 0", "dB",
                       gain > 0 if target else None)


def working_memory(mix: np.ndarray, masks: np.ndarray, phase: str, n_iter: int) -> float:
    """MB that numpy allocates at most while rendering block by block, the blocks dropped as
    they come (as an export writes them): what the render holds beyond its inputs."""
    tracemalloc.start()
    for _ in render_stream(ArrayReader(mix), lambda a, b: masks[..., a:b], masks.shape[0], CFG,
                           phase=phase, n_iter=n_iter, samplerate=SR):
        pass
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return peak


def playback(mix: np.ndarray, masks: np.ndarray, seconds: float) -> None:
    """Playback's renderer (16 frames a chunk, context on both sides) playing the first layer:
    its real-time factor, which must stay well under 1 for the sound not to break up."""
    n = int(seconds * SR)
    for phase, n_iter in (("misi", 5), ("mwf", 1)):
        r = StreamRenderer(mix[:, :n], CFG, lambda a, b: masks[..., a:b], masks.shape[0],
                           phase=phase, n_iter=n_iter, samplerate=SR)
        r.heard = Heard("layer", (0,))
        start = time.perf_counter()
        r.render(n)
        took = time.perf_counter() - start
        report(f"playback: real-time factor, {phase} x{n_iter} ({seconds:.0f} s)",
               took / seconds, "< 0.5", "", took / seconds < 0.5 if phase == "mwf" else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s instead of 3 minutes")
    ap.add_argument("--corpus", type=Path, help="a folder holding voice_music_stereo_44k/")
    args = ap.parse_args(argv)
    seconds = 10.0 if args.quick else 180.0
    mix, stems = song(seconds)
    refs = list(stems.values())
    masks = oracle_masks(mix, refs[:2], CFG, "wiener")  # voice, keys; drums: the residual
    print(f"stereo song, {seconds:.0f} s at {SR} Hz, n_fft {CFG.n_fft} hop {CFG.hop_length}, "
          f"masks {masks.shape} (voice, keys; the drums are the residual)")
    compare("song", refs, mix, masks, [("mixture", None), ("misi", 5), ("mwf", 1), ("mwf", 2)],
            seconds=seconds)
    playback(mix, masks, min(seconds, 30.0))
    short = int(min(seconds, 30.0) * SR)
    for phase, n_iter in (("misi", 5), ("mwf", 1)):
        for part in sorted({short, mix.shape[1]}):
            t = masks.shape[-1] if part == mix.shape[1] else CFG.n_frames(part)
            mb = working_memory(mix[:, :part], masks[..., :t], phase, n_iter)
            report(f"working memory, {phase} x{n_iter}, block by block, {part / SR:.0f} s", mb,
                   "", "MB", None)
    del mix, stems, refs, masks
    if args.corpus is not None:
        item = args.corpus / "voice_music_stereo_44k"
        if (item / "mixture.wav").exists():
            meta = json.loads((item / "meta.json").read_text())
            cmix = sf.read(str(item / "mixture.wav"), dtype="float32", always_2d=True)[0].T
            csrc = [sf.read(str(item / "sources" / f"{k}.wav"), dtype="float32",
                            always_2d=True)[0].T for k in meta["sources"]]
            print(f"corpus voice_music_stereo_44k ({cmix.shape[1] / SR:.1f} s; "
                  f"{meta['sources'][0]} a layer, the rest the residual)")
            for kind, per_channel in (("wiener", False), ("irm", False), ("wiener", True)):
                cm = oracle_masks(cmix, csrc[:1], CFG, kind, per_channel=per_channel)
                label = f"corpus {kind}{' per-channel' if per_channel else ''}"
                compare(label, [csrc[0], sum(csrc[1:])], cmix, cm,
                        [("mixture", None), ("mwf", 1), ("mwf", 2)],
                        sdr=("mixture", "mwf x1") if kind == "wiener" and not per_channel
                        else ())
        else:
            print(f"no voice_music_stereo_44k under {args.corpus}: corpus figures skipped")
    print(f"{sum(RESULTS)} of {len(RESULTS)} targets met")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
