"""The view never computes the spectrogram on the GUI thread: Ctrl+0, scrolling and zooming
draw what is filled and ask the fill for the rest, which the view draws when it arrives."""

import threading

import pytest

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.spectrogram import SpectrogramImage
from maskstudio.io.audiofile import AudioClip

from ..editing.test_spectrogram import Reader, signal

SR = 16000


@pytest.fixture
def gated(qtbot):
    """A 60 s document whose spectrogram reads through a gate, and a view on it (not yet
    showing it)."""
    from maskstudio.ui.spectrogram_view import SpectrogramView

    x = signal(60 * SR)
    doc = Document(AudioClip(x, SR), STFTConfig(n_fft=512, hop_length=128))
    gate = threading.Event()
    reader = Reader(x, gate)
    doc.spectrogram = SpectrogramImage(reader, doc.config)
    view = SpectrogramView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    yield doc, view, reader, gate
    gate.set()
    view.filling.cancel()
    assert doc.spectrogram.fill.join(10)


def gui_reads(reader):
    return [r for r in reader.reads if r[2] is threading.main_thread()]


def test_ctrl0_mid_fill_draws_at_once_and_fills_in(gated, qtbot):
    doc, view, reader, gate = gated
    view.set_document(doc)
    view.vb.setXRange(10, 12, padding=0)  # zoomed in, then Ctrl+0 before anything is filled
    view.render()
    view.zoom_to_fit()
    view.render()  # returns: the fill is held at its first read
    assert not doc.spectrogram.complete and not view.visible_db().max() > -120
    assert gui_reads(reader) == []
    gate.set()
    qtbot.waitUntil(lambda: doc.spectrogram.complete, timeout=10000)
    # the view redraws itself when the blocks arrive: nobody calls render here
    qtbot.waitUntil(lambda: (view.visible_db() > -100).mean() > 0.5, timeout=5000)
    assert gui_reads(reader) == [] and reader.reads


def test_scrolling_to_an_unfilled_region_asks_for_it_first(gated, qtbot):
    doc, view, reader, gate = gated
    view.set_document(doc)
    view.vb.setXRange(50, 52, padding=0)  # a region the fill would reach last
    view.render()
    gate.set()
    spec = doc.spectrogram
    t0, t1 = view.shown_frames()
    qtbot.waitUntil(lambda: not spec.missing(t0, t1), timeout=10000)
    # the first block read (not an overview's frame, not the waveform's samples) holds the
    # frames shown
    blocks = [(start + 256) // 128 // spec.BLOCK for start, stop, _ in reader.reads
              if (start + 256) % (128 * spec.BLOCK) == 0 and stop - start > 512]
    assert t0 // spec.BLOCK <= blocks[0] < -(-t1 // spec.BLOCK)
    qtbot.waitUntil(lambda: (view.visible_db() > -100).mean() > 0.5, timeout=5000)
    assert gui_reads(reader) == []


def test_zoomed_in_waveform_is_read_by_the_fill(gated, qtbot):
    doc, view, reader, gate = gated
    gate.set()
    view.set_document(doc)
    qtbot.waitUntil(lambda: doc.spectrogram.complete, timeout=10000)
    view.vb.setXRange(30, 30.05, padding=0)  # 800 samples over 800 pixels
    view.render()
    qtbot.waitUntil(lambda: doc.spectrogram.fill.wave is not None, timeout=5000)
    qtbot.waitUntil(lambda: view.wave_curve.getData()[0] is not None
                    and len(view.wave_curve.getData()[0]) > 400, timeout=5000)
    assert gui_reads(reader) == []


def test_another_document_or_channel_cancels_the_fill(gated, qtbot):
    doc, view, reader, gate = gated
    view.set_document(doc)
    first = doc.spectrogram
    assert first.fill.running
    doc.set_view_channel(0)  # a new image: the old one's fill stops, the new one's starts
    qtbot.waitUntil(lambda: first.fill.cancelled, timeout=5000)
    second = doc.spectrogram
    assert second is not first
    qtbot.waitUntil(lambda: second.complete, timeout=10000)  # filled by its own fill
    other = Document(AudioClip(signal(SR), SR), STFTConfig(n_fft=512, hop_length=128))
    view.set_document(other)
    assert second.fill.cancelled
    gate.set()
    assert first.fill.join(10) and not first.complete


def test_closing_the_window_stops_the_fill(qtbot, tmp_path):
    import soundfile as sf
    from pyqtgraph.Qt import QtCore

    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    path = tmp_path / "long.wav"
    sf.write(str(path), signal(120 * SR).T, SR)
    make_app()
    win = MainWindow(QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    qtbot.addWidget(win)
    win.show()
    win.projects.open_path(path, config=STFTConfig(n_fft=2048, hop_length=64), wait=True)
    spec = win.doc.spectrogram
    assert win._fill_task is not None
    win.close()
    assert spec.fill.cancelled
    assert spec.fill.join(10) and not spec.fill.running


def test_a_long_file_opens_on_its_first_minute_whole(qtbot, tmp_path):
    import soundfile as sf
    from pyqtgraph.Qt import QtCore

    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    path = tmp_path / "long.wav"
    sf.write(str(path), signal(310 * SR).T, SR, subtype="PCM_16")  # past LONG_FILE_SECONDS
    make_app()
    win = MainWindow(QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    qtbot.addWidget(win)
    win.show()
    seen = []
    win.firstSpectrogram.connect(lambda: seen.append(
        (win.view.shown_frames(), win.doc.spectrogram.missing(*win.view.shown_frames()))))
    win.projects.open_path(path, config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    (t0, t1), missing = seen[0]
    assert t0 == 0 and 59 * SR <= t1 * 128 < 62 * SR  # the first minute (7500 frames)...
    assert missing == []  # ...computed before the first picture
    assert not win.doc.spectrogram.complete
    win.close()
