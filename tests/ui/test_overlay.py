"""The overlay a brush redraws over its cached composite is the overlay composed afresh.

A dab pools again only the changed layers over the screen cells its box meets and composes that
sub-rectangle from the cached values of the rest.  Whatever the layers (hidden, solo, opacities,
the residual shown or not), outlines, difference mode, a threshold preview, the frequency scale
and the zoom (cells narrower than a bin, a view past Nyquist or past the end), the image after
random dabs on random layers equals, bit for bit, every layer pooled over the whole view and
composed as the view did before it had a cache.
"""

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box, brush_stroke
from maskstudio.editing.spectrogram import to_scale
from maskstudio.editing.tiles import TiledMasks
from maskstudio.io.audiofile import load_audio
from maskstudio.ui import overlay
from maskstudio.ui.view_parts import pool_box

from ..conftest import SR, harmonic, noise

CFG = STFTConfig(n_fft=512, hop_length=128)


# -- pooled_area: TiledMasks.pooled, reading only the area ------------------------------------
@st.composite
def stores(draw):
    n_bins = draw(st.integers(1, 40))
    n_frames = draw(st.integers(1, 60))
    lead = draw(st.sampled_from([(), (2,)]))
    store = TiledMasks(n_bins, n_frames, tile=draw(st.integers(1, 16)), lead=lead)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    data = rng.random(lead + (n_bins, n_frames)).astype(np.float32)
    data[..., :, rng.random(n_frames) < 0.4] = 0  # some tiles never stored
    store.add_layer(data)
    return store


def edges(n, count):
    return st.lists(st.integers(0, n), min_size=count + 1, max_size=count + 1).map(
        lambda v: np.array(sorted(v), np.intp))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_pooled_area_is_the_stores_pooling(data):
    store = data.draw(stores())
    rows = data.draw(edges(store.n_bins, data.draw(st.integers(1, 50))))
    cols = data.draw(edges(store.n_frames, data.draw(st.integers(1, 80))))
    np.testing.assert_array_equal(overlay.pooled_area(store, 0, rows, cols),
                                  store.pooled(0, rows, cols))


def test_a_large_area_is_pooled_tile_by_tile(monkeypatch):
    store = TiledMasks(100, 500, tile=64)
    store.add_layer(np.random.default_rng(0).random((100, 500)).astype(np.float32))
    rows, cols = np.arange(0, 101, 2), np.arange(0, 501, 5)
    whole = store.pooled(0, rows, cols)
    monkeypatch.setattr(overlay, "DENSE_CELLS", 1000)
    monkeypatch.setattr(store, "read", None)  # not read densely
    np.testing.assert_array_equal(overlay.pooled_area(store, 0, rows, cols), whole)


# -- the view ---------------------------------------------------------------------------------
@pytest.fixture
def view(qtbot, tmp_path):
    from maskstudio.ui.spectrogram_view import SpectrogramView

    path = tmp_path / "mix.wav"
    sf.write(str(path), harmonic(SR) + noise(SR), SR, subtype="FLOAT")
    doc = Document(load_audio(path), CFG)
    for _ in range(4):
        doc.add_layer()
    v = SpectrogramView()
    qtbot.addWidget(v)
    v.resize(520, 380)
    v.show()
    qtbot.waitExposed(v)
    v.set_document(doc)
    yield v
    v.cancel_fill() if hasattr(v, "cancel_fill") else None


def fresh_overlay(view) -> np.ndarray:
    """The overlay as the view composed it before it kept a cache (the code it had then): every
    layer pooled over the whole view by the store, then composed."""
    doc, rows, cols = view.doc, view._rows, view._cols

    def alpha(i):
        if view.preview is not None and i == view.active_layer:
            box, values = view.preview
            return pool_box(values, box, rows, cols, doc.n_bins)
        return doc.store.pooled(i, rows, cols)

    if view.difference and doc.layers:
        store, j = view.difference.get(view.active_layer, (None, None))
        if store is not None:
            return overlay.difference(alpha(view.active_layer) - store.pooled(j, rows, cols))
    solo = any(layer.solo for layer in doc.layers)
    shown = [i for i, layer in enumerate(doc.layers) if (layer.solo if solo else layer.visible)]
    values = {i: alpha(i) for i in range(len(doc.layers))}
    res, residual = doc.residual, None
    if res.visible and doc.layers:
        residual = (np.clip(1 - sum(values.values()), 0, 1), res.color, res.opacity)
    if not shown and residual is None:
        return np.zeros((rows.size - 1, cols.size - 1, 4), np.uint8)
    return overlay.compose([values[i] for i in shown], [doc.layers[i].color for i in shown],
                           [doc.layers[i].opacity for i in shown], residual=residual,
                           outline=view.outline)


def assert_fresh(view):
    assert view.overlay.image.base is view._overlay  # the image shown is the one redrawn
    np.testing.assert_array_equal(view._overlay, fresh_overlay(view))


dabs = st.lists(st.tuples(st.integers(0, 3), st.floats(-5, 270), st.floats(-5, 130),
                          st.floats(0.5, 40), st.floats(0.5, 40), st.sampled_from([0, 0.5, 1]),
                          st.floats(0, 1)), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scale=st.sampled_from(["linear", "log", "mel"]),
       x=st.tuples(st.floats(-0.9, 1.0), st.floats(0.002, 2.0)),
       y=st.tuples(st.floats(0.0, 0.9), st.floats(0.05, 1.3)),
       outline=st.booleans(), hidden=st.sets(st.integers(0, 3), max_size=3),
       solo=st.sets(st.integers(0, 3), max_size=2), residual=st.booleans(),
       opacity=st.floats(0.1, 1), active=st.integers(0, 3),
       mode=st.sampled_from(["layers", "layers", "difference", "preview"]), strokes=dabs)
def test_dabs_redraw_what_a_fresh_composition_draws(view, scale, x, y, outline, hidden, solo,
                                                     residual, opacity, active, mode, strokes):
    doc = view.doc
    view.set_difference(None)
    view.preview = None
    view.set_freq_scale(scale)
    ny = doc.samplerate / 2
    lo = float(to_scale(20.0 if scale == "log" else 0.0, scale))
    top = float(to_scale(ny, scale))
    y0 = lo + y[0] * (top - lo)
    view.vb.setYRange(y0, y0 + y[1] * (top - lo), padding=0)  # may reach past Nyquist
    view.vb.setXRange(x[0], x[0] + x[1], padding=0)  # cells narrower than a frame, or past the end
    view.outline = outline
    for i in range(4):
        doc.set_layer(i, visible=i not in hidden, solo=i in solo, opacity=opacity if i % 2 else 1.0)
    doc.set_layer(-1, visible=residual)
    view.active_layer = active
    if mode == "difference":
        oracle = TiledMasks(doc.n_bins, doc.n_frames)
        oracle.add_layer(np.random.default_rng(1).random((doc.n_bins, doc.n_frames))
                         .astype(np.float32))
        view.set_difference({active: (oracle, 0)})
    elif mode == "preview":
        box = Box(10, 120, 20, 100)
        view.preview = (box, np.random.default_rng(2).random((110, 80)).astype(np.float32))
    view.render()
    assert_fresh(view)
    doc.begin_edit("brush")
    for k, f, t, rf, rt, value, hardness in strokes:
        box, alpha = brush_stroke([(f, t), (f + rf, t + rt)], rf, rt, hardness=hardness,
                                  n_bins=doc.n_bins, n_frames=doc.n_frames)
        doc.apply(k, box, alpha, value)  # its masks event redraws the box
        assert_fresh(view)
    doc.end_edit()
    assert_fresh(view)


def test_the_cells_at_the_edge_of_a_dab_pool_as_in_the_whole_view(view):
    """The last cell a box meets is pooled as the whole view pools it: a view past Nyquist
    pools the row below it up to the last bin but one (pool_max clips the next row's start),
    and a preview's column up to the next column's start, not to the preview's end."""
    doc = view.doc
    n = doc.n_bins
    # a row of two bins or more just below the rows past Nyquist
    for top in np.linspace(1.2, 1.6, 41):
        view.vb.setYRange(0, top * doc.samplerate / 2, padding=0)
        view.render()
        rows = view._rows
        i = int(np.searchsorted(rows, n)) - 1
        if rows[i] <= n - 2:
            break
    else:
        pytest.fail("no view found with a wide row under Nyquist")
    doc.begin_edit("brush")
    doc.apply(0, Box(n - 1, n, 0, doc.n_frames), np.ones((1, doc.n_frames), np.float32), 1.0)
    assert_fresh(view)
    doc.end_edit()
    # a preview whose values rise to the right, and dabs that end inside it
    view.active_layer = 1
    box = Box(0, n, 10, 110)
    view.preview = (box, np.tile(np.linspace(0, 1, 100, dtype=np.float32), (n, 1)))
    view.vb.setXRange(0, doc.n_frames * doc.frame_seconds, padding=0)
    view.update_overlay(None)
    doc.begin_edit("brush")
    for t in (30, 50, 70):
        doc.apply(2, Box(0, n, t, t + 3), np.full((n, 3), 0.5, np.float32), 1.0)
        assert_fresh(view)
    doc.end_edit()


def test_a_dab_pools_only_the_cells_it_meets(view, monkeypatch):
    doc = view.doc
    view.render()
    whole = doc.store.pooled
    monkeypatch.setattr(doc.store, "pooled", None)  # a dab never pools the whole view
    areas = []
    read = doc.store.read

    def spy(layers, f0, f1, t0, t1):
        areas.append((f1 - f0) * (t1 - t0))
        return read(layers, f0, f1, t0, t1)
    monkeypatch.setattr(doc.store, "read", spy)
    doc.begin_edit("brush")
    box, alpha = brush_stroke([(100, 60)], 4, 4, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(1, box, alpha, 1.0)  # the stroke stays open: no full render yet
    monkeypatch.setattr(doc.store, "pooled", whole)
    assert areas and max(areas) < doc.n_bins * doc.n_frames / 20
    assert_fresh(view)
    doc.end_edit()


def test_a_stale_cache_is_composed_again(view):
    """A property changed without an event: the next dab composes the whole view again."""
    doc = view.doc
    view.render()
    doc.layers[2].color = (1, 2, 3)  # no event
    doc.begin_edit("brush")
    box, alpha = brush_stroke([(60, 40)], 30, 30, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(2, box, alpha, 1.0)
    assert_fresh(view)
    doc.end_edit()


def test_a_drag_with_the_mouse_redraws_what_a_fresh_composition_draws(view, qtbot):
    from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

    doc = view.doc
    view.outline = True
    doc.set_layer(-1, visible=True)
    vp = view.graphics.viewport()
    (x0, x1), (y0, y1) = view.vb.viewRange()

    def send(kind, x, y, buttons):
        scene = view.vb.mapViewToScene(QtCore.QPointF(x, y))
        pos = QtCore.QPointF(view.graphics.mapFromScene(scene))
        types = {"press": QtCore.QEvent.Type.MouseButtonPress,
                 "move": QtCore.QEvent.Type.MouseMove,
                 "release": QtCore.QEvent.Type.MouseButtonRelease}
        button = (QtCore.Qt.MouseButton.LeftButton if kind != "move"
                  else QtCore.Qt.MouseButton.NoButton)
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            types[kind], pos, pos, button, buttons, QtCore.Qt.KeyboardModifier.NoModifier))

    left = QtCore.Qt.MouseButton.LeftButton
    for stroke in range(3):
        view.active_layer = stroke
        y = y0 + (0.3 + 0.1 * stroke) * (y1 - y0)
        send("press", x0 + 0.1 * (x1 - x0), y, left)
        for i in range(12):
            send("move", x0 + (0.1 + 0.06 * i) * (x1 - x0), y + 0.04 * (y1 - y0) * np.sin(i),
                 left)
            assert_fresh(view)
        send("release", x0 + 0.9 * (x1 - x0), y, QtCore.Qt.MouseButton.NoButton)
    assert doc.store.nbytes() > 0
    assert_fresh(view)


def test_the_spectrogram_is_drawn_in_the_colours_pyqtgraph_gives_its_levels():
    """The picture as RGB32 words: each level's colour is the one pyqtgraph's ImageItem maps it
    to through the same levels and lookup table."""
    import pyqtgraph as pg

    from maskstudio.ui.view_parts import lookup_table, rgb32, rgb32_table

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for name, (lo, hi) in (("grey", (0.0, 256.0)), ("inferno", (40.5, 200.0)),
                           ("viridis", (100.0, 120.0))):
        lut = lookup_table(name)
        want, _ = pg.functions.makeARGB(levels, lut=lut, levels=(lo, hi))  # B, G, R, A
        got = rgb32(levels, rgb32_table(name, lo, hi))
        assert got.shape == (16, 16, 4) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_a_brush_drag_skips_pyqtgraphs_hover_search_and_hovering_resumes_after(view, qtbot,
                                                                               monkeypatch):
    from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

    vp, scene = view.graphics.viewport(), view.plot.scene()
    (x0, x1), (y0, y1) = view.vb.viewRange()
    searched = []
    near = scene.itemsNearEvent
    monkeypatch.setattr(scene, "itemsNearEvent",
                        lambda *a, **k: searched.append(1) or near(*a, **k))

    def send(kind, x, buttons):
        pos = QtCore.QPointF(view.graphics.mapFromScene(
            view.vb.mapViewToScene(QtCore.QPointF(x, y0 + 0.5 * (y1 - y0)))))
        kinds = {"press": QtCore.QEvent.Type.MouseButtonPress,
                 "move": QtCore.QEvent.Type.MouseMove,
                 "release": QtCore.QEvent.Type.MouseButtonRelease}
        button = QtCore.Qt.MouseButton.LeftButton if kind != "move" \
            else QtCore.Qt.MouseButton.NoButton
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            kinds[kind], pos, pos, button, buttons, QtCore.Qt.KeyboardModifier.NoModifier))
        qtbot.wait(15)  # past pyqtgraph's limit of 100 moves a second

    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    send("press", x0 + 0.1 * (x1 - x0), left)
    send("move", x0 + 0.15 * (x1 - x0), left)  # the drag starts
    searched.clear()
    for i in range(6):
        send("move", x0 + (0.2 + 0.05 * i) * (x1 - x0), left)
    assert searched == [] and view.doc.store.nbytes() > 0  # painted, never searched
    send("release", x0 + 0.5 * (x1 - x0), none)
    send("move", x0 + 0.6 * (x1 - x0), none)
    assert searched  # hovering again


def test_a_dab_repaints_only_its_box_of_the_overlay_and_shows_it(view, qtbot, monkeypatch):
    """No render, no new QImage: the image shown wraps the redrawn array, and Qt is asked to
    repaint the dab's cells (with a pixel's margin) only."""
    from pyqtgraph.Qt import QtGui

    doc = view.doc
    view.render()
    view.graphics.viewport().repaint()  # the overlay's QImage is made
    asked, rendered = [], []
    monkeypatch.setattr(view, "render", lambda: rendered.append("render"))
    monkeypatch.setattr(view.overlay, "updateImage", lambda *a, **k: rendered.append("image"))
    update = view.overlay.update
    monkeypatch.setattr(view.overlay, "update", lambda *a: asked.append(a) or update(*a))
    doc.begin_edit("brush")
    box, alpha = brush_stroke([(100, 60)], 4, 4, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(1, box, alpha, 1.0)
    assert rendered == [] and len(asked) == 1
    (rect,) = asked[0]
    h, w = view._overlay.shape[:2]
    assert 0 < rect.width() * rect.height() < h * w / 20
    assert_fresh(view)
    y, x = np.argwhere(view._overlay[..., 3] > 0)[0]
    assert rect.contains(float(x) + 0.5, float(y) + 0.5)
    shown = view.overlay.qimage.pixelColor(int(x), int(y))  # what Qt draws: the new cells
    assert QtGui.QColor(shown).alpha() == view._overlay[y, x, 3]
    doc.end_edit()


def test_a_dab_names_the_layers_it_changed_and_the_view_pools_only_those(view, monkeypatch):
    doc = view.doc
    view.render()
    events, pooled = [], []
    doc.events.masks.connect(events.append)
    area = overlay.pooled_area
    monkeypatch.setattr(overlay, "pooled_area",
                        lambda store, i, r, c, channel=None: pooled.append(i)
                        or area(store, i, r, c, channel))
    before = doc.store.read(range(len(doc.layers)), 0, doc.n_bins, 0, doc.n_frames)
    doc.begin_edit("brush")
    box, alpha = brush_stroke([(100, 60)], 4, 4, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(1, box, alpha, 1.0)
    after = doc.store.read(range(len(doc.layers)), 0, doc.n_bins, 0, doc.n_frames)
    changed = tuple(i for i in range(len(doc.layers)) if not np.array_equal(before[i], after[i]))
    assert 1 in changed and len(changed) < len(doc.layers)
    assert events[-1].layers == changed
    assert pooled and set(pooled) <= set(changed)
    assert_fresh(view)
    doc.end_edit()


def test_mid_stroke_the_status_line_follows_a_few_times_a_second_and_ends_where_it_stopped(
        view, qtbot, monkeypatch):
    from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

    doc, vp = view.doc, view.graphics.viewport()
    (x0, x1), (y0, y1) = view.vb.viewRange()
    read, said = [], []
    values_at = doc.values_at
    monkeypatch.setattr(doc, "values_at", lambda f, t: read.append(t) or values_at(f, t))
    view.cursorMoved.connect(said.append)

    def send(kind, x, buttons):
        pos = QtCore.QPointF(view.graphics.mapFromScene(
            view.vb.mapViewToScene(QtCore.QPointF(x, y0 + 0.5 * (y1 - y0)))))
        kinds = {"press": QtCore.QEvent.Type.MouseButtonPress,
                 "move": QtCore.QEvent.Type.MouseMove,
                 "release": QtCore.QEvent.Type.MouseButtonRelease}
        button = QtCore.Qt.MouseButton.LeftButton if kind != "move" \
            else QtCore.Qt.MouseButton.NoButton
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            kinds[kind], pos, pos, button, buttons, QtCore.Qt.KeyboardModifier.NoModifier))
        qtbot.wait(12)

    left = QtCore.Qt.MouseButton.LeftButton
    send("press", x0 + 0.1 * (x1 - x0), left)
    send("move", x0 + 0.12 * (x1 - x0), left)
    send("move", x0 + 0.14 * (x1 - x0), left)  # mid-stroke from here
    read.clear()
    said.clear()
    last = x0 + 0.5 * (x1 - x0)
    for i in range(12):
        send("move", x0 + (0.16 + 0.03 * i) * (x1 - x0) if i < 11 else last, left)
    assert len(read) <= 6 and doc.store.nbytes() > 0  # painted on every move, said on few
    qtbot.waitUntil(lambda: said and said[-1]["seconds"] == pytest.approx(last, abs=0.05))
    assert "values" in said[-1]
    send("release", last, QtCore.Qt.MouseButton.NoButton)


def test_a_wide_view_is_composed_beside_and_shows_what_a_fresh_composition_draws(
        view, qtbot, monkeypatch):
    """A view holding more of the masks than the GUI thread can pool between two frames
    (an hour of oracle layers at Ctrl+0) is composed on the overlay's worker: render() returns
    at once, a dab made meanwhile is in what arrives, and only the newest of many views asked
    for in a row is delivered; what is shown is then the fresh composition, bit for bit."""
    import maskstudio.ui.spectrogram_view as view_module

    doc = view.doc
    rng = np.random.default_rng(3)
    doc.fill(1, (Box(0, doc.n_bins, 0, doc.n_frames),
                 rng.random((doc.n_bins, doc.n_frames)).astype(np.float32)), 0.6)
    monkeypatch.setattr(view_module, "INLINE_BINS", 0)  # every view is "wide"
    delivered = []
    view.overlay_worker.ready.connect(lambda composer, context, edits: delivered.append(context))
    view.vb.setXRange(0, doc.n_frames * doc.frame_seconds * 0.8, padding=0)
    view.render()
    assert view.overlay_worker.busy  # the spectrogram is drawn; the overlay comes later
    assert view.pending_note.isVisible()  # and the view says so
    box, alpha = brush_stroke([(40, 20), (60, 40)], 6, 6, n_bins=doc.n_bins,
                              n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(2, box, alpha, 1.0)  # while the worker composes
    doc.end_edit()
    qtbot.waitUntil(lambda: not view.overlay_worker.busy, timeout=20000)
    assert_fresh(view)
    assert (view._overlay[..., 3] > 0).any()
    assert not view.pending_note.isVisible()
    delivered.clear()
    for k in range(6):  # scrolling: each view supersedes the one before
        view.vb.setXRange(0.05 * k, 0.05 * k + 0.4, padding=0)
        view.render()
    qtbot.waitUntil(lambda: not view.overlay_worker.busy, timeout=20000)
    assert len(delivered) == 1 and delivered[0][0] is view._rows
    assert_fresh(view)
    # a narrow view is composed inline again, and drops what the worker had queued
    monkeypatch.setattr(view_module, "INLINE_BINS", 1 << 40)
    view.vb.setXRange(0.1, 0.3, padding=0)
    view.render()
    assert not view.overlay_worker.busy or view.overlay_worker._next is None
    assert_fresh(view)
