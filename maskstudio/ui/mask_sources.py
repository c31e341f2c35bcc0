"""Masks from elsewhere, in the window: oracle from stems, separators, a model's mask file.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`; the work is the document's
(:mod:`maskstudio.core.document`), run off the GUI thread where it is long.
"""

from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtWidgets

from maskstudio.ui.dialogs import OracleDialog
from maskstudio.ui.workers import run_task, show_error


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
            doc.references.update(refs)
            added = self._guard(doc.add_layers, names, data, prov, label)
            if added:
                self.layers.set_active(added[0])
                self.metrics.follow_oracle(kind)
                self.show_scores()
                self.statusBar().showMessage(f"{kind} oracle: {', '.join(names)}", 5000)

        return run_task(self, f"Computing {kind} oracle masks…",
                        lambda p: doc.compute_oracle(kind, stems, progress=p, **options), done)

    def _fill_separators(self, menu) -> None:
        from maskstudio.core.separators import available_separators

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
            else:
                added = self._guard(doc.add_layers, names, masks, prov, f"separate ({name})")
                if added:
                    self.layers.set_active(added[0])
            self.statusBar().showMessage(f"{name}: {', '.join(names)}", 5000)

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
        added = self._guard(self.doc.load_model_masks, path)
        if added:
            self.layers.set_active(added[0])
        return added

