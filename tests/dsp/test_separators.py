"""Separators that need no weights, and a plugin found through its entry point."""

import sys
import textwrap

import numpy as np
import pytest

from maskstudio.dsp.metrics import si_sdr
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.separators import available_separators, run_separator
from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.errors import MaskStudioError, ParameterError

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=1024, hop_length=256)


def _separate(name, sources, **params):
    mix = sum(sources)
    Y = stft(mix, **CFG.kwargs())
    names, masks = run_separator(name, Y, samplerate=SR, config=CFG, **params)
    est = resynthesize(mix, masks, CFG)[:-1]
    return names, est, mix


def _gain(ref, est, mix):
    return si_sdr(ref, est) - si_sdr(ref, mix)


def test_hpss_separates_tones_from_clicks():
    n = SR * 3
    tones, hits = harmonic(n)[None], clicks(n)[None]
    hits *= np.sqrt((tones ** 2).sum() / (hits ** 2).sum())  # equal energy: a 0 dB mixture
    names, est, mix = _separate("hpss", [tones, hits])
    assert names == ["harmonic", "percussive"]
    assert _gain(tones, est[0], mix) > 3 and _gain(hits, est[1], mix) > 3


def test_repet_sim_separates_a_loop_from_what_does_not_repeat():
    n = SR * 4
    loop = np.tile(clicks(SR // 2, every=0.125, seed=5), 8)[None]
    t = np.arange(n) / SR
    melody = (0.2 * np.sin(2 * np.pi * (300 + 200 * t) * t)).astype(np.float32)[None]
    names, est, mix = _separate("repet-sim", [loop, melody])
    assert names == ["repeating", "non-repeating"]
    assert _gain(loop, est[0], mix) > 3 and _gain(melody, est[1], mix) > 3


def test_nmf_guided_by_painted_hints():
    n = SR * 2
    low = harmonic(n, f0=150.0, n_harm=8)[None]
    rng = np.random.default_rng(3)
    import scipy.signal

    sos = scipy.signal.butter(6, [3000, 6000], "bandpass", fs=SR, output="sos")
    high = (0.1 * scipy.signal.sosfilt(sos, rng.standard_normal(n))).astype(np.float32)[None]
    T = CFG.n_frames(n)
    f_cut = int(2000 / (SR / CFG.n_fft))
    hint_low = np.zeros((CFG.n_bins, T), np.float32)
    hint_high = np.zeros_like(hint_low)
    hint_low[:f_cut, :20] = 1  # a stroke over the low part, early on
    hint_high[f_cut:, :20] = 1
    names, est, mix = _separate("nmf", [low, high],
                                hints={"low": hint_low, "high": hint_high}, n_iter=60)
    assert names == ["low", "high"]
    assert _gain(low, est[0], mix) > 3 and _gain(high, est[1], mix) > 3
    with pytest.raises(ParameterError, match="two sources"):
        run_separator("nmf", stft(mix, **CFG.kwargs()), samplerate=SR, config=CFG,
                      hints={"only": hint_low})


PLUGIN = '''
import numpy as np

def low_high(Y, *, samplerate, config, hints=None, cutoff_hz=1000.0):
    """A toy 'model': everything below the cutoff is one source."""
    F, T = Y.shape[-2:]
    freqs = np.arange(F) * samplerate / config.n_fft
    low = np.repeat((freqs < cutoff_hz)[:, None], T, axis=1).astype(np.float32)
    return {"low": low, "high": 1 - low}

def broken(Y, **kw):
    return {"bad": np.zeros((3, 3))}
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin installed the way pip installs one: a module and a .dist-info with its entry
    points, on sys.path."""
    (tmp_path / "toy_separator.py").write_text(PLUGIN)
    info = tmp_path / "toy_separator-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-separator\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [maskstudio.separators]
        lowhigh = toy_separator:low_high
        broken = toy_separator:broken
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("toy_separator", None)


def test_a_plugin_is_discovered_and_run(plugin):
    assert {"hpss", "repet-sim", "nmf", "lowhigh"} <= set(available_separators())
    n = SR
    Y = stft(harmonic(n)[None], **CFG.kwargs())
    names, masks = run_separator("lowhigh", Y, samplerate=SR, config=CFG, cutoff_hz=500.0)
    assert names == ["low", "high"]
    assert masks[0, 0, 0] == 1 and masks[0, -1, 0] == 0
    with pytest.raises(MaskStudioError, match="shape"):
        run_separator("broken", Y, samplerate=SR, config=CFG)
    with pytest.raises(ParameterError, match="unknown separator"):
        run_separator("nope", Y, samplerate=SR, config=CFG)


def test_a_plugin_found_through_the_importlib_metadata_backport_is_loaded(plugin, monkeypatch):
    """Once the importlib_metadata backport is imported (Dask imports it), the standard
    library's discovery can hand back the backport's EntryPoint class: it is loaded all the
    same (it was called as the function and failed, after the cluster tests ran)."""
    backport = pytest.importorskip("importlib_metadata")
    import importlib.metadata

    from maskstudio.dsp import separators

    theirs = backport.EntryPoint(name="lowhigh", value="toy_separator:low_high",
                                 group="maskstudio.separators")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [theirs] if group == separators.ENTRY_POINT_GROUP
                        else [])
    Y = stft(harmonic(SR)[None], **CFG.kwargs())
    names, _ = run_separator("lowhigh", Y, samplerate=SR, config=CFG, cutoff_hz=500.0)
    assert names == ["low", "high"]
