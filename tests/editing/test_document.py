"""The editor's model, without a window: tiles, edits, history, display image, document."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box, brush_stroke, edit_layer, polygon, rebalance, rectangle
from maskstudio.editing.history import Atom, History
from maskstudio.editing.outputs import mask_set
from maskstudio.editing.spectrogram import SpectrogramImage, db_of, row_edges, time_edges
from maskstudio.editing.tiles import TiledMasks, pool_max
from maskstudio.errors import MaskFileError, ParameterError
from maskstudio.io.audiofile import AudioClip

from ..conftest import SR, clicks, harmonic

F, T = 40, 300


@settings(deadline=None, max_examples=50)
@given(f0=st.integers(0, F - 1), t0=st.integers(0, T - 1), h=st.integers(1, F),
       w=st.integers(1, T), tile=st.sampled_from([1, 7, 64, 500]), seed=st.integers(0, 99))
def test_property_tiles_behave_like_a_dense_array(f0, t0, h, w, tile, seed):
    h, w = min(h, F - f0), min(w, T - t0)
    rng = np.random.default_rng(seed)
    store = TiledMasks(F, T, tile=tile)
    store.add_layer()
    store.add_layer()
    dense = np.zeros((2, F, T), np.float32)
    vals = rng.uniform(0, 1, (2, h, w)).astype(np.float32) * (rng.uniform(size=(2, 1, w)) > .3)
    store.write([0, 1], f0, t0, vals)
    dense[:, f0:f0 + h, t0:t0 + w] = vals
    np.testing.assert_array_equal(store.read([0, 1], 0, F, 0, T), dense)
    np.testing.assert_array_equal(store.block(t0, t0 + w), dense[..., t0:t0 + w])
    rows, cols = np.linspace(0, F, 9).astype(int), np.linspace(0, T, 31).astype(int)
    np.testing.assert_array_equal(store.pooled(1, rows, cols),
                                  pool_max(dense[1], rows, cols[:-1]))
    store.write([0, 1], f0, t0, np.zeros_like(vals))  # zeroed tiles are freed
    assert store.nbytes() == 0


def test_untouched_layers_cost_nothing_and_tiles_grow_with_painting():
    store = TiledMasks(1025, 310_078)  # a 60-minute file at 2048/512
    for _ in range(4):
        store.add_layer()
    assert store.nbytes() == 0
    store.write([0], 100, 5000, np.ones((1, 50, 300), np.float32))
    assert store.nbytes() == 3 * 1025 * 128 * 4  # three tiles of one layer


def test_per_channel_layers():
    store = TiledMasks(10, 50, tile=16, lead=(2,))
    store.add_layer(np.stack([np.ones((10, 50)), np.zeros((10, 50))]).astype(np.float32))
    assert store.shape == (1, 2, 10, 50)
    np.testing.assert_allclose(store.pooled(0, np.arange(11), np.arange(51)), 0.5)


def test_a_fast_brush_stroke_has_no_gaps():
    box, alpha = brush_stroke([(20, 10), (60, 290)], 3, 3, hardness=1.0, n_bins=100,
                              n_frames=300)
    full = np.zeros((100, 300), np.float32)
    full[box.f0:box.f1, box.t0:box.t1] = alpha
    for u in np.linspace(0, 1, 500):
        assert full[int(round(20 + 40 * u)), int(round(10 + 280 * u))] == 1
    assert full[80, 10] == 0 and full[20, 290] == 0
    soft = brush_stroke([(50, 50)], 10, 10, hardness=0.2, n_bins=100, n_frames=300)[1]
    assert soft.max() == 1 and 0 < soft[soft > 0].min() < 0.5  # a feathered rim


def test_rectangle_and_polygon_footprints():
    box, alpha = rectangle(5.2, 2.0, 10, 12, n_bins=50, n_frames=50)
    assert box == Box(2, 7, 10, 13) and alpha.all()
    box, alpha = polygon([(10, 10), (30, 10), (30, 20), (10, 20)], n_bins=50, n_frames=50)
    full = np.zeros((50, 50))
    full[box.f0:box.f1, box.t0:box.t1] = alpha
    assert full[11:30, 11:20].all() and full[:9].sum() == 0 and full[31:].sum() == 0
    tri = polygon([(0, 0), (40, 0), (0, 40)], n_bins=50, n_frames=50)[1]
    assert tri[5, 5] == 1 and tri[35, 35] == 0


def test_rebalance_takes_from_the_residual_first_then_the_unlocked_layers():
    old = np.array([[0.2], [0.3], [0.1]], np.float32)[..., None]  # residual 0.4
    new = rebalance(old, 0.5, 0, [False, False, False])  # +0.3: all from the residual
    np.testing.assert_allclose(new[:, 0, 0], [0.5, 0.3, 0.1], atol=1e-6)
    new = rebalance(old, 1.0, 0, [False, False, False])  # +0.8: 0.4 residual, 0.4 others
    np.testing.assert_allclose(new[:, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    new = rebalance(old, 1.0, 0, [False, True, False])  # layer 1 locked: cap at 0.7
    np.testing.assert_allclose(new[:, 0, 0], [0.7, 0.3, 0.0], atol=1e-6)
    new = rebalance(old, 0.0, 1, [False, False, False])  # a loss goes to the residual
    np.testing.assert_allclose(new[:, 0, 0], [0.2, 0.0, 0.1], atol=1e-6)
    np.testing.assert_array_equal(rebalance(old, 1.0, 2, [False, False, True]), old)


@settings(deadline=None, max_examples=80)
@given(hnp.arrays(np.float32, (3, 4, 5), elements=st.floats(0, 1, width=32)),
       st.floats(0, 1), st.integers(0, 2), st.lists(st.booleans(), min_size=3, max_size=3),
       hnp.arrays(np.float32, (4, 5), elements=st.floats(0, 1, width=32)))
def test_property_edits_keep_the_partition_and_the_locks(raw, target, k, locked, alpha):
    old = raw / np.maximum(raw.sum(axis=0), 1)  # a valid partition (sum <= 1)
    new = edit_layer(old, k, target, alpha, locked)
    assert new.min() >= 0 and new.max() <= 1 + 1e-6
    assert new.sum(axis=0).max() <= 1 + 1e-5
    for j in range(3):
        if locked[j]:
            np.testing.assert_array_equal(new[j], old[j])


def test_history_undoes_overlapping_atoms_bit_for_bit_and_stays_bounded():
    store = TiledMasks(20, 40, tile=8)
    store.add_layer()
    hist = History(store, max_bytes=10_000)
    rng = np.random.default_rng(0)
    start = store.dense(0).copy()
    hist.begin("stroke")
    for i in range(5):
        old = store.read([0], 2, 12, i * 3, i * 3 + 10)
        new = rng.uniform(size=old.shape).astype(np.float32)
        store.write([0], 2, i * 3, new)
        hist.record(Atom((0,), 2, i * 3, old, new))
    hist.end()
    painted = store.dense(0).copy()
    assert len(hist) == 1
    hist.undo()
    np.testing.assert_array_equal(store.dense(0), start)
    hist.redo()
    np.testing.assert_array_equal(store.dense(0), painted)
    for _ in range(20):  # many steps: the oldest go, memory stays under the bound
        old = store.read([0], 0, 10, 0, 10)
        hist.record(Atom((0,), 0, 0, old, old + 0))
    assert hist.nbytes <= 10_000 and len(hist) < 21


def test_display_image_is_the_level_of_the_viewed_signal():
    sr, n = 8000, 8000
    t = np.arange(n) / sr
    left = np.sin(2 * np.pi * 1000 * t).astype(np.float32)  # a full-scale sine
    right = 0.01 * np.sin(2 * np.pi * 2000 * t).astype(np.float32)
    x = np.stack([left, right])
    cfg = STFTConfig(n_fft=256, hop_length=64)
    mid = SpectrogramImage(x, cfg)
    mid.compute_range(0, mid.n_frames)
    S = stft(x.mean(axis=0), **cfg.kwargs()) / mid._ref
    expected = 20 * np.log10(np.maximum(np.abs(S), 1e-9))
    seen = db_of(mid.levels)
    ok = expected > -119
    assert np.abs(seen[ok] - expected[ok]).max() <= 0.26  # 0.5 dB steps
    one = SpectrogramImage(x, cfg, channel=0)
    one.compute_range(0, one.n_frames)
    assert db_of(one.levels[32, 40]) == pytest.approx(0, abs=0.5)  # 1 kHz: bin 32, 0 dBFS
    assert mid.complete and one.complete
    rows = row_edges(0, 4000, 10, "linear", 8000 / 256, cfg.n_bins)
    assert rows[0] == 0 and rows[-1] == 128 and np.all(np.diff(rows) >= 0)
    assert list(time_edges(0, 10, 5, 100)) == [0, 2, 4, 6, 8, 10]


@pytest.fixture
def doc():
    n = SR * 2
    x = (harmonic(n) + clicks(n))[None]
    return Document(AudioClip(x, SR), STFTConfig(n_fft=512, hop_length=128))


def test_document_regrids_layers_to_new_stft_settings(doc):
    k = doc.add_layer("voice")
    box, alpha = rectangle(40, 80, 100, 150, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.fill(k, (box, alpha))
    doc.set_config(STFTConfig(n_fft=1024, hop_length=256))
    m = doc.store.dense(0)
    assert m.shape == (513, doc.n_frames)
    hz, s = 60 * SR / 512, 125 * 128 / SR  # the middle of the box, in Hz and seconds
    assert m[int(hz / doc.bin_hz), int(s / doc.frame_seconds)] == pytest.approx(1)
    assert m[int(3000 / doc.bin_hz), int(s / doc.frame_seconds)] == 0
    assert not doc.history.can_undo  # a new grid: the old steps no longer apply


def test_document_export_sums_to_the_mixture_and_refuses_bad_requests(doc, tmp_path):
    k = doc.add_layer()
    doc.threshold(k, -30.0)
    files = doc.export(tmp_path / "out", fmt="wav")
    from maskstudio.io.audiofile import load_audio

    total = sum(load_audio(f).samples for f in files[:-1])
    np.testing.assert_allclose(total, doc.clip.samples, atol=1e-5)
    with pytest.raises(ParameterError, match="stems"):
        doc.export(tmp_path / "o2", phase="oracle")
    with pytest.raises(ParameterError, match="channel"):
        doc.set_view_channel(3)
    doc.set_layer(k, locked=True)
    with pytest.raises(ParameterError, match="locked"):
        doc.fill(k, rectangle(0, 5, 0, 5, n_bins=doc.n_bins, n_frames=doc.n_frames))


def test_model_masks_on_another_grid_say_what_differs(doc, tmp_path):
    np.savez(tmp_path / "m.npz", masks=np.zeros((1, 1025, 1 + SR * 2 // 512), np.float32),
             n_fft=2048, hop_length=512, samplerate=SR)
    with pytest.raises(MaskFileError, match="n_fft=2048.*switch the STFT settings"):
        doc.load_model_masks(tmp_path / "m.npz")


def test_exporting_one_layer_gives_it_and_its_complement(doc, tmp_path):
    from maskstudio.io.audiofile import load_audio

    a, b = doc.add_layer("a"), doc.add_layer("b")
    doc.threshold(a, -30.0)
    doc.fill(b, rectangle(0, 50, 0, 100, n_bins=doc.n_bins, n_frames=doc.n_frames))
    files = doc.export(tmp_path, names=["b"])
    assert sorted(p.name for p in files) == ["b.wav", "masks.npz", "residual.wav"]
    total = load_audio(tmp_path / "b.wav").samples + load_audio(tmp_path / "residual.wav").samples
    np.testing.assert_allclose(total, doc.clip.samples, atol=1e-5)


def _stream_doc(two_sources, per_channel=False):
    from maskstudio.dsp.oracle import oracle_masks

    mix, (s1, s2) = two_sources
    if per_channel:
        mix, s1, s2 = (np.concatenate([x, 0.5 * x]) for x in (mix, s1, s2))
    doc = Document(AudioClip(mix, SR), STFTConfig(n_fft=512, hop_length=128))
    doc.references = {"tone": s1, "hits": s2}
    data = oracle_masks(mix, [s1, s2], doc.config, "irm", per_channel=per_channel)
    doc.add_layers(["tone", "hits"], data, {"kind": "oracle"}, "oracle")
    return doc


@pytest.mark.parametrize("phase, per_channel", [("mixture", False), ("oracle", False),
                                                ("mixture", True)])
def test_export_streams_from_the_tiles_and_matches_the_whole_file_render(
        two_sources, tmp_path, monkeypatch, phase, per_channel):
    import soundfile as sf

    from maskstudio.io.export import render
    from maskstudio.io.npz import read_mask_file

    doc = _stream_doc(two_sources, per_channel)
    doc.erase(0, (Box(0, 60, 40, 90), np.ones((60, 50), np.float32)))
    masks = mask_set(doc)
    refs = [doc.references[n] for n in masks.names] if phase == "oracle" else None
    whole = render(doc.clip, masks, doc.config, phase=phase, references=refs)

    def no_dense(*a, **k):
        raise AssertionError("export made a layer whole")
    monkeypatch.setattr(TiledMasks, "dense", no_dense)
    written = doc.export(tmp_path / "out", phase=phase)
    assert [p.name for p in written] == ["tone.wav", "hits.wav", "residual.wav", "masks.npz"]
    for p, expected in zip(written, whole):
        got, sr = sf.read(str(p), dtype="float32", always_2d=True)
        assert sr == SR
        np.testing.assert_array_equal(got.T, expected)
    np.testing.assert_array_equal(read_mask_file(written[-1]).data, masks.data)


def test_a_cancelled_export_leaves_the_folder_as_it_was(two_sources, tmp_path):
    from maskstudio.errors import Cancelled

    doc = _stream_doc(two_sources)
    out = tmp_path / "out"
    out.mkdir()
    (out / "tone.wav").write_bytes(b"an earlier export")

    def progress(done, total):
        if done > total // 2:
            raise Cancelled("cancelled")
    with pytest.raises(Cancelled):
        doc.export(out, progress=progress)
    assert sorted(p.name for p in out.iterdir()) == ["tone.wav"]
    assert (out / "tone.wav").read_bytes() == b"an earlier export"


def test_save_masks_writes_every_layer_from_the_tiles(two_sources, tmp_path, monkeypatch):
    from maskstudio.io.npz import load_masks

    doc = _stream_doc(two_sources)
    doc.erase(1, (Box(10, 70, 5, 60), np.ones((60, 55), np.float32)))
    expected = mask_set(doc)
    monkeypatch.setattr(TiledMasks, "dense", lambda *a: pytest.fail("a layer made whole"))
    path = doc.save_masks(tmp_path / "masks.npz")
    mf = load_masks(path, n_channels=1, n_samples=doc.clip.n_samples, samplerate=SR,
                    config=doc.config)
    assert mf.masks.names == ["tone", "hits"] and mf.config == doc.config
    np.testing.assert_array_equal(mf.masks.data, expected.data)
    assert [la["name"] for la in mf.metadata["layers"]] == ["tone", "hits"]
