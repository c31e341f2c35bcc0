"""Datasets in the window: open one, walk its items, keep their status, notes and labels.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`.  Each item's annotation is a
project in the dataset's annotation folder (:meth:`Dataset.project_path`): it is created when
the item is first opened, saved when the user moves to another item or closes the window, and
journaled in between, so a crash loses no finished edit.  Every item uses the dataset's STFT
grid and starts with one layer per label of its vocabulary; its stems, when it has them, are
loaded for the live scores.
"""

from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.annotation.dataset import Dataset
from maskstudio.errors import MaskStudioError
from maskstudio.ui.items_panel import DatasetPanel
from maskstudio.ui.workers import Failure, report_failure, run_task, show_error


class DatasetMixin:
    """File ▸ Open dataset, the Items dock, and Page Up / Page Down / Ctrl+Return."""

    def _init_datasets(self, file_menu) -> None:
        self.dataset = None
        self.item_index = None
        self._item_task = None  # the item being opened
        self.dataset_panel = DatasetPanel(self)
        dock = QtWidgets.QDockWidget("Items", self)
        dock.setObjectName("itemsDock")
        dock.setWidget(self.dataset_panel)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()  # until a dataset is opened
        self.items_dock = dock
        self.docks.append(dock)
        self._action("Open &dataset…", self.open_dataset_dialog, "Ctrl+Shift+O", file_menu,
                     tip="a folder of items (mixture + sources/) or a CSV/JSON manifest")
        self._action("Next item", lambda: self.step_item(1), "PgDown")
        self._action("Previous item", lambda: self.step_item(-1), "PgUp")
        self._action("Done: next item to do", lambda: self.step_item(0), "Ctrl+Return")
        self._action("Export the &dataset…", self.export_dataset_dialog, None, file_menu)
        p = self.dataset_panel
        p.itemChosen.connect(self.open_item)
        p.stepRequested.connect(self.step_item)
        p.statusChosen.connect(self.set_item_status)
        p.notesEdited.connect(self._set_notes)
        p.labelsEdited.connect(self._set_labels)

    # -- opening ----------------------------------------------------------------------------
    def open_dataset_dialog(self) -> None:
        start = str(self.settings.value("dirs/dataset", ""))
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Open a dataset")
        box.setText("Open a folder of items (each with mixture.<ext> and sources/), "
                    "or a CSV/JSON manifest?")
        folder = box.addButton("Folder…", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        manifest = box.addButton("Manifest…", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is folder:
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Dataset folder", start)
        elif box.clickedButton() is manifest:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Dataset manifest", start, "Manifests (*.csv *.json)")
        else:
            return
        if path:
            self.settings.setValue("dirs/dataset", str(Path(path).parent))
            self.open_dataset(path)

    def open_dataset(self, path, *, wait: bool = False):
        """Open a dataset and its first item not done (or the item open last time)."""
        try:
            ds = Dataset.open(path)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            return report_failure(self, exc)
        if not self.maybe_save(f"opening the dataset '{ds.path.name}'"):
            return None
        self.dataset, self.item_index = ds, None
        self.dataset_panel.set_dataset(ds)
        self.items_dock.show()
        last = str(self.settings.value(f"dataset/item/{ds.path.resolve()}", ""))
        try:
            start = ds.index(last)
        except MaskStudioError:
            start = 0 if ds.status(ds.items[0]) in ("to do", "in progress") else \
                ds.next_index(0, todo_only=True)
        return self.open_item(start, wait=wait)

    def open_item(self, index: int, *, wait: bool = False):
        """Save the open item, then open item ``index``: its project, or a new one."""
        from maskstudio.annotation.project import MixtureMovedError, load_project
        from maskstudio.editing.document import Document
        from maskstudio.io.audiofile import conform_reference, load_audio

        ds = self.dataset
        if ds is None or not 0 <= index < len(ds.items):
            return None
        if self._item_task is not None:  # one item at a time: a second Page Down waits
            self.statusBar().showMessage("still opening the item…", 2000)
            return None
        if not self.maybe_save("opening another item"):
            return None
        item = ds.items[index]
        project = ds.project_path(item)

        def load(progress):
            if project.exists():
                doc = load_project(project, mixture=item.mixture, start_journal=False)
            else:
                # the dataset's one grid: chosen, or the one for its first item's rate
                doc = Document(load_audio(item.mixture), ds.default_config())
            refs = {}
            for name, path in item.sources.items():
                refs[name] = conform_reference(load_audio(path), doc.clip,
                                               name=f"stem '{name}' of {item.name}")
            return doc, refs

        def done(result):
            self._item_task = None
            doc, refs = result
            if ds.config is None:
                ds.set_config(doc.config)
            if project.exists():
                self._offer_recovery(doc, project=project, mixture=item.mixture)
                if self.doc is not doc:  # not opened (declined read-only): stay where we were
                    return
            elif not self._start_item(doc, project):
                return
            self.doc.references.update(refs)  # (a recovered document is a new object)
            self.metrics.update_now()
            if refs:
                self.show_scores()
            self.item_index = index
            self.settings.setValue(f"dataset/item/{ds.path.resolve()}", item.name)
            if ds.status(item) == "to do":
                ds.set_status(item, "in progress")
            self.doc.set_status(ds.status(item))
            self._update_title()
            self.dataset_panel.refresh(index)
            self.dataset_panel.show_item(self.doc)

        def fail(failure: Failure) -> None:
            self._item_task = None
            message = failure.message
            if isinstance(failure.error, MixtureMovedError):
                message += (f"\n\nThe annotation of '{item.name}' is kept in {project}; "
                            f"restore the item's mixture to go on with it.")
            show_error(self, message)

        if wait:
            try:
                done(load(None))
            except MixtureMovedError as exc:
                fail(Failure(exc, str(exc)))
            except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
                report_failure(self, exc)
            return None
        self._item_task = run_task(self, f"Opening {item.name}…", load, done, on_fail=fail)
        self._item_task.cancelled.connect(lambda: setattr(self, "_item_task", None))
        return self._item_task

    def _start_item(self, doc, project: Path) -> bool:
        """A first visit: one empty layer per label, and a project to keep it in."""
        from maskstudio.annotation.project import save_project

        for label in self.dataset.labels:
            doc.add_layer(label, label=label, record=False)
        doc.status = "in progress"
        if self._guard(save_project, doc, project) is None:
            return False
        self.set_document(doc)
        return True

    def leave_item(self) -> bool:
        """Save the open item's project in place if it changed; if that fails, the user
        chooses (save elsewhere, discard, cancel: False)."""
        self.dataset_panel.flush_notes()
        if self.dataset is None or self.item_index is None:
            return True
        return self.maybe_save("leaving the item")

    # -- moving and marking -----------------------------------------------------------------
    def step_item(self, step: int):
        """Next (+1) or previous (-1) item; 0 marks this one done and opens the next to do."""
        ds = self.dataset
        if ds is None:
            self.statusBar().showMessage("open a dataset first (File > Open dataset…)", 4000)
            return None
        i = self.item_index if self.item_index is not None else 0
        if step == 0:
            if self.item_index is not None:
                self.set_item_status("done")
            j = ds.next_index(i, todo_only=True)
            if j == i and ds.status(ds.items[i]) in ("done", "skipped"):
                self.statusBar().showMessage("every item is done or skipped", 6000)
                return None
            return self.open_item(j)
        return self.open_item(ds.next_index(i, step))

    def set_item_status(self, status: str) -> None:
        if self.doc is not None:
            self._guard(self.doc.set_status, status)
        if self.dataset is not None and self.item_index is not None:
            self._guard(self.dataset.set_status, self.dataset.items[self.item_index], status)
            self.dataset_panel.refresh(self.item_index)
        self.dataset_panel.show_item(self.doc)

    def _set_notes(self, text: str) -> None:
        if self.doc is not None:
            self.doc.set_notes(text)

    def _set_labels(self, labels: list) -> None:
        self._guard(self.dataset.set_labels, labels)
        self.layers.set_vocabulary(self.dataset.labels)

    # -- export ---------------------------------------------------------------------------
    def export_dataset_dialog(self) -> None:
        from maskstudio.annotation.batch import export_dataset

        if self.dataset is None:
            return show_error(self, "open a dataset first (File > Open dataset…)")
        if not self.leave_item():
            return None
        out = QtWidgets.QFileDialog.getExistingDirectory(self, "Export the dataset into",
                                                         str(self.dataset.path.parent))
        if not out:
            return None
        ds = self.dataset

        def done(report):
            missing = report["not annotated"]
            self.statusBar().showMessage(
                f"exported {len(report['written'])} items to {out}"
                + (f"; {len(missing)} not annotated yet" if missing else ""), 10000)

        return run_task(self, "Exporting the dataset…",
                        lambda p: export_dataset(ds, out, progress=p), done)
