"""What a hostile review of the trust work found, each case as a test of its class.

- an export never overwrites any input the document was made from (stems, mask files), not
  only the mixture;
- recovery is all or nothing: a journal that does not fit leaves the document as it was and
  the journal untouched; per-channel layers recover too;
- a structural change in the middle of a stroke cannot mix two numberings of the layers in one
  undo step; a re-run separation respects locks; a refused load changes nothing.
"""

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.journal import Journal
from maskstudio.annotation.project import recover
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke, rectangle
from maskstudio.editing.sources import add_oracle_layers
from maskstudio.errors import MaskStudioError, OverwriteError, ParameterError
from maskstudio.io.audiofile import load_audio

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = SR
    (tmp_path / "sources").mkdir()
    voice, drums = harmonic(n), clicks(n)
    sf.write(str(tmp_path / "sources" / "voice.wav"), np.stack([voice, voice]).T, SR,
             subtype="FLOAT")
    sf.write(str(tmp_path / "sources" / "drums.wav"), np.stack([drums, drums]).T, SR,
             subtype="FLOAT")
    sf.write(str(tmp_path / "mix.wav"), np.stack([voice + drums, voice + drums]).T, SR,
             subtype="FLOAT")
    return tmp_path


def _stems(files):
    return {"voice": files / "sources" / "voice.wav", "drums": files / "sources" / "drums.wav"}


@pytest.mark.parametrize("phase", ["mixture", "misi"])
def test_an_export_into_the_stems_folder_never_overwrites_a_stem(files, phase):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    add_oracle_layers(doc, "irm", _stems(files))
    before = {p: p.read_bytes() for p in (files / "sources").iterdir()}
    with pytest.raises(OverwriteError):
        doc.export(files / "sources", phase=phase)  # voice.wav is a stem: refused first
    with pytest.raises(OverwriteError):
        doc.export(files / "sources", names=["drums"])
    assert {p: p.read_bytes() for p in (files / "sources").iterdir()} == before


def test_an_export_never_overwrites_the_mask_file_a_layer_came_from(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    masks = np.full((1, doc.n_bins, doc.n_frames), 0.5, np.float32)
    np.savez(files / "masks.npz", masks=masks, names=np.array(["voice"]), samplerate=SR,
             n_fft=512, hop_length=128, win_length=512, window="hann", center=True)
    doc.load_model_masks(files / "masks.npz")
    before = (files / "masks.npz").read_bytes()
    with pytest.raises(OverwriteError):
        doc.export(files)  # its masks.npz would replace the model's file
    assert (files / "masks.npz").read_bytes() == before


def test_a_journal_from_another_grid_is_refused_and_changes_nothing(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    j = Journal.start(doc, files / "j.journal")
    k = doc.add_layer("voice")
    doc.fill(k, rectangle(0, 30, 0, 30, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    j.close()
    # an empty document on another grid takes the journal's grid (defaults may change)
    fresh = Document(load_audio(files / "mix.wav"), STFTConfig(n_fft=1024, hop_length=256))
    recover(files / "j.journal", fresh)
    assert fresh.config == CFG
    np.testing.assert_array_equal(fresh.store.dense(0), doc.store.dense(0))
    fresh.close()
    # a document with layers on another grid is refused, and neither it nor the journal moves
    other = Document(load_audio(files / "mix.wav"), STFTConfig(n_fft=1024, hop_length=256))
    other.add_layer("mine")
    size = (files / "j.journal").stat().st_size
    with pytest.raises(MaskStudioError, match="recorded on"):
        recover(files / "j.journal", other)
    assert [la.name for la in other.layers] == ["mine"] and other.config.n_fft == 1024
    assert (files / "j.journal").stat().st_size == size


def test_a_record_that_does_not_fit_leaves_the_document_as_it_was(files, tmp_path):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    j = Journal.start(doc, files / "j.journal")
    doc.add_layer("voice")
    doc.fill(0, rectangle(0, 30, 60, 120, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    j.close()
    # another file of the same name, shorter: the journal's boxes fall outside its grid
    n = SR // 4
    sf.write(str(tmp_path / "short.wav"), np.stack([harmonic(n), harmonic(n)]).T, SR,
             subtype="FLOAT")
    short = Document(load_audio(tmp_path / "short.wav"), CFG)
    short.add_layer("mine", label="x")
    with pytest.raises(MaskStudioError):
        recover(files / "j.journal", short)
    assert [la.name for la in short.layers] == ["mine"] and not short.store.dense(0).any()
    short.add_layer("other")  # and it goes on working: history and store agree
    short.history.undo()
    assert [la.name for la in short.layers] == ["mine"]


def test_per_channel_layers_recover(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    j = Journal.start(doc, files / "j.journal")
    add_oracle_layers(doc, "irm", _stems(files), per_channel=True)
    assert doc.store.lead == (2,)
    doc.fill(0, rectangle(0, 30, 0, 30, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    j.close()
    fresh = Document(load_audio(files / "mix.wav"), CFG)
    recover(files / "j.journal", fresh)
    assert fresh.store.lead == (2,)
    for i in range(2):
        np.testing.assert_array_equal(fresh.store.dense(i), doc.store.dense(i))


def test_a_layer_removed_mid_stroke_ends_the_stroke_first(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    for name in ("a", "b", "c"):
        doc.add_layer(name)
    j = Journal.start(doc, files / "j.journal")
    box, alpha = brush_stroke([(20, 20)], 6, 6, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(2, box, alpha, 1.0)
    painted = doc.store.dense(2).copy()
    doc.remove_layer(0)  # Delete pressed while the mouse is down
    doc.apply(1, box.grow(0, 4).clip(doc.n_bins, doc.n_frames),
              np.ones(box.grow(0, 4).clip(doc.n_bins, doc.n_frames).shape, np.float32), 0.5)
    doc.end_edit()
    doc.history.undo()  # the second part of the stroke
    np.testing.assert_array_equal(doc.store.dense(1), painted)
    doc.history.undo()  # the removal
    doc.history.undo()  # the first part of the stroke
    assert [la.name for la in doc.layers] == ["a", "b", "c"] and not doc.store.dense(2).any()
    j.close()
    fresh = Document(load_audio(files / "mix.wav"), CFG)
    for name in ("a", "b", "c"):
        fresh.add_layer(name)
    fresh.history.clear()
    base, records, _ = Journal.scan(files / "j.journal")
    from maskstudio.annotation.project import replay
    replay(fresh, base, records, files / "j.journal")
    assert [la.name for la in fresh.layers] == ["a", "b", "c"]
    for i in range(3):
        np.testing.assert_array_equal(fresh.store.dense(i), doc.store.dense(i))


def test_a_rerun_separation_respects_locks(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    a, b = doc.add_layer("a"), doc.add_layer("b")
    doc.set_layer(a, locked=True)
    new = np.full((2, doc.n_bins, doc.n_frames), 0.5, np.float32)
    with pytest.raises(ParameterError, match="locked"):
        doc.replace_values(["a", "b"], new, "nmf again")
    assert not doc.store.dense(a).any() and not doc.store.dense(b).any()


def test_a_refused_per_channel_load_changes_nothing(files):
    doc = Document(load_audio(files / "mix.wav"), CFG)
    k = doc.add_layer("a")
    doc.remove_layer(k)
    bad = np.zeros((1, 2, doc.n_bins, doc.n_frames - 1), np.float32)
    with pytest.raises(MaskStudioError):
        doc.add_layers(["x"], bad, {"kind": "model"}, "load")
    assert doc.store.lead == (2,) and doc.history.undo_label == "remove layer a"
