"""The overlay of a wide view, composed beside the GUI thread, attacked (these cases came from
a hostile review of that change): whatever happens while a composition runs (dabs, zooms,
layers added and removed, channel switches, previews, difference mode, undo, a new document),
the overlay shown once things settle is the fresh composition, bit for bit; a difference view
counts the oracle it pools; and a stroke shows while it is painted."""

import threading
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box, brush_stroke
from maskstudio.editing.tiles import TiledMasks
from maskstudio.io.audiofile import load_audio
from maskstudio.ui import overlay

from ..conftest import SR, harmonic, noise

CFG = STFTConfig(n_fft=512, hop_length=128)


def make_doc(tmp_path, C=1, n=SR * 2, name="mix.wav"):
    path = tmp_path / name
    x = np.stack([harmonic(n, seed=c) + noise(n, seed=c + 2) for c in range(C)])
    sf.write(str(path), x.T, SR, subtype="FLOAT")
    doc = Document(load_audio(path), CFG)
    rng = np.random.default_rng(0)
    for i in range(3):
        doc.add_layer()
        doc.fill(i, (Box(0, doc.n_bins, 0, doc.n_frames),
                     rng.random((doc.n_bins, doc.n_frames)).astype(np.float32)), 0.3)
    return doc


@pytest.fixture
def view(qtbot, tmp_path):
    from maskstudio.ui.spectrogram_view import SpectrogramView
    v = SpectrogramView()
    qtbot.addWidget(v)
    v.resize(520, 380)
    v.show()
    qtbot.waitExposed(v)
    return v


def fresh(view):
    return overlay.OverlayComposer().compose(*view._overlay_scene(view._rows, view._cols))


def settle(view, qtbot):
    qtbot.waitUntil(lambda: not view.overlay_worker.busy, timeout=20000)
    qtbot.wait(60)  # the render timer
    qtbot.waitUntil(lambda: not view.overlay_worker.busy, timeout=20000)


@pytest.fixture
def slow_worker(monkeypatch):
    real = overlay.pooled_area

    def slow(*a, **k):
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.01)
        return real(*a, **k)
    monkeypatch.setattr(overlay, "pooled_area", slow)


def test_a_difference_view_counts_the_oracle_it_pools(view, qtbot, tmp_path, monkeypatch):
    """The cost that sends a view beside counts the oracle a difference view pools, not only
    the document's layers: an empty active layer against an hour's oracle must not be pooled
    on the GUI thread."""
    import maskstudio.ui.spectrogram_view as view_module
    doc = make_doc(tmp_path)
    view.set_document(doc)
    k = doc.add_layer("fresh")  # nothing painted yet
    view.active_layer = k
    oracle = TiledMasks(doc.n_bins, doc.n_frames, lead=doc.store.lead)
    oracle.add_layer(np.random.default_rng(1).random((doc.n_bins, doc.n_frames))
                     .astype(np.float32))
    monkeypatch.setattr(view_module, "INLINE_BINS", 1000)  # anything wider goes beside
    on_gui = []
    real = overlay.pooled_area

    def spy(store, layer, rows, cols, channel=None):
        if threading.current_thread() is threading.main_thread():
            starts, stops = overlay.cell_ranges(np.asarray(cols))
            on_gui.append(int((min(stops[-1], store.n_frames) - starts[0])
                              * (min(rows[-1], store.n_bins) - rows[0])))
        return real(store, layer, rows, cols, channel)
    monkeypatch.setattr(overlay, "pooled_area", spy)
    view.set_difference({k: (oracle, 0)})
    settle(view, qtbot)
    seen = list(on_gui)
    np.testing.assert_array_equal(view._overlay, fresh(view))
    assert max(seen, default=0) <= 1000, f"pooled {seen} bins on the GUI thread"


ops = st.lists(st.tuples(st.sampled_from(
    ["dab", "render", "remove", "add", "channel", "preview", "unpreview", "diff", "undiff",
     "undo", "redo", "hide", "replace_doc", "wait", "outline", "active", "zoom"]),
    st.integers(0, 10**6)), min_size=1, max_size=14)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seq=ops, C=st.sampled_from([1, 2]))
def test_random_races_end_fresh(view, qtbot, tmp_path, monkeypatch, slow_worker, seq, C):
    import maskstudio.ui.spectrogram_view as view_module
    monkeypatch.setattr(view_module, "INLINE_BINS", 0)
    doc = make_doc(tmp_path, C=C, name=f"m{C}.wav")
    view.set_document(doc)
    view.set_difference(None)
    view.preview = None
    for op, r in seq:
        doc = view.doc
        rng = np.random.default_rng(r)
        L = len(doc.layers)
        if op == "dab" and L:
            k = int(rng.integers(0, L))
            box, alpha = brush_stroke([(float(rng.uniform(0, doc.n_bins)),
                                        float(rng.uniform(0, doc.n_frames)))], 8, 8,
                                      n_bins=doc.n_bins, n_frames=doc.n_frames)
            if not doc.layers[k].locked:
                doc.begin_edit("brush")
                doc.apply(k, box, alpha, float(rng.random()))
                doc.end_edit()
        elif op == "render":
            view.render()
        elif op == "zoom":
            x0 = float(rng.uniform(0, 1.5))
            view.vb.setXRange(x0, x0 + float(rng.uniform(0.05, 2)), padding=0)
            view.render()
        elif op == "remove" and L:
            view.set_difference(None)
            doc.remove_layer(int(rng.integers(0, L)))
        elif op == "add":
            doc.add_layer()
        elif op == "channel" and C == 2:
            doc.set_view_channel(["mid", "side", 0, 1][int(rng.integers(0, 4))])
        elif op == "preview" and L:
            box = Box(0, doc.n_bins // 2, 0, doc.n_frames // 2)
            view.preview = (box, rng.random((box.f1, box.t1)).astype(np.float32))
            view.update_overlay(None)
        elif op == "unpreview":
            view.preview = None
            view.update_overlay(None)
        elif op == "diff" and L:
            o = TiledMasks(doc.n_bins, doc.n_frames, lead=doc.store.lead)
            o.add_layer(rng.random(doc.store.lead + (doc.n_bins, doc.n_frames))
                        .astype(np.float32))
            view.set_difference({view.active_layer: (o, 0)})
        elif op == "undiff":
            view.set_difference(None)
        elif op == "undo":
            doc.history.undo()
        elif op == "redo":
            doc.history.redo()
        elif op == "hide" and L:
            k = int(rng.integers(0, L))
            doc.set_layer(k, visible=not doc.layers[k].visible)
        elif op == "outline":
            view.outline = not view.outline
            view.update_overlay(None)
        elif op == "active" and L:
            view.active_layer = int(rng.integers(0, L))
        elif op == "replace_doc":
            view.set_difference(None)
            view.set_document(make_doc(tmp_path, C=C, name=f"r{r}.wav"))
        elif op == "wait":
            qtbot.wait(int(rng.integers(0, 80)))
    settle(view, qtbot)
    assert view.overlay.image.base is view._overlay
    np.testing.assert_array_equal(view._overlay, fresh(view))


def test_a_stroke_on_a_wide_view_shows_while_it_is_painted(view, qtbot, tmp_path,
                                                             monkeypatch):
    """A dab while the worker composes is drawn on the overlay shown and noted, not a new
    request: a stroke longer than one composition still shows as it is painted (each dab had
    superseded the running composition, so nothing arrived until the stroke ended), and what
    arrives has every dab on it."""
    import maskstudio.ui.spectrogram_view as view_module
    real = overlay.pooled_area

    def slow(*a, **k):  # a composition of ~0.2 s: an hour-long view on a loaded machine
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.05)
        return real(*a, **k)
    monkeypatch.setattr(overlay, "pooled_area", slow)
    doc = make_doc(tmp_path)
    view.set_document(doc)
    settle(view, qtbot)
    monkeypatch.setattr(view_module, "INLINE_BINS", 0)
    delivered = []
    view.overlay_worker.ready.connect(lambda *_: delivered.append(time.monotonic()))
    view.render()  # a scroll: the worker composes
    doc.begin_edit("brush")
    t_end = time.monotonic() + 1.5
    i = 0
    while time.monotonic() < t_end:
        box, alpha = brush_stroke([(30 + i % 50, 10 + i)], 4, 4, n_bins=doc.n_bins,
                                  n_frames=doc.n_frames)
        doc.apply(0, box, alpha, 1.0)
        i += 1
        qtbot.wait(30)
    doc.end_edit()
    assert delivered, f"{i} dabs over 1.5 s, no overlay shown meanwhile"
    settle(view, qtbot)
    np.testing.assert_array_equal(view._overlay, fresh(view))
