"""Declining to open a dataset item read-only (another window edits it) leaves this window on
the item it was on: no status or title of the declined item leaks onto it."""

import numpy as np
import soundfile as sf
from pyqtgraph.Qt import QtCore

from ..conftest import SR, clicks, harmonic


def test_declining_read_only_keeps_the_window_on_its_item(qtbot, tmp_path, monkeypatch):
    from maskstudio.annotation.dataset import Dataset
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.ui.main_window import MainWindow

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    data = tmp_path / "data"
    for k in range(2):
        (data / f"song{k}").mkdir(parents=True)
        sf.write(str(data / f"song{k}" / "mixture.wav"),
                 np.stack([harmonic(SR), clicks(SR)]).T, SR, subtype="FLOAT")
    Dataset.open(data).set_config(STFTConfig(n_fft=512, hop_length=128))

    def window(name):
        win = MainWindow(QtCore.QSettings(str(tmp_path / f"{name}.ini"),
                                          QtCore.QSettings.Format.IniFormat))
        win.confirm_close = False
        qtbot.addWidget(win)
        return win

    a = window("a")
    a.datasets.open_dataset(data, wait=True)
    qtbot.waitUntil(lambda: a.datasets.item_index == 0 and a.doc is not None, timeout=20000)
    b = window("b")
    monkeypatch.setattr(type(b.projects), "confirm_read_only", lambda self, d: False)
    b.datasets.open_dataset(data, wait=True)  # it starts on song0, which A edits: declined
    qtbot.waitUntil(lambda: not b.datasets.opening, timeout=20000)
    assert b.doc is None and b.datasets.item_index is None
    b.datasets.open_item(1, wait=True)
    qtbot.waitUntil(lambda: b.datasets.item_index == 1 and b.doc is not None, timeout=20000)
    on_song1 = b.doc
    b.datasets.open_item(0, wait=True)  # declined again
    qtbot.waitUntil(lambda: not b.datasets.opening, timeout=20000)
    assert b.doc is on_song1 and b.datasets.item_index == 1
    b.datasets.step_item(0)  # "done, next": marks song1, the item B shows, not song0
    qtbot.waitUntil(lambda: not b.datasets.opening, timeout=20000)
    statuses = Dataset.open(data)
    assert statuses.status("song1") == "done" and statuses.status("song0") == "in progress"
