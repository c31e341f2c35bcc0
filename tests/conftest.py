"""Shared fixtures: signals are generated here, never read from ../shared."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# crash journals of the tests' sessions go to a folder of their own, not the user's, and it
# goes when the run ends
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="maskstudio-test-state-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI is a gate: the same examples every run.  Locally, Hypothesis explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

SR = 16000


def harmonic(n, sr=SR, f0=220.0, n_harm=12, seed=0):
    """A harmonic stack with a slow vibrato: a voiced, 'tonal' source."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    phase = 2 * np.pi * f0 * (t + 0.002 * np.sin(2 * np.pi * 4 * t))
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, n_harm + 1))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def clicks(n, sr=SR, every=0.25, seed=1):
    """Decaying noise bursts: a 'percussive' source."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    hit = int(0.04 * sr)
    env = np.exp(-np.arange(hit) / (0.008 * sr))
    for start in range(0, n - hit, int(every * sr)):
        x[start:start + hit] += env * rng.standard_normal(hit)
    return (0.3 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def noise(n, seed=2, level=0.1):
    return (level * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.fixture
def two_sources():
    """A mono mixture of a harmonic and a percussive source: (mixture, [s1, s2]) as [1, n]."""
    n = SR * 2
    s1, s2 = harmonic(n)[None], clicks(n)[None]
    return s1 + s2, [s1, s2]


def stereo_stems(folder, seconds: float) -> dict:
    """A stereo mixture of a harmonic voice (louder on the left) and clicks (different on
    each channel), with its two stems, written to ``folder``: the stems' paths by name (the
    mixture is ``folder / "mix.wav"``)."""
    n = int(SR * seconds)
    voice = np.stack([harmonic(n), 0.5 * harmonic(n)])
    drums = np.stack([0.3 * clicks(n), clicks(n, seed=4)])
    for name, x in (("mix", voice + drums), ("voice", voice), ("drums", drums)):
        sf.write(str(folder / f"{name}.wav"), x.T, SR, subtype="FLOAT")
    return {"voice": str(folder / "voice.wav"), "drums": str(folder / "drums.wav")}


@pytest.fixture
def write_wav(tmp_path):
    """Write ``[C, n]`` samples to a file in tmp_path through soundfile; return the path."""
    def write(name, samples, sr=SR, subtype="FLOAT"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.atleast_2d(samples).T, sr, subtype=subtype)
        return path
    return write

# A long local search: HYPOTHESIS_PROFILE=thorough make test
settings.register_profile("thorough", max_examples=3000, deadline=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
