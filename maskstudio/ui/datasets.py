"""Datasets in the window: open one, walk its items, keep their status, notes and labels.

:class:`DatasetController` owns File ▸ Open dataset and Export the dataset, the Items dock,
and the item keys (Page Up / Page Down / Ctrl+Return).  Each item's annotation is a project
in the dataset's annotation folder: :func:`maskstudio.annotation.items.open_item` opens it
on a worker thread (or creates it, on a first visit, with one empty layer per label, on the
dataset's grid; with the item's stems for the live scores), the project controller offers
what a crashed session left (:meth:`~maskstudio.ui.projects.ProjectController.begin`), and
the item is saved in place when the user moves to another item or closes the window
(:meth:`~maskstudio.ui.projects.ProjectController.maybe_save`), journaled in between.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.items import enter_item, kept_note, open_item
from maskstudio.annotation.project import MixtureMovedError
from maskstudio.annotation.recovery import Opened
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError
from maskstudio.ui.controller import Controller, Shell
from maskstudio.ui.items_panel import DatasetPanel
from maskstudio.ui.workers import Failure, Progress, Task, report_failure, run_task, show_error

__all__ = ["DatasetController"]

OPEN_A_DATASET = "open a dataset first (File > Open dataset…)"


class DatasetController(Controller):
    """File ▸ Open dataset, Export the dataset; the Items dock; Page Up / Page Down /
    Ctrl+Return.  ``dataset`` is the open dataset, ``item_index`` the item shown (None:
    the window shows something else)."""

    def __init__(self, window: Shell):
        super().__init__(window)
        self.dataset: Dataset | None = None
        self.item_index: int | None = None
        self._item_task: Task | None = None  #: the item being opened
        self.panel = DatasetPanel(window)
        dock = QtWidgets.QDockWidget("Items", window)
        dock.setObjectName("itemsDock")
        dock.setWidget(self.panel)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()  # until a dataset is opened
        self.dock = dock
        p = self.panel
        p.itemChosen.connect(self.open_item)
        p.stepRequested.connect(self.step_item)
        p.statusChosen.connect(self.set_item_status)
        p.notesEdited.connect(self._set_notes)
        p.labelsEdited.connect(self._set_labels)

    def fill_file_menu(self, menu: QtWidgets.QMenu) -> None:
        """File ▸ Open dataset…, Export the dataset…; the item keys, in no menu."""
        self.action("Open &dataset…", self.open_dataset_dialog, "Ctrl+Shift+O", menu,
                    tip="a folder of items (mixture + sources/) or a CSV/JSON manifest")
        self.action("Next item", lambda: self.step_item(1), "PgDown")
        self.action("Previous item", lambda: self.step_item(-1), "PgUp")
        self.action("Done: next item to do", lambda: self.step_item(0), "Ctrl+Return")
        self.action("Export the &dataset…", self.export_dataset_dialog, None, menu)

    # -- what the window and the project controller ask -------------------------------------
    @property
    def item_open(self) -> bool:
        """The window shows one of the dataset's items (saved in place, without asking)."""
        return self.dataset is not None and self.item_index is not None

    @property
    def opening(self) -> bool:
        """An item is being opened (a second Page Down waits for it)."""
        return self._item_task is not None

    def item_title(self) -> str | None:
        """``"song3 (4/20) — dataset"`` for the item shown, None when none is."""
        ds, i = self.dataset, self.item_index
        if ds is None or i is None:
            return None
        return f"{ds.items[i].name} ({i + 1}/{len(ds.items)}) — {ds.path.name}"

    def vocabulary(self) -> list[str]:
        """The dataset's labels, offered as layer names (none without a dataset)."""
        return list(self.dataset.labels) if self.dataset is not None else []

    def flush_notes(self) -> None:
        """The notes typed so far go into the document."""
        self.panel.flush_notes()

    def forget_item(self) -> None:
        """The window opens something else than an item (the dataset stays in its dock)."""
        self.item_index = None

    def set_document(self, doc: Document) -> None:
        """The document shown: its status and notes in the Items dock."""
        self.panel.show_item(doc)

    # -- opening ----------------------------------------------------------------------------
    def open_dataset_dialog(self) -> None:
        """File ▸ Open dataset (Ctrl+Shift+O): a folder of items, or a manifest."""
        settings = self.window.settings
        start = str(settings.value("dirs/dataset", ""))
        box = QtWidgets.QMessageBox(self.window)
        box.setWindowTitle("Open a dataset")
        box.setText("Open a folder of items (each with mixture.<ext> and sources/), "
                    "or a CSV/JSON manifest?")
        folder = box.addButton("Folder…", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        manifest = box.addButton("Manifest…", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is folder:
            path = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Dataset folder",
                                                              start)
        elif box.clickedButton() is manifest:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self.window, "Dataset manifest", start, "Manifests (*.csv *.json)")
        else:
            return
        if path:
            settings.setValue("dirs/dataset", str(Path(path).parent))
            self.open_dataset(path)

    def open_dataset(self, path: str | Path, *, wait: bool = False) -> Task | None:
        """Open a dataset and its first item not done (or the item open last time)."""
        try:
            ds = Dataset.open(path)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            report_failure(self.window, exc)
            return None
        if not self.window.projects.maybe_save(f"opening the dataset '{ds.path.name}'"):
            return None
        self.dataset, self.item_index = ds, None
        self.panel.set_dataset(ds)
        self.dock.show()
        last = str(self.window.settings.value(f"dataset/item/{ds.path.resolve()}", ""))
        try:
            start = ds.index(last)
        except MaskStudioError:
            start = 0 if ds.status(ds.items[0]) in ("to do", "in progress") else \
                ds.next_index(0, todo_only=True)
        return self.open_item(start, wait=wait)

    def open_item(self, index: int, *, wait: bool = False) -> Task | None:
        """Save the open item, then open item ``index``: its project, or a new one."""
        ds = self.dataset
        if ds is None or not 0 <= index < len(ds.items):
            return None
        if self._item_task is not None:  # one item at a time: a second Page Down waits
            self.say("still opening the item…", 2000)
            return None
        if not self.window.projects.maybe_save("opening another item"):
            return None

        def load(progress: Progress | None) -> Opened:
            return open_item(ds, index)

        def fail(failure: Failure) -> None:
            self._item_task = None
            message = failure.message
            if isinstance(failure.error, MixtureMovedError):
                message += kept_note(ds, index)  # the annotation is safe in its project
            show_error(self.window, message)

        if wait:
            try:
                opened = load(None)
            except MixtureMovedError as exc:
                fail(Failure(exc, str(exc)))
                return None
            except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
                report_failure(self.window, exc)
                return None
            self._item_opened(ds, index, opened)
            return None
        task = run_task(self.window, f"Opening {ds.items[index].name}…", load,
                        lambda opened: self._item_opened(ds, index, opened), on_fail=fail)
        task.cancelled.connect(lambda: setattr(self, "_item_task", None))
        self._item_task = task
        return task

    def _item_opened(self, ds: Dataset, index: int, opened: Opened) -> None:
        self._item_task = None
        if not self.window.projects.begin(opened):
            return  # declined read-only: the window stays on the item it was on
        doc = opened.doc
        doc.references.update(opened.references)
        self.window.metrics.update_now()
        if opened.references:
            self.window.show_scores()
        self.item_index = index
        self.window.settings.setValue(f"dataset/item/{ds.path.resolve()}", ds.items[index].name)
        enter_item(ds, index, doc)
        self.window.projects.update_title()
        self.panel.refresh(index)
        self.panel.show_item(doc)

    def leave_item(self) -> bool:
        """Save the open item's project in place if it changed; if that fails, the user
        chooses (save elsewhere, discard, cancel: False)."""
        self.panel.flush_notes()
        if not self.item_open:
            return True
        return self.window.projects.maybe_save("leaving the item")

    # -- moving and marking -----------------------------------------------------------------
    def step_item(self, step: int) -> Task | None:
        """Next (+1) or previous (-1) item; 0 marks this one done and opens the next to do."""
        ds = self.dataset
        if ds is None:
            self.say(OPEN_A_DATASET, 4000)
            return None
        i = self.item_index if self.item_index is not None else 0
        if step == 0:
            if self.item_index is not None:
                self.set_item_status("done")
            j = ds.next_index(i, todo_only=True)
            if j == i and ds.status(ds.items[i]) in ("done", "skipped"):
                self.say("every item is done or skipped", 6000)
                return None
            return self.open_item(j)
        return self.open_item(ds.next_index(i, step))

    def set_item_status(self, status: str) -> None:
        """The open item's status, in its project and in the dataset."""
        doc = self.window.doc
        if doc is not None:
            self.guard(doc.set_status, status)
        if self.dataset is not None and self.item_index is not None:
            self.guard(self.dataset.set_status, self.dataset.items[self.item_index], status)
            self.panel.refresh(self.item_index)
        self.panel.show_item(doc)

    def _set_notes(self, text: str) -> None:
        doc = self.window.doc
        if doc is not None:
            doc.set_notes(text)

    def _set_labels(self, labels: list[str]) -> None:
        if self.dataset is None:
            return
        self.guard(self.dataset.set_labels, labels)
        self.window.layers.set_vocabulary(self.dataset.labels)

    # -- export ---------------------------------------------------------------------------
    def export_dataset_dialog(self) -> Task | None:
        """File ▸ Export the dataset: every annotated item's sources and masks."""
        from maskstudio.annotation.batch import export_dataset

        ds = self.dataset
        if ds is None:
            show_error(self.window, OPEN_A_DATASET)
            return None
        if not self.leave_item():
            return None
        out = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Export the dataset into",
                                                         str(ds.path.parent))
        if not out:
            return None

        def done(report: dict) -> None:
            missing = report["not annotated"]
            self.say(f"exported {len(report['written'])} items to {out}"
                     + (f"; {len(missing)} not annotated yet" if missing else ""), 10000)

        return run_task(self.window, "Exporting the dataset…",
                        lambda p: export_dataset(ds, out, progress=p), done)
