"""Playback in the window: the transport bar, the playhead, and the output-device choice."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtWidgets

from maskstudio.dsp.phase import PHASE_MODES
from maskstudio.dsp.stream import Heard, StreamRenderer
from maskstudio.errors import MaskStudioError

HEARD_CHOICES = [("mixture", "mixture"), ("layer", "active layer"), ("residual", "residual"),
                 ("solo", "soloed layers"), ("unmuted", "all but muted")]


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
                              "Griffin-Lim; oracle: the stems' (after an oracle); complex: cIRM")
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


def make_renderer(doc, phase: str) -> StreamRenderer:
    """A renderer of the document's mixture under its layers, read live from the store."""
    n = len(doc.layers)
    masks = None
    refs = None
    if n:
        if phase == "complex":
            data = doc.complex_data(range(n))
            masks = lambda a, b: data[..., a:b]  # noqa: E731
        else:
            masks = doc.store.block
        if phase == "oracle":
            missing = [layer.name for layer in doc.layers if layer.name not in doc.references]
            if missing:
                raise MaskStudioError(f"the oracle phase needs the stems of "
                                      f"{', '.join(missing)}: compute an oracle first")
            refs = [doc.references[layer.name] for layer in doc.layers]
    elif phase == "oracle":
        phase = "mixture"
    return StreamRenderer(doc.clip.samples, doc.config, masks, n, phase=phase,
                          samplerate=doc.samplerate, references=refs)


def heard_for(doc, key: str, active: int, selection, only_selection: bool) -> Heard:
    sel = selection if only_selection else None
    if key == "layer" and doc.layers:
        return Heard("layer", (min(active, len(doc.layers) - 1),), sel)
    if key == "solo":
        return Heard("solo", tuple(i for i, la in enumerate(doc.layers) if la.solo), sel)
    if key == "unmuted":
        return Heard("unmuted", tuple(i for i, la in enumerate(doc.layers) if la.muted), sel)
    if key == "residual" and doc.layers:
        return Heard("residual", (), sel)
    return Heard("mixture", (), sel)
