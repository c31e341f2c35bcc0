"""A long file's compact tiles are cold: kept in an unnamed spill file and read on demand, so
an hour of oracle layers stays out of the process.  Nothing a user does may tell cold tiles
from held ones: reads, pooling, edits, undo, the journal, projects, export and playback."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import maskstudio.editing.tiles as tiles_module
from maskstudio.annotation.journal import Journal
from maskstudio.annotation.project import load_project, recover, save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box
from maskstudio.editing.sources import add_oracle_layers
from maskstudio.editing.tiles import ColdTile, Spill, TiledMasks, held_bytes, hot, quantize
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio

from ..conftest import SR, stereo_stems

CFG = STFTConfig(n_fft=512, hop_length=128)


def _codes(rng, lead, n_bins, n_frames, agree=False):
    shape = (n_bins, n_frames) if agree else tuple(lead) + (n_bins, n_frames)
    m = np.moveaxis(rng.dirichlet(np.ones(3), size=shape), -1, 0)[:2].astype(np.float32)
    m[..., : n_frames // 4] = 0  # a tile with nothing stored
    if agree:
        m = np.broadcast_to(m[:, None], (2,) + tuple(lead) + (n_bins, n_frames))
    return quantize(m)


def _stores(lead, n_bins, n_frames, codes, tmp_path):
    hot_store = TiledMasks(n_bins, n_frames, tile=32, lead=lead, spill=False)
    cold = TiledMasks(n_bins, n_frames, tile=32, lead=lead, spill=Spill(tmp_path))
    for store in (hot_store, cold):
        store.add_layer()
        store.add_layer()
        store.write_codes([0, 1], 0, codes)
    return hot_store, cold


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), lead=st.sampled_from([(), (2,)]), agree=st.booleans(),
       box=st.tuples(st.integers(0, 65), st.integers(0, 65), st.integers(0, 150),
                     st.integers(0, 150)),
       value=st.sampled_from([0.0, 0.37, 1.0]))
def test_cold_tiles_read_pool_and_edit_as_held_ones(tmp_path_factory, seed, lead, agree, box,
                                                     value):
    rng = np.random.default_rng(seed)
    n_bins, n_frames = 65, 150
    codes = _codes(rng, lead, n_bins, n_frames, agree=agree and bool(lead))
    held, cold = _stores(lead, n_bins, n_frames, codes, tmp_path_factory.mktemp("spill"))
    assert all(isinstance(t, ColdTile) for t in cold.stored_tiles(0).values())
    assert cold.nbytes() == 0 and cold.cold_bytes() > 0
    assert held.stored_tiles(0).keys() == cold.stored_tiles(0).keys()
    f0, f1 = sorted(box[:2])
    t0, t1 = sorted(box[2:])
    np.testing.assert_array_equal(cold.read([0, 1], f0, f1, t0, t1),
                                  held.read([0, 1], f0, f1, t0, t1))
    rows = np.linspace(0, n_bins, 9).astype(int)
    cols = np.linspace(0, n_frames, 13).astype(int)
    for channel in (None, 0, 1) if lead else (None,):
        np.testing.assert_array_equal(cold.pooled(1, rows, cols, channel=channel),
                                      held.pooled(1, rows, cols, channel=channel))
    # an edit widens the tile it meets to float32, exactly as a held compact tile widens
    if f1 > f0 and t1 > t0:
        values = held.read([0], f0, f1, t0, t1)
        values[..., :, : (t1 - t0 + 1) // 2] = value
        if lead:
            values[:, 1] = held.read([0], f0, f1, t0, t1)[:, 1]  # channel 2 untouched
        for store in (held, cold):
            store.write([0], f0, t0, values)
        np.testing.assert_array_equal(cold.block(0, n_frames), held.block(0, n_frames))
        touched = {k for k in cold.stored_tiles(0) if k * 32 < t1 and (k + 1) * 32 > t0}
        for k, t in cold.stored_tiles(0).items():
            assert isinstance(t, np.ndarray) == (k in touched), k


def test_a_spill_has_no_name_and_nothing_is_left_after_kill_9(tmp_path):
    folder = tmp_path / "spill"
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from maskstudio.editing.tiles import Spill, TiledMasks
        store = TiledMasks(129, 400, tile=32, spill=Spill({str(folder)!r}))
        store.add_layer()
        store.write_codes([0], 0, np.full((1, 129, 400), 200, np.uint8))
        assert store.nbytes() == 0 and store.cold_bytes() == 129 * 13 * 32
        print(len(os.listdir({str(folder)!r})), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert p.stdout.strip() == "0"  # no name while it lived
    assert os.listdir(folder) == []  # and nothing after a kill -9


def test_a_full_disk_while_spilling_is_one_clear_error(tmp_path, monkeypatch):
    spill = Spill(tmp_path)

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tiles_module.os, "pwrite", full)
    store = TiledMasks(65, 100, tile=32, spill=spill)
    store.add_layer()
    with pytest.raises(MaskStudioError, match="No space left on device.*free disk space"):
        store.write_codes([0], 0, np.full((1, 65, 100), 9, np.uint8))


@pytest.fixture
def stereo(tmp_path):
    return tmp_path, stereo_stems(tmp_path, 3)


@pytest.mark.parametrize("shared", [False, True])
def test_a_long_files_oracle_is_cold_and_everything_reads_it_as_held(stereo, shared,
                                                                      monkeypatch):
    folder, stems = stereo
    held = Document(load_audio(folder / "mix.wav"), CFG)
    add_oracle_layers(held, "wiener", stems, shared=shared)
    monkeypatch.setattr(tiles_module, "SPILL_BINS", 0)  # every store is "long" from here
    doc = Document(load_audio(folder / "mix.wav"), CFG)
    jpath = folder / "doc.journal"
    Journal.start(doc, jpath)
    add_oracle_layers(doc, "wiener", stems, shared=shared)
    by_key = [(k, t) for i in range(2) for k, t in doc.store.stored_tiles(i).items()]
    tiles = [t for _, t in by_key]
    assert tiles and all(isinstance(t, ColdTile) for t in tiles)
    assert doc.store.nbytes() == 0
    assert all(t.shared == shared for t in tiles)
    np.testing.assert_array_equal(doc.store.block(0, doc.n_frames),
                                  held.store.block(0, held.n_frames))
    # a shared tile is journaled once: the journal is half the per-channel one's size
    tile = doc.store.tile
    codes = sum(int(np.prod(t.shape[:-1])) // (2 if t.shared else 1)
                * min(tile, doc.n_frames - k * tile) for k, t in by_key)
    assert codes <= jpath.stat().st_size < codes + 200_000
    # an edit, its undo and redo
    for d in (held, doc):
        d.fill(1, (Box(10, 40, 20, 60), np.ones((30, 40), np.float32)), 0.5)
    np.testing.assert_array_equal(doc.store.block(0, doc.n_frames),
                                  held.store.block(0, held.n_frames))
    for d in (held, doc):
        d.history.undo()
    np.testing.assert_array_equal(doc.store.block(0, doc.n_frames),
                                  held.store.block(0, held.n_frames))
    for d in (held, doc):
        d.history.redo()
    want = held.store.block(0, held.n_frames)
    # export: the same files, sample for sample
    a, b = held.export(folder / "held"), doc.export(folder / "cold")
    wavs = [(x, y) for x, y in zip(sorted(a), sorted(b)) if str(x).endswith(".wav")]
    assert len(wavs) == 3  # two sources and the residual
    for x, y in wavs:
        np.testing.assert_array_equal(sf.read(x)[0], sf.read(y)[0])
    # the journal recovers it (cold again, shared tiles shared), and a project keeps it
    doc.close()
    back = Document(load_audio(folder / "mix.wav"), CFG)
    recover(jpath, back)
    np.testing.assert_array_equal(back.store.block(0, back.n_frames), want)
    if shared:
        unedited = [t for k, t in back.store.stored_tiles(0).items()
                    if k * back.store.tile >= 60]  # after the filled frames
        assert unedited and all(isinstance(t, ColdTile) and t.shared for t in unedited)
    path = save_project(back, folder / "p.msproj")
    again = load_project(path, start_journal=False)
    np.testing.assert_array_equal(again.store.block(0, again.n_frames), want)
    assert all(isinstance(t, ColdTile) or t.dtype == np.float32
               for i in range(2) for t in again.store.stored_tiles(i).values())
    assert sum(held_bytes(hot(t)) for t in again.store.stored_tiles(0).values()) > 0


def test_code_values_and_the_channel_mean_are_the_lookup_and_mean_bit_for_bit():
    from maskstudio.editing.tiles import LEVELS, channel_mean, code_values

    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(code_values(codes), LEVELS[codes])
    a, b = np.meshgrid(codes, codes, indexing="ij")
    pair = np.stack([LEVELS[a], LEVELS[b]])  # every pair of codes on two channels
    np.testing.assert_array_equal(channel_mean(pair, (0,)), pair.mean(axis=0))
    rng = np.random.default_rng(0)
    floats = rng.random((2, 300, 40), dtype=np.float32) ** 3  # painted values, tiny ones too
    np.testing.assert_array_equal(channel_mean(floats, (0,)), floats.mean(axis=0))
    three = rng.random((3, 30, 40), dtype=np.float32)
    np.testing.assert_array_equal(channel_mean(three, (0,)), three.mean(axis=0))


@settings(max_examples=60, deadline=None)
@given(old_hop=st.sampled_from([32, 64, 100, 128]), new_hop=st.sampled_from([16, 64, 97, 256]),
       n_old=st.integers(1, 90), block=st.integers(1, 40), seed=st.integers(0, 99))
def test_regridding_block_by_block_gives_the_whole_masks_values(old_hop, new_hop, n_old,
                                                                 block, seed):
    from maskstudio.dsp.masks import regrid_frames_needed, regrid_mask

    old = STFTConfig(n_fft=256, hop_length=old_hop)
    new = STFTConfig(n_fft=128, hop_length=new_hop)
    mask = np.random.default_rng(seed).random((2, old.n_bins, max(n_old, 2)),
                                              dtype=np.float32)[..., :n_old]
    n_new = 1 + (n_old - 1) * old_hop // new_hop + 3  # a few frames past the old end too
    whole = regrid_mask(mask, new.n_bins, n_new, old, new, SR)
    parts = []
    for t0 in range(0, n_new, block):
        t1 = min(n_new, t0 + block)
        a, b = regrid_frames_needed((t0, t1), n_old, old, new)
        assert 0 <= a < b <= n_old
        parts.append(regrid_mask(mask[..., a:b], new.n_bins, n_new, old, new, SR,
                                 frames=(t0, t1), start=a, total=n_old))
    got = np.concatenate(parts, axis=-1)
    assert got.shape == (2, new.n_bins, n_new)
    np.testing.assert_array_equal(got, whole)
    if n_old == 1:  # one old frame: every new frame is it, interpolated in frequency only
        np.testing.assert_array_equal(got, np.repeat(got[..., :1], n_new, axis=-1))


def test_a_long_documents_regrid_stays_compact_and_cold(stereo, monkeypatch):
    folder, stems = stereo
    held = Document(load_audio(folder / "mix.wav"), CFG)
    add_oracle_layers(held, "wiener", stems)
    monkeypatch.setattr(tiles_module, "SPILL_BINS", 0)
    doc = Document(load_audio(folder / "mix.wav"), CFG)
    add_oracle_layers(doc, "wiener", stems)
    other = STFTConfig(n_fft=1024, hop_length=256)
    held.set_config(other)
    doc.set_config(other)
    tiles = [t for i in range(2) for t in doc.store.stored_tiles(i).values()]
    assert tiles and all(isinstance(t, ColdTile) for t in tiles) and doc.store.nbytes() == 0
    got, want = doc.store.block(0, doc.n_frames), held.store.block(0, held.n_frames)
    assert np.abs(got - want).max() <= 1 / 255 + 1e-6  # codes: within one step
    assert got.sum(axis=0).max() <= 1 + 1e-6  # the partition holds


def test_a_projects_tiles_are_read_a_tile_at_a_time_and_a_fortran_member_is_refused(
        stereo, tmp_path):
    import io
    import zipfile

    folder, stems = stereo
    doc = Document(load_audio(folder / "mix.wav"), CFG)
    add_oracle_layers(doc, "wiener", stems)
    path = save_project(doc, folder / "p.msproj")
    again = load_project(path, start_journal=False)
    np.testing.assert_array_equal(again.store.block(0, again.n_frames),
                                  doc.store.block(0, doc.n_frames))
    # the same tiles, stored in Fortran order: reading them row by row would scramble them
    bad = tmp_path / "bad.msproj"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("tiles_"):
                arr = np.load(io.BytesIO(data))
                buf = io.BytesIO()
                np.save(buf, np.asfortranarray(arr))
                data = buf.getvalue()
            dst.writestr(info.filename, data)
    (tmp_path / "mix.wav").write_bytes((folder / "mix.wav").read_bytes())
    with pytest.raises(MaskStudioError, match="Fortran order"):
        load_project(bad, start_journal=False)


def test_one_dab_then_save_and_reopen_keeps_the_untouched_codes_cold(stereo, monkeypatch,
                                                                      tmp_path):
    """Found by the hostile review: a layer holding one painted tile was saved as float32
    whole, and came back 4x its codes, all in memory.  Format 2 keeps both kinds apart."""
    import io
    import zipfile

    folder, stems = stereo
    monkeypatch.setattr(tiles_module, "SPILL_BINS", 0)
    doc = Document(load_audio(folder / "mix.wav"), CFG)
    add_oracle_layers(doc, "wiener", stems)
    doc.fill(0, (Box(10, 20, 5, 15), np.ones((10, 10), np.float32)), 1.0)
    edited = doc.store.nbytes()
    assert 0 < edited
    path = save_project(doc, folder / "p.msproj")
    again = load_project(path, start_journal=False)
    np.testing.assert_array_equal(again.store.block(0, again.n_frames),
                                  doc.store.block(0, doc.n_frames))
    assert again.store.nbytes() == edited  # the painted tiles held, the rest cold again
    for i in range(2):
        for k, t in doc.store.stored_tiles(i).items():
            assert isinstance(again.store.stored_tiles(i)[k], ColdTile) == \
                isinstance(t, ColdTile)
    # a tile stored both painted and compact is refused, not silently chosen
    bad = tmp_path / "bad.msproj"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("cidx_"):
                buf = io.BytesIO()
                keys = np.load(io.BytesIO(data))
                uid = info.filename[5:-4]
                painted = np.load(io.BytesIO(src.read(f"idx_{uid}.npy")))
                np.save(buf, np.concatenate([painted[:1], keys[1:]]))
                data = buf.getvalue()
            dst.writestr(info.filename, data)
    with pytest.raises(MaskStudioError, match="twice"):
        load_project(bad, start_journal=False)


def test_replaced_cold_oracles_are_bounded_by_the_history_like_held_ones(stereo,
                                                                           monkeypatch):
    """Found by the hostile review: a cold tile cost an undo step nothing, so every replaced
    oracle stayed undoable and its codes stayed on disk for the whole session."""
    folder, stems = stereo
    counts = []
    for cold in (False, True):
        monkeypatch.setattr(tiles_module, "SPILL_BINS", 0 if cold else 1 << 60)
        doc = Document(load_audio(folder / "mix.wav"), CFG)
        add_oracle_layers(doc, "wiener", stems)
        one = doc.store.nbytes() + doc.store.cold_bytes()
        doc.history.max_bytes = 3 * one
        for k in range(8):
            add_oracle_layers(doc, "wiener", stems, mode="replace", lc_db=-60 - k)
        n = 0
        while doc.history.undo() is not None:
            n += 1
        counts.append(n)
    assert counts[0] == counts[1] <= 4


@pytest.mark.parametrize("per_channel", [True, False])
def test_a_long_files_model_masks_are_read_a_block_at_a_time_into_cold_codes(
        stereo, monkeypatch, tmp_path, per_channel):
    from maskstudio.errors import MaskFileError

    folder, _ = stereo
    held = Document(load_audio(folder / "mix.wav"), CFG)
    T, F = held.n_frames, held.n_bins
    rng = np.random.default_rng(5)
    lead = (2,) if per_channel else ()
    m = rng.random((2,) + lead + (F, T), dtype=np.float32) * 0.7  # the pair may pass one
    path = tmp_path / "model.npz"
    np.savez(path, masks=m, names=np.array(["voice", "music"]), n_fft=CFG.n_fft,
             hop_length=CFG.hop_length, samplerate=SR)
    held.load_model_masks(path)
    monkeypatch.setattr(tiles_module, "SPILL_BINS", 0)
    monkeypatch.setattr("maskstudio.editing.sources.ORACLE_BLOCK", 128)  # several blocks
    doc = Document(load_audio(folder / "mix.wav"), CFG)
    doc.load_model_masks(path)
    tiles = [t for i in range(2) for t in doc.store.stored_tiles(i).values()]
    assert tiles and all(isinstance(t, ColdTile) for t in tiles) and doc.store.nbytes() == 0
    got, want = doc.store.block(0, T), held.store.block(0, T)
    assert np.abs(got - want).max() <= 1 / 255 + 1e-6
    assert got.sum(axis=0).max() <= 1 + 1e-6
    # a NaN in a late block: one line naming the mask and the frames, nothing loaded
    m[1, ..., T - 3] = np.nan
    np.savez(path, masks=m, names=np.array(["voice", "music"]), n_fft=CFG.n_fft,
             hop_length=CFG.hop_length, samplerate=SR)
    fresh = Document(load_audio(folder / "mix.wav"), CFG)
    with pytest.raises(MaskFileError, match=r"mask 'music'.*frames \d+\.\.\d+.*NaN"):
        fresh.load_model_masks(path)
    assert fresh.layers == []
