import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from maskstudio.dsp.stft import (
    OverlapAdd,
    STFTConfig,
    istft,
    n_frames_for,
    stft,
    stft_frames,
    synthesize,
    synthesize_blocks,
)
from maskstudio.errors import ParameterError


def _signal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("n_fft,hop,win_length,window", [
    (2048, 512, None, "hann"), (1024, 256, None, "hamming"), (512, 128, 400, "hann"),
    (256, 100, None, "hann"), (1000, 250, None, ("kaiser", 8.0)), (2048, 256, 1024, "blackman"),
])
def test_round_trip_is_exact_and_keeps_length(n_fft, hop, win_length, window):
    y = _signal((2, 12345))
    S = stft(y, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window)
    assert S.shape == (2, n_fft // 2 + 1, 1 + 12345 // hop)
    assert S.dtype == np.complex64
    y2 = istft(S, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window,
               length=y.shape[-1])
    assert y2.shape == y.shape and y2.dtype == np.float32
    np.testing.assert_allclose(y2, y, atol=2e-5)


def test_default_hop_is_a_quarter_window():
    assert STFTConfig(n_fft=1024).hop_length == 256
    assert STFTConfig(n_fft=1024, win_length=512).hop_length == 128


def test_frames_are_centred_as_librosa_counts_them():
    y = _signal(5000)
    S = stft(y, n_fft=512, hop_length=128)
    assert S.shape[-1] == n_frames_for(5000, n_fft=512, hop_length=128) == 1 + 5000 // 128
    # frame t is centred on sample t * hop: a click at sample 1280 peaks in frame 10
    click = np.zeros(5000, np.float32)
    click[1280] = 1
    energy = np.abs(stft(click, n_fft=512, hop_length=128)).sum(axis=0)
    assert np.argmax(energy) == 1280 // 128


def test_a_tone_lands_in_its_bin():
    sr, f = 8000, 1000.0
    t = np.arange(sr) / sr
    S = stft(np.sin(2 * np.pi * f * t).astype(np.float32), n_fft=256, hop_length=64)
    freqs = STFTConfig(n_fft=256).frequencies(sr)
    assert freqs[np.argmax(np.abs(S[:, 40]))] == pytest.approx(f)


def test_frames_of_a_range_equal_the_slice_bit_for_bit():
    y = _signal((2, 9000), seed=3)
    S = stft(y, n_fft=512, hop_length=160)
    for t0, t1 in [(0, 5), (3, 40), (50, S.shape[-1]), (7, 7)]:
        np.testing.assert_array_equal(stft_frames(y, t0, t1, n_fft=512, hop_length=160),
                                      S[..., t0:t1])


def test_uncentred_frames_match_the_slice():
    y = _signal(4000, seed=4)
    S = stft(y, n_fft=256, hop_length=64, center=False)
    assert S.shape[-1] == 1 + (4000 - 256) // 64
    np.testing.assert_array_equal(
        stft_frames(y, 10, 20, n_fft=256, hop_length=64, center=False), S[..., 10:20])


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_fft=1), "n_fft"), (dict(hop_length=0), "hop_length"),
    (dict(win_length=4096), "win_length"), (dict(window="nosuchwindow"), "window"),
    (dict(n_fft=512.5), "integer"),
])
def test_bad_settings_say_what_is_wrong(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        stft(_signal(4096), **kwargs)


def test_non_finite_audio_and_too_short_signals_are_refused():
    y = _signal(4096)
    y[10] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stft(y)
    with pytest.raises(ParameterError, match="fewer than one frame"):
        stft(_signal(100), n_fft=512, center=False)


def test_istft_checks_its_bins():
    S = stft(_signal(4096), n_fft=512)
    with pytest.raises(ParameterError, match="bins"):
        istft(S, n_fft=1024)


@settings(deadline=None)
@given(n=st.integers(1, 6000), log_fft=st.integers(4, 11), hop_div=st.sampled_from([2, 4, 8]),
       channels=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
@example(n=997, log_fft=11, hop_div=2, channels=1, seed=0)  # one frame: edge samples see ~0 window
def test_property_round_trip_recovers_any_signal(n, log_fft, hop_div, channels, seed):
    n_fft = 2 ** log_fft
    hop = n_fft // hop_div
    y = _signal((channels, n), seed=seed)
    y2 = istft(stft(y, n_fft=n_fft, hop_length=hop), n_fft=n_fft, hop_length=hop, length=n)
    assert y2.shape == y.shape
    # float32 rounding, amplified by 1 / (the windows' sum of squares) where few frames cover
    # a sample (a signal shorter than a hop has one frame, whose window is ~0 at its edges)
    w2 = np.hanning(n_fft + 1)[:n_fft] ** 2
    env = np.zeros(n_fft + hop * (n // hop))
    for t in range(1 + n // hop):
        env[t * hop:t * hop + n_fft] += w2
    gain = 1.0 / np.maximum(env[n_fft // 2:n_fft // 2 + n] / env.max(), 1e-6)
    assert np.all(np.abs(y2 - y) <= 5e-5 * gain + 2e-4 * np.abs(y))


@pytest.mark.reference
def test_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = _signal((2, 20000), seed=5)
    for kw in [dict(n_fft=2048, hop_length=512), dict(n_fft=1024, hop_length=300,
                                                        win_length=800, window="hamming")]:
        ours = stft(y, **kw)
        theirs = librosa.stft(y, pad_mode="constant", **kw)
        np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max())
        np.testing.assert_allclose(istft(ours, length=20000, **kw),
                                   librosa.istft(theirs, length=20000, **kw), atol=1e-5)


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman"])
def test_built_in_windows_equal_scipys(window):
    import scipy.signal

    from maskstudio.dsp.stft import get_window

    for n in (1, 2, 7, 400, 2048):
        np.testing.assert_allclose(get_window(window, n),
                                   scipy.signal.get_window(window, n, fftbins=True), atol=1e-7)


@pytest.mark.parametrize("n_fft, hop, center, length", [(512, 128, True, None),
                                                         (500, 160, False, None),
                                                         (256, 100, True, 9000)])
def test_synthesis_block_by_block_gives_the_same_samples_holding_few(n_fft, hop, center, length):
    y = np.random.default_rng(5).standard_normal((2, 8000)).astype(np.float32)
    kw = dict(n_fft=n_fft, hop_length=hop, center=center)
    S = stft(y, **kw)
    frames = lambda t0, t1: S[:, :, t0:t1]  # noqa: E731
    blocks = list(synthesize_blocks(frames, S.shape[-1], 2, length=length, chunk=8, **kw))
    got = np.concatenate(blocks, axis=-1)
    np.testing.assert_array_equal(got, synthesize(frames, S.shape[-1], 2, length=length,
                                                  chunk=8, **kw))
    np.testing.assert_allclose(got, istft(S, length=length, **kw), atol=1e-6)
    R = -(-n_fft // hop)
    assert len(blocks) > 5 and max(b.shape[-1] for b in blocks[:-1]) <= (8 + R) * hop


@pytest.mark.parametrize("n_fft, hop, center", [(512, 128, True), (500, 160, False),
                                                 (64, 100, True)])
def test_the_overlap_add_does_not_depend_on_how_frames_are_chunked(n_fft, hop, center):
    # every sample sums its frames in time order, so chunks (playback's 16 frames, export's
    # 128) and a start anywhere (a seek) give the same bits as the whole inverse
    y = np.random.default_rng(6).standard_normal((2, 6000)).astype(np.float32)
    cfg = STFTConfig(n_fft, hop, center=center)
    S = stft(y, **cfg.kwargs())
    whole = istft(S, length=6000, **cfg.kwargs())
    T = S.shape[-1]
    for chunk in (1, 7, 16, 128):
        got = synthesize(lambda t0, t1: S[:, :, t0:t1], T, 2, length=6000, chunk=chunk,
                         **cfg.kwargs())
        np.testing.assert_array_equal(got, whole)
    for start in (0, 1, hop + 3, 2999, 5999, 6000):
        ola = OverlapAdd(cfg, T, 2, length=6000, start=start)
        parts = []
        while ola.position < ola.length:
            parts.append(ola.add(S[:, :, ola.next_frame:ola.next_frame + 5]))
        got = np.concatenate(parts + [np.zeros((2, 0), np.float32)], axis=-1)
        assert ola.position == 6000
        np.testing.assert_array_equal(got, whole[:, start:])
