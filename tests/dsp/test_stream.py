"""The playback stream against the offline render: one overlap-add, so the same samples."""

import numpy as np
import pytest

from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import render_blocks, resynthesize
from maskstudio.dsp.stft import STFTConfig
from maskstudio.dsp.stream import Heard, StreamRenderer

from ..conftest import SR, clicks, harmonic


@pytest.fixture(scope="module", params=[(512, 128, True), (500, 160, False)])
def scene(request):
    n_fft, hop, center = request.param
    cfg = STFTConfig(n_fft, hop, center=center)
    n = SR
    s1, s2 = harmonic(n)[None], clicks(n)[None]
    mix = s1 + s2
    masks = oracle_masks(mix, [s1, s2], cfg, "wiener")
    return cfg, mix, [s1, s2], masks


def _stream(scene, heard, *, chunk=16, start=0, **kw):
    cfg, mix, _, masks = scene
    r = StreamRenderer(mix, cfg, lambda a, b: masks[..., a:b], 2, chunk_frames=chunk,
                       samplerate=SR, **kw)
    r.heard = heard
    r.seek(start)
    out = [r.render(1000)]
    while not r.finished:
        out.append(r.render(1000))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("chunk", [5, 16, 128])
def test_a_layer_and_the_residual_stream_bit_for_bit_as_exported(scene, chunk):
    cfg, mix, _, masks = scene
    offline = resynthesize(mix, masks, cfg)
    for heard, k in [(Heard("layer", (1,)), 1), (Heard("residual"), 2)]:
        np.testing.assert_array_equal(_stream(scene, heard, chunk=chunk), offline[k])
        # from a seek too: the overlap-add restarts with every frame touching the sample
        np.testing.assert_array_equal(_stream(scene, heard, chunk=chunk, start=5001),
                                      offline[k][:, 5001:])


def test_the_oracle_phase_streams_as_the_export_renders_it(scene):
    cfg, mix, refs, masks = scene
    blocks = render_blocks(mix, lambda a, b: masks[:, None, :, a:b], 2, cfg, phase="oracle",
                           references=refs)
    exported = np.concatenate(list(blocks), axis=-1)
    got = _stream(scene, Heard("layer", (0,)), phase="oracle", references=refs)
    np.testing.assert_array_equal(got, exported[0])


def test_the_stream_is_as_long_as_the_mixture(scene):
    # uncentred frames do not reach the last samples: they are silence, as the export's
    cfg, mix, _, _ = scene
    out = _stream(scene, Heard("mixture"))
    assert out.shape == mix.shape


def test_complex_masks_stream_as_exported(scene):
    cfg, mix, refs, _ = scene
    cirm = oracle_masks(mix, refs, cfg, "cirm")
    offline = resynthesize(mix, cirm, cfg, phase="complex")
    r = StreamRenderer(mix, cfg, lambda a, b: cirm[..., a:b], 2, phase="complex")
    r.heard = Heard("layer", (1,))
    got = np.concatenate([r.render(4096) for _ in range(-(-mix.shape[1] // 4096))], axis=1)
    np.testing.assert_array_equal(got, offline[1])
