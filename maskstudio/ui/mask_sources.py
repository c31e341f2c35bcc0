"""Masks from elsewhere, in the window: oracle from stems, separators, a model's mask file.

:class:`MaskSourcesController` owns Masks ▸ Oracle from stems, Load model masks and
Separate.  The work is the document's (:mod:`maskstudio.editing.document`), run off the GUI
thread where it is long.  A load into a view that has layers asks how the masks meet them
(replace, add, fill the residual: :mod:`maskstudio.editing.loads`) and says in the status bar
what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document, GridMismatchError
from maskstudio.ui import load_dialogs
from maskstudio.ui.controller import Controller
from maskstudio.ui.dialogs import OracleDialog
from maskstudio.ui.workers import Task, report_failure, run_task, show_error

__all__ = ["MaskSourcesController"]

OPEN_FIRST = "open the mixture first (File > Open)"


class MaskSourcesController(Controller):
    """Masks ▸ Oracle from stems, Load model masks, Separate; a mask file dropped on the
    window.  ``choose_load_mode`` and ``confirm_switch_grid`` ask the user (tests replace
    them)."""

    def fill_masks_menu(self, menu: QtWidgets.QMenu) -> None:
        """Masks ▸ Oracle from stems…, Load model masks…, Separate ▸ (the separators found
        when the menu opens)."""
        self.action("&Oracle from stems…", self.oracle_dialog, None, menu)
        self.action("&Load model masks…", self.load_masks_dialog, None, menu)
        separators = menu.addMenu("&Separate")
        separators.aboutToShow.connect(lambda: self._fill_separators(separators))

    # -- oracle -----------------------------------------------------------------------------
    def oracle_dialog(self) -> None:
        doc = self.window.doc
        if doc is None:
            return show_error(self.window, OPEN_FIRST)
        here = doc.clip.path.parent / "sources" if doc.clip.path else None
        start = str(here) if here is not None and here.is_dir() else ""
        dialog = OracleDialog(self.window, start_dir=start, n_channels=doc.clip.n_channels)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        try:
            stems = dialog.stems()
        except OSError as exc:
            return show_error(self.window, f"cannot read the stems folder: {exc}")
        if not stems:
            return show_error(self.window, "choose a folder of stems or at least one stem file")
        self.compute_oracle(dialog.kind.currentText(), stems, **dialog.options())
        return None

    def compute_oracle(self, kind: str, stems: dict, **options: Any) -> Task | None:
        """Oracle masks of ``kind`` from the stems, loaded as the user chooses; the stems
        become the references the live scores and the oracle phase use."""
        doc = self.window.doc
        if doc is None:
            return None

        def done(result: tuple) -> None:
            names, data, prov, label, refs = result
            if self._load_into(doc, names, data, prov, label, f"{kind} oracle") is not None:
                doc.references.update(refs)
                self.window.metrics.follow_oracle(kind)
                self.window.show_scores()

        return run_task(self.window, f"Computing {kind} oracle masks…",
                        lambda p: doc.compute_oracle(kind, stems, progress=p, **options), done)

    # -- separators -------------------------------------------------------------------------
    def _fill_separators(self, menu: QtWidgets.QMenu) -> None:
        from maskstudio.dsp.separators import available_separators

        menu.clear()
        for name in available_separators():
            label = ("NMF guided by the layers (paint hints, re-run)" if name == "nmf"
                     else name)
            menu.addAction(label, lambda n=name: self.separate(n))

    def separate(self, name: str) -> Task | None:
        """Layers from a separator; NMF re-runs on the layers, using them as hints."""
        doc = self.window.doc
        if doc is None:
            show_error(self.window, OPEN_FIRST)
            return None
        guided = name == "nmf"

        def done(result: tuple) -> None:
            names, masks, prov = result
            if guided:
                self.guard(doc.replace_values, names, masks, f"separate ({name})")
                self.say(f"{name}: {', '.join(names)}", 5000)
            else:
                self._load_into(doc, names, masks, prov, f"separate ({name})", name)

        return run_task(self.window, f"Separating with {name}…",
                        lambda p: doc.compute_separator(name, use_hints=guided), done)

    # -- a model's mask file ----------------------------------------------------------------
    def load_masks_dialog(self) -> None:
        if self.window.doc is None:
            return show_error(self.window, OPEN_FIRST)
        settings = self.window.settings
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Load model masks", str(settings.value("dirs/masks", "")),
            "Mask files (*.npz *.npy)")
        if path:
            settings.setValue("dirs/masks", str(Path(path).parent))
            self.load_masks(path)
        return None

    def load_masks(self, path: str | Path) -> list[int] | None:
        """Load a model's mask file: a bare ``.npy`` on this view's grid; an ``.npz`` made on
        another grid after offering to switch to it.  Returns the loaded layers' indices."""
        doc = self.window.doc
        if doc is None:
            return None
        try:
            names, data, prov, label = doc.read_model_masks(path)
        except GridMismatchError as exc:
            if not self.confirm_switch_grid(str(exc), exc.config):
                return None
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
            try:
                self.guard(doc.set_config, exc.config)
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
            self.window.view.set_document(doc)
            if doc.config != exc.config:
                return None
            return self.load_masks(path)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            report_failure(self.window, exc)
            return None
        return self._load_into(doc, names, data, prov, label, Path(path).name)

    # -- how a load meets the layers ----------------------------------------------------------
    def choose_load_mode(self, doc: Document, names: list[str]) -> str | None:
        """Replace, add or fill (None: cancelled); tests replace this."""
        return load_dialogs.ask_load_mode(self.window, doc, names)

    def confirm_switch_grid(self, message: str, config: STFTConfig) -> bool:
        """Whether to move the view to ``config`` to load a file made on it; tests replace
        this."""
        return load_dialogs.ask_switch_grid(self.window, message, config)

    def _load_into(self, doc: Document, names: list[str], data: np.ndarray, prov: dict,
                   label: str, what: str) -> list[int] | None:
        """Load masks into ``doc`` by the mode the user chooses, as one undo step; the status
        bar says what was replaced, added and scaled."""
        mode = self.choose_load_mode(doc, names)
        if mode is None:
            self.say(f"{what}: not loaded", 5000)
            return None
        report = self.guard(doc.load_layers, names, data, prov, label, mode=mode)
        if report is None:
            return None
        if report.indices and doc is self.window.doc:
            self.window.active.set(report.indices[0])
        self.say(f"{what}: {report.describe()}", 10000)
        return report.indices
