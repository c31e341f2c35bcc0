"""Two editors on one file: the second is told, offered read-only, and cannot save over the
first one's project."""

import pytest
from pyqtgraph.Qt import QtCore

from maskstudio.annotation.project import JournalInUseError, journal_for, save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.edits import rectangle


def _window(qtbot, tmp_path, name):
    from maskstudio.ui.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / f"{name}.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.confirm_close = False
    qtbot.addWidget(win)
    return win


def test_a_second_window_on_the_same_project_is_read_only(window, qtbot, tmp_path,
                                                          monkeypatch):
    doc = window.doc
    doc.add_layer("voice")
    project = save_project(doc, tmp_path / "take.msproj")
    doc.fill(0, rectangle(0, 20, 0, 20, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)

    asked = []
    second = _window(qtbot, tmp_path, "second")
    monkeypatch.setattr(type(second.projects), "confirm_read_only",
                        lambda self, d: asked.append(d) or True)
    monkeypatch.setattr(type(second.projects), "confirm_recovery",
                        lambda self, n: pytest.fail("offered the first window's live edits"))
    second.projects.open_path(project, wait=True)
    assert asked and second.doc is not None and second.doc.journal is None
    assert "read-only" in second.statusBar().currentMessage()
    with pytest.raises(JournalInUseError):
        save_project(second.doc, project)  # the first window's project is not overwritten
    # the first window goes on journaling, untouched
    doc.fill(0, rectangle(30, 40, 0, 20, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    assert doc.journal is not None and journal_for(doc).stat().st_size > 0


def test_declining_read_only_opens_nothing(window, qtbot, tmp_path, monkeypatch,
                                           mixture_files):
    second = _window(qtbot, tmp_path, "second")
    monkeypatch.setattr(type(second.projects), "confirm_read_only", lambda self, d: False)
    second.projects.open_path(mixture_files["mixture"],
                              config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    assert second.doc is None
