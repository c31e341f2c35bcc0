"""Annotating a dataset in the window: the item browser, labels, notes, and live scores."""

import numpy as np
import pytest
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.project import load_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.edits import rectangle
from maskstudio.ui.spectrogram_view import DIFF_LESS
from maskstudio.ui.workers import active_tasks

from ..annotation.test_dataset_batch import make_dataset
from .test_window import drag

CFG = STFTConfig(n_fft=512, hop_length=128)
Key = QtCore.Qt.Key


@pytest.fixture
def open_window(qtbot, tmp_path):
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    make_app()
    made = []

    def open_window(settings="settings.ini"):
        win = MainWindow(QtCore.QSettings(str(tmp_path / settings),
                                          QtCore.QSettings.Format.IniFormat))
        win.confirm_close = False
        win.projects.confirm_recovery = lambda n: pytest.fail("nothing should need recovering")
        qtbot.addWidget(win)
        win.resize(1200, 800)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        return win
    yield open_window
    for win in made:
        win.metrics.update_now = lambda: None
        qtbot.waitUntil(lambda w=win: active_tasks() == 0 or w._fill_task is not None,
                        timeout=20000)


@pytest.fixture
def dataset(tmp_path):
    root = make_dataset(tmp_path / "songs", n_items=3, seconds=1.5)
    ds = Dataset.open(root)
    ds.set_config(CFG)
    ds.set_labels(["voice", "drums"])
    return root


def _wait_item(qtbot, win, name):
    qtbot.waitUntil(lambda: win.doc is not None and win.doc.clip.path.parent.name == name
                    and win.datasets.item_index is not None
                    and win.datasets.dataset.items[win.datasets.item_index].name == name,
                    timeout=10000)


def press(qtbot, win, key, modifier=QtCore.Qt.KeyboardModifier.NoModifier):
    """A key press in the window, made the active one first (as a click on it would)."""
    win.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is win, timeout=2000)
    qtbot.keyClick(win, key, modifier)


def _panel_statuses(win):
    items = win.datasets.panel.items
    return {items.topLevelItem(i).text(0): items.topLevelItem(i).text(1)
            for i in range(items.topLevelItemCount())}


def test_the_browser_walks_a_dataset_and_keeps_status_edits_and_notes(open_window, dataset,
                                                                       qtbot, tmp_path):
    win = open_window()
    win.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, win, "song0")
    doc = win.doc
    # every item uses the dataset's grid and its labels; its stems are known
    assert doc.config == CFG
    assert [(la.name, la.label) for la in doc.layers] == [("voice", "voice"), ("drums", "drums")]
    assert set(doc.references) == {"voice", "drums"}
    assert _panel_statuses(win)["song0"] == "in progress"
    # paint on song0 and write a note
    win.layers.set_active(0)
    drag(win.view, [(0.2, 500.0), (1.0, 2000.0)])
    painted = doc.store.dense(0).copy()
    assert painted.any()
    win.datasets.panel.notes.setPlainText("breath at 0.4 s")
    # Page Down: the next item; song0 is saved on the way out
    press(qtbot, win, Key.Key_PageDown)
    _wait_item(qtbot, win, "song1")
    saved = load_project(Dataset.open(dataset).project_path(Dataset.open(dataset).items[0]),
                         start_journal=False)
    np.testing.assert_array_equal(saved.store.dense(0), painted)
    assert saved.notes == "breath at 0.4 s" and saved.status == "in progress"
    assert win.datasets.panel.notes.toPlainText() == ""
    # Ctrl+Return: song1 is done, and the next item not done opens
    press(qtbot, win, Key.Key_Return, QtCore.Qt.KeyboardModifier.ControlModifier)
    _wait_item(qtbot, win, "song2")
    win.datasets.panel.status.setCurrentText("skipped")
    win.datasets.panel.status.activated.emit(win.datasets.panel.status.currentIndex())
    assert _panel_statuses(win) == {"song0": "in progress", "song1": "done", "song2": "skipped"}
    assert win.datasets.panel.progress.value() == 2
    # Page Up twice: back on song0, as it was left
    press(qtbot, win, Key.Key_PageUp)
    _wait_item(qtbot, win, "song1")
    press(qtbot, win, Key.Key_PageUp)
    _wait_item(qtbot, win, "song0")
    np.testing.assert_array_equal(win.doc.store.dense(0), painted)
    assert win.datasets.panel.notes.toPlainText() == "breath at 0.4 s"
    assert win.datasets.panel.status.currentText() == "in progress"
    # a later session: the statuses are kept, and the item open last is opened again
    win.close()
    again = open_window()
    again.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, again, "song0")
    assert _panel_statuses(again) == {"song0": "in progress", "song1": "done",
                                      "song2": "skipped"}
    assert sorted(p.name for p in dataset.iterdir()) == ["song0", "song1", "song2"]
    assert sorted(p.name for p in (dataset / "song0").iterdir()) == ["mixture.wav", "sources"]


def test_the_label_vocabulary_names_layers_in_every_item(open_window, dataset, qtbot):
    win = open_window()
    win.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, win, "song0")
    panel = win.datasets.panel
    panel.labels.setText("voice, drums, noise")
    panel.labels.editingFinished.emit()
    assert Dataset.open(dataset).labels == ["voice", "drums", "noise"]
    win.edits.new_layer()  # the first label no layer has yet
    assert (win.doc.layers[-1].name, win.doc.layers[-1].label) == ("noise", "noise")
    win.edits.new_layer()  # labels used up: a plain name, no label
    assert win.doc.layers[-1].label == ""
    row = win.layers.rows[3]
    assert isinstance(row.name, QtWidgets.QComboBox)
    assert [row.name.itemText(i) for i in range(row.name.count())] == ["voice", "drums", "noise"]
    row.name.textActivated.emit("noise")  # the name is taken: a new name, labelled noise
    assert win.doc.layers[3].label == "noise" and win.doc.layers[3].name != "noise"
    press(qtbot, win, Key.Key_PageDown)
    _wait_item(qtbot, win, "song1")
    assert [la.label for la in win.doc.layers] == ["voice", "drums", "noise"]


def test_live_scores_follow_edits_and_the_difference_view(window, qtbot, mixture_files):
    metrics = window.metrics
    assert metrics.kind.currentText() == "irm"
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                     "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: metrics.kind.currentText() == "wiener", timeout=10000)
    qtbot.waitUntil(lambda: "sdr" in metrics.scores.get("voice", {})
                    and "sdr" in metrics.oracle.get("voice", {}), timeout=20000)
    voice, oracle = metrics.scores["voice"], metrics.oracle["voice"]
    assert voice["iou"] == 1.0 and voice["f1"] == 1.0  # untouched oracle layers
    assert voice["si_sdr"] == pytest.approx(oracle["si_sdr"]) and oracle["si_sdr"] > 10
    table = [[metrics.table.item(r, c).text() for c in range(metrics.table.columnCount())]
             for r in range(metrics.table.rowCount())]
    assert table[0][0] == "voice" and table[1][0].strip() == "oracle wiener"
    headers = [metrics.table.horizontalHeaderItem(c).text()
               for c in range(metrics.table.columnCount())]
    assert headers[1:5] == ["SI-SDR (mean of ch.)", "SDR (whole)", "SIR (whole)", "SAR (whole)"]
    said = metrics.definitions.text()  # which definition the panel shows, in words
    assert "whole signal" in said and "median of 1 s" in said and "metrics.json" in said
    assert table[0][1] == f"{voice['si_sdr']:.1f}" and table[1][2] == f"{oracle['sdr']:.1f}"
    # erase half of the voice layer: its scores fall, while the oracle's stay
    doc = window.doc
    box = rectangle(0, doc.n_bins, 0, doc.n_frames // 2, n_bins=doc.n_bins,
                    n_frames=doc.n_frames)
    doc.erase(0, box)
    qtbot.waitUntil(lambda: metrics.scores["voice"]["iou"] < 0.9
                    and "sdr" in metrics.scores["voice"], timeout=20000)
    assert metrics.scores["voice"]["si_sdr"] < oracle["si_sdr"] - 3
    assert metrics.scores["voice"]["sdr"] < oracle["sdr"] - 3
    assert metrics.oracle["voice"] == oracle
    # D: the difference view shows, in blue, where the layer now takes less than the oracle
    press(qtbot, window, Key.Key_D)
    assert window.view.difference is not None
    window.view.render()
    over = window.view._overlay
    cols = window.view._cols
    left = over[:, cols[:-1] < doc.n_frames // 2 - 2]
    right = over[:, cols[:-1] > doc.n_frames // 2 + 2]
    shown = left[..., 3] > 40
    assert shown.mean() > 0.05
    assert np.all(left[shown][:, :3] == DIFF_LESS)
    assert right[..., 3].max() == 0  # unchanged: nothing drawn
    press(qtbot, window, Key.Key_D)
    assert window.view.difference is None


def test_scores_explain_when_there_are_no_stems(window):
    window.metrics.update_now()
    assert "No stems" in window.metrics.state.text()
    assert window.metrics.table.rowCount() == 0


def test_exporting_the_dataset_from_the_window(open_window, dataset, qtbot, tmp_path,
                                              monkeypatch):
    win = open_window()
    win.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, win, "song0")
    doc = win.doc
    doc.fill(0, rectangle(0, doc.n_bins, 0, doc.n_frames, n_bins=doc.n_bins,
                          n_frames=doc.n_frames))
    out = tmp_path / "export"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        lambda *a, **k: str(out))
    win.datasets.export_dataset_dialog()
    qtbot.waitUntil(lambda: (out / "song0" / "metadata.json").exists(), timeout=20000)
    qtbot.waitUntil(lambda: "exported" in win.statusBar().currentMessage(), timeout=20000)
    assert sorted(p.name for p in (out / "song0").iterdir()) == [  # the mixture, for musdb
        "drums.wav", "masks.npz", "metadata.json", "mixture.wav", "residual.wav", "voice.wav"]
    assert "2 not annotated" in win.statusBar().currentMessage()


def test_a_crash_during_an_item_loses_no_finished_edit(open_window, dataset, qtbot):
    win = open_window()
    win.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, win, "song0")
    win.layers.set_active(1)
    drag(win.view, [(0.3, 3000.0), (1.1, 5000.0)])
    painted = win.doc.store.dense(1).copy()
    assert painted.any()
    # the program dies here: no save, no close.  The next session offers the stroke back.
    win.doc.close()  # a dead process holds no lock on its journal
    again = open_window("after-crash.ini")
    asked = []
    again.projects.confirm_recovery = lambda n: asked.append(n) or True
    again.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, again, "song0")
    assert asked == [1]
    np.testing.assert_array_equal(again.doc.store.dense(1), painted)
    assert set(again.doc.references) == {"voice", "drums"}  # the stems, for the scores


def test_save_project_saves_the_item_in_place(open_window, dataset, qtbot, monkeypatch):
    win = open_window()
    win.datasets.open_dataset(dataset, wait=True)
    _wait_item(qtbot, win, "song0")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *a, **k: pytest.fail("an item's project has its place"))
    doc = win.doc
    doc.fill(0, rectangle(0, 40, 0, 30, n_bins=doc.n_bins, n_frames=doc.n_frames))
    assert doc.modified
    press(qtbot, win, Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)  # File > Save
    assert not doc.modified
    saved = load_project(Dataset.open(dataset).project_path(Dataset.open(dataset).items[0]),
                         start_journal=False)
    np.testing.assert_array_equal(saved.store.dense(0), doc.store.dense(0))


def test_a_long_file_is_scored_block_by_block_without_bss_eval(window, qtbot, mixture_files,
                                                               monkeypatch):
    from maskstudio.ui import scores_panel

    monkeypatch.setattr(scores_panel, "MAX_LIVE_SECONDS", 0.5)  # this file counts as long
    metrics = window.metrics
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                     "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: "block by block in" in metrics.state.text(), timeout=20000)
    voice = metrics.scores["voice"]
    assert voice["iou"] == 1.0 and voice["f1"] == 1.0 and voice["si_sdr"] > 10
    assert "sdr" not in voice and "BSS Eval covers files up to 0.5 s" in metrics.state.text()
    assert metrics.scorer is not None and not hasattr(metrics.scorer, "mixture")  # not held
    doc = window.doc
    doc.erase(0, rectangle(0, doc.n_bins, 0, doc.n_frames // 2, n_bins=doc.n_bins,
                           n_frames=doc.n_frames))
    qtbot.waitUntil(lambda: metrics.scores.get("voice", {}).get("iou", 1.0) < 0.9,
                    timeout=20000)
    assert metrics.scores["voice"]["si_sdr"] < voice["si_sdr"] - 3
