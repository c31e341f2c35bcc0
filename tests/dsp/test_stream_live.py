"""The streaming renderer while playing: a phase change inside the running stream, crossfaded
with no gap; and audio read on demand giving the same samples as the whole file in memory."""

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.stft import STFTConfig
from maskstudio.dsp.stream import Heard, StreamRenderer
from maskstudio.errors import AudioFileError, MaskFileError, ParameterError
from maskstudio.io.npz import save_masks
from maskstudio.io.ondemand import open_audio, open_masks

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture(scope="module")
def scene():
    n = SR
    s1 = np.stack([harmonic(n), 0.5 * harmonic(n, seed=1)])
    s2 = np.stack([clicks(n), clicks(n)])
    mix = s1 + s2
    masks = oracle_masks(mix, [s1, s2], CFG, "irm")
    return mix, masks


def _render(renderer, n, block=700, switch=None):
    out, done = [], 0
    while done < n:
        if switch is not None and done >= switch[0]:
            renderer.set_phase(switch[1])
            switch = None
        b = renderer.render(min(block, n - done))
        out.append(b)
        done += b.shape[1]
    return np.concatenate(out, axis=1)


def _renderer(mix, masks, phase="mixture", **kw):
    r = StreamRenderer(mix, CFG, lambda a, b: masks[..., a:b], 2, phase=phase, samplerate=SR,
                       **kw)
    r.heard = Heard("layer", (0,))
    return r


@pytest.mark.parametrize("old, new", [("mixture", "misi"), ("misi", "mixture"),
                                      ("mixture", "hybrid"), ("fgla", "mixture")])
def test_a_phase_change_while_playing_crossfades_with_no_gap(scene, old, new):
    mix, masks = scene
    n = mix.shape[1]
    at = n // 2
    switched = _render(_renderer(mix, masks, old), n, switch=(at, new))
    before = _render(_renderer(mix, masks, old), n)
    after = _render(_renderer(mix, masks, new), n)
    # the renderer works ahead by at most a chunk of frames: the change lands within that,
    # and the overlap of one window joins the two
    reach = CFG.n_fft + 16 * CFG.hop_length + 700
    np.testing.assert_allclose(switched[:, :at - CFG.n_fft], before[:, :at - CFG.n_fft],
                               atol=1e-6)
    np.testing.assert_allclose(switched[:, at + reach:], after[:, at + reach:], atol=1e-6)
    # no silence anywhere near the switch: the sound continues (a stream reopened would leave
    # tens of milliseconds of zeros)
    joint = np.abs(switched[:, at - CFG.n_fft:at + reach]).max(axis=0)
    quiet = np.convolve(joint < 1e-6, np.ones(32), mode="valid")
    assert quiet.max() < 32
    # between the two, each sample lies within the span of the old and new renders (a mix of
    # their frames, not something else)
    lo = np.minimum(before, after)[:, at - CFG.n_fft:at + reach] - 0.05
    hi = np.maximum(before, after)[:, at - CFG.n_fft:at + reach] + 0.05
    mid = switched[:, at - CFG.n_fft:at + reach]
    assert np.all((mid >= lo) & (mid <= hi))


def test_a_phase_change_planned_ahead_takes_over_at_its_sample(scene):
    mix, masks = scene
    n, at = mix.shape[1], mix.shape[1] // 3
    r = _renderer(mix, masks, "mixture")
    head = r.render(1000)
    r.set_phase("misi", at=at)
    assert r.phase_pending and r.phase == "mixture"
    switched = np.concatenate([head, _render(r, n - 1000)], axis=1)
    assert not r.phase_pending and r.phase == "misi"
    before = _render(_renderer(mix, masks, "mixture"), n)
    after = _render(_renderer(mix, masks, "misi"), n)
    chunk = 16 * CFG.hop_length
    np.testing.assert_allclose(switched[:, :at - CFG.n_fft], before[:, :at - CFG.n_fft],
                               atol=1e-6)
    np.testing.assert_allclose(switched[:, at + chunk + CFG.n_fft:],
                               after[:, at + chunk + CFG.n_fft:], atol=1e-6)


def test_a_phase_the_renderer_cannot_do_is_refused_and_changes_nothing(scene):
    mix, masks = scene
    r = _renderer(mix, masks, "misi")
    first = r.render(1000)
    with pytest.raises(ParameterError, match="stems"):
        r.set_phase("oracle")
    with pytest.raises(ParameterError, match="unknown phase"):
        r.set_phase("loud")
    assert r.phase == "misi"
    again = _renderer(mix, masks, "misi")
    np.testing.assert_array_equal(first, again.render(1000))


@pytest.fixture(scope="module")
def files(scene, tmp_path_factory):
    mix, masks = scene
    folder = tmp_path_factory.mktemp("stream")
    sf.write(str(folder / "mix.wav"), mix.T, SR, subtype="FLOAT")
    save_masks(folder / "m.npz", MaskSet(["voice", "drums"], masks), CFG, SR)
    return folder


@settings(max_examples=12, deadline=None)
@given(start=st.integers(0, SR - 1), phase=st.sampled_from(["mixture", "misi", "fgla"]),
       kind=st.sampled_from(["mixture", "layer", "residual"]))
def test_reading_on_demand_plays_what_the_whole_file_plays(scene, files, start, phase, kind):
    mix, masks = scene
    reader = open_audio(files / "mix.wav")
    lazy = open_masks(files / "m.npz", n_channels=2, n_samples=mix.shape[1], samplerate=SR)
    assert lazy.mapped  # an .npz maskstudio wrote is stored uncompressed: mapped, not read
    heard = Heard(kind, (1,) if kind == "layer" else ())
    whole = StreamRenderer(mix, CFG, lambda a, b: masks[..., a:b], 2, phase=phase,
                           samplerate=SR)
    demand = StreamRenderer(reader, CFG, lazy.frames, 2, phase=phase, samplerate=SR)
    for r in (whole, demand):
        r.heard = heard
        r.seek(start)
    n = min(3000, mix.shape[1] - start)
    np.testing.assert_array_equal(_render(demand, n), _render(whole, n))
    reader.close()


def test_bad_blocks_are_found_when_they_are_read(scene, files, tmp_path):
    mix, masks = scene
    save_masks(tmp_path / "bad.npz", MaskSet(["voice", "drums"], masks), CFG, SR)
    # damage five frames of one layer in place (the masks are stored uncompressed)
    lazy = open_masks(tmp_path / "bad.npz", n_channels=2, n_samples=mix.shape[1],
                      samplerate=SR)
    raw = np.memmap(lazy.data.filename, dtype=lazy.data.dtype, mode="r+",
                    offset=lazy.data.offset, shape=lazy.data.shape)
    raw[0, 5, 40:45] = np.nan
    raw.flush()
    lazy = open_masks(tmp_path / "bad.npz", n_channels=2, n_samples=mix.shape[1],
                      samplerate=SR)
    assert lazy.frames(0, 40).shape[-1] == 40  # before the damage: fine
    with pytest.raises(MaskFileError, match=r"NaN.*|frames 32\.\.48"):
        lazy.frames(32, 48)

    short = tmp_path / "short.wav"
    sf.write(str(short), mix.T, SR, subtype="FLOAT")
    data = short.read_bytes()
    short.write_bytes(data[:len(data) // 2])  # the header still promises every sample
    with pytest.raises(AudioFileError, match="truncated"):
        open_audio(short)  # said at once, as load_audio says it
