"""Box annotations in the window: File ▸ Export annotations… and Import annotations….

:class:`AnnotationsController` does in the window what ``maskstudio labels export|import``
does on the command line (:mod:`maskstudio.annotation.labels`, :mod:`maskstudio.io.boxes`):

- **export**: each layer's regions (connected components of the binarised mask, joined
  within a tolerance) as labelled time-frequency boxes, read from the layers' tiles a block
  of frames at a time, into a Raven selection table, Audacity labels with frequency ranges
  or a Sonic Visualiser box layer.  As on the command line, Raven's table has boxes per
  channel when the layers are per channel (its Channel column); Audacity and Sonic
  Visualiser have no channel, so their boxes are those of the channels' mean;
- **import**: a Raven table or Audacity labels drawn as binary layers on the document's
  grid, one per label, added as one undoable step that the crash journal records like any
  load (:meth:`~maskstudio.editing.document.Document.load_layers`, mode "add").  The boxes
  are drawn into a mask file in a temporary folder, read back a block of frames at a time
  into compact tiles, so a long file is never held whole.

Both run on a worker with a progress dialog; a bad table or option is one message, and
nothing changes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from maskstudio.annotation.labels import (
    MERGE_HZ,
    MERGE_MS,
    MIN_CELLS,
    find_boxes,
    layers_of_document,
    write_box_masks,
)
from maskstudio.editing.document import Document
from maskstudio.editing.outputs import inputs
from maskstudio.editing.tiles import TiledMasks, quantize
from maskstudio.errors import ParameterError
from maskstudio.io.boxes import READ_FORMATS, read_boxes, write_boxes
from maskstudio.io.ondemand import open_masks
from maskstudio.ui.controller import Controller
from maskstudio.ui.dialogs import FileField, buttons
from maskstudio.ui.workers import Progress, Task, run_task, show_error

__all__ = ["AnnotationsController", "AnnotationsDialog", "FORMAT_NAMES", "import_tiles"]

#: The formats as the dialogs name them, and the files they are saved as.
FORMAT_NAMES = {"raven": "Raven selection table (.txt)",
                "audacity": "Audacity labels (.txt)",
                "svl": "Sonic Visualiser box layer (.svl)"}
_SUFFIX = {"raven": ".txt", "audacity": ".txt", "svl": ".svl"}
_FILTER = "Box annotations (*.txt *.svl *.csv *.tsv);;All files (*)"
#: Frames read from the drawn mask file at a time when it is imported.
_BLOCK = 512


class AnnotationsDialog(QtWidgets.QDialog):
    """The file and format of an annotation export (with how regions become boxes) or
    import (with Raven's label column)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, export: bool,
                 path: str = "", fmt: str = "raven", n_channels: int = 1):
        super().__init__(parent)
        self.export = export
        self.setWindowTitle("Export annotations" if export else "Import annotations")
        self.setObjectName("annotationsDialog")
        form = QtWidgets.QFormLayout(self)
        self.fmt = QtWidgets.QComboBox()
        for key, text in FORMAT_NAMES.items():
            if export or key in READ_FORMATS:
                self.fmt.addItem(text, key)
        index = self.fmt.findData(fmt)
        self.fmt.setCurrentIndex(max(0, index))
        form.addRow("Format", self.fmt)
        self.file = FileField(path, filter=_FILTER, save=export)
        form.addRow("File", self.file)
        if export:
            self.threshold = QtWidgets.QDoubleSpinBox(minimum=0.01, maximum=1.0, value=0.5,
                                                      singleStep=0.05)
            self.threshold.setToolTip("a cell is in a region when its mask is at least this")
            form.addRow("Threshold", self.threshold)
            self.merge_ms = QtWidgets.QDoubleSpinBox(minimum=0, maximum=10000, value=MERGE_MS,
                                                     suffix=" ms")
            self.merge_hz = QtWidgets.QDoubleSpinBox(minimum=0, maximum=48000,
                                                     value=MERGE_HZ, suffix=" Hz")
            form.addRow("Join boxes closer than", self.merge_ms)
            form.addRow("", self.merge_hz)
            self.min_cells = QtWidgets.QSpinBox(minimum=0, maximum=1 << 30, value=MIN_CELLS)
            self.min_cells.setToolTip("regions of fewer cells are specks: dropped")
            form.addRow("Smallest region (cells)", self.min_cells)
            note = ("One box per region of each layer, labelled with the layer's label "
                    "(or name)." + (" Raven: boxes per channel; Audacity and Sonic "
                                    "Visualiser: of the channels' mean."
                                    if n_channels > 1 else ""))
        else:
            self.label_column = QtWidgets.QLineEdit("Annotation")
            self.label_column.setToolTip("Raven: the column holding the labels")
            form.addRow("Label column", self.label_column)
            self.fmt.currentIndexChanged.connect(
                lambda _: self.label_column.setEnabled(self.fmt.currentData() == "raven"))
            note = ("One new layer per label, drawn on this view's grid; undo removes "
                    "them.")
        says = QtWidgets.QLabel(note)
        says.setWordWrap(True)
        form.addRow(says)
        form.addRow(buttons(self, "Export" if export else "Import"))
        self.fmt.currentIndexChanged.connect(self._format_changed)

    def _format_changed(self, _: int) -> None:
        """An export's file takes the format's extension (a name typed stays)."""
        text = self.file.text()
        if self.export and text:
            p = Path(text)
            if p.suffix.lower() in (".txt", ".svl"):
                self.file.edit.setText(str(p.with_suffix(_SUFFIX[self.format()])))

    def format(self) -> str:
        return str(self.fmt.currentData())

    def values(self) -> dict:
        """The options of :meth:`AnnotationsController.export_annotations` or
        :meth:`~AnnotationsController.import_annotations`."""
        v: dict[str, Any] = dict(path=self.file.text(), fmt=self.format())
        if self.export:
            v.update(threshold=self.threshold.value(), merge_ms=self.merge_ms.value(),
                     merge_hz=self.merge_hz.value(), min_cells=self.min_cells.value())
        else:
            v["label_column"] = self.label_column.text().strip() or "Annotation"
        return v


def import_tiles(doc: Document, table: str | Path, fmt: str, *,
                 label_column: str = "Annotation", progress: Progress | None = None
                 ) -> tuple:
    """The boxes of ``table`` as binary layers on ``doc``'s grid, changing nothing:
    ``(names, tiles, report)`` for :meth:`Document.load_layers`.  Per channel when the
    document's layers are and the table names channel 2 or more; otherwise every box lies on
    every channel.  Safe on a worker (the document is only read)."""
    if doc.clip.path is None:
        raise ParameterError("the mixture has no file to draw the boxes on: open it from a "
                             "file first")
    boxes = read_boxes(table, fmt, label_column=label_column)
    with tempfile.TemporaryDirectory(prefix="maskstudio-boxes-") as tmp:
        report = write_box_masks(boxes, doc.clip.path, Path(tmp) / "boxes.npz",
                                 config=doc.config,
                                 per_channel=None if doc.store.lead else False,
                                 protect=[table])
        reader = open_masks(report.path, n_channels=doc.clip.n_channels,
                            n_samples=doc.clip.n_samples, samplerate=doc.samplerate,
                            config=doc.config, allow_complex=False)
        F, T, tile = doc.n_bins, doc.n_frames, doc.store.tile
        lead = (doc.clip.n_channels,) if report.per_channel else ()
        tiles = TiledMasks(F, T, tile=tile, lead=lead)
        for _ in report.names:
            tiles.add_layer()
        step = max(1, _BLOCK // tile) * tile
        for t0 in range(0, T, step):
            t1 = min(T, t0 + step)
            tiles.write_codes(range(len(report.names)), t0, quantize(reader.frames(t0, t1)))
            if progress is not None:
                progress(t1, T)
        del reader  # its file is mapped: let it go before the folder does
    return list(report.names), tiles, report


class AnnotationsController(Controller):
    """File ▸ Export annotations…, Import annotations…; ``ask`` shows the dialog (tests
    replace it)."""

    def fill_file_menu(self, menu: QtWidgets.QMenu) -> None:
        self.action("Export &annotations…", self.export_dialog, None, menu,
                    tip="each layer's regions as labelled boxes (Raven, Audacity, Sonic "
                        "Visualiser)")
        self.action("&Import annotations…", self.import_dialog, None, menu,
                    tip="boxes of a Raven table or Audacity labels as new layers, one per "
                        "label")

    def ask(self, dialog: AnnotationsDialog) -> dict | None:
        """The dialog's values, or None when cancelled."""
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return dialog.values()

    def _start(self, export: bool) -> dict | None:
        doc = self.window.doc
        if doc is None:
            show_error(self.window, "open the mixture first (File > Open)")
            return None
        if export and not doc.layers:
            show_error(self.window, "there are no layers to export: add or load a layer first")
            return None
        settings = self.window.settings
        fmt = str(settings.value("annotations/format", "raven"))
        folder = str(settings.value("dirs/annotations", ""))
        path = ""
        if export and doc.clip.path is not None:
            base = Path(folder) if folder else doc.clip.path.parent
            path = str(base / f"{doc.clip.path.stem}.boxes{_SUFFIX.get(fmt, '.txt')}")
        v = self.ask(AnnotationsDialog(self.window, export=export, path=path, fmt=fmt,
                                       n_channels=doc.clip.n_channels))
        if v is None:
            return None
        if not v["path"]:
            show_error(self.window, "choose the annotation file")
            return None
        settings.setValue("annotations/format", v["fmt"])
        settings.setValue("dirs/annotations", str(Path(v["path"]).parent))
        return v

    def export_dialog(self) -> None:
        """File ▸ Export annotations…."""
        v = self._start(export=True)
        if v is not None:
            self.export_annotations(**v)

    def import_dialog(self) -> None:
        """File ▸ Import annotations…."""
        v = self._start(export=False)
        if v is not None:
            self.import_annotations(**v)

    def export_annotations(self, path: str | Path, fmt: str, *, threshold: float = 0.5,
                           merge_ms: float = MERGE_MS, merge_hz: float = MERGE_HZ,
                           min_cells: int = MIN_CELLS) -> Task | None:
        """Write the open document's layers as boxes to ``path`` in ``fmt``, on a worker."""
        doc = self.window.doc
        if doc is None:
            return None

        def work(progress: Progress) -> tuple:
            source = layers_of_document(doc)
            boxes = find_boxes(source, threshold=threshold, merge_ms=merge_ms,
                               merge_hz=merge_hz, min_cells=min_cells,
                               mean_channels=fmt != "raven", progress=progress)
            out = write_boxes(path, boxes, fmt, samplerate=doc.samplerate,
                              protect=inputs(doc))
            return out, len(boxes)

        def done(result: tuple) -> None:
            out, n = result
            self.say(f"wrote {n} box(es) to {out}" if n else
                     f"wrote {out}: no layer has a region at this threshold", 8000)

        return run_task(self.window, "Exporting annotations…", work, done)

    def import_annotations(self, path: str | Path, fmt: str, *,
                           label_column: str = "Annotation") -> Task | None:
        """Add the boxes of ``path`` as layers, one per label, as one undoable step."""
        doc = self.window.doc
        if doc is None:
            return None

        def done(result: tuple) -> None:
            names, tiles, report = result
            if doc is not self.window.doc:
                return  # another file was opened meanwhile
            prov = {"kind": "boxes", "file": str(path), "format": fmt}
            loaded = self.guard(doc.load_layers, names, tiles, prov,
                                f"import {Path(path).name}", mode="add")
            if loaded is None:
                return
            if loaded.indices:
                self.window.active.set(loaded.indices[0])
            overlap = (f"; {report.overlap_cells} cell(s) claimed by two labels kept by "
                       f"the first" if report.overlap_cells else "")
            self.say(f"{Path(path).name}: " + ", ".join(
                f"{n} ({k} box(es))" for n, k in zip(loaded.added, report.boxes)) + overlap,
                10000)

        return run_task(self.window, "Importing annotations…",
                        lambda p: import_tiles(doc, path, fmt, label_column=label_column,
                                               progress=p), done)
