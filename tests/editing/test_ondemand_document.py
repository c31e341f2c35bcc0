"""A document on a file read on demand: the mixture and the stems are never decoded whole, the
window's oracle is computed block by block into compact tiles, and what is stored round-trips
through projects and the journal exactly."""

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.journal import Journal
from maskstudio.annotation.project import load_project, recover, save_project
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing import sources
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box
from maskstudio.editing.hearing import playback_renderer
from maskstudio.editing.tiles import LEVELS, TiledMasks, hot, quantize
from maskstudio.io.audiofile import AudioClip, load_audio
from maskstudio.io.ondemand import (
    AudioReader,
    ConformedReader,
    open_audio,
    open_reference,
    read_whole,
)

from ..conftest import SR, clicks, harmonic, noise

CFG = STFTConfig(n_fft=512, hop_length=128)


class CountingReader(AudioReader):
    """An AudioReader that counts the samples it was asked for (each of its readers too)."""

    counts: list = []

    def read(self, start, stop):
        CountingReader.counts.append(stop - start)
        return super().read(start, stop)

    def reader(self):
        return CountingReader(self.path, self._info)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = SR * 3 + 77
    voice = np.stack([harmonic(n), 0.5 * harmonic(n, f0=330.0)]).astype(np.float32)
    drums = np.stack([clicks(n), noise(n, seed=5)]).astype(np.float32)
    paths = {"mix": tmp_path / "mix.flac", "voice": tmp_path / "voice.wav",
             "drums": tmp_path / "drums.wav"}
    sf.write(str(paths["mix"]), (voice + drums).T, SR, subtype="PCM_24")
    sf.write(str(paths["voice"]), voice.T, SR, subtype="FLOAT")
    sf.write(str(paths["drums"]), drums.T, SR, subtype="FLOAT")
    return paths


def _reader(path):
    opened = open_audio(path)
    return CountingReader(opened.path, opened._info)


def test_the_document_reads_only_what_it_needs(files):
    CountingReader.counts = []
    doc = Document(_reader(files["mix"]), CFG)
    assert not hasattr(doc.clip, "samples")
    assert (doc.clip.n_samples, doc.clip.n_channels, doc.samplerate) == (SR * 3 + 77, 2, SR)
    box = Box(0, doc.n_bins, 100, 110)
    preview = doc.threshold_preview(box, -40.0)
    assert preview.shape == (doc.n_bins, 10)
    assert 0 < sum(CountingReader.counts) < doc.clip.n_samples // 10
    # the same threshold as on the decoded file
    whole = Document(load_audio(files["mix"]), CFG)
    np.testing.assert_array_equal(preview, whole.threshold_preview(box, -40.0))


def test_the_window_oracle_is_block_wise_and_compact(files, monkeypatch):
    monkeypatch.setattr(sources, "ORACLE_BLOCK", 256)  # several blocks, seams inside tiles
    doc = Document(open_audio(files["mix"]), CFG)
    stems = {"voice": str(files["voice"]), "drums": str(files["drums"])}
    idx = sources.add_oracle_layers(doc, "wiener", stems)
    mix = load_audio(files["mix"]).samples
    stem_signals = [read_whole(sf.read(str(files[n]), dtype="float32")[0].T) for n in stems]
    want = oracle_masks(mix, stem_signals, CFG, "wiener", per_channel=True)  # stereo: per channel
    got = np.stack([doc.store.dense(i) for i in idx])
    assert got.shape == (2, 2, doc.n_bins, doc.n_frames)
    assert np.abs(got - want).max() <= 1 / 255 + 1e-7  # the store's precision
    assert got.sum(axis=0).max() <= 1.0 + 1e-6  # the residual is never negative
    tiles = [t for i in idx for t in doc.store.stored_tiles(i).values()]
    assert tiles and all(t.dtype == np.uint8 for t in tiles)
    assert isinstance(doc.references["voice"], ConformedReader)  # stems read on demand
    # a binary mask is stored exactly
    ibm = Document(open_audio(files["mix"]), CFG)
    ib = sources.add_oracle_layers(ibm, "ibm", stems)
    want = oracle_masks(mix, [doc.references[n].read(0, mix.shape[1]) for n in stems], CFG,
                        "ibm", per_channel=True)
    np.testing.assert_array_equal(np.stack([ibm.store.dense(i) for i in ib]), want)
    # --shared: one mask from the pooled power, given to each channel of the layers
    shared = Document(open_audio(files["mix"]), CFG)
    sh = sources.add_oracle_layers(shared, "ibm", stems, shared=True)
    want = oracle_masks(mix, stem_signals, CFG, "ibm")
    np.testing.assert_array_equal(np.stack([shared.store.dense(i) for i in sh]),
                                  np.broadcast_to(want[:, None], (2, 2) + want.shape[1:]))
    assert shared.layers[0].provenance["per_channel"] is False


def test_an_edit_of_a_compact_tile_is_not_rounded():
    store = TiledMasks(8, 300, tile=128)
    store.add_layer()
    store.add_layer()
    values = np.random.default_rng(0).random((2, 8, 300)) * 0.45  # summing to 0.9 at most
    codes = quantize(values, top=0.9)
    assert codes.astype(int).sum(axis=0).max() <= int(0.9 * 255)  # the cap holds
    assert np.abs(LEVELS[codes] - values).max() <= 1 / 255 + 1e-7
    store.write_codes([0, 1], 0, codes)
    np.testing.assert_array_equal(store.block(0, 300), LEVELS[codes])
    store.write([0], 2, 5, np.full((1, 1, 1), 0.123456, np.float32))
    assert store.read([0], 2, 3, 5, 6)[0, 0, 0] == np.float32(0.123456)
    assert store.stored_tiles(0)[0].dtype == np.float32  # widened, its other values kept
    np.testing.assert_array_equal(store.read([0], 0, 2, 0, 300), LEVELS[codes[:1, :2]])
    assert store.stored_tiles(1)[0].dtype == np.uint8


def test_compact_tiles_round_trip_through_projects_and_the_journal(files, tmp_path):
    doc = Document(open_audio(files["mix"]), CFG)
    stems = {"voice": str(files["voice"]), "drums": str(files["drums"])}
    sources.add_oracle_layers(doc, "irm", stems)
    doc.fill(0, (Box(10, 20, 30, 40), np.ones((10, 10), np.float32)), 0.25)  # one tile widens
    kinds = {t.dtype for t in doc.store.stored_tiles(0).values()}
    assert kinds == {np.dtype(np.uint8), np.dtype(np.float32)}
    path = save_project(doc, tmp_path / "p.msproj")
    again = load_project(path, start_journal=False)
    assert not isinstance(again.clip, AudioClip)  # a project's mixture is read on demand
    for a, b in zip(doc.store.layer_tiles(), again.store.layer_tiles()):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(LEVELS[hot(a[k])] if a[k].dtype == np.uint8 else a[k],
                                          LEVELS[hot(b[k])] if b[k].dtype == np.uint8 else b[k])
    assert again.restore_references() == []
    np.testing.assert_array_equal(read_whole(again.references["voice"]),
                                  read_whole(doc.references["voice"]))
    # the journal records compact tiles as codes; recovery rebuilds them as they were
    fresh = Document(open_audio(files["mix"]), CFG)
    jpath = tmp_path / "j.journal"
    Journal.start(fresh, jpath)
    sources.add_oracle_layers(fresh, "wiener", stems)
    fresh.close()
    back = Document(open_audio(files["mix"]), CFG)
    recover(jpath, back)
    for a, b in zip(fresh.store.layer_tiles(), back.store.layer_tiles()):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k].dtype == np.uint8
            np.testing.assert_array_equal(hot(a[k]), hot(b[k]))


def test_playback_and_export_of_a_document_read_on_demand(files, tmp_path):
    on_demand = Document(open_audio(files["mix"]), CFG)
    decoded = Document(load_audio(files["mix"]), CFG)
    stems = {"voice": str(files["voice"]), "drums": str(files["drums"])}
    for doc in (on_demand, decoded):
        sources.add_oracle_layers(doc, "wiener", stems)
    for phase in ("mixture", "oracle"):
        a = playback_renderer(on_demand, phase)
        b = playback_renderer(decoded, phase)
        for r in (a, b):
            r.heard = type(r.heard)("layer", (0,))
            r.seek(SR)
        np.testing.assert_allclose(a.render(SR), b.render(SR), atol=1e-6)
    for doc, out in ((on_demand, tmp_path / "a"), (decoded, tmp_path / "b")):
        doc.export(out, phase="mixture")
    for name in ("voice", "drums", "residual"):
        x, _ = sf.read(str(tmp_path / "a" / f"{name}.wav"), dtype="float32")
        y, _ = sf.read(str(tmp_path / "b" / f"{name}.wav"), dtype="float32")
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_a_mono_or_short_stem_is_conformed_on_demand(files, tmp_path):
    mix = open_audio(files["mix"])
    n = mix.n_samples
    mono = tmp_path / "mono.wav"
    sf.write(str(mono), harmonic(n - 100).astype(np.float32), SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match="padded"):
        ref = open_reference(mono, mix, name="stem 'mono'")
    x = ref.read(n - 200, n + 10)
    assert x.shape == (2, 210)
    np.testing.assert_array_equal(x[0], x[1])
    assert not x[:, 100:].any()
