"""Side panels: the layer list, and the tool and view options."""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from maskstudio.editing.document import Document
from maskstudio.editing.spectrogram import FREQ_SCALES
from maskstudio.ui.active_layer import ActiveLayer
from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.spectrogram_view import COLORMAPS


def _swatch(color) -> QtGui.QIcon:
    pix = QtGui.QPixmap(14, 14)
    pix.fill(QtGui.QColor(*color))
    return QtGui.QIcon(pix)


class LayerRow(QtWidgets.QFrame):
    """One layer: visible, solo, lock, colour, name, opacity.  A click anywhere on the row
    (its name, its buttons, its slider too) makes it the active layer."""

    activated = QtCore.Signal(int)

    def __init__(self, panel: LayersPanel, index: int, layer, active: bool):
        super().__init__()
        self.panel, self.index = panel, index
        self.setObjectName("layerRow")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(4)
        residual = index == -1
        self.marker = QtWidgets.QLabel()
        self.marker.setFixedWidth(12)
        self.marker.setToolTip("the active layer: the tools paint on it")
        row.addWidget(self.marker)
        self.visible = QtWidgets.QCheckBox()
        self.visible.setChecked(layer.visible)
        self.visible.setToolTip("show this layer")
        self.visible.toggled.connect(lambda v: panel.set(index, visible=v))
        row.addWidget(self.visible)
        if not residual:
            self.solo = self._toggle("S", "solo: show (and later hear) only this layer",
                                     layer.solo, lambda v: panel.set(index, solo=v))
            self.lock = self._toggle(
                "L", "lock: no tool or operation changes this layer (painting, fill, invert, "
                "threshold, smooth are refused on it), and edits of other layers never take "
                "from it", layer.locked, lambda v: panel.set(index, locked=v))
            self.mute = self._toggle("M", "mute: leave this layer out of 'all but muted'",
                                     layer.muted, lambda v: panel.set(index, muted=v))
            row.addWidget(self.solo)
            row.addWidget(self.mute)
            row.addWidget(self.lock)
        color = QtWidgets.QToolButton()
        color.setIcon(_swatch(layer.color))
        color.setToolTip("colour")
        color.clicked.connect(lambda: panel.pick_color(index))
        row.addWidget(color)
        if residual:
            name = QtWidgets.QLabel("residual (1 − Σ)")
            name.setToolTip("what no layer takes: the inverted mask")
        elif panel.vocabulary:  # a dataset's labels: pick one, or type another name
            name = QtWidgets.QComboBox()
            name.setEditable(True)
            name.addItems(panel.vocabulary)
            name.setCurrentText(layer.name)
            name.setToolTip(f"{layer.provenance.get('kind', 'painted')} layer, label "
                            f"'{layer.label or '—'}'; choose a label of the dataset")
            name.textActivated.connect(lambda text: panel.rename(index, text))
            name.lineEdit().editingFinished.connect(
                lambda: panel.rename(index, name.currentText()))
            name.setMinimumWidth(70)
        else:
            name = QtWidgets.QLineEdit(layer.name)
            name.setToolTip(f"{layer.provenance.get('kind', 'painted')} layer; "
                            "type a new name and press Enter")
            name.editingFinished.connect(lambda: panel.rename(index, name.text()))
            name.setMinimumWidth(70)
        self.name = name
        row.addWidget(name, 1)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(round(layer.opacity * 100)))
        self.opacity.setFixedWidth(70)
        self.opacity.setToolTip("opacity")
        self.opacity.valueChanged.connect(lambda v: panel.set(index, opacity=v / 100))
        row.addWidget(self.opacity)
        self.is_active: bool | None = None
        self.set_active(active)
        if not residual:  # the children take the clicks: watch them for the row
            for child in self.findChildren(QtWidgets.QWidget):
                child.installEventFilter(self)

    def set_active(self, active: bool) -> None:
        """Outline, tint and mark the active row; the others get a faint frame."""
        if active == self.is_active:
            return
        self.is_active = active
        self.marker.setText("▶" if active else "")
        self.setStyleSheet(
            "#layerRow { border: 2px solid #4f8ff7; border-radius: 4px; "
            "background: rgba(79, 143, 247, 70); }" if active else
            "#layerRow { border: 1px solid rgba(128, 128, 128, 60); border-radius: 4px; }")

    def eventFilter(self, obj, ev):
        if ev.type() == QtCore.QEvent.Type.MouseButtonPress and self.index >= 0:
            self.activated.emit(self.index)
        return False  # the child still gets its click (a toggle toggles, a name edits)

    def _toggle(self, text, tip, checked, slot):
        b = QtWidgets.QToolButton()
        b.setText(text)
        b.setCheckable(True)
        b.setChecked(checked)
        b.setToolTip(tip)
        b.toggled.connect(slot)
        return b

    def mousePressEvent(self, ev):  # the row's own margins and gaps
        if self.index >= 0:
            self.activated.emit(self.index)
        super().mousePressEvent(ev)


class LayersPanel(QtWidgets.QWidget):
    """The document's layers, the active one outlined, and the residual last.  The active
    layer is the shared :class:`~maskstudio.ui.active_layer.ActiveLayer` ``model``."""

    activeChanged = QtCore.Signal(int)
    errorRaised = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None,
                 active: ActiveLayer | None = None):
        super().__init__(parent)
        self.doc: Document | None = None
        self._subscriptions = Subscriptions(self)
        self.model = active if active is not None else ActiveLayer(self)
        self.model.changed.connect(self._active_changed)
        self.vocabulary: list = []  # the dataset's labels, offered as layer names
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self.rows_box = QtWidgets.QVBoxLayout()
        self.rows_box.setSpacing(3)
        outer.addLayout(self.rows_box)
        buttons = QtWidgets.QHBoxLayout()
        self.add_button = QtWidgets.QPushButton("New layer")
        self.remove_button = QtWidgets.QPushButton("Delete")
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        outer.addLayout(buttons)
        outer.addStretch(1)
        self.rows: list[LayerRow] = []

    @property
    def active(self) -> int | None:
        """The active layer's row (None when there is no layer)."""
        return self.model.index

    def set_document(self, doc) -> None:
        self.doc = doc
        self._subscriptions.clear()
        self._subscriptions.connect(doc.events.layers, lambda e: self.rebuild())
        self.model.set_document(doc)
        self.rebuild()

    def rebuild(self) -> None:
        while self.rows_box.count():
            item = self.rows_box.takeAt(0)
            if item.widget():
                item.widget().hide()  # deleteLater alone leaves it drawn until the next loop
                item.widget().deleteLater()
        self.rows = []
        if self.doc is None:
            return
        active = self.active
        for i, layer in enumerate(self.doc.layers):
            row = LayerRow(self, i, layer, i == active)
            row.activated.connect(self.set_active)
            self.rows_box.addWidget(row)
            self.rows.append(row)
        self.rows_box.addWidget(LayerRow(self, -1, self.doc.residual, False))
        self.remove_button.setEnabled(bool(self.doc.layers))

    def set_active(self, index: int) -> None:
        self.model.set(index)

    def _active_changed(self) -> None:
        active = self.active
        for i, row in enumerate(self.rows):
            row.set_active(i == active)
        self.activeChanged.emit(-1 if active is None else active)

    def set(self, index: int, **props: object) -> None:
        if self.doc is None:
            return
        try:
            self.doc.set_layer(index, **props)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            from maskstudio.reporting import describe_failure

            self.errorRaised.emit(describe_failure(exc)[0])

    def set_vocabulary(self, labels) -> None:
        self.vocabulary = list(labels)
        self.rebuild()

    def unused_label(self) -> str | None:
        """The first label of the vocabulary no layer has yet (a new layer's name)."""
        taken: set[str] = ({la.label for la in self.doc.layers}
                           | {la.name for la in self.doc.layers}) if self.doc is not None else set()
        return next((lab for lab in self.vocabulary if lab not in taken), None)

    def rename(self, index: int, name: str) -> None:
        """A new name; a name from the vocabulary is the layer's label too."""
        name = name.strip()
        if self.doc is None or index >= len(self.doc.layers) or not name:
            return
        layer, props = self.doc.layers[index], {}
        if name != layer.name:
            props["name"] = name
        if name in self.vocabulary and name != layer.label:
            props["label"] = name
        if props:
            self.set(index, **props)

    def pick_color(self, index: int) -> None:
        if self.doc is None:
            return
        layer = self.doc.residual if index == -1 else self.doc.layers[index]
        color = QtWidgets.QColorDialog.getColor(QtGui.QColor(*layer.color), self, "Layer colour")
        if color.isValid():
            self.set(index, color=(color.red(), color.green(), color.blue()))


class OptionsBar(QtWidgets.QToolBar):
    """Brush size, hardness and value; frequency scale, channel, colour map and dB range."""

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Options", parent)
        self.setObjectName("optionsBar")
        self.size = self._number(1, 200, 12, "brush radius on screen ([ and ])", suffix=" px")
        self.hardness = self._number(0, 1, 0.8, "brush hardness: 1 is a hard edge", step=0.05)
        self.value = self._number(0, 1, 1.0, "value the brush paints (0-1)", step=0.05)
        self.binary = QtWidgets.QCheckBox("binary")
        self.binary.setToolTip("paint hard 0/1 masks: hardness 1, value 1")
        self.binary.toggled.connect(self._binary)
        for label, w in (("size", self.size), ("hardness", self.hardness),
                         ("value", self.value)):
            self.addWidget(QtWidgets.QLabel(f" {label} "))
            self.addWidget(w)
        self.addWidget(self.binary)
        self.addSeparator()
        self.scale = self._combo(FREQ_SCALES, "frequency axis")
        self.channel = self._combo(["mid"], "what the spectrogram shows: the mid (L + R) / 2, "
                                   "the side (L - R) / 2, or one channel (whose masks the "
                                   "overlay shows)")
        self.cmap = self._combo(COLORMAPS, "colour map")
        self.floor = self._number(-160, 0, -100, "dB shown as the darkest colour", step=5)
        self.ceiling = self._number(-100, 20, 0, "dB shown as the brightest colour", step=5)
        for w in (self.floor, self.ceiling):
            w.setDecimals(0)
        self.auto_contrast = QtWidgets.QCheckBox("auto")
        self.auto_contrast.setToolTip("automatic contrast: the dB range from the 2nd to the "
                                      "99.8th percentile of what is on screen; off: the "
                                      "floor and ceiling typed here")
        self.auto_contrast.toggled.connect(self._auto)
        self.sounds_like = QtWidgets.QCheckBox("as heard")
        self.sounds_like.setToolTip("show what the active layer will sound like: "
                                    "mask × mixture")
        self.sounds_like.toggled.connect(lambda *_: self.changed.emit())
        for label, w in (("scale", self.scale), ("channel", self.channel),
                         ("colours", self.cmap), ("dB", self.floor), ("to", self.ceiling)):
            self.addWidget(QtWidgets.QLabel(f" {label} "))
            self.addWidget(w)
        self.addWidget(self.auto_contrast)
        self.addWidget(self.sounds_like)

    def _auto(self, on: bool) -> None:
        self.floor.setEnabled(not on)
        self.ceiling.setEnabled(not on)
        self.changed.emit()

    def _number(self, lo, hi, value, tip, *, step=None, suffix=""):
        """An integer spin box, or a decimal one when ``step`` is given."""
        w = QtWidgets.QSpinBox() if step is None else QtWidgets.QDoubleSpinBox()
        w.setRange(lo, hi)
        if step is not None:
            w.setSingleStep(step)
        w.setValue(value)
        w.setSuffix(suffix)
        w.setToolTip(tip)
        w.valueChanged.connect(lambda *_: self.changed.emit())
        return w

    def _combo(self, items, tip):
        w = QtWidgets.QComboBox()
        w.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        w.addItems(list(items))
        w.setToolTip(tip)
        w.currentIndexChanged.connect(lambda *_: self.changed.emit())
        return w

    def _binary(self, on: bool) -> None:
        if on:
            self.hardness.setValue(1.0)
            self.value.setValue(1.0)
        self.hardness.setEnabled(not on)
        self.value.setEnabled(not on)
        self.changed.emit()

    def set_channels(self, n: int) -> None:
        """The views of a file of ``n`` channels: mid, side (stereo), each channel; each
        item's data is the document's view channel."""
        self.channel.blockSignals(True)
        self.channel.clear()
        if n > 1:
            self.channel.addItem("mid", "mid")
            if n == 2:
                self.channel.addItem("side", "side")
            for i in range(n):
                self.channel.addItem(f"channel {i + 1}", i)
        else:
            self.channel.addItem("mono", "mid")
        self.channel.blockSignals(False)


class LevelsPanel(QtWidgets.QWidget):
    """Histogram of the levels on screen, in dB, with a draggable range for the colour map."""

    rangeChanged = QtCore.Signal(float, float)

    def __init__(self, parent=None):
        import pyqtgraph as pg

        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        self.plot = pg.PlotWidget(background="#1f1f23")
        self.plot.setMinimumHeight(110)
        self.plot.setMaximumHeight(150)
        self.plot.sizeHint = lambda: QtCore.QSize(300, 130)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("left")
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "dB")
        self.curve = self.plot.plot(stepMode="center", fillLevel=0,
                                    brush=(110, 140, 200, 140), pen=None)
        self.region = pg.LinearRegionItem(values=(-100, 0), brush=(255, 255, 255, 30))
        self.plot.addItem(self.region)
        self.plot.setXRange(-130, 10, padding=0)
        self.region.sigRegionChangeFinished.connect(
            lambda *_: self.rangeChanged.emit(*sorted(self.region.getRegion())))
        layout.addWidget(self.plot)
        layout.addStretch(1)
        self._source = None
        self._timer = QtCore.QTimer(self, singleShot=True, interval=self.COALESCE_MS)
        self._timer.timeout.connect(self.update_now)

    COALESCE_MS = 150  #: a burst of renders (a drag, a fill) redraws the histogram once

    def schedule(self, source) -> None:
        """Redraw the histogram from ``source()`` (dB values) once, soon: the renders of a
        pan, a zoom or a fill each ask, the histogram follows a few times a second."""
        self._source = source
        if not self._timer.isActive():
            self._timer.start()

    def update_now(self) -> None:
        """Redraw the histogram now if one is due (:meth:`schedule`)."""
        self._timer.stop()
        source, self._source = self._source, None
        if source is not None:
            self.set_levels(source())

    HIST_RANGE = (-130, 10)  #: the histogram's dB, in bins of 1 dB

    def set_levels(self, db_values) -> None:
        """Draw the histogram of ``db_values`` (as ``np.histogram`` counts them, from a
        bincount: a screen's in 0.5 ms instead of 4)."""
        import numpy as np

        lo, hi = self.HIST_RANGE
        db = np.asarray(db_values).ravel()
        index = (db[(db >= lo) & (db <= hi)] - lo).astype(np.intp)  # >= 0: truncation floors
        hist = np.bincount(index, minlength=hi - lo + 1)
        hist[-2] += hist[-1]  # the last bin holds its upper edge
        hist = hist[:-1]
        self.curve.setData(np.arange(lo, hi + 1, dtype=np.float64), np.log1p(hist))

    def set_range(self, lo: float, hi: float) -> None:
        self.region.blockSignals(True)
        self.region.setRegion((lo, hi))
        self.region.blockSignals(False)
