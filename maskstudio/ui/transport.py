"""Playback in the window: the transport bar, the playhead, and the output-device choice.

What is heard, and the renderer that plays it, are the document's
(:mod:`maskstudio.editing.hearing`); this module only offers the choices."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtWidgets

from maskstudio.dsp.phase import PHASE_MODES
from maskstudio.dsp.stream import StreamRenderer
from maskstudio.editing.document import Document
from maskstudio.editing.hearing import HEARD_KEYS, heard_for, playback_renderer
from maskstudio.errors import MaskStudioError

__all__ = ["HEARD_CHOICES", "TransportBar", "Playheads", "DevicesDialog", "make_renderer",
           "heard_for", "playback_renderer"]

#: The transport's choices of what is heard (:data:`~maskstudio.editing.hearing.HEARD_KEYS`)
#: and their labels; :func:`~maskstudio.editing.hearing.heard_for` maps one to a Heard.
HEARD_CHOICES = list(zip(HEARD_KEYS, ("mixture", "active layer", "residual", "soloed layers",
                                      "all but muted")))


class TransportBar(QtWidgets.QToolBar):
    """Play/pause, stop, what is heard, phase, loop, selection only, follow."""

    def __init__(self, parent=None):
        super().__init__("Transport", parent)
        self.setObjectName("transportBar")
        self.play_button = QtWidgets.QToolButton()
        self.play_button.setText("▶ Play")
        self.play_button.setToolTip("play / pause (Space)")
        self.stop_button = QtWidgets.QToolButton()
        self.stop_button.setText("■ Stop")
        self.stop_button.setToolTip("stop (Esc)")
        self.addWidget(self.play_button)
        self.addWidget(self.stop_button)
        self.addWidget(QtWidgets.QLabel(" hear "))
        self.heard = QtWidgets.QComboBox()
        for key, label in HEARD_CHOICES:
            self.heard.addItem(label, key)
        self.heard.setToolTip("what is played; switching while playing takes effect at once")
        self.addWidget(self.heard)
        self.addWidget(QtWidgets.QLabel(" phase "))
        self.phase = QtWidgets.QComboBox()
        self.phase.addItems([m for m in PHASE_MODES])
        self.phase.setToolTip("mixture: exact; misi / hybrid: corrected phase; fgla: "
                              "Griffin-Lim; mwf: multichannel Wiener filter; oracle: the "
                              "stems' (after an oracle); complex: cIRM")
        self.addWidget(self.phase)
        self.loop = QtWidgets.QCheckBox("loop")
        self.loop.setToolTip("loop the selection's time range")
        self.only_selection = QtWidgets.QCheckBox("selection only")
        self.only_selection.setToolTip("play only the selected time-frequency region")
        self.follow = QtWidgets.QCheckBox("follow")
        self.follow.setToolTip("scroll the view with the playhead")
        self.follow.setChecked(True)
        for w in (self.loop, self.only_selection, self.follow):
            self.addWidget(w)
        self.time_label = QtWidgets.QLabel("  0:00.00")
        self.addWidget(self.time_label)
        #: shown when the sound had gaps in this play (rendering fell behind, the device ran
        #: dry): every play starts without
        self.gaps_label = QtWidgets.QLabel()
        self.gaps_label.setObjectName("gapsLabel")
        self.gaps_label.setStyleSheet("#gapsLabel { color: #e0a030; }")
        self.gaps_action = self.addWidget(self.gaps_label)
        self.gaps_action.setVisible(False)

    def show_gaps(self, gaps: int, rendering: int, device: int) -> None:
        """Say how many gaps this play has had (hidden while there are none)."""
        self.gaps_action.setVisible(gaps > 0)
        if gaps:
            self.gaps_label.setText(f"  ⚠ {gaps} gap{'s' if gaps != 1 else ''}")
            self.gaps_label.setToolTip(
                f"the sound had {gaps} gap(s) in this play: rendering fell behind {rendering} "
                f"time(s), the device ran dry {device} time(s). The mixture phase costs least; "
                f"the player renders further ahead after each gap")

    def heard_key(self) -> str:
        return self.heard.currentData()


class Playheads:
    """A vertical line at the play position in the spectrogram and the waveform."""

    def __init__(self, view):
        pen = pg.mkPen("#7CFC00", width=1.5)
        self.lines = [pg.InfiniteLine(angle=90, pen=pen, movable=False) for _ in range(2)]
        view.plot.addItem(self.lines[0], ignoreBounds=True)
        view.wave.addItem(self.lines[1], ignoreBounds=True)
        self.set_visible(False)

    def set_visible(self, on: bool) -> None:
        for line in self.lines:
            line.setVisible(on)

    def set_seconds(self, s: float) -> None:
        for line in self.lines:
            line.setValue(s)


class DevicesDialog(QtWidgets.QDialog):
    """Preferences ▸ Audio output: the devices PortAudio sees."""

    def __init__(self, current, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Audio output")
        self.setObjectName("devicesDialog")
        form = QtWidgets.QFormLayout(self)
        self.combo = QtWidgets.QComboBox()
        self.combo.addItem("system default", None)
        note = ""
        try:
            from maskstudio.audio.devices import output_devices

            for index, name, channels, rate in output_devices():
                self.combo.addItem(f"{index}: {name} ({channels} ch, {rate:.0f} Hz)", index)
        except MaskStudioError as exc:
            note = str(exc)
        i = self.combo.findData(current)
        self.combo.setCurrentIndex(max(i, 0))
        form.addRow("Output device", self.combo)
        if note:
            label = QtWidgets.QLabel(note)
            label.setWordWrap(True)
            form.addRow(label)
        box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def device(self):
        return self.combo.currentData()


def make_renderer(doc: Document, phase: str) -> StreamRenderer:
    """A renderer of the document's mixture under its layers, read live from the store
    (:func:`maskstudio.editing.hearing.playback_renderer`)."""
    return playback_renderer(doc, phase)
