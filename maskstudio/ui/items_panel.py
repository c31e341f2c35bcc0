"""The item panel: the dataset's items with their status and progress, the open item's status
and notes, and the dataset's label vocabulary.

A view only: it shows a :class:`~maskstudio.annotation.dataset.Dataset` and the open document, and
says what the user asked for through signals; :class:`~maskstudio.ui.datasets.DatasetController`
does it.  Without a dataset, the status and notes of the open file are still shown (they are
saved in its project).
"""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from maskstudio.annotation.dataset import STATUSES

STATUS_COLORS = {"to do": "#9a9aa0", "in progress": "#e0a030", "done": "#55b055",
                 "skipped": "#7080c0"}


class DatasetPanel(QtWidgets.QWidget):
    itemChosen = QtCore.Signal(int)
    statusChosen = QtCore.Signal(str)
    notesEdited = QtCore.Signal(str)
    labelsEdited = QtCore.Signal(list)
    stepRequested = QtCore.Signal(int)  # -1 previous, +1 next, 0 next to do

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QtWidgets.QLabel("No dataset: File > Open dataset… (Ctrl+Shift+O)")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v of %m finished")
        self.progress.setToolTip("items done or skipped")
        layout.addWidget(self.progress)
        self.counts = QtWidgets.QLabel("")
        layout.addWidget(self.counts)
        self.items = QtWidgets.QTreeWidget()
        self.items.setHeaderLabels(["item", "status", "stems"])
        self.items.setRootIsDecorated(False)
        self.items.setUniformRowHeights(True)
        self.items.itemActivated.connect(lambda it, _c: self.itemChosen.emit(self._row(it)))
        self.items.itemDoubleClicked.connect(lambda it, _c: self.itemChosen.emit(self._row(it)))
        layout.addWidget(self.items, 1)
        steps = QtWidgets.QHBoxLayout()
        for text, step, tip in (("◀ Previous", -1, "previous item (Page Up)"),
                                ("Next ▶", 1, "next item (Page Down)"),
                                ("Next to do", 0, "mark this item done and open the next one "
                                                  "not done (Ctrl+Return)")):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, s=step: self.stepRequested.emit(s))
            steps.addWidget(b)
        self.step_buttons = steps
        layout.addLayout(steps)

        form = QtWidgets.QFormLayout()
        self.status = QtWidgets.QComboBox()
        self.status.addItems(list(STATUSES))
        self.status.setToolTip("where the annotation of this item stands")
        self.status.activated.connect(lambda i: self.statusChosen.emit(STATUSES[i]))
        form.addRow("status", self.status)
        self.labels = QtWidgets.QLineEdit()
        self.labels.setPlaceholderText("voice, music, noise")
        self.labels.setToolTip("the dataset's layer labels, separated by commas: every item "
                               "offers the same names")
        self.labels.editingFinished.connect(self._labels_edited)
        form.addRow("labels", self.labels)
        layout.addLayout(form)
        layout.addWidget(QtWidgets.QLabel("notes"))
        self.notes = QtWidgets.QPlainTextEdit()
        self.notes.setPlaceholderText("notes on this item (saved with it)")
        self.notes.setMaximumHeight(110)
        self._notes_timer = QtCore.QTimer(self, singleShot=True, interval=600)
        self._notes_timer.timeout.connect(self.flush_notes)
        self.notes.textChanged.connect(self._notes_timer.start)
        layout.addWidget(self.notes)
        self._shown_notes = ""
        self.set_dataset(None)
        self.show_item(None)

    # -- showing ----------------------------------------------------------------------------
    def set_dataset(self, dataset, current: int | None = None) -> None:
        self.dataset = dataset
        self.items.clear()
        has = dataset is not None
        for w in (self.items, self.progress, self.labels):
            w.setEnabled(has)
        for i in range(self.step_buttons.count()):
            self.step_buttons.itemAt(i).widget().setEnabled(has)
        if not has:
            self.title.setText("No dataset: File > Open dataset… (Ctrl+Shift+O)")
            self.counts.setText("")
            self.labels.setText("")
            return
        self.title.setText(f"<b>{dataset.path.name}</b> — {len(dataset.items)} items")
        for it in dataset.items:
            row = QtWidgets.QTreeWidgetItem([it.name, "", ", ".join(sorted(it.sources)) or "—"])
            row.setToolTip(0, str(it.mixture))
            self.items.addTopLevelItem(row)
        self.labels.setText(", ".join(dataset.labels))
        self.refresh(current)
        self.items.resizeColumnToContents(0)

    def refresh(self, current: int | None = None) -> None:
        """Statuses and progress again (after a change), with ``current`` selected."""
        ds = self.dataset
        if ds is None:
            return
        for i, it in enumerate(ds.items):
            row = self.items.topLevelItem(i)
            status = ds.status(it)
            row.setText(1, status)
            row.setForeground(1, QtGui.QBrush(QtGui.QColor(STATUS_COLORS[status])))
            font = row.font(0)
            font.setBold(i == current)
            row.setFont(0, font)
        counts = ds.progress()
        self.progress.setRange(0, len(ds.items))
        self.progress.setValue(counts["done"] + counts["skipped"])
        self.counts.setText("   ".join(f"{n} {s}" for s, n in counts.items()))
        if current is not None:
            self.items.setCurrentItem(self.items.topLevelItem(current))

    def show_item(self, doc) -> None:
        """The open document's status and notes (None: nothing open)."""
        self.status.setEnabled(doc is not None)
        self.notes.setEnabled(doc is not None)
        self._notes_timer.stop()
        self.notes.blockSignals(True)
        self._shown_notes = doc.notes if doc is not None else ""
        self.notes.setPlainText(self._shown_notes)
        self.notes.blockSignals(False)
        if doc is not None:
            self.status.setCurrentText(doc.status)

    # -- edits ----------------------------------------------------------------------------
    def flush_notes(self) -> None:
        """Hand over the notes typed so far (on a pause in typing, and before leaving)."""
        self._notes_timer.stop()
        text = self.notes.toPlainText()
        if text != self._shown_notes:
            self._shown_notes = text
            self.notesEdited.emit(text)

    def _labels_edited(self) -> None:
        labels = [s.strip() for s in self.labels.text().split(",") if s.strip()]
        if self.dataset is not None and labels != self.dataset.labels:
            self.labelsEdited.emit(labels)

    def _row(self, item) -> int:
        return self.items.indexOfTopLevelItem(item)
