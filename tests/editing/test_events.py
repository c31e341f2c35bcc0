"""Typed document events: each change reaches the emitter of its kind, and disconnect holds."""

import threading

import numpy as np
import pytest

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box, rectangle
from maskstudio.editing.events import (
    Emitter,
    HistoryChanged,
    ItemChanged,
    LayersChanged,
    MasksChanged,
    SpectrogramChanged,
)
from maskstudio.io.audiofile import AudioClip

from ..conftest import SR, harmonic


@pytest.fixture
def doc():
    x = np.stack([harmonic(SR, f0=220.0), harmonic(SR, f0=330.0, seed=1)])
    return Document(AudioClip(x, SR), STFTConfig(n_fft=512, hop_length=128))


class Recorder:
    def __init__(self, doc):
        self.seen = []
        self.doc = doc
        for emitter in doc.events.all():
            emitter.connect(self)

    def __call__(self, event):
        self.seen.append(event)

    def kinds(self):
        return [type(e) for e in self.seen]

    def detach(self):
        return [emitter.disconnect(self) for emitter in self.doc.events.all()]


def test_each_change_reaches_the_emitter_of_its_kind(doc):
    rec = Recorder(doc)
    k = doc.add_layer("voice")
    assert LayersChanged in rec.kinds() and HistoryChanged in rec.kinds()

    rec.seen.clear()
    sel = rectangle(3, 9, 10, 20, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.fill(k, sel)
    masks = [e for e in rec.seen if isinstance(e, MasksChanged)]
    assert masks, rec.kinds()
    box = masks[-1].box
    assert isinstance(box, Box)
    # the box covers what changed and no more than the selection's box
    assert box.f0 <= 3 and box.f1 >= 9 and box.t0 <= 10 and box.t1 >= 20
    assert box.f1 - box.f0 < doc.n_bins and box.t1 - box.t0 < doc.n_frames
    assert LayersChanged not in rec.kinds()

    rec.seen.clear()
    doc.history.undo()
    assert rec.kinds().count(HistoryChanged) == 1
    assert any(isinstance(e, MasksChanged) for e in rec.seen)

    rec.seen.clear()
    doc.set_view_channel(1)
    assert rec.kinds() == [SpectrogramChanged]

    rec.seen.clear()
    doc.set_status("done")
    doc.set_notes("check the bridge at 0:12")
    assert rec.seen == [ItemChanged("status"), ItemChanged("notes")]

    rec.seen.clear()
    doc.set_status("done")  # no change, no event
    assert rec.seen == []


def test_disconnect_stops_delivery_and_says_whether_it_was_connected(doc):
    rec = Recorder(doc)
    assert all(rec.detach())
    assert not any(rec.detach())  # a second time: it was not connected
    doc.add_layer("voice")
    doc.set_status("done")
    assert rec.seen == []
    assert all(len(e) == 0 for e in doc.events.all())


def test_a_listener_connects_once_and_may_disconnect_itself_while_emitting():
    emitter: Emitter[int] = Emitter("numbers")
    got = []

    def once(event):
        got.append(event)
        emitter.disconnect(once)

    emitter.connect(once)
    emitter.connect(once)  # twice: still called once per emit
    emitter.connect(got.append)
    emitter.emit(1)
    emitter.emit(2)
    assert got == [1, 1, 2]


def test_emitting_from_many_threads_while_others_connect_loses_nothing():
    emitter: Emitter[int] = Emitter("numbers")
    counts = []
    lock = threading.Lock()

    def count(event):
        with lock:
            counts.append(event)

    emitter.connect(count)
    extra = [lambda e: None for _ in range(200)]

    def churn():
        for fn in extra:
            emitter.connect(fn)
            emitter.disconnect(fn)

    threads = [threading.Thread(target=lambda: [emitter.emit(i) for i in range(500)])
               for _ in range(4)] + [threading.Thread(target=churn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(counts) == 2000
