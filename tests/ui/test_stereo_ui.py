"""Stereo in the window, offscreen: pick a channel, unlink the channels, paint, and only that
channel changes; the overlay shows the channel on view; the link persists; the oracle dialog
is per channel unless "shared by all channels" is ticked."""

import numpy as np
import pytest
import soundfile as sf
from pyqtgraph.Qt import QtCore

from maskstudio.dsp.stft import STFTConfig

from ..conftest import SR, clicks, harmonic
from .test_window import _grid, drag


@pytest.fixture
def stereo_files(tmp_path):
    n = SR * 2
    voice = np.stack([harmonic(n), 0.2 * harmonic(n, f0=330.0)])
    drums = np.stack([0.2 * clicks(n), clicks(n, seed=4)])
    (tmp_path / "sources").mkdir()
    sf.write(str(tmp_path / "sources" / "voice.wav"), voice.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "sources" / "drums.wav"), drums.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "stereo.wav"), (voice + drums).T, SR, subtype="FLOAT")
    return tmp_path


@pytest.fixture
def stereo_window(qtbot, tmp_path, stereo_files):
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    make_app()
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"),
                                QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.confirm_close = False
    qtbot.addWidget(win)
    win.resize(1100, 750)
    win.show()
    qtbot.waitExposed(win)
    win.projects.open_path(stereo_files / "stereo.wav",
                           config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    win.view.render()
    yield win
    if win._fill_task is not None:
        win._fill_task.cancel()


def _pick(window, text):
    combo = window.options.channel
    combo.setCurrentIndex(combo.findText(text))


def test_pick_channel_2_unlink_and_paint_leaves_channel_1_untouched(stereo_window, qtbot):
    win, view = stereo_window, stereo_window.view
    doc = win.doc
    assert doc.store.lead == (2,) and win.act_link.isChecked()  # linked by default
    win.edits.new_layer()
    _pick(win, "channel 2")
    assert doc.view_channel == 1
    win.act_link.trigger()  # K: unlinked
    assert not win.act_link.isChecked() and not doc.link_channels and doc.edit_channel == 1
    drag(view, [(0.5, 1000.0), (1.2, 1600.0)], steps=3)
    mask = doc.store.dense(0)
    f, t = _grid(view, 0.8, 1300.0)
    assert mask[1, f, t] > 0.9 and not mask[0].any()  # channel 1 untouched
    # the overlay shows channel 2's mask: painted under the stroke
    rows, cols = view._rows, view._cols
    r = int(np.searchsorted(rows, f, side="right")) - 1
    c = int(np.searchsorted(cols, t, side="right")) - 1
    assert view.composer.rgba[r, c, 3] > 0
    _pick(win, "channel 1")  # the overlay now shows channel 1's: nothing there
    assert view.composer.rgba[..., 3].max() == 0
    _pick(win, "mid")  # the mean of the channels: half
    assert 0 < view.composer.rgba[r, c, 3] < 255
    # linked again, a stroke paints both channels
    win.act_link.trigger()
    _pick(win, "channel 1")
    drag(view, [(0.3, 3000.0), (0.6, 3000.0)], steps=2)
    f2, t2 = _grid(view, 0.45, 3000.0)
    both = doc.store.dense(0)[:, f2, t2]
    assert both[0] > 0.9 and both[1] > 0.9
    win.edits.undo()
    win.edits.undo()
    assert not doc.store.dense(0).any()


def test_the_side_view_and_the_link_persist(stereo_window, qtbot, tmp_path):
    from maskstudio.ui.main_window import MainWindow

    win = stereo_window
    _pick(win, "side")
    assert win.doc.view_channel == "side" and win.doc.spectrogram.channel == "side"
    win.act_link.trigger()
    win.close()
    again = MainWindow(QtCore.QSettings(str(tmp_path / "settings.ini"),
                                        QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert not again.act_link.isChecked()
    again.act_link.trigger()
    again.close()
    third = MainWindow(QtCore.QSettings(str(tmp_path / "settings.ini"),
                                        QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(third)
    assert third.act_link.isChecked()


def test_the_oracle_dialog_is_per_channel_unless_shared(stereo_window, qtbot, stereo_files):
    from maskstudio.ui.dialogs import OracleDialog
    from maskstudio.ui.workers import active_tasks

    win = stereo_window
    dialog = OracleDialog(win, start_dir=str(stereo_files / "sources"), n_channels=2)
    assert dialog.shared.isEnabled() and not dialog.shared.isChecked()
    assert dialog.options()["shared"] is False
    win.mask_sources.compute_oracle("ibm", dialog.stems(), **dialog.options())
    qtbot.waitUntil(lambda: active_tasks() == 0 and len(win.doc.layers) == 2, timeout=20000)
    per_channel = np.stack([win.doc.store.dense(i) for i in range(2)])
    assert not np.array_equal(per_channel[:, 0], per_channel[:, 1])
    dialog.shared.setChecked(True)
    win.mask_sources.choose_load_mode = lambda doc, names: "replace"  # what a user picks
    win.mask_sources.compute_oracle("ibm", dialog.stems(), **dialog.options())
    qtbot.waitUntil(lambda: active_tasks() == 0
                    and win.doc.layers[0].provenance.get("per_channel") is False, timeout=20000)
    shared = np.stack([win.doc.store.dense(i) for i in range(2)])
    np.testing.assert_array_equal(shared[:, 0], shared[:, 1])
    assert not OracleDialog(win, n_channels=1).shared.isEnabled()
