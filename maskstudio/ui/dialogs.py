"""Dialogs: oracle masks from stems, export (with stem subsets), STFT settings, threshold,
keyboard shortcuts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.dsp.phase import PHASE_MODES
from maskstudio.dsp.stft import STFTConfig
from maskstudio.ui.subsets import SubsetsEditor

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff *.WAV *.FLAC);;All files (*)"
#: the settings' key of the export dialog's subsets (JSON: see SubsetsEditor.saved)
SUBSETS_KEY = "export/subsets"
WINDOWS = ("hann", "hamming", "blackman", "blackmanharris", "bartlett")


def buttons(dialog, ok_text="OK"):
    box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                     | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class FileField(QtWidgets.QWidget):
    """A path with a Browse button."""

    def __init__(self, text="", *, folder=False, filter=AUDIO_FILTER, save=False):
        super().__init__()
        self.folder, self.filter, self.save = folder, filter, save
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QtWidgets.QLineEdit(text)
        self.edit.setMinimumWidth(280)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def _browse(self):
        if self.folder:
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a folder",
                                                              self.edit.text())
        elif self.save:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save as",
                                                            self.edit.text(), self.filter)
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a file",
                                                            self.edit.text(), self.filter)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()


class OracleDialog(QtWidgets.QDialog):
    """Pick a stem per source (or a folder of stems) and the oracle mask to compute."""

    def __init__(self, parent=None, *, start_dir: str = "", n_channels: int = 1):
        super().__init__(parent)
        self.setWindowTitle("Oracle masks from stems")
        self.setObjectName("oracleDialog")
        form = QtWidgets.QFormLayout(self)
        self.folder = FileField(start_dir, folder=True)
        self.folder.edit.setPlaceholderText("a folder of stems: every audio file is a source")
        form.addRow("Stems folder", self.folder)
        self.rows = QtWidgets.QVBoxLayout()
        form.addRow("or files", self.rows)
        self.add_row()
        add = QtWidgets.QPushButton("Add a stem")
        add.clicked.connect(self.add_row)
        form.addRow("", add)
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(["wiener", "irm", "ibm", "psm", "cirm"])
        self.kind.setToolTip("IBM: binary, each bin to the loudest; IRM: (|S|^p/Σ|S|^p)^β; "
                             "Wiener: |S|²/Σ|S|²; PSM: phase-sensitive; cIRM: complex")
        form.addRow("Mask", self.kind)
        self.lc = QtWidgets.QDoubleSpinBox(minimum=-40, maximum=40, value=0.0, suffix=" dB")
        form.addRow("IBM local criterion", self.lc)
        self.p = QtWidgets.QDoubleSpinBox(minimum=0.1, maximum=4, value=2.0, singleStep=0.5)
        self.beta = QtWidgets.QDoubleSpinBox(minimum=0.1, maximum=4, value=0.5, singleStep=0.1)
        form.addRow("IRM power p", self.p)
        form.addRow("IRM exponent β", self.beta)
        self.truncate = QtWidgets.QCheckBox("clip the PSM to [0, 1]")
        self.truncate.setChecked(True)
        form.addRow("", self.truncate)
        self.shared = QtWidgets.QCheckBox("shared by all channels")
        self.shared.setToolTip("one mask for every channel, from their pooled power; off "
                               "(the default): each channel's own ideal mask")
        self.shared.setEnabled(n_channels > 1)
        form.addRow("", self.shared)
        form.addRow(buttons(self, "Compute"))
        self.kind.currentTextChanged.connect(self._kind_changed)
        self._kind_changed(self.kind.currentText())

    def add_row(self, name: str = "", path: str = ""):
        row = QtWidgets.QHBoxLayout()
        edit = QtWidgets.QLineEdit(name)
        edit.setPlaceholderText("name")
        edit.setMinimumWidth(90)
        edit.setMaximumWidth(120)
        field = FileField(path)
        row.addWidget(edit)
        row.addWidget(field, 1)
        self.rows.addLayout(row)
        return edit, field

    def _kind_changed(self, kind: str) -> None:
        self.lc.setEnabled(kind == "ibm")
        self.p.setEnabled(kind == "irm")
        self.beta.setEnabled(kind == "irm")
        self.truncate.setEnabled(kind == "psm")

    def stems(self) -> dict:
        out = {}
        folder = self.folder.text()
        if folder:
            for p in sorted(Path(folder).iterdir()):
                if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff") \
                        and p.stem.lower() != "mixture":
                    out[p.stem] = p
        for i in range(self.rows.count()):
            row = self.rows.itemAt(i).layout()
            name = row.itemAt(0).widget().text().strip()
            path = row.itemAt(1).widget().text()
            if path:
                out[name or Path(path).stem] = Path(path)
        return out

    def options(self) -> dict:
        return dict(lc_db=self.lc.value(), p=self.p.value(), beta=self.beta.value(),
                    truncate=self.truncate.isChecked(), shared=self.shared.isChecked())


class ExportDialog(QtWidgets.QDialog):
    """Where and how to export every layer, the residual and the masks, and which stem
    subsets (sums of layers, :mod:`maskstudio.ui.subsets`) to write beside them.  With
    ``settings``, the subsets listed last time are offered again, and remembered on Export.
    """

    def __init__(self, parent=None, *, folder: str = "", phase: str = "mixture",
                 fmt: str = "wav", active: str = "", layers: Sequence[str] = (),
                 settings: QtCore.QSettings | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export sources and residual")
        self.setObjectName("exportDialog")
        form = QtWidgets.QFormLayout(self)
        self.which = QtWidgets.QComboBox()
        self.which.addItems(["all layers"] + ([f"only '{active}'"] if active else []))
        self.which.setToolTip("only one layer: its residual is everything else")
        form.addRow("Export", self.which)
        self._active = active
        self.folder = FileField(folder, folder=True)
        form.addRow("Folder", self.folder)
        self.fmt = QtWidgets.QComboBox()
        self.fmt.addItems(["wav", "flac"])
        self.fmt.setCurrentText(fmt)
        form.addRow("Format", self.fmt)
        self.phase = QtWidgets.QComboBox()
        self.phase.addItems(list(PHASE_MODES))
        self.phase.setCurrentText(phase)
        self.phase.setToolTip("mixture: exact; misi: corrected, sums to the mixture; fgla: "
                              "Griffin-Lim; hybrid: corrected below the cutoff; mwf: "
                              "multichannel Wiener filter, sums to the mixture; oracle: the "
                              "stems' phase; complex: a cIRM's own phase")
        form.addRow("Phase", self.phase)
        self.n_iter = QtWidgets.QSpinBox(minimum=0, maximum=200, value=0)
        self.n_iter.setSpecialValueText("default")
        form.addRow("Iterations", self.n_iter)
        self.cutoff = QtWidgets.QDoubleSpinBox(minimum=0, maximum=48000, value=6000,
                                               singleStep=500, suffix=" Hz")
        form.addRow("Hybrid cutoff", self.cutoff)
        self._layers, self._settings = list(layers) or [active], settings
        self.subsets = SubsetsEditor(self._layers, settings.value(SUBSETS_KEY, "")
                                     if settings is not None else "")
        form.addRow("Subsets", self.subsets)
        form.addRow(QtWidgets.QLabel("Writes one file per layer, residual.<format>, each "
                                     "ticked subset and masks.npz; never over the mixture."))
        form.addRow(buttons(self, "Export"))

    def exported(self) -> list[str]:
        """The layers the export renders (a subset may name only these)."""
        return [self._active] if self.which.currentIndex() == 1 else self._layers

    def accept(self) -> None:
        """Export, once the ticked subsets fit the exported layers (else the reason
        shows, and the dialog stays)."""
        if not self.subsets.check(self.exported()):
            return
        if self._settings is not None:
            self._settings.setValue(SUBSETS_KEY, self.subsets.saved())
        super().accept()

    def values(self) -> dict:
        return dict(out_dir=self.folder.text(), fmt=self.fmt.currentText(),
                    names=[self._active] if self.which.currentIndex() == 1 else None,
                    phase=self.phase.currentText(), n_iter=self.n_iter.value() or None,
                    cutoff_hz=self.cutoff.value(), mixes=self.subsets.specs())


class STFTDialog(QtWidgets.QDialog):
    """n_fft, hop and window; layers are resampled to the new grid."""

    def __init__(self, config: STFTConfig, parent=None):
        super().__init__(parent)
        self.setWindowTitle("STFT settings")
        self.setObjectName("stftDialog")
        form = QtWidgets.QFormLayout(self)
        self.n_fft = QtWidgets.QComboBox()
        self.n_fft.addItems([str(2 ** k) for k in range(8, 15)])
        self.n_fft.setCurrentText(str(config.n_fft))
        self.n_fft.setEditable(True)
        form.addRow("n_fft", self.n_fft)
        self.hop = QtWidgets.QSpinBox(minimum=1, maximum=16384, value=config.hop_length)
        form.addRow("hop_length", self.hop)
        self.window = QtWidgets.QComboBox()
        self.window.addItems(list(WINDOWS))
        self.window.setEditable(True)
        self.window.setCurrentText(config.window if isinstance(config.window, str) else "hann")
        form.addRow("window", self.window)
        form.addRow(QtWidgets.QLabel("Layers are resampled to the new grid; undo history is "
                                     "cleared."))
        form.addRow(buttons(self, "Apply"))

    def config(self) -> STFTConfig:
        return STFTConfig(n_fft=int(self.n_fft.currentText()), hop_length=self.hop.value(),
                          window=self.window.currentText())


class ThresholdDialog(QtWidgets.QDialog):
    """Threshold the mixture's level into the active layer, with a live preview."""

    previewChanged = QtCore.Signal(float, float)

    def __init__(self, parent=None, *, has_selection: bool = False, threshold: float = -50.0):
        super().__init__(parent)
        self.setWindowTitle("Threshold")
        self.setObjectName("thresholdDialog")
        form = QtWidgets.QFormLayout(self)
        # typed to 0.1 dB, or slid in steps of 0.1 dB (the arrow keys), 1 dB (Page Up/Down)
        self.level = QtWidgets.QDoubleSpinBox(minimum=-140, maximum=20, decimals=1,
                                              singleStep=0.1, suffix=" dB")
        self.level.setValue(threshold)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(-1400, 200)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(10)
        self.slider.setMinimumWidth(320)
        self.slider.setValue(int(round(self.level.value() * 10)))
        # each follows the other, without rewriting a value being typed (-37 of -37.7)
        self.slider.valueChanged.connect(
            lambda v: None if round(self.level.value() * 10) == v else self.level.setValue(v / 10))
        self.level.valueChanged.connect(lambda v: self.slider.setValue(int(round(v * 10))))
        form.addRow("Threshold", self.level)
        form.addRow("", self.slider)
        self.width_db = QtWidgets.QDoubleSpinBox(minimum=0, maximum=60, value=0, suffix=" dB")
        self.width_db.setToolTip("0: a binary mask; more: a soft mask rising over this width")
        form.addRow("Soft width", self.width_db)
        self.scope = QtWidgets.QComboBox()
        self.scope.addItems(["inside the selection", "whole file"] if has_selection
                            else ["whole file"])
        form.addRow("Apply to", self.scope)
        form.addRow(QtWidgets.QLabel("The preview shows the visible part."))
        form.addRow(buttons(self, "Apply"))
        for w in (self.level, self.width_db):
            w.valueChanged.connect(self._changed)

    def _changed(self, *_):
        self.previewChanged.emit(self.level.value(), self.width_db.value())

    def whole_file(self) -> bool:
        return self.scope.currentText() == "whole file"


SHORTCUTS = [
    ("B", "brush"), ("E", "eraser"), ("R", "rectangle selection"), ("Y", "time range"),
    ("U", "frequency band"), ("L", "lasso"), ("H", "pan (hand)"), ("T", "threshold…"),
    ("[ / ]", "brush smaller / larger"), ("F", "fill the selection"),
    ("Delete", "erase the selection"), ("I", "invert (selection or layer)"),
    ("Ctrl+B", "binarise"), ("Ctrl+Shift+M", "smooth the selection"),
    ("Esc", "clear the selection"), ("Ctrl+Z", "undo"), ("Ctrl+Shift+Z", "redo"),
    ("Ctrl+N", "new layer"), ("Ctrl+O", "open"), ("Ctrl+E", "export"),
    ("Ctrl+S", "save masks"), ("Ctrl+0", "zoom to fit"), ("wheel", "zoom time"),
    ("Ctrl+wheel", "zoom frequency"), ("middle drag", "pan"),
    ("Space", "play / pause (with playback)"), ("Ctrl+Shift+S", "save the project"),
    ("Ctrl+Shift+O", "open a dataset"), ("Page Down / Page Up", "next / previous item"),
    ("Ctrl+Return", "item done: open the next one to do"),
    ("D", "difference from the oracle (with stems)"), ("O", "outline the layers"),
    ("K", "link the channels: edits change every channel, or only the one shown"),
    ("A", "harmonics of the clicked partial (drag: over its time span)"),
    ("W", "magic wand"), ("Shift+T", "local threshold…"),
    ("Ctrl+Shift+B", "type the selection's bounds"),
    ("click", "brush / eraser: one dab; harmonics / wand: pick"),
    ("Shift+click", "move the play cursor (or click the waveform or the time ruler)"),
]


class ShortcutsDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        table = QtWidgets.QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["key", "does"])
        for i, (key, what) in enumerate(SHORTCUTS):
            table.setItem(i, 0, QtWidgets.QTableWidgetItem(key))
            table.setItem(i, 1, QtWidgets.QTableWidgetItem(what))
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().setVisible(False)
        table.resizeColumnsToContents()
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(table)
        self.resize(420, 620)
