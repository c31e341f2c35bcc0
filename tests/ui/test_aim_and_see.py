"""Aim and see (issue 16): a click paints, the overlay shows the mask whatever the level, layer
colours stay apart, the threshold takes 0.1 dB steps, whole-file operations ask first, and the
spectrogram keeps most of the window."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from maskstudio.editing.palette import PALETTE, delta_e, lab, next_color
from maskstudio.ui import overlay
from maskstudio.ui.workers import active_tasks

from .test_window import _accept_dialog_soon, _grid, _widget_pos


def _click(view, seconds, hz, modifiers=QtCore.Qt.KeyboardModifier.NoModifier, where=None):
    """A real press and release at one point of the view's scene (no move between them)."""
    vp = view.graphics.viewport()
    pos = where if where is not None else _widget_pos(view, seconds, hz)
    left = QtCore.Qt.MouseButton.LeftButton
    for kind, buttons in ((QtCore.QEvent.Type.MouseButtonPress, left),
                          (QtCore.QEvent.Type.MouseButtonRelease, QtCore.Qt.MouseButton.NoButton)):
        ev = QtGui.QMouseEvent(kind, pos, QtCore.QPointF(vp.mapToGlobal(pos.toPoint())), left,
                               buttons, modifiers)
        QtWidgets.QApplication.sendEvent(vp, ev)
    QtWidgets.QApplication.processEvents()


def _scene_to_widget(view, point):
    return QtCore.QPointF(view.graphics.mapFromScene(point))


def test_a_click_with_the_brush_paints_one_dab_and_leaves_the_play_cursor(window):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    steps = len(doc.history)
    window.playback.play_cursor = 0.0
    _click(view, 1.0, 2000.0)
    f, t = _grid(view, 1.0, 2000.0)
    mask = doc.store.dense(0)
    assert mask[f, t] > 0.9  # a dab under the click
    assert 0 < np.count_nonzero(mask) < mask.size // 50  # a dab, not a fill
    assert len(doc.history) == steps + 1 and doc.history.undo_label == "brush"
    assert window.playback.play_cursor == 0.0  # the click painted; it did not seek
    window.set_tool("eraser")
    _click(view, 1.0, 2000.0)
    assert doc.store.dense(0)[f, t] == 0 and len(doc.history) == steps + 2
    window.edits.undo()
    assert doc.store.dense(0)[f, t] > 0.9


def test_the_play_cursor_moves_on_the_ruler_the_waveform_and_with_shift(window):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    steps = len(doc.history)
    ruler = view.plot.getAxis("bottom").sceneBoundingRect()
    x = view.vb.mapViewToScene(QtCore.QPointF(1.25, 0)).x()
    _click(view, 0, 0, where=_scene_to_widget(view, QtCore.QPointF(x, ruler.center().y())))
    assert window.playback.play_cursor == pytest.approx(1.25, abs=0.02)
    wave = view.wave.sceneBoundingRect()
    x = view.vb.mapViewToScene(QtCore.QPointF(0.5, 0)).x()
    _click(view, 0, 0, where=_scene_to_widget(view, QtCore.QPointF(x, wave.center().y())))
    assert window.playback.play_cursor == pytest.approx(0.5, abs=0.02)
    _click(view, 1.75, 3000.0, modifiers=QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.playback.play_cursor == pytest.approx(1.75, abs=0.02)
    assert len(doc.history) == steps and not doc.store.dense(0).any()  # seeking paints nothing


def _quiet_mixture(tmp_path, write_wav):
    """White noise, loud in every bin for 1 s, then 100 dB quieter for 1 s."""
    sr = 16000
    x = 0.3 * np.random.default_rng(0).standard_normal(2 * sr)
    x[sr:] *= 10 ** (-100 / 20)
    return write_wav(tmp_path / "quiet.wav", x.astype(np.float32), sr)


@pytest.mark.parametrize("outline", [False, True])
def test_a_mask_over_a_quiet_region_is_as_visible_as_over_a_loud_one(window, tmp_path,
                                                                      write_wav, outline):
    from maskstudio.dsp.stft import STFTConfig

    window.projects.open_path(_quiet_mixture(tmp_path, write_wav),
                              config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    doc, view = window.doc, window.view
    data = np.zeros((doc.n_bins, doc.n_frames), np.float32)
    data[:, doc.n_frames // 2 + 10:] = 1.0  # the quiet second, whole
    data[:, : doc.n_frames // 2 - 10] = 1.0  # and the loud one
    doc.add_layer("v", data=data)
    doc.set_layer(0, opacity=0.6)
    view.outline = outline
    view.render()
    rgba = view.overlay.image
    h, w = rgba.shape[:2]
    cols = np.asarray(view._cols)
    quiet = (cols[:-1] > doc.n_frames // 2 + 20) & (cols[1:] < doc.n_frames - 5)
    loud = (cols[1:] < doc.n_frames // 2 - 20) & (cols[:-1] > 5)
    assert quiet.sum() > 20 and loud.sum() > 20
    inner = slice(h // 4, 3 * h // 4)
    fill = 0.6 * (overlay.OUTLINE_FILL if outline else 1.0)
    for region in (quiet, loud):
        alpha = rgba[inner][:, region, 3]
        assert np.all(np.abs(alpha.astype(int) - round(255 * fill)) <= 1)
        assert np.all(rgba[inner][:, region, :3] == doc.layers[0].color)
    # the level under the quiet region is really low (the old overlay drew nothing there)
    assert int(view._levels[inner][:, quiet].max()) < int(view._levels[inner][:, loud].max()) - 60
    if outline:  # the contour at the region's edges, in the layer's colour, dark outside
        edge = np.nonzero(np.all(rgba[h // 2, :, :3] == doc.layers[0].color, axis=-1)
                          & (rgba[h // 2, :, 3] > 150))[0]
        assert edge.size >= 2
        assert (rgba[h // 2, :, 3] == overlay.EDGE[3]).any()
    # and on the rendered picture: the quiet region's pixels carry the layer's hue
    picture = view.graphics.grab().toImage()
    x = int(view.graphics.mapFromScene(view.vb.mapViewToScene(QtCore.QPointF(
        doc.n_frames * 0.75 * doc.frame_seconds, doc.samplerate / 4))).x())
    y = int(view.graphics.mapFromScene(view.vb.mapViewToScene(QtCore.QPointF(
        0, doc.samplerate / 4))).y())
    c = picture.pixelColor(x * picture.width() // view.graphics.width(),
                           y * picture.height() // view.graphics.height())
    assert abs(c.red() - round(doc.layers[0].color[0] * fill)) <= 8, c.getRgb()


def test_soft_layers_keep_their_own_colours():
    a = np.full((4, 6), 0.45, np.float32)
    b = np.full((4, 6), 0.55, np.float32)
    out = overlay.compose([a, b], [PALETTE[0], PALETTE[1]], [1.0, 1.0])
    assert np.all(out[..., :3] == PALETTE[1])  # the larger one's colour, not a blend
    b[:, :3] = 0.35
    out = overlay.compose([a, b], [PALETTE[0], PALETTE[1]], [1.0, 1.0])
    assert np.all(out[:, :3, :3] == PALETTE[0]) and np.all(out[:, 3:, :3] == PALETTE[1])
    assert np.all(out[:, :3, 3] == round(0.45 * 255))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
                max_size=12), st.integers(1, 24))
def test_new_layer_colours_stay_apart_and_off_the_grey_map(taken, n):
    """Whatever colours the user picked, each new layer's colour is saturated (never a grey of
    the colour map) and, for up to 24 layers, clearly apart from the earlier new ones."""
    used, new = list(taken), []
    for _ in range(n):
        c = next_color(used)
        used.append(c)
        new.append(c)
    L = lab(np.array(new))
    assert np.all(np.hypot(L[:, 1], L[:, 2]) >= 35)  # chroma: not a grey
    d = delta_e(np.array(new)[:, None], np.array(new)[None])
    np.fill_diagonal(d, np.inf)
    assert d.min() >= (28 if not taken and n <= len(PALETTE) else 10)


def test_a_document_gives_twelve_layers_twelve_distinct_colours(window):
    for _ in range(12):
        window.edits.new_layer()
    colors = [la.color for la in window.doc.layers]
    assert len(set(colors)) == 12
    window.doc.remove_layer(3)
    window.edits.new_layer()
    assert len({la.color for la in window.doc.layers}) == 12  # the freed colour is reused


def test_auto_contrast_follows_the_view_and_the_manual_range_stays(window):
    view, o = window.view, window.options
    assert o.auto_contrast.isChecked() and not o.floor.isEnabled()
    lo, hi = view.shown_db
    db = view.visible_db()
    assert hi - lo >= 40 and lo <= np.percentile(db, 5) and hi >= np.percentile(db, 99)
    assert view.colorbar.levels() == pytest.approx((lo, hi))
    o.auto_contrast.setChecked(False)
    o.floor.setValue(-70)
    o.ceiling.setValue(-10)
    assert view.shown_db == (-70, -10) and view.colorbar.levels() == pytest.approx((-70, -10))
    assert window.view.image_levels == pytest.approx(((-70 + 120) / 0.5, (-10 + 120) / 0.5))


def test_the_threshold_takes_tenths_of_a_db_typed_or_slid(window, qtbot):
    from maskstudio.ui.dialogs import ThresholdDialog

    dialog = ThresholdDialog(window, threshold=-50.0)
    qtbot.addWidget(dialog)
    dialog.level.setValue(-41.3)
    assert dialog.slider.value() == -413
    dialog.slider.setValue(dialog.slider.value() + dialog.slider.singleStep())
    assert dialog.level.value() == pytest.approx(-41.2)
    dialog.level.clear()
    qtbot.keyClicks(dialog.level.lineEdit() if hasattr(dialog.level, "lineEdit") else
                    dialog.level, "-37.7")
    dialog.level.interpretText()
    assert dialog.level.value() == pytest.approx(-37.7) and dialog.slider.value() == -377


@pytest.mark.parametrize("op", ["invert", "binarize"])
def test_a_whole_file_operation_asks_first_and_says_where_it_acted(window, qtbot, op):
    doc = window.doc
    doc.add_layer("soft", data=np.random.default_rng(0).random(
        (doc.n_bins, doc.n_frames)).astype(np.float32))
    asked = []
    window.edits.confirm_whole_file = lambda question: asked.append(question) or False
    from maskstudio.editing.edits import rectangle

    window.view.set_selection(rectangle(10, 40, 10, 60, n_bins=doc.n_bins,
                                        n_frames=doc.n_frames))
    window.edits.selection_op(op)  # a selection: no question, and the status bar says so
    assert not asked and len(doc.history) == 2
    assert "selection" in window.statusBar().currentMessage()
    window.view.set_selection(None)
    window.edits.selection_op(op)  # no selection: a question, and No changes nothing
    assert len(asked) == 1 and "whole file" in asked[0] and len(doc.history) == 2
    window.edits.confirm_whole_file = lambda question: asked.append(question) or True
    window.edits.selection_op(op)
    qtbot.waitUntil(lambda: active_tasks() <= 1 and len(doc.history) == 3, timeout=10000)
    qtbot.waitUntil(lambda: "whole file" in window.statusBar().currentMessage(), timeout=5000)


def test_a_threshold_on_the_whole_file_can_be_refused(window, qtbot):
    window.edits.new_layer()
    window.edits.confirm_whole_file = lambda question: False
    _accept_dialog_soon(qtbot, "thresholdDialog")
    window.edits.threshold_dialog()
    QtWidgets.QApplication.processEvents()
    assert len(window.doc.history) == 1 and not window.doc.store.dense(0).any()


@pytest.mark.parametrize("size", [(1100, 700), (1600, 1000)])
def test_the_spectrogram_keeps_most_of_the_width(window, qtbot, mixture_files, size):
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                     "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: len(window.doc.layers) == 2, timeout=10000)
    for _ in range(2):
        window.edits.new_layer()
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0], timeout=2000)
    QtWidgets.QApplication.processEvents()
    assert window.docks[2].isVisible()  # the Scores panel is shown, and still:
    assert window.view.width() >= 0.6 * window.width()
    assert window.docks[2].width() < window.width() / 3
    assert window.view.vb.width() >= 0.5 * window.width()  # the image itself, past its axes


def test_an_empty_window_shows_what_to_do_not_empty_axes(qtbot, tmp_path):
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    make_app()
    win = MainWindow(QtCore.QSettings(str(tmp_path / "s.ini"),
                                      QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    qtbot.addWidget(win)
    win.resize(810, 621)
    win.show()
    qtbot.waitExposed(win)
    empty = win.view.empty
    assert empty.isVisible() and "Ctrl+O" in empty.text()
    assert empty.geometry() == win.view.rect()  # over the axes, whole
    assert not any(a.icon().isNull() for a in win.tool_group.actions())  # icons on the tools
