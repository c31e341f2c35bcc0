"""Issue 15's power tools in the window, offscreen, driven as a user drives them: the harmonic
tool on a vibrato tone, the wand at a level edge, energy moved between layers (the partition
kept, undo, locks, crash recovery), local threshold with its preview and Learn, typed
bounds, and the note-name axis.  Screenshots go to /tmp/maskstudio-shots/."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.dsp.stft import STFTConfig
from maskstudio.io.audiofile import load_audio
from maskstudio.io.ondemand import stft_frames_of

from ..conftest import SR
from .test_window import _mouse, _widget_pos, drag

CFG = STFTConfig(n_fft=1024, hop_length=256)
F0 = 220.0
SHOTS = Path("/tmp/maskstudio-shots")


def _tone(n):
    t = np.arange(n) / SR
    f = F0 * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    held = ((t >= 0.5) & (t < 2.0)).astype(np.float64)
    return held * sum(0.2 / h * np.sin(h * phase) for h in range(1, 11))


@pytest.fixture
def tone_files(tmp_path):
    """A stereo file: a vibrato harmonic tone (0.5-2 s) over noise that is loud in the first
    second's upper half of the band... and the tone alone, for its energy."""
    n = int(2.5 * SR)
    note = _tone(n)
    noise = 0.004 * np.random.default_rng(3).standard_normal((2, n))
    mix = np.stack([note, 0.7 * note]) + noise
    sf.write(str(tmp_path / "tone.wav"), mix.T.astype(np.float32), SR, subtype="FLOAT")
    sf.write(str(tmp_path / "only.wav"), np.stack([note, 0.7 * note]).T.astype(np.float32),
             SR, subtype="FLOAT")
    return tmp_path / "tone.wav", tmp_path / "only.wav"


@pytest.fixture
def tone_window(window, tone_files):
    window.projects.open_path(tone_files[0], config=CFG, wait=True)
    window.view.zoom_to_fit()
    window.view.vb.setYRange(0, 4000, padding=0)
    window.view.render()
    return window


def click(view, seconds, hz):
    pos = _widget_pos(view, seconds, hz)
    left = QtCore.Qt.MouseButton.LeftButton
    _mouse(view, "press", pos, left)
    _mouse(view, "release", pos, QtCore.Qt.MouseButton.NoButton)
    QtWidgets.QApplication.processEvents()


def shot(window, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.view.render()
    QtWidgets.QApplication.processEvents()
    assert window.grab().save(str(SHOTS / f"{name}.png"))


def _energy(path, n_frames):
    X = stft_frames_of(load_audio(path), 0, n_frames, CFG)
    return (np.abs(X) ** 2).sum(axis=0)


def _dense(sel, doc):
    box, alpha = sel
    full = np.zeros((doc.n_bins, doc.n_frames), np.float32)
    full[box.f0:box.f1, box.t0:box.t1] = alpha
    return full


def test_a_click_with_the_harmonic_tool_selects_the_tones_partials(tone_window, tone_files,
                                                                  qtbot):
    win, view = tone_window, tone_window.view
    qtbot.keyClick(win, QtCore.Qt.Key.Key_A)
    assert view.tool == "harmonic"
    win.tool_actions.width.setValue(80)
    click(view, 1.2, 2 * F0)  # on the second harmonic: its fundamental is followed
    assert view.selection is not None and view.tint.item.isVisible()
    doc = win.doc
    sel = _dense(view.selection, doc)
    tone = _energy(tone_files[1], doc.n_frames)
    mix = _energy(tone_files[0], doc.n_frames)
    inside = (sel * tone).sum() / tone.sum()
    outside = (sel * np.maximum(mix - tone, 0)).sum() / (sel * mix).sum()
    assert inside >= 0.9 and outside <= 0.1, (inside, outside)
    shot(win, "harmonic-selection")
    # the selection is the active layer's with Fill: one undo step
    win.edits.new_layer()
    win.edits.selection_op("fill")
    assert doc.history.undo_label == "fill"
    # non-harmonic: the rest of the tracked frames
    win.tool_actions.non_harmonic.setChecked(True)
    click(view, 1.2, 2 * F0)
    inv = _dense(view.selection, doc)
    assert (inv * tone).sum() / tone.sum() < 0.1
    assert view.selection[0].f0 == 0 and view.selection[0].f1 == doc.n_bins
    shot(win, "non-harmonic-selection")


def test_a_drag_along_a_partial_selects_its_time_span(tone_window, qtbot):
    win, view = tone_window, tone_window.view
    win.set_tool("harmonic")
    drag(view, [(0.9, F0), (1.3, F0)], steps=3)
    box = view.selection[0]
    fs = win.doc.frame_seconds
    assert 0.85 <= box.t0 * fs and box.t1 * fs <= 1.35


def test_nothing_picked_is_said_in_the_status_bar(tone_window):
    win, view = tone_window, tone_window.view
    win.set_tool("wand")
    win.tool_actions.within.setChecked(True)
    win.edits.new_layer()  # an empty layer: the wand within it finds nothing
    click(view, 1.2, 3000.0)
    assert view.selection is None
    assert "holds nothing" in win.statusBar().currentMessage()


@pytest.fixture
def edge_window(window, tmp_path):
    n = 2 * SR
    rng = np.random.default_rng(0)
    x = np.concatenate([0.3 * rng.standard_normal(n // 2), 0.003 * rng.standard_normal(n // 2)])
    sf.write(str(tmp_path / "edge.wav"), x.astype(np.float32), SR, subtype="FLOAT")
    window.projects.open_path(tmp_path / "edge.wav", config=CFG, wait=True)
    window.view.render()
    return window


def test_the_wand_stops_at_a_level_edge(edge_window, qtbot):
    win, view = edge_window, edge_window.view
    qtbot.keyClick(win, QtCore.Qt.Key.Key_W)
    assert view.tool == "wand"
    win.tool_actions.tolerance.setValue(15)
    click(view, 0.5, 3000.0)
    box, alpha = view.selection
    edge = int(1.0 / win.doc.frame_seconds)
    assert box.t1 <= edge + 3 and alpha.mean() > 0.8
    shot(win, "magic-wand")
    click(view, 1.5, 3000.0)
    assert view.selection[0].t0 >= edge - 3


def _two_layers(win):
    doc = win.doc
    doc.add_layer("a", np.full((doc.n_bins, doc.n_frames), 0.6, np.float32))
    doc.add_layer("b", np.full((doc.n_bins, doc.n_frames), 0.3, np.float32))
    win.layers.set_active(0)


def test_moving_energy_keeps_the_partition_undo_restores_a_lock_refuses(window, qtbot):
    doc, view = window.doc, window.view
    _two_layers(window)
    before = [doc.store.dense(i).copy() for i in range(2)]
    window.set_tool("rect")
    drag(view, [(0.5, 1000.0), (1.0, 2000.0)])
    box = view.selection[0]
    assert window.tool_actions.give(1)
    a, b = doc.store.dense(0), doc.store.dense(1)
    np.testing.assert_allclose(a + b, before[0] + before[1], atol=1e-6)
    assert a[..., box.f0:box.f1, box.t0:box.t1].max() == 0
    assert "to 'b'" in window.statusBar().currentMessage()
    assert doc.history.undo_label == "move"
    window.tool_actions.take(None)  # from the residual into a: the bin fills up to one
    assert np.allclose(doc.store.dense(0)[..., box.f0:box.f1, box.t0:box.t1], 0.1)
    window.edits.undo()
    window.edits.undo()
    for i in range(2):
        np.testing.assert_array_equal(doc.store.dense(i), before[i])
    # the submenus list the other layers and the residual
    masks = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Masks")
    give = next(a.menu() for a in masks.actions() if a.text() == "&Give the selection to")
    give.aboutToShow.emit()
    assert [a.text() for a in give.actions()] == ["b", "the residual"]
    # a locked layer neither gives nor takes: said in the status bar, nothing changes
    window.layers.set(1, locked=True)
    steps = len(doc.history)
    assert not window.tool_actions.give(1)
    assert not window.tool_actions.cast(1)
    assert "locked" in window.statusBar().currentMessage()
    assert len(doc.history) == steps
    window.layers.set(1, locked=False)
    assert window.tool_actions.cast(1)  # inside the selection: b gives way where a is
    assert doc.store.dense(1)[..., box.f0:box.f1, box.t0:box.t1].max() == 0
    assert doc.history.undo_label == "cast"


def test_a_move_is_recovered_after_a_crash(window, qtbot, mixture_files, tmp_path):
    from maskstudio.ui.main_window import MainWindow

    _two_layers(window)
    window.set_tool("rect")
    drag(window.view, [(0.5, 1000.0), (1.0, 2000.0)])
    assert window.tool_actions.give(None)
    moved = [window.doc.store.dense(i).copy() for i in range(2)]
    window.doc.close()  # the program dies
    win2 = MainWindow(QtCore.QSettings(str(tmp_path / "s2.ini"),
                                       QtCore.QSettings.Format.IniFormat))
    win2.confirm_close = False
    qtbot.addWidget(win2)
    win2.projects.confirm_recovery = lambda n: True
    win2.projects.open_path(mixture_files["mixture"], config=STFTConfig(n_fft=512,
                                                                        hop_length=128),
                            wait=True)
    for i in range(2):
        np.testing.assert_array_equal(win2.doc.store.dense(i), moved[i])


def _when_dialog(name, act):
    def run():
        dlg = QtWidgets.QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != name:
            QtCore.QTimer.singleShot(20, run)
            return
        act(dlg)
    QtCore.QTimer.singleShot(20, run)


def test_local_threshold_previews_learns_and_applies(tone_window, qtbot):
    win, view = tone_window, tone_window.view
    doc = win.doc
    win.edits.new_layer()
    win.set_tool("harmonic")
    click(view, 1.2, F0)  # the example: the tone's harmonics
    seen = {}

    def act(dlg):
        seen["preview"] = view.preview is not None and view.preview[1].any()
        dlg.window_ms.setValue(120)
        dlg.learn.click()
        seen["offset"] = dlg.offset.value()
        dlg.scope.setCurrentText("inside the selection")
        win.grab().save(str(SHOTS / "local-threshold-preview.png"))
        dlg.accept()
    SHOTS.mkdir(parents=True, exist_ok=True)
    _when_dialog("localThresholdDialog", act)
    win.tool_actions.local_threshold_dialog()
    assert seen["preview"] and seen["offset"] > 3
    assert view.preview is None
    assert doc.history.undo_label == "local threshold"
    m = doc.store.dense(0)[0]
    f, t = int(round(F0 / doc.bin_hz)), int(1.2 / doc.frame_seconds)
    assert m[f - 1:f + 2, t].max() == 1


def test_typed_bounds_set_a_rectangle(window, qtbot):
    doc = window.doc

    def act(dlg):
        for w, v in zip(dlg.fields, (0.25, 0.75, 500.0, 1500.0)):
            w.setValue(v)
        dlg.accept()
    _when_dialog("boundsDialog", act)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B, QtCore.Qt.KeyboardModifier.ControlModifier
                   | QtCore.Qt.KeyboardModifier.ShiftModifier)
    box, alpha = window.view.selection
    assert abs(box.t0 * doc.frame_seconds - 0.25) <= doc.frame_seconds
    assert abs((box.t1 - 1) * doc.frame_seconds - 0.75) <= doc.frame_seconds
    assert abs(box.f0 * doc.bin_hz - 500) <= doc.bin_hz
    assert abs((box.f1 - 1) * doc.bin_hz - 1500) <= doc.bin_hz
    assert alpha.all()


def test_note_names_on_the_frequency_axis_are_kept(window, qtbot, tmp_path):
    from maskstudio.ui.main_window import MainWindow

    view = window.view
    window.tool_actions.act_notes.trigger()
    assert view.freq_axis.notes
    view.vb.setYRange(100, 1000, padding=0)
    ticks = view.freq_axis.tickValues(100, 1000, 400)
    labels = view.freq_axis.tickStrings(ticks[0][1] + ticks[1][1], 1, 1)
    assert "C4" in labels and "A4" in labels
    a4 = ticks[0][1] + ticks[1][1]
    assert any(abs(v - 440.0) < 0.01 for v in a4)  # A4 is at 440 Hz exactly
    shot(window, "note-names")
    window.save_settings()
    win2 = MainWindow(window.settings)
    win2.confirm_close = False
    qtbot.addWidget(win2)
    assert win2.view.freq_axis.notes and win2.tool_actions.act_notes.isChecked()
    window.tool_actions.act_notes.trigger()
    assert not view.freq_axis.notes


def test_snap_to_peaks_tightens_a_rectangle_around_a_partial(tone_window):
    win, view = tone_window, tone_window.view
    win.set_tool("rect")
    win.tool_actions.snap.setChecked(True)
    drag(view, [(0.9, 0.6 * F0), (1.4, 1.4 * F0)])
    box = view.selection[0]
    k = F0 / win.doc.bin_hz
    assert int(0.6 * k) < box.f0 <= round(k) < box.f1 < 1.4 * k
    win.tool_actions.snap.setChecked(False)
    drag(view, [(0.9, 0.6 * F0), (1.4, 1.4 * F0)])
    assert view.selection[0].f0 <= int(0.6 * k) + 1  # off: as dragged


def test_screenshots_of_moving_energy_and_the_bounds_dialog(tone_window, qtbot):
    win, view = tone_window, tone_window.view
    doc = win.doc
    win.edits.new_layer()
    win.edits.new_layer()
    win.layers.set_active(0)
    win.set_tool("rect")
    drag(view, [(0.3, 100.0), (2.2, 3000.0)])
    win.edits.selection_op("fill")  # layer 1 holds the whole box
    win.set_tool("harmonic")
    click(view, 1.2, 2 * F0)
    assert win.tool_actions.give(1)  # the tone's harmonics go to layer 2
    a, b = doc.store.dense(0), doc.store.dense(1)
    assert (a + b).max() <= 1 + 1e-6 and b.max() > 0.9
    view.set_selection(None)  # the layers themselves: red gave its harmonics to blue
    shot(win, "moved-harmonics-to-another-layer")

    def act(dlg):
        dlg.grab().save(str(SHOTS / "selection-bounds-dialog.png"))
        dlg.reject()
    _when_dialog("boundsDialog", act)
    win.tool_actions.bounds_dialog()
