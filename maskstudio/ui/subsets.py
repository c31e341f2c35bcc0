"""Stem subsets in the export dialog: sums of layers written beside the sources.

A subset is a ``NAME=TERMS`` spec, as ``maskstudio separate --mix`` takes it
(:func:`maskstudio.io.stems.parse_mix`): ``rhythm=drums+bass``, ``karaoke=mixture-vocals``.
:class:`SubsetsEditor` builds them from ticked layers (and the residual): their sum, or
everything but them (a minus-one, a karaoke: ``mixture-vocals``), named by the user; the
terms can also be typed.  Each subset is checked against the layers when it is added and
again when the export starts; the list is remembered (:meth:`SubsetsEditor.saved`, a JSON
text kept in the settings) with which subsets were ticked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6 import QtCore, QtWidgets

from maskstudio.errors import MaskStudioError
from maskstudio.io.stems import parse_mix, parse_mixes

__all__ = ["SubsetsEditor", "terms_of", "read_saved"]

SUM, BUT = "sum of the ticked", "everything but the ticked"
_SPEC = QtCore.Qt.ItemDataRole.UserRole


def terms_of(ticked: Sequence[str], *, everything_but: bool) -> str:
    """The terms of a subset of the ``ticked`` layers: ``a+b``, or ``mixture-a-b``."""
    if everything_but:
        return "mixture" + "".join(f"-{t}" for t in ticked)
    return "+".join(ticked)


def read_saved(text: object) -> list[tuple[str, bool]]:
    """``[(spec, ticked)]`` from the settings' JSON text; nothing from anything else."""
    try:
        rows = json.loads(str(text)) if text else []
    except ValueError:
        return []
    if not isinstance(rows, list):
        return []
    return [(str(r["spec"]), bool(r.get("on", True))) for r in rows
            if isinstance(r, dict) and isinstance(r.get("spec"), str)]


class SubsetsEditor(QtWidgets.QWidget):
    """A list of subsets, each ticked to be written, and a row to make one."""

    def __init__(self, names: Sequence[str], saved: object = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.names = list(names)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("subsetsList")
        self.list.setMaximumHeight(96)
        self.list.setToolTip("ticked subsets are written as <name>.<format> beside the "
                             "sources: the sum of the exported files they name")
        box.addWidget(self.list)
        self.layers = QtWidgets.QListWidget()
        self.layers.setObjectName("subsetLayers")
        self.layers.setFlow(QtWidgets.QListView.Flow.LeftToRight)
        self.layers.setWrapping(True)
        self.layers.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.layers.setMaximumHeight(44)
        self.layers.setToolTip("tick the layers (and the residual) of a new subset")
        for name in [*self.names, "residual"]:
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Unchecked)
            self.layers.addItem(item)
        box.addWidget(self.layers)
        row = QtWidgets.QHBoxLayout()
        self.how = QtWidgets.QComboBox()
        self.how.addItems([SUM, BUT])
        self.how.setToolTip("everything but the ticked: a minus-one, or a karaoke (tick the "
                            "vocals)")
        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("name")
        self.terms = QtWidgets.QLineEdit()
        self.terms.setPlaceholderText("terms: drums+bass, mixture-vocals")
        add = QtWidgets.QPushButton("Add")
        add.setObjectName("addSubset")
        add.clicked.connect(self.add_from_row)
        remove = QtWidgets.QPushButton("Remove")
        remove.clicked.connect(self.remove_current)
        self.how.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        row.addWidget(self.how)
        row.addWidget(self.terms, 1)
        box.addLayout(row)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("named"))
        row.addWidget(self.name, 1)
        row.addWidget(add)
        row.addWidget(remove)
        box.addLayout(row)
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("subsetError")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        self.error.hide()
        box.addWidget(self.error)
        self.layers.itemChanged.connect(self._ticks_changed)
        self.how.currentIndexChanged.connect(self._ticks_changed)
        for spec, on in read_saved(saved):
            self._add_item(spec, on)

    # -- building one -------------------------------------------------------------------
    def ticked(self) -> list[str]:
        return [self.layers.item(i).text() for i in range(self.layers.count())
                if self.layers.item(i).checkState() == QtCore.Qt.CheckState.Checked]

    def tick(self, names: Sequence[str], *, everything_but: bool = False) -> None:
        """Tick exactly ``names`` (layers, ``residual``) and choose how they combine."""
        self.how.setCurrentText(BUT if everything_but else SUM)
        for i in range(self.layers.count()):
            item = self.layers.item(i)
            item.setCheckState(QtCore.Qt.CheckState.Checked if item.text() in names
                               else QtCore.Qt.CheckState.Unchecked)

    def _ticks_changed(self, *_: object) -> None:
        ticked = self.ticked()
        but = self.how.currentText() == BUT
        self.terms.setText(terms_of(ticked, everything_but=but) if ticked else "")
        if but:
            self.name.setPlaceholderText("minus-" + "-".join(ticked))
        elif ticked:
            self.name.setPlaceholderText("-".join(ticked) if len(ticked) > 1
                                         else f"{ticked[0]}-only")

    def add_from_row(self) -> str | None:
        """Add the subset the row describes (its name: typed, or the placeholder); the
        spec added, or None with the reason shown under the row."""
        name = self.name.text().strip() or (self.name.placeholderText()
                                            if self.ticked() else "")
        return self.add(f"{name}={self.terms.text().strip()}")

    def add(self, spec: str) -> str | None:
        """Add ``spec`` (``NAME=TERMS``), ticked, after checking it against the layers and
        the subsets listed; None with the reason shown when it is refused."""
        try:
            mix = parse_mix(spec, self.names)
            if mix.name.lower() in {s.partition("=")[0].strip().lower()
                                    for s in self.all_specs()}:
                raise MaskStudioError(f"there is a subset named {mix.name!r} already: "
                                      f"remove it first, or choose another name")
        except MaskStudioError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        spec = f"{mix.name}={spec.partition('=')[2].strip()}"
        self._add_item(spec, True)
        self.name.clear()
        return spec

    def _add_item(self, spec: str, on: bool) -> None:
        item = QtWidgets.QListWidgetItem(spec.replace("=", " = ", 1))
        item.setData(_SPEC, spec)
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
        try:
            parse_mix(spec, self.names)
        except MaskStudioError as exc:  # a remembered subset of other layers: shown, off
            on = False
            item.setToolTip(str(exc))
        item.setCheckState(QtCore.Qt.CheckState.Checked if on else
                           QtCore.Qt.CheckState.Unchecked)
        self.list.addItem(item)

    def remove_current(self) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.takeItem(row)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    # -- what it holds ------------------------------------------------------------------
    def all_specs(self) -> list[str]:
        return [str(self.list.item(i).data(_SPEC)) for i in range(self.list.count())]

    def specs(self) -> list[str]:
        """The ticked subsets' specs, to write."""
        return [str(self.list.item(i).data(_SPEC)) for i in range(self.list.count())
                if self.list.item(i).checkState() == QtCore.Qt.CheckState.Checked]

    def check(self, names: Sequence[str]) -> bool:
        """Whether the ticked subsets can be made of the layers ``names`` (those exported);
        if not, the reason is shown."""
        try:
            parse_mixes(self.specs(), list(names))
        except MaskStudioError as exc:
            self.show_error(str(exc))
            return False
        self.show_error("")
        return True

    def saved(self) -> str:
        """The list, with which subsets are ticked, as JSON text for the settings."""
        return json.dumps([{"spec": s, "on": self.list.item(i).checkState()
                            == QtCore.Qt.CheckState.Checked}
                           for i, s in enumerate(self.all_specs())])
