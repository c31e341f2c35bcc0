"""The questions a load asks: how the loaded masks meet the layers, and whether to switch grid."""

from __future__ import annotations

from pyqtgraph.Qt import QtWidgets

from maskstudio.editing.loads import LOAD_MODES, default_mode

MODE_TEXT = {
    "replace": ("Replace", "layers of the same name take the loaded values; the other layers "
                "give way where a bin would sum past one"),
    "add": ("Add beside", "new layers (a taken name gets a number); where a bin would sum past "
            "one, every unlocked layer is scaled by the same factor"),
    "fill": ("Fill the residual", "new layers take only what no layer holds yet "
             "(loaded mask x residual); the existing layers do not change"),
}


class LoadModeDialog(QtWidgets.QDialog):
    """Replace, add or fill the residual: one radio button each, the default checked."""

    def __init__(self, parent=None, *, names, layers, default: str = "add"):
        super().__init__(parent)
        self.setWindowTitle("Load masks")
        self.setObjectName("loadModeDialog")
        layout = QtWidgets.QVBoxLayout(self)
        taken = [n for n in names if n in layers]
        intro = f"Loading {', '.join(names)} into a view that has {', '.join(layers)}."
        if taken:
            intro += f" Already there: {', '.join(taken)}."
        label = QtWidgets.QLabel(intro)
        label.setWordWrap(True)
        layout.addWidget(label)
        self.buttons = {}
        for mode in LOAD_MODES:
            title, text = MODE_TEXT[mode]
            button = QtWidgets.QRadioButton(f"{title}: {text}")
            button.setObjectName(f"loadMode_{mode}")
            button.setChecked(mode == default)
            self.buttons[mode] = button
            layout.addWidget(button)
        note = QtWidgets.QLabel("Every bin sums to one at most afterwards; Ctrl+Z undoes the "
                                "whole load.")
        note.setWordWrap(True)
        layout.addWidget(note)
        box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Load")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.resize(520, 240)

    def mode(self) -> str:
        return next(m for m, b in self.buttons.items() if b.isChecked())


def ask_load_mode(parent, doc, names) -> str | None:
    """The mode for loading ``names`` into ``doc``: no question when it has no layer;
    None when the user cancels."""
    if not doc.layers:
        return "add"
    dialog = LoadModeDialog(parent, names=list(names), layers=[la.name for la in doc.layers],
                            default=default_mode(doc, names))
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return None
    return dialog.mode()


def ask_switch_grid(parent, message: str, config) -> bool:
    """Offer to move the view to the file's grid, ``config``, and then load it."""
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("switchGridDialog")
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Another STFT grid")
    box.setText(message)
    box.setInformativeText(f"Switch the view to {config.describe()} and load? The layers are "
                           f"resampled to it and the undo history is cleared.")
    switch = box.addButton("Switch the grid and load", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(switch)
    box.exec()
    return box.clickedButton() is switch
