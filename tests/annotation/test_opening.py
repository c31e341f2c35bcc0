"""Opening for editing without Qt: a file or project opened once, recovery applied to it, and
a dataset's item (its project, or a first visit with a layer per label)."""

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.items import enter_item, kept_note, open_item
from maskstudio.annotation.journal import journal_for
from maskstudio.annotation.project import MixtureMovedError, load_project, save_project
from maskstudio.annotation.recovery import begin_editing, keep_aside, open_for_editing
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke
from maskstudio.io.audiofile import load_audio

from ..conftest import SR, clicks, harmonic
from .test_dataset_batch import make_dataset

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def mixture(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = SR
    path = tmp_path / "mix.wav"
    sf.write(str(path), np.stack([harmonic(n), clicks(n)]).T, SR, subtype="FLOAT")
    return path


def _edit(doc, k, i):
    box, alpha = brush_stroke([(20 + 10 * i, 10), (40 + 10 * i, 100)], 4, 6,
                              n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(k, box, alpha, 0.5 + 0.1 * i)
    doc.end_edit()


def _crashed_project(mixture, tmp_path):
    """A project saved, edited twice, then left without saving (its session killed)."""
    doc = Document(load_audio(mixture), CFG)
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "p.msproj")
    _edit(doc, 0, 0)
    _edit(doc, 0, 1)
    live = doc.store.dense(0).copy()
    doc.close()
    return path, live


def test_a_project_is_opened_once_and_recovered_in_place(mixture, tmp_path):
    path, live = _crashed_project(mixture, tmp_path)
    opened = open_for_editing(path)
    assert opened.project == path and opened.journal_path == journal_for(opened.doc)
    assert opened.pending == 2 and not opened.in_use and opened.doc.journal is None
    doc = opened.doc
    result = begin_editing(opened, recover_edits=True)
    assert opened.doc is doc and result.recovered == 2 and result.recovery_error is None
    np.testing.assert_array_equal(doc.store.dense(0), live)
    assert doc.modified and doc.journal is not None and doc.journal.path == opened.journal_path
    _edit(doc, 0, 2)  # recording goes on into the same journal
    doc.close()
    again = load_project(path, use_journal=True)
    np.testing.assert_array_equal(again.store.dense(0), doc.store.dense(0))
    again.close()


def test_declining_recovery_starts_a_fresh_journal_on_the_save(mixture, tmp_path):
    path, _ = _crashed_project(mixture, tmp_path)
    opened = open_for_editing(path)
    result = begin_editing(opened, recover_edits=False)
    assert result.recovered == 0 and not opened.doc.store.dense(0).any()
    assert opened.doc.journal is not None and not opened.doc.modified
    opened.doc.close()
    assert open_for_editing(path).pending == 0


def test_a_journal_that_cannot_be_recovered_is_kept_aside(mixture, tmp_path):
    path, _ = _crashed_project(mixture, tmp_path)
    opened = open_for_editing(path)
    jp = opened.journal_path
    raw = jp.read_bytes()
    # a record that passes its CRC but cannot be applied: the layers of another grid's file
    opened.doc.config = STFTConfig(n_fft=256, hop_length=64)
    result = begin_editing(opened, recover_edits=True)
    assert result.recovery_error is not None and result.kept_aside == jp.with_name(
        jp.name + ".unrecovered")
    assert result.kept_aside.read_bytes() == raw and opened.doc.journal is not None
    assert not opened.doc.store.dense(0).any()  # all or nothing
    opened.doc.close()


def test_a_file_open_elsewhere_is_offered_read_only(mixture, tmp_path):
    first = open_for_editing(mixture, config=CFG)
    assert first.project is None and first.pending == 0
    begin_editing(first, recover_edits=False)
    second = open_for_editing(mixture, config=CFG)
    assert second.in_use and second.pending == 0
    result = begin_editing(second, recover_edits=True)
    assert result.read_only and second.doc.journal is None
    first.doc.close()
    assert not second.recheck().in_use


def test_an_unsaved_mixture_is_recovered_from_the_recovery_folder(mixture, tmp_path):
    clip = load_audio(mixture)
    first = open_for_editing(mixture, clip=clip, config=CFG)  # decoded already: not again
    assert first.doc.clip is clip and first.doc.config == CFG
    begin_editing(first, recover_edits=False)
    doc = first.doc
    doc.add_layer("voice")
    _edit(doc, 0, 0)
    live = doc.store.dense(0).copy()
    doc.close()  # killed: never saved
    opened = open_for_editing(mixture, config=CFG)
    assert opened.pending >= 2 and opened.project is None
    assert begin_editing(opened, recover_edits=True).recovered == opened.pending
    np.testing.assert_array_equal(opened.doc.store.dense(0), live)
    opened.doc.close()


def test_a_moved_mixture_is_reported_for_the_user_to_locate(mixture, tmp_path):
    path, _ = _crashed_project(mixture, tmp_path)
    moved = mixture.rename(tmp_path / "moved.wav")
    with pytest.raises(MixtureMovedError):
        open_for_editing(path)
    assert open_for_editing(path, mixture=moved).pending == 2
    assert keep_aside(tmp_path / "nothing.journal") is None


def test_an_item_is_created_on_a_first_visit_then_reopened(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    ds = Dataset.open(make_dataset(tmp_path / "songs", n_items=2))
    ds.set_labels(["voice", "drums"])
    opened = open_item(ds, 0)
    doc = opened.doc
    assert opened.created and opened.project == ds.project_path(ds.items[0])
    assert opened.project.is_file() and doc.journal is not None
    assert [(la.name, la.label) for la in doc.layers] == [("voice", "voice"), ("drums", "drums")]
    assert doc.status == "in progress" and not doc.modified and len(doc.history) == 0
    assert set(opened.references) == {"voice", "drums"} and doc.references.keys() == {
        "voice", "drums"}
    assert ds.config == doc.config  # the dataset's grid is now fixed
    assert begin_editing(opened, recover_edits=True).recovered == 0  # journaled already
    enter_item(ds, 0, doc)
    assert ds.status(ds.items[0]) == "in progress" and doc.status == "in progress"
    _edit(doc, 0, 0)
    doc.close()  # killed before leaving the item
    again = open_item(ds, 0)
    assert not again.created and again.pending >= 1 and again.doc.journal is None
    begin_editing(again, recover_edits=True)
    np.testing.assert_array_equal(again.doc.store.dense(0), doc.store.dense(0))
    again.doc.close()
    ds.items[1].mixture.unlink()
    with pytest.raises(Exception, match="mixture"):
        open_item(ds, 1)
    assert "kept in" in kept_note(ds, 1)
