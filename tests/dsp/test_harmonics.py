"""Harmonic selection: a clicked partial's fundamental followed through a vibrato, its
harmonics selected, and nothing else."""

import numpy as np
import pytest

from maskstudio.dsp.harmonics import harmonic_mask
from maskstudio.dsp.pitch import track_partial
from maskstudio.dsp.stft import STFTConfig, stft_with
from maskstudio.errors import ParameterError

SR = 16000
CFG = STFTConfig(n_fft=1024, hop_length=256)


def vibrato_tone(n, *, f0=220.0, cents=60.0, rate=5.0, n_harm=10, start=0.5, stop=2.5,
                 seed=0):
    """A harmonic tone (partials 1/h) with a vibrato of +-``cents``, sounding from ``start`` to
    ``stop`` seconds; returns the signal and its true f0 per sample."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f = f0 * 2.0 ** (cents / 1200.0 * np.sin(2 * np.pi * rate * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h for h in range(1, n_harm + 1))
    env = ((t >= start) & (t < stop)).astype(float)
    ramp = int(0.02 * SR)
    env = np.convolve(env, np.ones(ramp) / ramp, mode="same")
    return (0.2 * x * env).astype(np.float32), f


@pytest.fixture
def scene():
    n = 3 * SR
    tone, f_true = vibrato_tone(n)
    # a quieter steady accompaniment whose partials the vibrato crosses (347 * 5 is 25 cents
    # from 220 * 8), and noise
    other, _ = vibrato_tone(n, f0=347.0, cents=0.0, start=0.0, stop=3.0, seed=1)
    noise = (0.01 * np.random.default_rng(2).standard_normal(n)).astype(np.float32)
    rest = 0.7 * other + noise
    mix = tone + rest
    T = stft_with(tone[None], CFG)[0]
    R = stft_with(rest[None], CFG)[0]
    M = stft_with(mix[None], CFG)[0]
    frames_hz = f_true[np.minimum(np.arange(M.shape[1]) * CFG.hop_length, n - 1)]
    return dict(T=T, R=R, M=M, f_true=frames_hz)


def _select(scene, seed_hz, seed_frame=None, **kw):
    M = scene["M"]
    seed_frame = M.shape[1] // 2 if seed_frame is None else seed_frame
    first, f0 = track_partial(np.abs(M), seed_frame, seed_hz, samplerate=SR, n_fft=1024, **kw)
    mask = np.zeros(M.shape, np.float32)
    mask[:, first:first + f0.size] = harmonic_mask(
        f0, n_bins=M.shape[0], samplerate=SR, n_fft=1024, S=np.abs(M[:, first:first + f0.size]))
    return first, f0, mask


@pytest.mark.parametrize("harmonic_clicked", [1, 3])
def test_a_click_on_a_partial_follows_its_vibrato_and_selects_its_harmonics(scene,
                                                                            harmonic_clicked):
    mid = scene["M"].shape[1] // 2
    first, f0, mask = _select(scene, harmonic_clicked * scene["f_true"][mid])
    # the tone sounds from 0.5 to 2.5 s: the track covers it and little more
    t0, t1 = first * CFG.hop_length / SR, (first + f0.size) * CFG.hop_length / SR
    assert t0 == pytest.approx(0.5, abs=0.1) and t1 == pytest.approx(2.5, abs=0.1)
    err = 1200 * np.abs(np.log2(f0 / scene["f_true"][first:first + f0.size]))
    assert np.median(err) < 10 and np.percentile(err, 95) < 30
    tone_e, rest_e = np.abs(scene["T"]) ** 2, np.abs(scene["R"]) ** 2
    inside = (mask * tone_e).sum() / tone_e.sum()
    foreign = (mask * rest_e).sum() / (mask * (tone_e + rest_e)).sum()
    assert inside >= 0.90, inside   # the bar: >= 90 % of the tone's energy inside
    assert foreign <= 0.10, foreign  # and <= 10 % of the selection's energy not the tone's


def test_a_louder_other_source_does_not_capture_the_track(scene):
    M = scene["M"] - scene["R"] + 3 * scene["R"]  # the accompaniment now 6 dB over the tone
    mid = M.shape[1] // 2
    first, f0 = track_partial(np.abs(M), mid, scene["f_true"][mid], samplerate=SR, n_fft=1024)
    err = 1200 * np.abs(np.log2(f0 / scene["f_true"][first:first + f0.size]))
    assert np.median(err) < 10 and not (np.abs(1200 * np.log2(f0 / 347.0)) < 50).any()


def test_with_the_magnitudes_only_the_harmonics_that_sound_are_selected(scene):
    """The tone has ten partials (up to 2.2 kHz): above them a band would select noise."""
    mid = scene["M"].shape[1] // 2
    first, f0 = track_partial(np.abs(scene["T"]), mid, 220.0, samplerate=SR, n_fft=1024)
    noisy = scene["T"] + stft_with(0.01 * np.random.default_rng(5).standard_normal(
        (1, 3 * SR)), CFG)[0]
    S = np.abs(noisy[:, first:first + f0.size])
    blind = harmonic_mask(f0, n_bins=513, samplerate=SR, n_fft=1024)
    seeing = harmonic_mask(f0, n_bins=513, samplerate=SR, n_fft=1024, S=S)
    high, low = round(2600 * 1024 / SR), round(2000 * 1024 / SR)  # past the 11th / to the 9th
    assert blind[high:].sum() > 0.7 * blind.sum()  # most bands are above the tone
    assert seeing[high:].sum() < 0.1 * seeing.sum()  # the onset and end splash a little
    held = slice(f0.size // 10, -f0.size // 10)  # while the note is held: nothing above it,
    assert not seeing[high:, held].any()         # and all of its own harmonics
    np.testing.assert_array_equal(seeing[:low, held] > 0, blind[:low, held] > 0)


def test_a_drag_tracks_exactly_its_span(scene):
    mid = scene["M"].shape[1] // 2
    first, f0, _ = _select(scene, scene["f_true"][mid], span=(mid - 20, mid + 30))
    assert first == mid - 20 and f0.size == 50


def test_fall_off_weakens_the_upper_harmonics_and_the_inverse_completes_it():
    f0 = np.full(5, 200.0)
    flat = harmonic_mask(f0, n_bins=513, samplerate=SR, n_fft=1024)
    soft = harmonic_mask(f0, n_bins=513, samplerate=SR, n_fft=1024, falloff_db=6.0)
    b1, b4 = round(200 * 1024 / SR), round(800 * 1024 / SR)
    assert flat[b1, 0] == flat[b4, 0] == 1.0
    assert soft[b1, 0] == 1.0 and soft[b4, 0] == pytest.approx(10 ** (-18 / 20), rel=1e-5)
    non_harmonic = 1 - soft
    np.testing.assert_allclose(non_harmonic + soft, 1.0)
    assert flat[(b1 + round(400 * 1024 / SR)) // 2 + 1, 0] == 0  # between partials: not selected
    none = harmonic_mask(np.full(3, np.nan), n_bins=513, samplerate=SR, n_fft=1024)
    assert not none.any()


def test_a_low_fundamental_keeps_at_least_the_main_lobe():
    m = harmonic_mask(np.array([50.0]), n_bins=513, samplerate=SR, n_fft=1024, width_cents=1)
    centre = 50 * 1024 / SR
    got = np.nonzero(m[:, 0])[0]
    assert got.min() <= np.ceil(centre - 2) and got.max() >= np.floor(centre + 2) - 1


@pytest.mark.parametrize("kw, match", [
    (dict(seed_frame=10_000), "seed frame"),
    (dict(seed_hz=0.0), "seed frequency"),
    (dict(seed_hz=9000.0), "seed frequency"),
    (dict(span=(5, 3)), "span"),
    (dict(n_fft=2048), "bins"),
])
def test_bad_requests_are_one_clear_error(scene, kw, match):
    args = dict(seed_frame=10, seed_hz=440.0, samplerate=SR, n_fft=1024)
    args.update(kw)
    S = np.abs(scene["M"])
    with pytest.raises(ParameterError, match=match):
        track_partial(S, args.pop("seed_frame"), args.pop("seed_hz"), **args)


def test_a_click_on_silence_says_so():
    with pytest.raises(ParameterError, match="no partial"):
        track_partial(np.zeros((513, 20)), 10, 440.0, samplerate=SR, n_fft=1024)


def test_frames_from_a_function_are_read_once_and_only_around_the_note(scene):
    """An hour-long file's frames come from a reader: the track reads what the note spans
    (a chunk past each end), and the selection reuses them."""
    from maskstudio.dsp.harmonics import select_harmonics
    from maskstudio.dsp.pitch import CHUNK

    S = np.abs(scene["M"])
    S = np.concatenate([np.zeros((513, 2000), np.float32), S,
                        np.zeros((513, 3000), np.float32)], axis=1)  # a longer file
    reads = []

    def read(t0, t1):
        reads.append((t0, t1))
        return S[:, t0:t1]

    mid = 2000 + scene["M"].shape[1] // 2
    first, f0, mask = select_harmonics(read, S.shape[1], mid, scene["f_true"][mid - 2000],
                                       samplerate=SR, n_fft=1024)
    a, b = _select(scene, scene["f_true"][mid - 2000])[:2]
    assert first == a + 2000 and np.allclose(f0, b)
    frames_read = sum(t1 - t0 for t0, t1 in reads)
    assert frames_read <= f0.size + 2 * CHUNK + 1
    lo, hi = min(t0 for t0, _ in reads), max(t1 for _, t1 in reads)
    assert lo >= first - CHUNK and hi <= first + f0.size + CHUNK
    want = harmonic_mask(f0, n_bins=513, samplerate=SR, n_fft=1024,
                         S=S[:, first:first + f0.size])
    np.testing.assert_array_equal(mask, want)
