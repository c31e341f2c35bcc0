"""Block-wise rendering against the whole-array render: the same samples for the linear phases,
close to whole-file MISI and fast Griffin-Lim for the iterative ones, the sum kept."""

import numpy as np
import pytest

from maskstudio.dsp.blockwise import (
    ArrayReader,
    FrameReader,
    MaskPass,
    OracleBlocks,
    OverlapScan,
    render_stream,
)
from maskstudio.dsp.masks import normalize, overlap_report
from maskstudio.dsp.metrics import si_sdr
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig, stft_frames_with
from maskstudio.errors import ParameterError

from ..conftest import SR, clicks, harmonic


def _scene(n, seed=0):
    rng = np.random.default_rng(seed)
    s1 = np.stack([harmonic(n), 0.5 * harmonic(n)])
    s2 = np.stack([clicks(n), 0.7 * clicks(n)]) + 0.02 * rng.standard_normal((2, n)).astype(
        np.float32)
    return s1 + s2, [s1, s2]


def _blockwise(mix, masks, cfg, refs=None, **kw):
    src = masks if callable(masks) else (lambda a, b: masks[..., a:b])
    n = len(refs) if refs is not None else masks.shape[0]
    blocks = list(render_stream(ArrayReader(mix), src, n, cfg, samplerate=SR,
                                references=None if refs is None else
                                [ArrayReader(r) for r in refs], **kw))
    return np.concatenate(blocks, axis=-1)


@pytest.mark.parametrize("n", [SR * 3 + 37, 700, 512 * 256])  # odd, shorter than a block,
@pytest.mark.parametrize("cfg", [STFTConfig(1024, 256), STFTConfig(500, 160, center=False)])
@pytest.mark.parametrize("kind,per_channel,phase", [
    ("wiener", False, "mixture"), ("ibm", True, "mixture"), ("psm", False, "oracle"),
    ("irm", True, "oracle"), ("cirm", False, "complex"), ("cirm", True, "complex")])
def test_linear_phases_equal_the_whole_render(n, cfg, kind, per_channel, phase):
    # 512 * 256 samples at hop 256: the last chunk of frames ends exactly at the file's end
    mix, refs = _scene(n)
    masks = oracle_masks(mix, refs, cfg, kind, per_channel=per_channel)
    whole = resynthesize(mix, masks, cfg, phase=phase, references=refs)
    got = _blockwise(mix, masks, cfg, refs=refs if phase == "oracle" else None, phase=phase,
                     chunk_frames=64)
    assert got.shape == whole.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, whole, atol=1e-6, rtol=0)


def test_frames_of_a_reader_equal_those_of_the_array():
    mix, _ = _scene(SR + 11)
    for cfg in (STFTConfig(1024, 256), STFTConfig(500, 160, center=False)):
        frames = FrameReader(ArrayReader(mix), cfg)
        T = frames.n_frames
        for t0, t1 in [(0, 5), (3, T), (T - 1, T)]:
            np.testing.assert_array_equal(frames.frames(t0, t1),
                                          stft_frames_with(mix, t0, t1, cfg))


def test_oracle_blocks_transform_the_mixture_once_and_equal_the_whole_masks():
    mix, refs = _scene(SR * 2)
    cfg = STFTConfig(1024, 256)
    reads = []

    class Counting(ArrayReader):
        def read(self, start, stop):
            reads.append(start)
            return super().read(start, stop)

    mixture = FrameReader(Counting(mix), cfg)
    blocks = OracleBlocks(mixture, [FrameReader(ArrayReader(r), cfg) for r in refs], "wiener")
    out = np.concatenate(list(render_stream(mixture, blocks, 2, cfg, chunk_frames=50)), axis=-1)
    T = mixture.n_frames
    assert len(reads) == -(-T // 50)  # one read (and one transform) per block, shared
    whole = resynthesize(mix, oracle_masks(mix, refs, cfg, "wiener"), cfg)
    np.testing.assert_allclose(out, whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize("phase,bound", [("misi", 0.1), ("hybrid", 0.1), ("fgla", 0.5)])
def test_iterative_phases_are_close_to_whole_file(phase, bound):
    # many chunks of 64 frames: the context keeps the chunked result within ``bound`` dB SDR
    # of the whole-file run (measured: within 0.01 dB for MISI, 0.0 for fgla at 24 frames)
    mix, refs = _scene(SR * 6 + 5)
    cfg = STFTConfig(1024, 256)
    masks = oracle_masks(mix, refs, cfg, "irm")
    kw = dict(n_iter=3) if phase == "fgla" else {}
    whole = resynthesize(mix, masks, cfg, phase=phase, samplerate=SR, **kw)
    got = _blockwise(mix, masks, cfg, phase=phase, chunk_frames=64, **kw)
    assert got.shape == whole.shape
    for i, ref in enumerate(refs):
        assert abs(si_sdr(ref, got[i]) - si_sdr(ref, whole[i])) < bound
    if phase != "fgla":  # MISI's estimates still add up to the mixture
        np.testing.assert_allclose(got.sum(axis=0), mix, atol=1e-5)


def test_a_file_with_no_frames_renders_silence():
    cfg = STFTConfig(512, 128, center=False)
    mix = np.ones((2, 300), np.float32)
    got = _blockwise(mix, np.zeros((1, 257, 0), np.float32), cfg)
    assert got.shape == (2, 2, 300) and not got.any()


def test_real_masks_for_the_complex_phase_and_missing_stems_are_refused():
    mix, refs = _scene(SR)
    cfg = STFTConfig(1024, 256)
    masks = oracle_masks(mix, refs, cfg, "wiener")
    with pytest.raises(ParameterError, match="complex masks"):
        _blockwise(mix, masks, cfg, phase="complex")
    with pytest.raises(ParameterError, match="reference stem"):
        _blockwise(mix, masks, cfg, phase="oracle")


def test_mask_pass_hands_every_frame_once_scans_and_normalises():
    rng = np.random.default_rng(1)
    masks = rng.uniform(0, 0.8, (2, 33, 100)).astype(np.float32)
    seen = []
    p = MaskPass(lambda a, b: masks[..., a:b], normalize=True, scan=True,
                 each=lambda t0, m: seen.append((t0, m.copy())))
    for a, b in [(0, 30), (10, 60), (40, 100), (90, 100)]:  # overlapping, as with context
        np.testing.assert_array_equal(p(a, b), normalize(masks[..., a:b]))
    assert [t0 for t0, _ in seen] == [0, 30, 60]
    np.testing.assert_array_equal(np.concatenate([m for _, m in seen], axis=-1),
                                  normalize(masks))
    assert p.report == overlap_report(normalize(masks))
    raw = OverlapScan()
    for t0 in range(0, 100, 7):
        raw.add(masks[..., t0:t0 + 7])
    whole = overlap_report(masks)
    got = raw.report()
    assert got.overlap_fraction == whole.overlap_fraction and got.max_sum == whole.max_sum
    assert got.mean_excess == pytest.approx(whole.mean_excess, rel=1e-5)
