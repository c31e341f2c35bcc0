"""Editing in the window: undo and redo, the operations on the active layer, new layers.

:class:`EditController` owns Edit ▸ Undo, Redo, Fill, Erase, Invert, Binarise, Smooth and
Threshold, and Masks ▸ New layer and Delete layer.  The edits are the document's
(:mod:`maskstudio.editing.document`): each is one undo step; an operation over the whole file
(there is no selection) asks first and runs off the GUI thread; the status bar says where an
operation acted.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtGui, QtWidgets

from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box
from maskstudio.ui.controller import Controller
from maskstudio.ui.dialogs import ThresholdDialog
from maskstudio.ui.workers import run_task, show_error

__all__ = ["EditController"]

#: how the status bar names an operation
OP_VERBS = {"invert": "invert", "binarize": "binarise", "threshold": "threshold"}


class EditController(Controller):
    """Undo, redo, the selection's operations, the threshold, new and deleted layers.
    ``confirm_whole_file`` asks before an operation on the whole file (tests replace it)."""

    def fill_edit_menu(self, menu: QtWidgets.QMenu) -> None:
        """Edit ▸ Undo, Redo, then the operations on the active layer."""
        self.act_undo = self.action("&Undo", self.undo, QtGui.QKeySequence.StandardKey.Undo,
                                    menu)
        self.act_redo = self.action("&Redo", self.redo, "Ctrl+Shift+Z", menu)
        menu.addSeparator()
        self.action("&Fill the selection", lambda: self.selection_op("fill"), "F", menu)
        self.action("&Erase the selection", lambda: self.selection_op("erase"), "Delete", menu)
        self.action("&Invert", lambda: self.selection_op("invert"), "I", menu)
        self.action("&Binarise", lambda: self.selection_op("binarize"), "Ctrl+B", menu)
        self.action("S&mooth the selection", lambda: self.selection_op("smooth"),
                    "Ctrl+Shift+M", menu)
        self.action("&Threshold…", self.threshold_dialog, "T", menu)

    def fill_masks_menu(self, menu: QtWidgets.QMenu) -> None:
        """Masks ▸ New layer (Ctrl+N), Delete layer."""
        self.action("&New layer", self.new_layer, "Ctrl+N", menu)
        self.action("&Delete layer", self.delete_layer, None, menu)

    def update_undo(self) -> None:
        """Undo and Redo say what they would undo or redo, and are off when there is none."""
        doc = self.window.doc
        h = doc.history if doc is not None else None
        self.act_undo.setEnabled(bool(h and h.can_undo))
        self.act_redo.setEnabled(bool(h and h.can_redo))
        self.act_undo.setText(f"&Undo {h.undo_label}" if h and h.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {h.redo_label}" if h and h.can_redo else "&Redo")

    # -- the document and its layers --------------------------------------------------------
    def need_layer(self) -> Document | None:
        """The open document if it has a layer to act on; otherwise None, said in a dialog."""
        doc = self.window.doc
        if doc is None:
            show_error(self.window, "open an audio file first (File > Open)")
            return None
        if not doc.layers:
            show_error(self.window, "there is no layer yet: add one with Masks > New layer "
                                    "(Ctrl+N)")
            return None
        return doc

    def _active(self) -> int:
        """The active layer's row (the document has a layer)."""
        index = self.window.active.index
        return 0 if index is None else index

    def undo(self) -> None:
        if self.window.doc is not None:
            self.window.doc.history.undo()

    def redo(self) -> None:
        if self.window.doc is not None:
            self.window.doc.history.redo()

    def new_layer(self) -> None:
        """Masks ▸ New layer: named by the first label of the vocabulary no layer has yet."""
        doc = self.window.doc
        if doc is None:
            return
        label = self.window.layers.unused_label()
        i = self.guard(doc.add_layer, label, label=label or "")
        if i is not None:
            self.window.layers.set_active(i)

    def delete_layer(self) -> None:
        doc = self.need_layer()
        if doc is not None:
            self.guard(doc.remove_layer, self._active())

    # -- operations ---------------------------------------------------------------------------
    def selection_op(self, op: str) -> None:
        """Fill, erase or smooth the selection; invert or binarise it, or the whole file
        (after asking) when there is no selection."""
        doc = self.need_layer()
        if doc is None:
            return
        k, sel, view = self._active(), self.window.view.selection, self.window.view
        if sel is None and op in ("fill", "erase", "smooth"):
            self.say("select a region first (R, Y, U or L)", 4000)
            return
        if op == "fill":
            self.guard(doc.fill, k, sel, view.brush_value)
        elif op == "erase":
            self.guard(doc.erase, k, sel)
        elif op == "smooth":
            self.guard(doc.smooth, k, sel)
        elif sel is not None:
            if self.guard(_done, getattr(doc, op), k, sel):
                self._said(op, k, "inside the selection")
        elif self.confirm_whole_file(f"{OP_VERBS[op]} the layer '{doc.layers[k].name}' over "
                                     f"the whole file? (Select a region first to change only "
                                     f"that.)"):
            run_task(self.window, f"{op.capitalize()} the layer…",
                     lambda p: getattr(doc, op)(k, None, progress=p),
                     lambda _: self._said(op, k, "over the whole file"))

    def confirm_whole_file(self, question: str) -> bool:
        """Whether the user agrees to an operation on the whole file (there is no selection)."""
        B = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(self.window, "The whole file", question,
                                                B.Yes | B.Cancel, B.Cancel)
        return answer == B.Yes

    def _said(self, op: str, k: int, scope: str) -> None:
        """The status bar says what an operation changed, and where."""
        doc = self.window.doc
        if doc is not None and k < len(doc.layers):
            self.say(f"{OP_VERBS[op]}: layer '{doc.layers[k].name}', {scope}", 8000)

    def threshold_dialog(self) -> None:
        """Edit ▸ Threshold (T): keep the layer where the mixture is louder than a level,
        previewed on the view while the dialog is open."""
        doc = self.need_layer()
        if doc is None:
            return
        view, settings = self.window.view, self.window.settings
        dialog = ThresholdDialog(self.window, has_selection=view.selection is not None,
                                 threshold=float(str(settings.value("threshold/db", -50))))

        def preview(level: float, width: float) -> None:
            box = Box(0, doc.n_bins, *view.shown_frames())
            if view.selection is not None and not dialog.whole_file():
                box = view.selection[0]
            view.preview = (box, self.guard(doc.threshold_preview, box, level, width))
            view.update_overlay(None)

        dialog.previewChanged.connect(preview)
        preview(dialog.level.value(), dialog.width_db.value())
        accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        view.preview = None
        view.update_overlay(None)
        if not accepted:
            return
        level, width = dialog.level.value(), dialog.width_db.value()
        settings.setValue("threshold/db", level)
        k = self._active()
        if dialog.whole_file():
            if not self.confirm_whole_file(
                    f"threshold the layer '{doc.layers[k].name}' at {level:.1f} dB over the "
                    f"whole file? (Select a region first to change only that.)"):
                return
            run_task(self.window, "Thresholding the whole file…",
                     lambda p: doc.threshold(k, level, width_db=width, progress=p),
                     lambda _: self._said("threshold", k, "over the whole file"))
        elif self.guard(_done, doc.threshold, k, level, width_db=width,
                        selection=view.selection):
            self._said("threshold", k, "inside the selection")


def _done(fn: Callable[..., object], *args: object, **kwargs: object) -> bool:
    """``fn(*args, **kwargs)``, then True: an edit that returns nothing, through ``guard``
    (whose None means it failed)."""
    fn(*args, **kwargs)
    return True
