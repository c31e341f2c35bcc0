"""The document's state API: a typed snapshot of everything a project holds, and documents
made of one, without writing a document's fields from outside."""

import dataclasses

import numpy as np
import pytest

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import rectangle
from maskstudio.editing.state import DocumentState, Layer
from maskstudio.io.audiofile import AudioClip

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def doc():
    n = SR
    clip = AudioClip(np.stack([harmonic(n), clicks(n)]), SR, None)
    d = Document(clip, CFG)
    d.add_layer("voice")
    d.add_layer("drums")
    d.fill(0, rectangle(5, 40, 10, 90, n_bins=d.n_bins, n_frames=d.n_frames), 0.75)
    d.set_layer(1, label="percussion", locked=True)
    d.complex_masks[d.layers[0].uid] = np.full((d.n_bins, d.n_frames), 0.5 + 0.5j, np.complex64)
    d.set_notes("check 0:01")
    d.set_status("done")
    return d


def _same(a: Document, b: Document) -> None:
    assert [la.meta() for la in a.layers] == [la.meta() for la in b.layers]
    assert a.residual == b.residual and a.config == b.config
    assert (a.notes, a.status, a.store.lead, a.store.tile) == (b.notes, b.status,
                                                                b.store.lead, b.store.tile)
    for i in range(len(a.layers)):
        np.testing.assert_array_equal(a.store.dense(i), b.store.dense(i))
    assert a.complex_masks.keys() == b.complex_masks.keys()


def test_a_document_is_made_again_from_its_state(doc):
    state = doc.state()
    assert isinstance(state, DocumentState) and state.next_uid == 2
    assert [la.uid for la in state.layers] == [0, 1] and state.notes == "check 0:01"
    again = Document.from_state(doc.clip, state)
    _same(doc, again)
    assert not again.modified and len(again.history) == 0
    assert again.add_layer("bass") == 2 and again.layers[2].uid == 2  # ids go on, never reused


def test_a_state_is_a_snapshot_its_copy_keeps(doc):
    state = doc.state()
    kept = state.copy()
    state.layers[0].provenance["kind"] = "changed"  # the layers are copies already
    assert doc.layers[0].provenance == {"kind": "painted"}
    doc.fill(0, rectangle(0, 80, 0, 200, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    before = Document.from_state(doc.clip, kept)
    assert before.store.dense(0).max() == np.float32(0.75)  # the copy kept its own arrays


def test_load_state_moves_to_another_grid_and_tells_the_views(doc):
    seen = []
    doc.events.spectrogram.connect(lambda e: seen.append("spectrogram"))
    doc.events.masks.connect(lambda e: seen.append(e.box))
    other = STFTConfig(n_fft=256, hop_length=64)
    empty = DocumentState(config=other, notes="n", next_uid=7)
    doc.load_state(empty)
    assert doc.config == other and doc.n_bins == other.n_bins and not doc.layers
    assert doc.spectrogram.config == other and doc.notes == "n" and doc.new_uid() == 7
    assert seen[0] == "spectrogram" and seen[1].shape == (doc.n_bins, doc.n_frames)
    with pytest.raises(ValueError, match="tile"):
        dataclasses.replace(empty, layers=[Layer("x")])
