import pytest
import soundfile as sf

from ..conftest import SR, clicks, harmonic


@pytest.fixture
def mixture_files(tmp_path):
    """A 2 s mixture of a harmonic and a percussive source, with its stems, on disk."""
    n = SR * 2
    voice, drums = harmonic(n), clicks(n)
    (tmp_path / "sources").mkdir()
    sf.write(str(tmp_path / "sources" / "voice.wav"), voice, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "sources" / "drums.wav"), drums, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "mixture.wav"), voice + drums, SR, subtype="FLOAT")
    return {"mixture": tmp_path / "mixture.wav", "voice": tmp_path / "sources" / "voice.wav",
            "drums": tmp_path / "sources" / "drums.wav"}


@pytest.fixture
def window(qtbot, tmp_path, mixture_files):
    from pyqtgraph.Qt import QtCore

    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    make_app()
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.confirm_close = False
    qtbot.addWidget(win)
    win.resize(1100, 750)
    win.show()
    qtbot.waitExposed(win)
    win.projects.open_path(mixture_files["mixture"], config=STFTConfig(n_fft=512, hop_length=128),
                           wait=True)
    win.view.render()
    yield win
    from maskstudio.ui.workers import active_tasks

    qtbot.waitUntil(lambda: active_tasks() == 0 or win._fill_task is not None, timeout=5000)
    if win._fill_task is not None:
        win._fill_task.cancel()


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    """A modal question nobody answers hangs the suite forever offscreen: fail instead.  A test
    that expects one replaces the asking controller's ``confirm_*`` or ``ask_*`` method
    (``window.projects.confirm_recovery``, ``window.edits.confirm_whole_file``, …) or this
    function."""
    from pyqtgraph.Qt import QtWidgets

    def question(parent, title, text, *args, **kwargs):
        raise AssertionError(f"the window asked an unexpected question: {title}: {text}")
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", staticmethod(question))
