import numpy as np
import pytest
import scipy.signal

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.metrics import si_sdr
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import resynthesize, spectral_convergence
from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import load_audio
from maskstudio.io.export import write_outputs
from maskstudio.io.npz import load_masks, save_masks

from ..conftest import SR, harmonic, noise

CFG = STFTConfig(n_fft=512, hop_length=128)


def _sum_error(out, mix):
    return float(np.abs(out.sum(axis=0) - mix).max())


@pytest.mark.parametrize("kind", ["ibm", "wiener", "irm"])
def test_sources_plus_residual_equal_the_mixture(two_sources, kind):
    mix, refs = two_sources
    m = oracle_masks(mix, refs, CFG, kind)
    out = resynthesize(mix, m, CFG)
    assert out.shape == (3,) + mix.shape and out.dtype == np.float32
    if kind == "irm":  # sqrt-IRM overlaps: clipped residual breaks the identity, by design
        m = m / np.maximum(m.sum(axis=0), 1)
        out = resynthesize(mix, m, CFG)
    assert _sum_error(out, mix) < 1e-5


def test_loaded_masks_exported_through_files_sum_to_the_mixture(tmp_path, write_wav):
    rng = np.random.default_rng(7)
    mix = np.stack([harmonic(SR), noise(SR)])  # stereo
    path = write_wav("mix.wav", mix)
    clip = load_audio(path)
    T = CFG.n_frames(SR)
    raw = rng.uniform(0, 1, (3, 2, CFG.n_bins, T)).astype(np.float32)  # per-channel, soft
    raw /= raw.sum(axis=0) + rng.uniform(0, 1, raw.shape[1:]).astype(np.float32)
    save_masks(tmp_path / "model.npz", MaskSet(["a", "b", "c"], raw), CFG, SR)
    mf = load_masks(tmp_path / "model.npz", n_channels=2, n_samples=SR, samplerate=SR)
    out = resynthesize(clip.samples, mf.masks.data, mf.config)
    files = write_outputs(tmp_path / "out", clip, mf.masks, out, mf.config)
    total = sum(load_audio(f).samples for f in files[:-1])
    np.testing.assert_allclose(total, clip.samples, atol=1e-5)


def test_oracle_phase_with_exact_magnitudes_recovers_the_sources(two_sources):
    mix, refs = two_sources
    Y = stft(mix, **CFG.kwargs())
    mags = [np.abs(stft(r, **CFG.kwargs())) / np.maximum(np.abs(Y), 1e-12) for r in refs]
    out = resynthesize(mix, np.stack(mags)[:, 0], CFG, phase="oracle", references=refs)
    for est, ref in zip(out, refs):
        assert si_sdr(ref, est) > 60


def test_complex_masks_recover_the_sources(two_sources):
    mix, refs = two_sources
    m = oracle_masks(mix, refs, CFG, "cirm")
    out = resynthesize(mix, m, CFG, phase="complex")
    for est, ref in zip(out, refs):
        np.testing.assert_allclose(est, ref, atol=1e-4)
    assert np.abs(out[-1]).max() < 1e-4  # nothing left for the residual
    with pytest.raises(ParameterError, match="complex masks"):
        resynthesize(mix, np.abs(m), CFG, phase="complex")


def _mixture_with_overlap():
    n = SR * 2
    s1 = harmonic(n)[None]
    s2 = (noise(n, level=0.08) + 0.5 * harmonic(n, f0=233.0, seed=3))[None]
    return s1 + s2, [s1, s2]


def test_misi_keeps_the_sum_and_improves_on_the_mixture_phase():
    mix, refs = _mixture_with_overlap()
    m = oracle_masks(mix, refs, CFG, "wiener")
    base = resynthesize(mix, m, CFG)
    misi = resynthesize(mix, m, CFG, phase="misi", n_iter=8)
    assert _sum_error(misi, mix) < 1e-5
    before = np.mean([si_sdr(r, e) for r, e in zip(refs, base)])
    after = np.mean([si_sdr(r, e) for r, e in zip(refs, misi)])
    assert after > before + 0.2


def test_misi_without_iterations_is_the_mixture_phase(two_sources):
    mix, refs = two_sources
    m = oracle_masks(mix, refs, CFG, "wiener")
    np.testing.assert_allclose(resynthesize(mix, m, CFG, phase="misi", n_iter=0),
                               resynthesize(mix, m, CFG), atol=1e-5)


def test_hybrid_corrects_only_below_its_cutoff():
    mix, refs = _mixture_with_overlap()
    m = oracle_masks(mix, refs, CFG, "wiener")
    kw = dict(samplerate=SR, n_iter=4)
    np.testing.assert_allclose(resynthesize(mix, m, CFG, phase="hybrid", cutoff_hz=0, **kw),
                               resynthesize(mix, m, CFG), atol=1e-5)
    np.testing.assert_allclose(resynthesize(mix, m, CFG, phase="hybrid", cutoff_hz=SR, **kw),
                               resynthesize(mix, m, CFG, phase="misi", n_iter=4), atol=1e-5)
    half = resynthesize(mix, m, CFG, phase="hybrid", cutoff_hz=2000, **kw)
    assert _sum_error(half, mix) < 1e-5


def test_hybrid_leaves_content_above_its_cutoff_with_the_mixture_phase():
    n = SR * 2
    sos = scipy.signal.butter(8, 3500, "highpass", fs=SR, output="sos")
    s1 = scipy.signal.sosfilt(sos, harmonic(n, f0=440, n_harm=18)).astype(np.float32)[None]
    s2 = scipy.signal.sosfilt(sos, noise(n)).astype(np.float32)[None]
    mix = s1 + s2
    m = oracle_masks(mix, [s1, s2], CFG, "wiener")
    base = resynthesize(mix, m, CFG)
    peak = np.abs(base).max()
    hybrid = resynthesize(mix, m, CFG, phase="hybrid", cutoff_hz=2000, samplerate=SR)
    misi = resynthesize(mix, m, CFG, phase="misi")
    assert np.abs(hybrid - base).max() < 0.005 * peak  # all content sits above 2 kHz
    assert np.abs(misi - base).max() > 0.03 * peak  # where MISI does change it


def test_fast_griffin_lim_finds_a_phase_consistent_with_the_magnitude():
    mix, refs = _mixture_with_overlap()
    Y = stft(mix, **CFG.kwargs())[0]
    target = np.abs(stft(refs[0], **CFG.kwargs())[0])  # a magnitude some signal really has
    m = (target / np.maximum(np.abs(Y), 1e-12))[None]
    base = resynthesize(mix, m, CFG)[0, 0]  # target magnitude, mixture phase: inconsistent
    fgla = resynthesize(mix, m, CFG, phase="fgla", n_iter=16)[0, 0]
    assert spectral_convergence(target, fgla, CFG) < \
        0.25 * spectral_convergence(target, base, CFG)


def test_bad_phase_requests():
    mix = np.zeros((1, SR), np.float32)
    m = np.zeros((1, CFG.n_bins, CFG.n_frames(SR)), np.float32)
    with pytest.raises(ParameterError, match="unknown phase"):
        resynthesize(mix, m, CFG, phase="magic")
    with pytest.raises(ParameterError, match="reference"):
        resynthesize(mix, m, CFG, phase="oracle")
    with pytest.raises(ParameterError, match="sample rate"):
        resynthesize(mix, m, CFG, phase="hybrid")
    with pytest.raises(ParameterError, match="do not fit"):
        resynthesize(mix, m[..., :-1], CFG)
