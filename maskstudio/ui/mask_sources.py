"""Masks from elsewhere, in the window: oracle from stems, separators, a model's mask file.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`; the work is the document's
(:mod:`maskstudio.editing.document`), run off the GUI thread where it is long.  A load into a
view that has layers asks how the masks meet them (replace, add, fill the residual:
:mod:`maskstudio.editing.loads`) and says in the status bar what it did.
"""

from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.editing.document import GridMismatchError
from maskstudio.ui import load_dialogs
from maskstudio.ui.dialogs import OracleDialog
from maskstudio.ui.workers import report_failure, run_task, show_error


class MaskSourcesMixin:
    """Masks ▸ Oracle from stems, Separate, Load model masks."""

    def oracle_dialog(self) -> None:
        if self.doc is None:
            return show_error(self, "open the mixture first (File > Open)")
        start = str(self.doc.clip.path.parent / "sources") if self.doc.clip.path and \
            (self.doc.clip.path.parent / "sources").is_dir() else ""
        dialog = OracleDialog(self, start_dir=start)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        try:
            stems = dialog.stems()
        except OSError as exc:
            return show_error(self, f"cannot read the stems folder: {exc}")
        if not stems:
            return show_error(self, "choose a folder of stems or at least one stem file")
        self.compute_oracle(dialog.kind.currentText(), stems, **dialog.options())

    def compute_oracle(self, kind: str, stems: dict, **options):
        doc = self.doc

        def done(result):
            names, data, prov, label, refs = result
            if self._load_into(doc, names, data, prov, label, f"{kind} oracle") is not None:
                doc.references.update(refs)
                self.metrics.follow_oracle(kind)
                self.show_scores()

        return run_task(self, f"Computing {kind} oracle masks…",
                        lambda p: doc.compute_oracle(kind, stems, progress=p, **options), done)

    def _fill_separators(self, menu) -> None:
        from maskstudio.dsp.separators import available_separators

        menu.clear()
        for name in available_separators():
            label = ("NMF guided by the layers (paint hints, re-run)" if name == "nmf"
                     else name)
            menu.addAction(label, lambda n=name: self.separate(n))

    def separate(self, name: str):
        """Layers from a separator; NMF re-runs on the layers, using them as hints."""
        if self.doc is None:
            return show_error(self, "open the mixture first (File > Open)")
        doc = self.doc
        guided = name == "nmf"

        def done(result):
            names, masks, prov = result
            if guided:
                self._guard(doc.replace_values, names, masks, f"separate ({name})")
                self.statusBar().showMessage(f"{name}: {', '.join(names)}", 5000)
            else:
                self._load_into(doc, names, masks, prov, f"separate ({name})", name)

        return run_task(self, f"Separating with {name}…",
                        lambda p: doc.compute_separator(name, use_hints=guided), done)

    def load_masks_dialog(self) -> None:
        if self.doc is None:
            return show_error(self, "open the mixture first (File > Open)")
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Load model masks", str(self.settings.value("dirs/masks", "")),
            "Mask files (*.npz *.npy)")
        if path:
            self.settings.setValue("dirs/masks", str(Path(path).parent))
            self.load_masks(path)

    def load_masks(self, path) -> list | None:
        """Load a model's mask file: a bare ``.npy`` on this view's grid; an ``.npz`` made on
        another grid after offering to switch to it.  Returns the loaded layers' indices."""
        doc = self.doc
        try:
            names, data, prov, label = doc.read_model_masks(path)
        except GridMismatchError as exc:
            if not self.confirm_switch_grid(str(exc), exc.config):
                return None
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
            try:
                self._guard(doc.set_config, exc.config)
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
            self.view.set_document(doc)
            if doc.config != exc.config:
                return None
            return self.load_masks(path)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            report_failure(self, exc)
            return None
        return self._load_into(doc, names, data, prov, label, Path(path).name)

    # -- how a load meets the layers -------------------------------------------------------
    def choose_load_mode(self, doc, names) -> str | None:
        """Replace, add or fill (None: cancelled); tests replace this."""
        return load_dialogs.ask_load_mode(self, doc, names)

    def confirm_switch_grid(self, message: str, config) -> bool:
        """Whether to move the view to ``config`` to load a file made on it; tests replace
        this."""
        return load_dialogs.ask_switch_grid(self, message, config)

    def _load_into(self, doc, names, data, prov, label, what) -> list | None:
        """Load masks into ``doc`` by the mode the user chooses, as one undo step; the status
        bar says what was replaced, added and scaled."""
        mode = self.choose_load_mode(doc, names)
        if mode is None:
            self.statusBar().showMessage(f"{what}: not loaded", 5000)
            return None
        report = self._guard(doc.load_layers, names, data, prov, label, mode=mode)
        if report is None:
            return None
        if report.indices and doc is self.doc:
            self._set_active(report.indices[0])
        self.statusBar().showMessage(f"{what}: {report.describe()}", 10000)
        return report.indices

