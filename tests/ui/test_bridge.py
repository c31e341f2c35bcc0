"""Document events in the window: each widget subscribes itself, events caused on a worker's
thread are handled on the GUI thread, and a document the window let go reaches nothing."""

import threading

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.edits import rectangle
from maskstudio.editing.events import Emitter
from maskstudio.ui.bridge import Subscriptions


def test_events_from_a_worker_thread_are_handled_on_the_gui_thread(qtbot):
    owner = QtCore.QObject()
    subs = Subscriptions(owner)
    emitter: Emitter[int] = Emitter("numbers")
    handled = []
    subs.connect(emitter, lambda e: handled.append((e, QtCore.QThread.currentThread())))
    worker = threading.Thread(target=lambda: [emitter.emit(i) for i in range(5)])
    worker.start()
    worker.join()
    assert handled == []  # queued, not called on the worker
    qtbot.waitUntil(lambda: len(handled) == 5, timeout=2000)
    gui = QtWidgets.QApplication.instance().thread()
    assert [e for e, _ in handled] == list(range(5))
    assert all(thread is gui for _, thread in handled)


def test_events_queued_before_clear_are_dropped(qtbot):
    owner = QtCore.QObject()
    subs = Subscriptions(owner)
    emitter: Emitter[int] = Emitter("numbers")
    handled = []
    subs.connect(emitter, handled.append)
    worker = threading.Thread(target=lambda: emitter.emit(1))
    worker.start()
    worker.join()
    subs.clear()  # the owner lets the document go before the queued event is delivered
    assert len(emitter) == 0 and len(subs) == 0
    for _ in range(5):
        QtWidgets.QApplication.processEvents()
    assert handled == []


def test_each_widget_follows_the_open_document_only(window, tmp_path, mixture_files):
    first = window.doc
    assert all(len(e) > 0 for e in (first.events.masks, first.events.layers,
                                    first.events.history, first.events.spectrogram))
    window.projects.open_path(mixture_files["voice"], config=STFTConfig(n_fft=512, hop_length=128),
                              wait=True)
    second = window.doc
    assert second is not first
    assert all(len(e) == 0 for e in first.events.all()), "the old document still reaches views"
    assert len(second.events.layers) >= 3  # window, layers panel, view

    # an edit of the document the window let go changes nothing on screen
    image = window.view.overlay.image
    overlay_before = None if image is None else image.copy()
    k = first.add_layer("ghost")
    first.fill(k, rectangle(0, first.n_bins, 0, first.n_frames, n_bins=first.n_bins,
                            n_frames=first.n_frames))
    QtWidgets.QApplication.processEvents()
    assert len(window.layers.rows) == len(second.layers)
    if overlay_before is not None:
        np.testing.assert_array_equal(window.view.overlay.image, overlay_before)

    # the open one is followed: a new layer appears in the panel, through its own subscription
    window.edits.new_layer()
    QtWidgets.QApplication.processEvents()
    assert len(window.layers.rows) == len(second.layers) >= 1
