"""The ``rnnoise`` separator: real-time factor and SI-SDR, on generated speech and on the corpus.

    python benchmarks/bench_rnnoise.py              # 3 minutes of speech-like sound in noise
    python benchmarks/bench_rnnoise.py --quick      # 5 s: checks it runs
    python benchmarks/bench_rnnoise.py --corpus /work/shared/corpus   # and voice_noise_48k

The speech-like signal (:func:`speech_like`) is a glottal pulse train through formant filters,
in syllables with pauses and unvoiced bursts; the tests use it too.  Targets: the separator
runs at least 5x faster than real time on a 3-minute mono 48 kHz file, and its speech mask
improves SI-SDR over the mixture.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maskstudio.dsp.metrics import si_sdr  # noqa: E402
from maskstudio.dsp.phase import resynthesize  # noqa: E402
from maskstudio.dsp.separators import run_separator  # noqa: E402
from maskstudio.dsp.speech import denoise, rnnoise_available  # noqa: E402
from maskstudio.dsp.stft import STFTConfig, stft_with  # noqa: E402

RESULTS: list[bool] = []

# vowels' first four formants (Hz) and their bandwidths: /a/, /e/, /i/, /o/, /u/
_VOWELS = np.array([[730, 1090, 2440, 3400], [530, 1840, 2480, 3500], [270, 2290, 3010, 3700],
                    [570, 840, 2410, 3300], [300, 870, 2240, 3400]], float)
_BANDWIDTHS = np.array([80, 100, 140, 200], float)


def _resonator(f: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / sr)
    a = np.array([1, -2 * r * np.cos(2 * np.pi * f / sr), r * r])
    return np.array([a.sum()]), a  # unit gain at 0 Hz


def speech_like(n: int, sr: int, *, seed: int = 0, f0: float = 130.0) -> np.ndarray:
    """A speech-like signal: voiced syllables, unvoiced bursts and pauses, peak 0.5.

    Voiced: a glottal pulse train (f0 gliding around ``f0`` with jitter; a -12 dB/octave
    glottal filter and +6 dB/octave lip radiation) through four formant resonators of a vowel
    chosen per syllable, with a raised-cosine envelope.  Unvoiced: high-passed noise bursts.

    Parameters
    ----------
    n : int
        Samples.
    sr : int
        Rate, in Hz.
    seed : int
        Of the random syllables.
    f0 : float
        Mean pitch, in Hz.

    Returns
    -------
    np.ndarray [shape=(n,)], float32
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    hp = scipy.signal.butter(4, min(2500.0, 0.3 * sr), "highpass", fs=sr, output="sos")
    t = int(rng.uniform(0.05, 0.2) * sr)
    while t < n:
        if rng.random() < 0.2:  # an unvoiced burst (a fricative)
            m = int(rng.uniform(0.06, 0.12) * sr)
            seg = scipy.signal.sosfilt(hp, rng.standard_normal(m)) * 0.15
        else:  # a voiced syllable
            m = int(rng.uniform(0.12, 0.32) * sr)
            pitch = f0 * rng.uniform(0.8, 1.25) * np.linspace(1.05, 0.92, m)
            pitch *= 1 + 0.01 * rng.standard_normal(m).cumsum() / np.sqrt(np.arange(1, m + 1))
            phase = np.cumsum(pitch / sr)
            pulses = np.diff(np.floor(phase), prepend=0.0)
            g = scipy.signal.lfilter([1.0], [1, -1.94, 0.9409], pulses)  # glottal: -12 dB/oct
            g = np.diff(g, prepend=0.0)  # lip radiation: +6 dB/oct
            formants = _VOWELS[rng.integers(len(_VOWELS))] * rng.uniform(0.9, 1.1)
            for f, bw in zip(formants, _BANDWIDTHS):
                if f < 0.45 * sr:
                    b, a = _resonator(f, bw, sr)
                    g = scipy.signal.lfilter(b, a, g)
            seg = g / max(np.abs(g).max(), 1e-9) * rng.uniform(0.5, 1.0)
        ramp = min(int(0.025 * sr), m // 2)
        env = np.ones(m)
        env[:ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        env[m - ramp:] = env[:ramp][::-1]
        end = min(n, t + m)
        out[t:end] += (seg * env)[:end - t]
        t = end + int(rng.choice([0.0, rng.uniform(0.03, 0.3)], p=[0.3, 0.7]) * sr)
    return (0.5 * out / max(np.abs(out).max(), 1e-9)).astype(np.float32)


def noise_like(n: int, sr: int, *, seed: int = 1) -> np.ndarray:
    """Stationary noise with a falling spectrum (pink-ish, as fans and traffic are), rms 1.

    Parameters
    ----------
    n : int
    sr : int
    seed : int

    Returns
    -------
    np.ndarray [shape=(n,)], float32
    """
    rng = np.random.default_rng(seed)
    x = scipy.signal.lfilter([1.0], [1, -0.9], rng.standard_normal(n))
    x += 0.5 * rng.standard_normal(n)
    return (x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def mixture(n: int, sr: int, *, snr_db: float = 0.0, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speech-like sound plus noise at ``snr_db``: ``(mixture, speech, noise)``, each (n,).

    Parameters
    ----------
    n : int
    sr : int
    snr_db : float
    seed : int

    Returns
    -------
    tuple of np.ndarray
    """
    s = speech_like(n, sr, seed=seed)
    v = noise_like(n, sr, seed=seed + 1)
    v *= np.sqrt(np.mean(s.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    return s + v, s, v.astype(np.float32)


def report(name: str, value: float, target: str, unit: str, ok: bool | None) -> None:
    """One line; ``ok`` None for a figure with no target."""
    if ok is not None:
        RESULTS.append(ok)
    verdict = "" if ok is None else f"target {target:<8} {'PASS' if ok else 'FAIL'}"
    print(f"  {name:<58} {value:>8.2f} {unit:<3} {verdict}")


def separate(mix: np.ndarray, sr: int) -> tuple[float, float, np.ndarray]:
    """Run the separator on ``mix [C, n]``: (wall seconds, CPU seconds, speech mask)."""
    config = STFTConfig.for_samplerate(sr)
    Y = stft_with(mix, config)
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    names, masks = run_separator("rnnoise", Y, samplerate=sr, config=config)
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return wall, cpu, masks[names.index("speech")]


def quality(label: str, mix: np.ndarray, speech: np.ndarray, sr: int, mask: np.ndarray,
            *, min_gain: float) -> None:
    """SI-SDR of the mixture, of RNNoise's own output and of the speech mask's estimate."""
    config = STFTConfig.for_samplerate(sr)
    est = resynthesize(mix, mask[None], config, include_residual=False)[0]
    before = si_sdr(speech, mix)
    report(f"{label}: SI-SDR of the mixture", before, "", "dB", None)
    report(f"{label}: SI-SDR of RNNoise's output", si_sdr(speech, denoise(mix, samplerate=sr)),
           "", "dB", None)
    after = si_sdr(speech, est)
    report(f"{label}: SI-SDR of the speech mask (mixture phase)", after,
           f">= {before + min_gain:.1f}", "dB", after >= before + min_gain)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 s instead of 3 minutes")
    ap.add_argument("--corpus", type=Path, help="a folder holding voice_noise_48k/")
    args = ap.parse_args(argv)
    if not rnnoise_available():
        print("pyrnnoise is not installed: pip install 'maskstudio[models]'")
        return 1
    seconds = 5.0 if args.quick else 180.0
    print(f"rnnoise separator: speech-like sound in noise at 0 dB, {seconds:.0f} s")
    for sr, channels, target in ((48000, 1, 5.0), (44100, 2, 2.5)):
        n = int(seconds * sr)
        parts = [mixture(n, sr, seed=c) for c in range(channels)]
        mix, speech = (np.stack([p[i] for p in parts]) for i in (0, 1))
        wall, cpu, mask = separate(mix, sr)
        label = f"{sr / 1000:g} kHz {'mono' if channels == 1 else 'stereo'}"
        report(f"{label}: real-time factor (wall clock)", seconds / wall, f">= {target:g}",
               "x", seconds / wall >= target)
        report(f"{label}: real-time factor (CPU time)", seconds / cpu, "", "x", None)
        quality(label, mix, speech, sr, mask, min_gain=3.0)
    item = args.corpus / "voice_noise_48k" if args.corpus else None
    if item is not None and (item / "mixture.wav").is_file():
        import soundfile as sf

        mix, sr = sf.read(str(item / "mixture.wav"), dtype="float32", always_2d=True)
        speech, _ = sf.read(str(item / "sources" / "voice.wav"), dtype="float32",
                            always_2d=True)
        mix, speech = mix.T, speech.T
        wall, _, mask = separate(mix, sr)
        seconds = mix.shape[-1] / sr
        print(f"corpus voice_noise_48k ({seconds:.1f} s, {sr} Hz, {mix.shape[0]} channel)")
        report("voice_noise_48k: real-time factor (wall clock)", seconds / wall, "", "x", None)
        quality("voice_noise_48k", mix, speech, sr, mask, min_gain=3.0)
    elif args.corpus:
        print(f"no voice_noise_48k under {args.corpus}: corpus figures skipped")
    print(f"{sum(RESULTS)} of {len(RESULTS)} targets met")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
