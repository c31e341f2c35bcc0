"""The editor window, offscreen, driven as a user drives it."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from pyqtgraph.Qt import QtCore, QtGui, QtTest, QtWidgets

from maskstudio.dsp.masks import magnitude_db
from maskstudio.dsp.stft import stft
from maskstudio.editing.spectrogram import to_scale
from maskstudio.io.audiofile import load_audio
from maskstudio.ui.workers import active_tasks


def _widget_pos(view, seconds, hz):
    y = float(to_scale(hz, view.freq_scale))
    scene = view.vb.mapViewToScene(QtCore.QPointF(seconds, y))
    return QtCore.QPointF(view.graphics.mapFromScene(scene))


def _mouse(view, kind, pos, buttons):
    vp = view.graphics.viewport()
    types = {"press": QtCore.QEvent.Type.MouseButtonPress,
             "move": QtCore.QEvent.Type.MouseMove,
             "release": QtCore.QEvent.Type.MouseButtonRelease}
    button = QtCore.Qt.MouseButton.NoButton if kind == "move" else QtCore.Qt.MouseButton.LeftButton
    ev = QtGui.QMouseEvent(types[kind], pos, QtCore.QPointF(vp.mapToGlobal(pos.toPoint())),
                           button, buttons, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(vp, ev)


def drag(view, points, steps=1):
    """Press at the first (seconds, Hz) point, move through the rest, release at the last.

    Moves are paced like a real mouse's (12 ms apart): pyqtgraph throttles move events to
    100 per second, and the brush joins the positions it receives."""
    left = QtCore.Qt.MouseButton.LeftButton
    pos = [_widget_pos(view, *p) for p in points]
    _mouse(view, "press", pos[0], left)
    for a, b in zip(pos[:-1], pos[1:]):
        for k in range(1, steps + 1):
            QtTest.QTest.qWait(12)
            _mouse(view, "move", a + (b - a) * (k / steps), left)
    QtTest.QTest.qWait(12)
    _mouse(view, "release", pos[-1], QtCore.Qt.MouseButton.NoButton)
    QtWidgets.QApplication.processEvents()


def _grid(view, seconds, hz):
    return int(round(hz / view.doc.bin_hz)), int(round(seconds / view.doc.frame_seconds))


def test_opens_a_file_and_draws_its_spectrogram(window, mixture_files):
    doc = window.doc
    assert doc.clip.path == mixture_files["mixture"]
    assert "mixture.wav" in window.windowTitle()
    img = window.view._levels
    assert img is not None and img.dtype == np.uint8
    assert img.shape == (int(window.view.vb.height()), int(window.view.vb.width()))
    assert img.max() > 100 and img.min() < img.max()  # a real picture, not a blank
    window.view.image.render()
    shown = window.view.image.qimage  # drawn as Qt's fastest format, the levels' colours
    assert shown.format() == QtGui.QImage.Format.Format_RGB32
    assert (shown.width(), shown.height()) == img.shape[::-1]
    assert str(mixture_files["mixture"]) in window.projects.recent_files()


def test_a_brush_stroke_paints_exactly_under_it_and_undo_restores_bit_for_bit(window, qtbot):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    window.edits.new_layer()
    window.layers.set_active(0)
    before = [doc.store.dense(i).copy() for i in range(2)]
    path = [(0.3, 1000.0), (0.9, 2500.0), (1.5, 1500.0)]
    drag(view, path, steps=2)  # few mouse events: the stroke must still have no gaps
    after = doc.store.dense(0)
    assert after.max() > 0.9 and after.min() >= 0
    # along the stroke (every few ms of the polyline) the mask is painted: no gaps
    for (s0, h0), (s1, h1) in zip(path[:-1], path[1:]):
        for u in np.linspace(0, 1, 40):
            f, t = _grid(view, s0 + u * (s1 - s0), h0 + u * (h1 - h0))
            assert after[f, t] > 0.5, (f, t)
    # and nowhere away from it
    rf, rt = view._brush_radii(100)
    f_lo, _ = _grid(view, 0, 1000.0)
    f_hi, _ = _grid(view, 0, 2500.0)
    _, t_lo = _grid(view, 0.3, 0)
    _, t_hi = _grid(view, 1.5, 0)
    outside = np.ones_like(after, dtype=bool)
    rows = slice(max(0, int(f_lo - rf - 3)), int(f_hi + rf + 4))
    outside[rows, max(0, int(t_lo - rt - 3)):int(t_hi + rt + 4)] = False
    assert not after[outside].any()
    np.testing.assert_array_equal(doc.store.dense(1), before[1])  # the other layer untouched
    assert doc.history.undo_label == "brush" and len(doc.history) == 3  # 2 layers + 1 stroke
    window.edits.undo()
    np.testing.assert_array_equal(doc.store.dense(0), before[0])
    window.edits.redo()
    np.testing.assert_array_equal(doc.store.dense(0), after)
    # the overlay shows it
    assert view.overlay.image[..., 3].max() > 0


def test_painting_one_layer_takes_from_the_other_and_a_lock_protects(window):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    window.edits.new_layer()
    window.layers.set_active(1)
    drag(view, [(0.5, 800.0), (1.0, 800.0)])
    window.layers.set_active(0)
    drag(view, [(0.5, 800.0), (1.0, 800.0)])
    a, b = doc.store.dense(0), doc.store.dense(1)
    assert (a + b).max() <= 1 + 1e-6
    f, t = _grid(view, 0.75, 800.0)
    assert a[f, t] > 0.9 and b[f, t] < 0.1  # what voice gained, the other gave up
    window.layers.set_active(1)
    window.layers.set(0, locked=True)
    drag(view, [(0.5, 800.0), (1.0, 800.0)])
    np.testing.assert_array_equal(doc.store.dense(0), a)  # locked: untouched


def _accept_dialog_soon(qtbot, name, setup=None):
    def accept():
        dlg = QtWidgets.QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != name:
            QtCore.QTimer.singleShot(20, accept)
            return
        if setup:
            setup(dlg)
        dlg.accept()
    QtCore.QTimer.singleShot(20, accept)


def test_threshold_gives_the_expected_binary_mask(window, qtbot, mixture_files):
    window.edits.new_layer()
    doc = window.doc

    def setup(dlg):
        dlg.level.setValue(-40.0)
        assert window.view.preview is not None  # the live preview is on screen
    _accept_dialog_soon(qtbot, "thresholdDialog", setup)
    asked = []  # no selection: the whole file, after a yes
    window.edits.confirm_whole_file = lambda question: asked.append(question) or True
    window.edits.threshold_dialog()
    qtbot.waitUntil(lambda: active_tasks() <= 1 and len(doc.history) == 2, timeout=10000)
    assert len(asked) == 1 and "whole file" in asked[0]
    mix = load_audio(mixture_files["mixture"]).samples
    S = stft(mix, **doc.config.kwargs()) / np.float32(doc.spectrogram._ref)
    expected = (magnitude_db(S, channel_axis=0) > -40.0).astype(np.float32)
    np.testing.assert_array_equal(doc.store.dense(0), expected)
    assert window.view.preview is None


def test_oracle_layers_sum_to_one(window, qtbot, mixture_files):
    task = window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                            "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: len(window.doc.layers) == 2, timeout=10000)
    assert task is not None
    doc = window.doc
    total = doc.store.dense(0) + doc.store.dense(1)
    level = np.abs(stft(doc.clip.read(0, doc.clip.n_samples), **doc.config.kwargs()))[0]
    loud = level > 1e-3 * level.max()
    assert total.max() <= 1 + 1e-5
    np.testing.assert_allclose(total[loud], 1, atol=1e-5)
    assert [layer.name for layer in doc.layers] == ["voice", "drums"]
    assert doc.layers[0].provenance["kind"] == "oracle"


def test_model_masks_of_the_wrong_shape_are_refused_with_a_message(window, qtbot, tmp_path):
    bad = tmp_path / "model.npz"
    np.savez(bad, masks=np.zeros((1, 257, 99), np.float32), n_fft=512, hop_length=128,
             samplerate=16000)
    assert window.mask_sources.load_masks(bad) is None
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "errorDialog") is not None)
    box = window.findChild(QtWidgets.QMessageBox, "errorDialog")
    assert "shape" in box.text() and "257" in box.text()
    assert window.doc.layers == []
    good = tmp_path / "good.npz"
    T = window.doc.n_frames
    np.savez(good, masks=np.full((1, 257, T), 0.5, np.float32), names=np.array(["model"]),
             n_fft=512, hop_length=128, samplerate=16000)
    assert window.mask_sources.load_masks(good) == [0]


def test_export_writes_files_that_sum_to_the_mixture(window, qtbot, tmp_path, mixture_files):
    window.edits.new_layer()
    drag(window.view, [(0.2, 500.0), (1.2, 3000.0)])
    out = tmp_path / "out"
    window.export(out, phase="mixture", fmt="wav")
    qtbot.waitUntil(lambda: (out / "masks.npz").exists(), timeout=10000)
    qtbot.waitUntil(lambda: active_tasks() <= 1, timeout=10000)
    total = load_audio(out / "source1.wav").samples + load_audio(out / "residual.wav").samples
    np.testing.assert_allclose(total, load_audio(mixture_files["mixture"]).samples, atol=1e-5)


def test_selection_fill_and_keyboard_shortcuts(window, qtbot):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert view.tool == "rect"
    drag(view, [(0.5, 1000.0), (1.0, 2000.0)])
    assert view.selection is not None
    qtbot.keyClick(window, QtCore.Qt.Key.Key_F)
    m = doc.store.dense(0)
    box = view.selection[0]
    assert m[box.f0:box.f1, box.t0:box.t1].min() == 1 and m.sum() == box.shape[0] * box.shape[1]
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not doc.store.dense(0).any()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_E)
    assert view.tool == "eraser"
    size = window.options.size.value()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_BracketRight)
    assert window.options.size.value() > size and view.brush_px > size


def test_log_and_mel_scales_and_the_status_line(window, qtbot):
    view = window.view
    for scale in ("log", "mel", "linear"):
        window.options.scale.setCurrentText(scale)
        assert view.freq_scale == scale
        assert view.image.image is not None
    pos = _widget_pos(view, 1.0, 2000.0)
    view._mouse_moved(view.graphics.mapToScene(pos.toPoint()))
    text = window.status_label.text()
    fields = text.split()
    seconds, hz = float(fields[0]), float(fields[2])
    sx, _ = view.pixel_size()
    assert abs(seconds - 1.0) <= 2 * sx and abs(hz - 2000) < 40  # within a pixel or two
    assert fields[1] == "s" and fields[3] == "Hz" and "dB" in text


def test_settings_persist(qtbot, tmp_path, mixture_files):
    from maskstudio.ui.main_window import MainWindow

    ini = str(tmp_path / "persist.ini")
    win = MainWindow(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.options.size.setValue(33)
    win.options.scale.setCurrentText("mel")
    win.close()
    again = MainWindow(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.options.size.value() == 33 and again.options.scale.currentText() == "mel"


def test_screenshot_command_writes_the_window(tmp_path, mixture_files):
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "maskstudio", str(mixture_files["mixture"]),
                           "--screenshot", str(png)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    img = QtGui.QImage(str(png))
    assert (img.width(), img.height()) == (1280, 800)


def test_levels_histogram_sets_the_colour_range(window, qtbot):
    curve = window.levels.curve
    qtbot.waitUntil(lambda: curve.yData is not None and curve.yData.max() > 0)  # what is shown
    window.levels.region.setRegion((-80, -20))
    window.levels.region.sigRegionChangeFinished.emit(window.levels.region)
    assert window.view.db_range == (-80.0, -20.0)
    assert window.options.floor.value() == -80 and window.options.ceiling.value() == -20


def test_dropping_a_file_opens_it(window, qtbot, tmp_path):
    other = tmp_path / "other.wav"
    sf.write(str(other), np.random.default_rng(0).standard_normal((8000, 2)) * 0.1, 8000)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(other))])
    ev = QtGui.QDropEvent(QtCore.QPointF(50, 50), QtCore.Qt.DropAction.CopyAction, mime,
                          QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(ev)
    qtbot.waitUntil(lambda: window.doc.clip.path == other, timeout=10000)
    assert window.doc.clip.n_channels == 2
    assert window.options.channel.count() == 4  # mid, side, channel 1, channel 2
    window.options.channel.setCurrentIndex(3)
    assert window.doc.view_channel == 1


def test_oracle_dialog_takes_a_folder_of_stems(window, mixture_files):
    from maskstudio.ui.dialogs import OracleDialog

    dlg = OracleDialog(window, start_dir=str(mixture_files["voice"].parent))
    assert dlg.stems() == {"drums": mixture_files["drums"], "voice": mixture_files["voice"]}
    dlg.kind.setCurrentText("irm")
    assert dlg.p.isEnabled() and not dlg.lc.isEnabled()


def test_lasso_selection_then_invert_binarise_smooth(window, qtbot):
    doc, view = window.doc, window.view
    window.edits.new_layer()
    window.set_tool("lasso")
    drag(view, [(0.4, 1000.0), (1.2, 1000.0), (1.2, 3000.0), (0.4, 3000.0)], steps=3)
    box, alpha = view.selection
    f, t = _grid(view, 0.8, 2000.0)
    assert alpha[f - box.f0, t - box.t0] == 1  # the middle of the lasso is inside
    qtbot.keyClick(window, QtCore.Qt.Key.Key_I)  # invert inside: 0 -> 1
    assert doc.store.dense(0)[f, t] == 1 and doc.store.dense(0).sum() == alpha.sum()
    window.edits.selection_op("smooth")
    m = doc.store.dense(0)[box.f0:box.f1, box.t0:box.t1]
    assert ((m > 0.05) & (m < 0.95)).any()  # the lasso's edge is softened
    assert m[f - box.f0, t - box.t0] > 0.95  # its middle is not
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert set(np.unique(doc.store.dense(0)[box.f0:box.f1, box.t0:box.t1])) <= {0.0, 1.0}
    assert doc.history.undo_label == "binarise"


def test_unsaved_edits_are_offered_back_after_a_crash(window, qtbot, mixture_files, tmp_path):
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.ui.main_window import MainWindow

    window.edits.new_layer()
    drag(window.view, [(0.3, 800.0), (1.2, 2400.0)])
    painted = window.doc.store.dense(0).copy()
    assert painted.any()
    # the program dies: no save, no close.  A new session opens the same file.
    window.doc.close()  # a dead process holds no lock on its journal
    win2 = MainWindow(QtCore.QSettings(str(tmp_path / "s2.ini"),
                                       QtCore.QSettings.Format.IniFormat))
    win2.confirm_close = False
    qtbot.addWidget(win2)
    asked = []
    win2.projects.confirm_recovery = lambda n: asked.append(n) or True
    win2.projects.open_path(mixture_files["mixture"], config=STFTConfig(n_fft=512, hop_length=128),
                            wait=True)
    assert asked and asked[0] >= 2  # the new layer and the stroke
    np.testing.assert_array_equal(win2.doc.store.dense(0), painted)
    # saved as a project, it reopens without asking
    from maskstudio.annotation.project import save_project

    path = save_project(win2.doc, tmp_path / "take.msproj")
    win2.close()  # (while it is open, another window would be offered it read-only)
    win3 = MainWindow(QtCore.QSettings(str(tmp_path / "s3.ini"),
                                       QtCore.QSettings.Format.IniFormat))
    win3.confirm_close = False
    qtbot.addWidget(win3)
    win3.projects.confirm_recovery = lambda n: pytest.fail("nothing to recover after a save")
    win3.projects.open_path(path, wait=True)
    np.testing.assert_array_equal(win3.doc.store.dense(0), painted)
    assert win3.doc.project_path == path


def test_separators_from_the_masks_menu_and_the_hint_loop(window, qtbot):
    doc = window.doc
    window.mask_sources.separate("hpss")
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    assert [la.name for la in doc.layers] == ["harmonic", "percussive"]
    assert doc.layers[0].provenance["kind"] == "separator"
    total = doc.store.dense(0) + doc.store.dense(1)
    assert total.max() <= 1 + 1e-5
    # the layers become hints for NMF: one undoable step that rewrites them
    before = doc.store.dense(0).copy()
    steps = len(doc.history)
    window.mask_sources.separate("nmf")
    qtbot.waitUntil(lambda: len(doc.history) == steps + 1, timeout=30000)
    assert doc.history.undo_label == "separate (nmf)"
    assert not np.array_equal(doc.store.dense(0), before)
    window.edits.undo()
    np.testing.assert_array_equal(doc.store.dense(0), before)


def test_a_burst_of_redraws_draws_the_levels_histogram_once_after_it(window, qtbot, monkeypatch):
    qtbot.waitUntil(lambda: not window.levels._timer.isActive())
    drawn = []
    monkeypatch.setattr(window.levels, "set_levels", lambda db: drawn.append(np.array(db)))
    (x0, x1), _ = window.view.vb.viewRange()
    for k in range(8):  # a pan: a render each step
        window.view.vb.setXRange(x0 + 0.01 * k, x1 + 0.01 * k, padding=0)
        window.view.render()
    assert drawn == []  # not on every redraw
    qtbot.waitUntil(lambda: len(drawn) == 1)
    qtbot.wait(3 * window.levels.COALESCE_MS)
    assert len(drawn) == 1  # once, of the last picture
    np.testing.assert_array_equal(drawn[0], window.view.visible_db())


def test_the_levels_histogram_counts_as_numpy_does(window):
    rng = np.random.default_rng(3)
    db = np.concatenate([rng.uniform(-140, 20, 5000), -120 + 0.5 * np.arange(256),
                         [-130.0, 10.0, 9.999, -130.001, np.nan]]).astype(np.float32)
    window.levels.set_levels(db)
    want, edges = np.histogram(db[np.isfinite(db)], bins=140, range=(-130, 10))
    np.testing.assert_array_equal(window.levels.curve.xData, edges)
    np.testing.assert_allclose(window.levels.curve.yData, np.log1p(want))
