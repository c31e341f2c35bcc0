"""The window's parts, each on its own: a controller needs only the window's small surface
(:class:`~maskstudio.ui.controller.Shell`), a task's failure carries its exception, and a
project opens once, off the GUI thread."""

import threading

import numpy as np
import pytest
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.annotation.project import MixtureMovedError, save_project
from maskstudio.audio.backend import NullBackend
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import rectangle
from maskstudio.io.audiofile import load_audio
from maskstudio.ui.active_layer import ActiveLayer
from maskstudio.ui.controller import Shell
from maskstudio.ui.playback import PlaybackController
from maskstudio.ui.spectrogram_view import SpectrogramView
from maskstudio.ui.workers import Failure, active_tasks, run_task

GRID = STFTConfig(n_fft=512, hop_length=128)


class BareShell(Shell):
    """A window with a view and nothing else: what the playback controller needs."""

    def __init__(self, doc, settings):
        super().__init__()
        self.settings = settings
        self.doc = doc
        self.active = ActiveLayer(self)
        self.view = SpectrogramView(self, active=self.active)
        self.setCentralWidget(self.view)
        self.view.set_document(doc)


def test_the_playback_controller_works_on_a_bare_shell(qtbot, tmp_path, mixture_files):
    doc = Document(load_audio(mixture_files["mixture"]), GRID)
    shell = BareShell(doc, QtCore.QSettings(str(tmp_path / "s.ini"),
                                            QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(shell)
    playback = PlaybackController(shell)
    playback.fill_play_menu(shell.menuBar().addMenu("&Play"))
    assert [a.shortcut().toString() for a in shell.actions()] == ["Space", "Esc"]
    backend = NullBackend()
    playback.backend_factory = lambda: backend
    playback.player_threaded = False
    playback.set_document(doc)
    playback.toggle_play()
    assert playback.playing and backend.samplerate == doc.samplerate
    backend.advance(8000)
    playback.tick()
    assert "0:00.50" in playback.transport.time_label.text()
    playback.toggle_play()  # pause
    assert not playback.playing and playback.resume_at == 8000
    playback.stop_or_clear()
    assert playback.resume_at is None
    np.testing.assert_allclose(backend.recording()[:8000, 0], doc.clip.read(0, 8000)[0],
                               atol=1e-6)
    doc.close()


def test_a_failed_task_hands_over_its_exception_and_its_message(qtbot, tmp_path):
    owner = QtWidgets.QWidget()
    qtbot.addWidget(owner)
    got = []

    def work(progress):
        raise MixtureMovedError("the mixture of 'take.msproj' was not found at 'x.wav': "
                                "locate it", tmp_path / "x.wav")
    run_task(owner, "", work, on_fail=got.append, modal=False)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    failure = got[0]
    assert isinstance(failure, Failure) and isinstance(failure.error, MixtureMovedError)
    assert failure.error.expected == tmp_path / "x.wav"  # callers read the exception itself
    assert failure.message == str(failure.error)  # and show its one line


def test_a_crashed_project_opens_once_off_the_gui_thread_and_recovers(window, qtbot, tmp_path,
                                                                       monkeypatch):
    import maskstudio.annotation.project as project

    doc = window.doc
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "take.msproj")
    doc.fill(0, rectangle(0, 30, 0, 20, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    painted = doc.store.dense(0).copy()
    window.projects.release_document(doc)  # as a crash leaves it: the journal kept
    window.doc = None

    calls = []

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls.append((name, threading.current_thread() is threading.main_thread()))
            return fn(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(project, "open_audio", counted("decode", project.open_audio))
    monkeypatch.setattr(project, "file_checksum", counted("hash", project.file_checksum))
    asked = []
    window.projects.confirm_recovery = lambda n: asked.append(n) or True
    task = window.projects.open_path(path)
    assert task is not None  # opening runs in the background
    qtbot.waitUntil(lambda: window.doc is not None and active_tasks() <= 1, timeout=20000)
    assert sorted(calls) == [("decode", False), ("hash", False)]  # once each, on a worker
    assert asked and window.doc.project_path == path and window.doc.modified
    np.testing.assert_array_equal(window.doc.store.dense(0), painted)


@pytest.mark.parametrize("name", ["projects", "datasets", "playback", "mask_sources", "edits"])
def test_each_controller_belongs_to_the_window(window, name):
    controller = getattr(window, name)
    assert controller.parent() is window and controller.window is window
