"""The document's lifecycle as in any editor: Save and Save As for projects, a title with the
name and an unsaved mark, and a Save / Discard / Cancel question before anything replaces or
closes unsaved work, whose Save saves the project, whose Cancel cancels and whose Discard
really discards (the crash journal goes)."""

import numpy as np
import pytest
import soundfile as sf
from pyqtgraph.Qt import QtCore, QtTest, QtWidgets

from maskstudio.annotation.project import journal_for, load_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.edits import rectangle

from ..conftest import SR, harmonic

GRID = STFTConfig(n_fft=512, hop_length=128)
Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


def shown(win) -> str:
    """The title as the window manager shows it."""
    return win.windowTitle().replace("[*]", "*" if win.isWindowModified() else "")


def press(win, key, mods=Mod.NoModifier):
    QtTest.QTest.keyClick(win, key, mods)
    QtWidgets.QApplication.processEvents()


def edit(win, f0=0, f1=30):
    doc = win.doc
    if not doc.layers:
        win.edits.new_layer()
    doc.fill(0, rectangle(f0, f1, 0, 20, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    QtWidgets.QApplication.processEvents()


def answer(monkeypatch, win, *answers):
    """The Save / Discard / Cancel question answers these, in order; returns what was asked."""
    asked, queue = [], list(answers)

    def ask(action, reason=""):
        asked.append(action)
        return queue.pop(0) if queue else "discard"  # (the test's end closes the window)
    monkeypatch.setattr(win.projects, "ask_save_changes", ask)
    return asked


def no_file_dialog(monkeypatch):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: pytest.fail("a file dialog was opened")))


@pytest.fixture
def other_file(tmp_path):
    path = tmp_path / "other.wav"
    sf.write(str(path), harmonic(SR, f0=330.0), SR, subtype="FLOAT")
    return path


def test_the_title_names_the_file_then_the_project_and_marks_unsaved_work(window, tmp_path,
                                                                         monkeypatch):
    assert shown(window) == "mixture.wav — maskstudio"
    edit(window)
    assert window.isWindowModified() and shown(window) == "mixture.wav* — maskstudio"
    asked = []
    monkeypatch.setattr(window.projects, "ask_save_path",
                        lambda start: asked.append(start) or str(tmp_path / "take.msproj"))
    press(window, Key.Key_S, Mod.ControlModifier)  # the first Save asks where
    assert len(asked) == 1 and (tmp_path / "take.msproj").is_file()
    assert shown(window) == "take.msproj — maskstudio" and not window.doc.modified
    edit(window, 40, 60)
    assert shown(window) == "take.msproj* — maskstudio"
    press(window, Key.Key_S, Mod.ControlModifier)  # then it saves in place
    assert len(asked) == 1 and shown(window) == "take.msproj — maskstudio"
    saved = load_project(tmp_path / "take.msproj", start_journal=False)
    np.testing.assert_array_equal(saved.store.dense(0), window.doc.store.dense(0))


def test_save_as_always_asks_and_a_cancelled_dialog_saves_nothing(window, tmp_path,
                                                                 monkeypatch):
    edit(window)
    paths = [str(tmp_path / "a.msproj"), None, str(tmp_path / "b.msproj")]
    monkeypatch.setattr(window.projects, "ask_save_path", lambda start: paths.pop(0))
    press(window, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    assert window.doc.project_path == tmp_path / "a.msproj"
    edit(window, 40, 60)
    press(window, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)  # cancelled
    assert window.doc.project_path == tmp_path / "a.msproj" and window.doc.modified
    press(window, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    assert window.doc.project_path == tmp_path / "b.msproj" and not window.doc.modified
    assert paths == []


def test_quit_with_a_project_open_and_save_writes_the_project(window, tmp_path, monkeypatch):
    window.confirm_close = True
    monkeypatch.setattr(window.projects, "ask_save_path",
                        lambda start: str(tmp_path / "take.msproj"))
    edit(window)
    window.projects.save()
    edit(window, 40, 60)  # unsaved work in the project
    painted = window.doc.store.dense(0).copy()
    asked = answer(monkeypatch, window, "save")
    no_file_dialog(monkeypatch)  # the project has its place: no masks.npz dialog
    assert window.close()
    assert asked == ["closing"]
    saved = load_project(tmp_path / "take.msproj", start_journal=False)
    np.testing.assert_array_equal(saved.store.dense(0), painted)


@pytest.mark.parametrize("how", ["cancel", "save, then cancel the file dialog"])
def test_quit_cancelled_keeps_the_window_and_its_work(window, monkeypatch, how):
    window.confirm_close = True
    edit(window)
    painted = window.doc.store.dense(0).copy()
    answer(monkeypatch, window, how.split(",")[0])
    monkeypatch.setattr(window.projects, "ask_save_path", lambda start: None)
    assert not window.close()
    assert window.isVisible() and window.doc.modified
    np.testing.assert_array_equal(window.doc.store.dense(0), painted)
    assert window.doc.journal is not None and journal_for(window.doc).is_file()


def test_open_with_unsaved_work_asks_first_and_discard_drops_the_journal(
        window, monkeypatch, other_file, mixture_files):
    window.confirm_close = True
    first = window.doc
    edit(window)
    journal = journal_for(first)
    assert journal.stat().st_size > 100  # the edit is journaled
    asked = answer(monkeypatch, window, "cancel", "discard")
    window.projects.open_path(other_file, config=GRID, wait=True)
    assert window.doc is first and first.modified  # Cancel: nothing replaced
    window.projects.open_path(other_file, config=GRID, wait=True)
    assert window.doc is not first and window.doc.clip.path == other_file
    assert asked == ["opening 'other.wav'"] * 2
    assert not journal.exists()  # Discard: the next start does not offer the edits back
    monkeypatch.setattr(type(window.projects), "confirm_recovery",
                        lambda self, n: pytest.fail("offered the discarded edits back"))
    window.projects.open_path(mixture_files["mixture"], config=GRID, wait=True)  # unchanged: no ask
    assert window.doc.clip.path == mixture_files["mixture"] and window.doc.layers == []


def test_discard_at_quit_removes_the_journal(window, qtbot, tmp_path, monkeypatch,
                                            mixture_files):
    from maskstudio.ui.main_window import MainWindow

    window.confirm_close = True
    edit(window)
    journal = journal_for(window.doc)
    answer(monkeypatch, window, "discard")
    assert window.close() and not journal.exists()
    again = MainWindow(QtCore.QSettings(str(tmp_path / "again.ini"),
                                        QtCore.QSettings.Format.IniFormat))
    again.confirm_close = False
    qtbot.addWidget(again)
    monkeypatch.setattr(again.projects, "confirm_recovery",
                        lambda n: pytest.fail("offered the discarded edits back"))
    again.projects.open_path(mixture_files["mixture"], config=GRID, wait=True)
    assert again.doc.layers == []


def test_a_new_file_starts_without_the_old_selection_and_play_position(window, other_file):
    doc, view = window.doc, window.view
    view.set_selection(rectangle(10, 40, 10, 60, n_bins=doc.n_bins, n_frames=doc.n_frames))
    assert not view.sel_item.path().isEmpty()
    window.playback.play_cursor = 1.5
    window.playback.playheads.set_seconds(1.5)
    window.playback.transport.time_label.setText("  0:01.50")
    window.projects.open_path(other_file, config=GRID, wait=True)
    assert window.doc.clip.path == other_file
    assert view.selection is None and view.sel_item.path().isEmpty()
    assert window.playback.play_cursor == 0.0
    assert window.playback.transport.time_label.text().strip() == "0:00.00"
    assert all(line.value() == 0.0 for line in window.playback.playheads.lines)


def test_discard_then_an_open_that_fails_keeps_the_document_protected(window, monkeypatch,
                                                                       tmp_path):
    """Discard takes effect when the document is replaced: if the open fails, the edits on
    screen are still journaled (before, the journal was gone and every later edit was lost
    on a crash, without a word)."""
    edit(window)
    doc = window.doc
    journal = journal_for(doc)
    answer(monkeypatch, window, "discard")
    broken = tmp_path / "broken.msproj"
    broken.write_bytes(b"PK\x03\x04 not a project")
    window.projects.open_path(broken, wait=True)
    assert window.doc is doc and doc.journal is not None and journal.exists()
    edit(window, 40, 60)  # a later edit is journaled
    assert doc.modified and journal.stat().st_size > 0
