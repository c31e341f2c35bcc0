"""The display spectrogram: the same image from an array or a reader, rendered without
computing, filled by its own thread with the frames on screen first."""

import threading

import numpy as np
import pytest

from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.editing.spectrogram import ENV_BLOCK, SpectrogramImage, level_of, time_edges


class Reader:
    """Samples read on demand from an array; records each read's range and thread, and
    waits for ``gate`` (when given) before reading."""

    def __init__(self, x, gate=None):
        self.x = x
        self.n_channels, self.n_samples = x.shape
        self.reads = []
        self.gate = gate
        self.lock = threading.Lock()

    def read(self, start, stop):
        if self.gate is not None:
            assert self.gate.wait(10), "the test never let the read go"
        with self.lock:
            self.reads.append((start, stop, threading.current_thread()))
        out = np.zeros((self.n_channels, stop - start), np.float32)
        a, b = max(start, 0), min(stop, self.n_samples)
        if b > a:
            out[:, a - start:b - start] = self.x[:, a:b]
        return out


def signal(n=150_001, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = np.stack([np.sin(2 * np.pi * 440 * t), 0.2 * rng.standard_normal(n)])
    return x.astype(np.float32)


@pytest.mark.parametrize("config", [STFTConfig(n_fft=512, hop_length=128),
                                    STFTConfig(n_fft=256, hop_length=100, win_length=200),
                                    STFTConfig(n_fft=512, hop_length=128, center=False)])
@pytest.mark.parametrize("channel", ["mid", 1])
def test_a_reader_and_an_array_give_the_same_image(config, channel):
    x = signal()
    whole = SpectrogramImage(x, config, channel)
    reader = Reader(x)
    read = SpectrogramImage(reader, config, channel)
    for spec in (whole, read):
        for b in reversed(range(spec.n_blocks)):  # any order: each block reads what it needs
            spec.compute_block(b)
    np.testing.assert_array_equal(whole.levels, read.levels)
    np.testing.assert_array_equal(whole.env_lo, read.env_lo)
    np.testing.assert_array_equal(whole.env_hi, read.env_hi)
    # and both are the level of the whole signal's STFT (±1 level: float32 rounding)
    viewed = x.mean(axis=0) if channel == "mid" else x[1]
    S = np.abs(stft(viewed, **config.kwargs())) / np.float32(whole.reference)
    expected = level_of(20 * np.log10(np.maximum(S, 1e-9)))
    assert np.abs(whole.levels.astype(int) - expected).max() <= 1
    env = viewed[:viewed.size // ENV_BLOCK * ENV_BLOCK].reshape(-1, ENV_BLOCK)
    np.testing.assert_array_equal(whole.env_lo, env.min(axis=1))
    # a block reads the samples of its frames only, never the whole file
    longest = max(stop - start for start, stop, _ in reader.reads)
    assert longest < (SpectrogramImage.BLOCK + 8) * config.hop_length + config.n_fft + ENV_BLOCK


def test_render_draws_what_is_filled_and_never_computes():
    reader = Reader(signal())
    spec = SpectrogramImage(reader, STFTConfig(n_fft=512, hop_length=128))
    rows = np.array([0, 64, 128, 257])
    cols = time_edges(0, spec.n_frames, 40, spec.n_frames)
    assert not spec.render(rows, cols).any()  # nothing filled: blank, at once
    assert reader.reads == []
    spec.compute_block(0)
    before = len(reader.reads)
    shown = spec.render(rows, cols)
    assert len(reader.reads) == before
    first = int(np.searchsorted(cols, spec.BLOCK)) - 1  # the columns of block 0 are drawn
    assert shown[:, :first].any() and not shown[:, first + 1:].any()


def test_the_fill_computes_the_view_first_then_the_rest_on_its_thread():
    gate = threading.Event()
    reader = Reader(signal(), gate)
    spec = SpectrogramImage(reader, STFTConfig(n_fft=512, hop_length=128))
    events = []
    spec.fill.filled.connect(events.append)
    spec.fill.follow(600, 800)  # block 1
    spec.fill.start()
    gate.set()
    assert spec.fill.join(10) and spec.complete
    starts = [start for start, _, _ in reader.reads]
    first_block = (starts[0] + 256) // 128 // spec.BLOCK
    assert first_block == 1
    assert all(thread is not threading.main_thread() for _, _, thread in reader.reads)
    filled = [(e.t0, e.t1) for e in events]
    assert filled[0] == (512, 1024)  # the view's block is said at once
    assert max(t1 for _, t1 in filled) == spec.n_frames and not spec.fill.running


def test_a_wide_view_gets_a_coarse_overview_first():
    reader = Reader(signal(400_000))
    spec = SpectrogramImage(reader, STFTConfig(n_fft=512, hop_length=64))
    assert spec.n_blocks > spec.fill.COARSE_BLOCKS
    cols = time_edges(0, spec.n_frames, 50, spec.n_frames)
    events = []
    spec.fill.filled.connect(lambda e: events.append(spec.render(np.array([0, 257]), cols)))
    spec.fill.follow(0, spec.n_frames, cols)
    spec.fill.start()
    assert spec.fill.join(10) and spec.complete
    assert all(stop - start == 512 for start, stop, _ in reader.reads[:50])  # one frame each
    assert events[0].all()  # every column has a picture before any block is done
    # and the overview's frames are the ones the blocks computed later
    whole = SpectrogramImage(signal(400_000), STFTConfig(n_fft=512, hop_length=64))
    whole.compute_range(0, whole.n_frames)
    np.testing.assert_array_equal(spec.levels, whole.levels)


def test_a_cancelled_fill_stops():
    gate = threading.Event()
    reader = Reader(signal(), gate)
    spec = SpectrogramImage(reader, STFTConfig(n_fft=512, hop_length=128))
    spec.fill.start()
    assert spec.fill.running
    spec.fill.cancel()
    gate.set()
    assert spec.fill.join(10)
    assert not spec.complete and spec.fill.cancelled and len(reader.reads) <= 1
    spec.fill.start()  # a cancelled fill does not start again
    spec.fill.follow(0, 100)
    assert not spec.fill.running


def test_a_failed_read_ends_the_fill_and_is_kept():
    class Broken(Reader):
        def read(self, start, stop):
            raise OSError("the disk went away")

    spec = SpectrogramImage(Broken(signal()), STFTConfig(n_fft=512, hop_length=128))
    events = []
    spec.fill.filled.connect(events.append)
    spec.fill.start()
    assert spec.fill.join(10)
    assert isinstance(spec.fill.error, OSError) and len(events) == 1


@pytest.mark.parametrize("scale", ["linear", "log", "mel"])
def test_render_pools_as_pool_max_and_wide_views_from_the_coarser_copies(scale):
    from maskstudio.editing.spectrogram import row_edges, to_scale
    from maskstudio.editing.tiles import cell_ranges, pool_max

    spec = SpectrogramImage(signal(400_000), STFTConfig(n_fft=512, hop_length=64))
    spec.compute_range(0, spec.n_frames)
    rows = row_edges(float(to_scale(20, scale)), float(to_scale(7000, scale)), 90, scale,
                     16000 / 512, spec.n_bins)
    for t0, t1, width in [(0, 40, 100), (100, 300, 70), (10, 3000, 700), (0, 2000, 180)]:
        cols = time_edges(t0, t1, width, spec.n_frames)
        starts, stops = cell_ranges(cols)
        exact = pool_max(spec.levels[:, starts[0]:stops[-1]], rows, starts - starts[0])
        np.testing.assert_array_equal(spec.render(rows, cols), exact)
    # 16 to 63 frames a column: pooled from the copy max-pooled over 4 frames, a cell's
    # edges rounded out to multiples of 4; 256 and more, over 64 frames
    for t1, width, k in [(6250, 100, 4), (6250, 20, 64)]:
        cols = time_edges(0, t1, width, spec.n_frames)
        starts, stops = cell_ranges(cols)
        wide = np.stack([spec.levels[:, s // k * k:-(-e // k) * k].max(axis=1)
                         for s, e in zip(starts, stops)], axis=1)
        np.testing.assert_array_equal(spec.render(rows, cols), _pool_rows_ref(wide, rows))


def _pool_rows_ref(values, rows):
    from maskstudio.editing.tiles import pool_max

    return pool_max(values, rows, np.arange(values.shape[1]))
