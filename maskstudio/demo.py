"""The built-in demo: a short two-source mixture with its exact stems, made by this module.

``python -m maskstudio.demo`` (re)writes ``resources/demo/``: ``sources/voice.flac`` (a sung-like
melody, a harmonic stack with vibrato and vowel formants), ``sources/drums.flac`` (kick, snare
and hi-hats) and ``mixture.flac``.  The stems are 16-bit and the mixture their sum in 24 bits,
so ``mixture == voice + drums`` sample for sample and oracle masks work out of the box.
When the committed files are absent (an installed wheel) they are generated into a cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLERATE = 22050
SECONDS = 6.0
REPO_RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "demo"


def _voice(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    notes = [(0.0, 0.9, 220.0), (1.0, 1.9, 246.9), (2.0, 2.6, 277.2), (2.8, 3.9, 329.6),
             (4.1, 4.7, 293.7), (4.8, 5.8, 246.9)]
    out = np.zeros_like(t)
    formants = [(700.0, 130.0), (1200.0, 160.0), (2600.0, 250.0)]
    for start, stop, f0 in notes:
        on = (t >= start) & (t < stop)
        tt = t[on] - start
        vib = 1 + 0.012 * np.sin(2 * np.pi * 5.5 * tt) * np.minimum(tt / 0.3, 1)
        phase = 2 * np.pi * f0 * np.cumsum(vib) / SAMPLERATE
        env = np.minimum(tt / 0.05, 1) * np.minimum((stop - start - tt) / 0.08, 1)
        note = np.zeros_like(tt)
        for k in range(1, 30):
            fk = k * f0
            if fk > SAMPLERATE / 2 - 500:
                break
            gain = sum(np.exp(-0.5 * ((fk - fc) / bw) ** 2) for fc, bw in formants) + 0.05 / k
            note += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        out[on] += env * note
    return out


def _drums(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import scipy.signal  # only the generator needs it; opening the demo must not pay 0.5 s

    out = np.zeros_like(t)
    beat = 0.5
    for i, start in enumerate(np.arange(0, SECONDS - 0.2, beat / 2)):
        n0 = int(start * SAMPLERATE)
        n = min(int(0.4 * SAMPLERATE), len(t) - n0)
        tt = np.arange(n) / SAMPLERATE
        if i % 4 == 0:  # kick: a falling sine
            f = 50 + 90 * np.exp(-tt / 0.04)
            hit = np.sin(2 * np.pi * np.cumsum(f) / SAMPLERATE) * np.exp(-tt / 0.15)
        elif i % 4 == 2:  # snare: tone plus band-passed noise
            noise = scipy.signal.sosfilt(
                scipy.signal.butter(2, [1500, 7000], "bandpass", fs=SAMPLERATE, output="sos"),
                rng.standard_normal(n))
            hit = (0.5 * np.sin(2 * np.pi * 190 * tt) + 1.5 * noise) * np.exp(-tt / 0.09)
        else:  # hi-hat: high-passed noise, short
            noise = scipy.signal.sosfilt(
                scipy.signal.butter(4, 7000, "highpass", fs=SAMPLERATE, output="sos"),
                rng.standard_normal(n))
            hit = 0.6 * noise * np.exp(-tt / 0.025)
        out[n0: n0 + n] += hit
    return out


def make_demo(folder) -> Path:
    """Write the demo into ``folder`` and return the mixture's path."""
    folder = Path(folder)
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261121)
    t = np.arange(int(SECONDS * SAMPLERATE)) / SAMPLERATE
    stems = {"voice": _voice(t, rng), "drums": _drums(t, rng)}
    quantised = {}
    for name, x in stems.items():
        x = 0.45 * x / np.abs(x).max()
        q = np.round(x * 32768) / 32768  # exactly what 16-bit stores
        quantised[name] = q
        sf.write(str(folder / "sources" / f"{name}.flac"), q, SAMPLERATE, subtype="PCM_16")
    mixture = sum(quantised.values())
    sf.write(str(folder / "mixture.flac"), mixture, SAMPLERATE, subtype="PCM_24")
    return folder / "mixture.flac"


def demo_folder() -> Path:
    """The demo's folder: the committed one, else one generated in the user's cache."""
    if (REPO_RESOURCES / "mixture.flac").exists():
        return REPO_RESOURCES
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "maskstudio" / "demo"
    if not (cache / "mixture.flac").exists():
        make_demo(cache)
    return cache


def demo_mixture() -> Path:
    """The demo's mixture (what ``maskstudio`` with no file opens)."""
    return demo_folder() / "mixture.flac"


def demo_stems() -> dict:
    """``{name: path}`` of the demo's stems."""
    folder = demo_folder()
    return {p.stem: p for p in sorted((folder / "sources").glob("*.flac"))}


if __name__ == "__main__":  # pragma: no cover - the generator script
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_RESOURCES
    print(make_demo(target))
