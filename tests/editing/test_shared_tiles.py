"""Layers whose channels agree share one channel's memory in a stereo document (a shared
oracle's, a model's shared masks): read as every channel's, copied only when one channel is
edited on its own, and saved, journaled and exported like any other."""

import numpy as np
import soundfile as sf

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke
from maskstudio.editing.sources import add_oracle_layers
from maskstudio.editing.tiles import TiledMasks, held_bytes, pool_max, quantize
from maskstudio.io.audiofile import load_audio

from ..conftest import stereo_stems

CFG = STFTConfig(n_fft=512, hop_length=128)


def test_codes_that_agree_across_channels_are_stored_once():
    rng = np.random.default_rng(0)
    store = TiledMasks(257, 300, tile=64, lead=(2,))
    store.add_layer()
    store.add_layer()
    same = rng.uniform(0, 0.5, (257, 300)).astype(np.float32)
    differ = rng.uniform(0, 0.5, (2, 257, 300)).astype(np.float32)
    codes = quantize(np.stack([np.broadcast_to(same, (2, 257, 300)), differ]))
    store.write_codes([0, 1], 0, codes)
    tile = store.stored_tiles(0)[0]
    assert held_bytes(tile) == 257 * 64 and not tile.flags.writeable
    assert held_bytes(store.stored_tiles(1)[0]) == 2 * 257 * 64
    np.testing.assert_array_equal(store.read([0, 1], 0, 257, 0, 300),
                                  codes.astype(np.float32) / 255)
    assert store.nbytes() == 5 * 257 * 64 * 3  # 5 tiles a layer: 1 channel, then 2
    # a write to one channel copies the shared tile; the other channel keeps its values
    before = store.read([0], 0, 257, 0, 300)
    values = before[:, :, 10:20, 5:15].copy()
    values[:, 1] = 0.9
    store.write([0], 10, 5, values)
    after = store.read([0], 0, 257, 0, 300)
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    assert (after[0, 1, 10:20, 5:15] == np.float32(0.9)).all()


def test_a_shared_oracle_in_a_stereo_document_costs_one_channel(tmp_path):
    stems = stereo_stems(tmp_path, 2)
    shared = Document(load_audio(tmp_path / "mix.wav"), CFG)
    add_oracle_layers(shared, "wiener", stems, shared=True)
    own = Document(load_audio(tmp_path / "mix.wav"), CFG)
    add_oracle_layers(own, "wiener", stems)
    assert shared.store.lead == own.store.lead == (2,)
    assert shared.store.nbytes() * 2 == own.store.nbytes()
    got = shared.store.block(0, shared.n_frames)
    np.testing.assert_array_equal(got[:, 0], got[:, 1])  # every channel reads the mask
    # a brush on channel 2 alone: channel 1 keeps the shared oracle's values, undo restores
    shared.set_view_channel(1)
    shared.link_channels = False
    box, alpha = brush_stroke([(40, 30), (60, 50)], 8, 6, n_bins=shared.n_bins,
                              n_frames=shared.n_frames)
    shared.begin_edit("brush")
    shared.apply(0, box, alpha, 1.0)
    shared.end_edit()
    now = shared.store.block(0, shared.n_frames)
    np.testing.assert_array_equal(now[:, 0], got[:, 0])
    assert not np.array_equal(now[:, 1], got[:, 1])
    shared.history.undo()
    np.testing.assert_array_equal(shared.store.block(0, shared.n_frames), got)
    # the project and the export see every channel's values
    out = shared.export(tmp_path / "out")
    assert {p.name for p in out} >= {"voice.wav", "drums.wav", "residual.wav"}
    total = sum(sf.read(str(tmp_path / "out" / f"{k}.wav"))[0] for k in
                ("voice", "drums", "residual"))
    np.testing.assert_allclose(total, sf.read(str(tmp_path / "mix.wav"))[0], atol=1e-5)


def test_a_shared_tile_pools_as_the_mean_of_its_channels():
    rng = np.random.default_rng(2)
    store = TiledMasks(129, 100, tile=32, lead=(2,))
    store.add_layer()
    same = rng.uniform(0, 1, (129, 100)).astype(np.float32)
    store.write_codes([0], 0, quantize(np.broadcast_to(same, (1, 2, 129, 100))))
    assert held_bytes(store.stored_tiles(0)[0]) == 129 * 32
    rows, cols = np.arange(0, 130, 8), np.arange(0, 101, 5)
    dense = store.read([0], 0, 129, 0, 100)[0]
    want = pool_max(dense.mean(axis=0), rows, cols[:-1])
    np.testing.assert_allclose(store.pooled(0, rows, cols), want, atol=1e-6)
    np.testing.assert_allclose(store.pooled(0, rows, cols, channel=1), want, atol=1e-6)
