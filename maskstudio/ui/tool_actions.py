"""The editing power tools' actions: their options, moving energy, local threshold, typed
bounds and note names (issue 15).

:class:`ToolController` owns

- the *Tool options* bar: the harmonic tool's width (cents), fall-off (dB per harmonic) and
  "non-harmonic", the wand's tolerance (dB) and "within the active layer", and "snap to
  peaks" for the rectangle and band tools;
- Edit ▸ Selection bounds… (Ctrl+Shift+B) and Local threshold… (Shift+T);
- Masks ▸ Give the selection to ▸ (a layer, the residual), Take the selection from ▸,
  Cast the active layer over ▸ — each one undo step on the channel edits change; a locked
  layer is refused in the status bar;
- View ▸ Note names (the frequency axis in notes, A4 = 440 Hz; kept in the settings).

The edits are :mod:`maskstudio.editing.selections`'.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from maskstudio.editing import selections
from maskstudio.editing.edits import Box
from maskstudio.errors import ParameterError
from maskstudio.ui.controller import Controller, Shell
from maskstudio.ui.dialogs import buttons
from maskstudio.ui.edit_actions import EditController
from maskstudio.ui.workers import run_task, show_error

__all__ = ["ToolController", "BoundsDialog", "LocalThresholdDialog"]


def _spin(lo: float, hi: float, value: float, tip: str, *, step: float = 1.0,
          suffix: str = "", decimals: int = 1) -> QtWidgets.QDoubleSpinBox:
    w = QtWidgets.QDoubleSpinBox(minimum=lo, maximum=hi, decimals=decimals, singleStep=step,
                                 suffix=suffix)
    w.setValue(value)
    w.setToolTip(tip)
    return w


class ToolController(Controller):
    """The pick tools' options, moving energy, local threshold, bounds and note names."""

    def __init__(self, window: Shell, edits: EditController):
        super().__init__(window)
        self.edits = edits  # its layer check and its whole-file question
        view = window.view
        view.said.connect(lambda msg: self.say(msg, 6000))
        o = view.picker.options
        bar = self.options_bar = QtWidgets.QToolBar("Tool options", window)
        bar.setObjectName("toolOptionsBar")
        self.width = _spin(5, 600, o.width_cents, "harmonic tool: each harmonic's width",
                           step=5, suffix=" cents", decimals=0)
        self.falloff = _spin(0, 24, o.falloff_db, "harmonic tool: the selection's strength "
                             "drops by this much per harmonic", step=0.5, suffix=" dB/h")
        self.non_harmonic = QtWidgets.QCheckBox("non-harmonic")
        self.non_harmonic.setToolTip("harmonic tool: select everything but the harmonics, in "
                                     "the frames where the note was followed")
        self.tolerance = _spin(0, 60, o.tolerance_db, "magic wand: how far from the clicked "
                               "level a bin may be", step=0.5, suffix=" dB")
        self.within = QtWidgets.QCheckBox("within the active layer")
        self.within.setToolTip("magic wand: only where the active layer holds a share")
        self.snap = QtWidgets.QCheckBox("snap to peaks")
        self.snap.setToolTip("rectangle and band: the frequency edges snap to the edges of "
                             "the nearest spectral peaks")
        for label, w in (("harmonics", self.width), ("fall-off", self.falloff)):
            bar.addWidget(QtWidgets.QLabel(f" {label} "))
            bar.addWidget(w)
        bar.addWidget(self.non_harmonic)
        bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" wand "))
        bar.addWidget(self.tolerance)
        bar.addWidget(self.within)
        bar.addSeparator()
        bar.addWidget(self.snap)
        for spin in (self.width, self.falloff, self.tolerance):
            spin.valueChanged.connect(self._options)
        for box in (self.non_harmonic, self.within, self.snap):
            box.toggled.connect(self._options)

    def _options(self, *_: object) -> None:
        o = self.window.view.picker.options
        o.width_cents, o.falloff_db = self.width.value(), self.falloff.value()
        o.non_harmonic = self.non_harmonic.isChecked()
        o.tolerance_db, o.within_layer = self.tolerance.value(), self.within.isChecked()
        o.snap = self.snap.isChecked()

    # -- menus ------------------------------------------------------------------------------
    def fill_edit_menu(self, menu: QtWidgets.QMenu) -> None:
        """Edit ▸ Selection bounds…, Local threshold…"""
        self.action("Selection &bounds…", self.bounds_dialog, "Ctrl+Shift+B", menu,
                    tip="type the selection's start, end, low and high frequency")
        self.action("&Local threshold…", self.local_threshold_dialog, "Shift+T", menu,
                    tip="keep the layer where the mixture stands above its local level")

    def fill_masks_menu(self, menu: QtWidgets.QMenu) -> None:
        """Masks ▸ Give the selection to ▸, Take the selection from ▸, Cast … over ▸"""
        menu.addSeparator()
        for text, fill in (("&Give the selection to", self._give_items),
                           ("T&ake the selection from", self._take_items),
                           ("&Cast the active layer over", self._cast_items)):
            sub = menu.addMenu(text)
            sub.aboutToShow.connect(lambda s=sub, f=fill: self._fill(s, f()))

    def fill_view_menu(self, menu: QtWidgets.QMenu) -> None:
        """View ▸ Note names (persisted)."""
        self.act_notes = self.action("&Note names",
                                     lambda: self.set_note_names(self.act_notes.isChecked()),
                                     None, menu,
                                     tip="label the frequency axis with notes (A4 = 440 Hz)",
                                     checkable=True)
        on = str(self.window.settings.value("view/note_names", "false")) == "true"
        self.act_notes.setChecked(on)
        self.set_note_names(on)

    def _others(self) -> list[tuple[str, int]]:
        doc = self.window.doc
        if doc is None or not doc.layers:
            return []
        k = self.window.active.index
        return [(layer.name, i) for i, layer in enumerate(doc.layers) if i != k]

    def _give_items(self) -> list:
        return [(n, lambda i=i: self.give(i)) for n, i in self._others()] + [
            ("the residual", lambda: self.give(None))]

    def _take_items(self) -> list:
        return [(n, lambda i=i: self.take(i)) for n, i in self._others()] + [
            ("the residual", lambda: self.take(None))]

    def _cast_items(self) -> list:
        return [(n, lambda i=i: self.cast(i)) for n, i in self._others()]

    @staticmethod
    def _fill(menu: QtWidgets.QMenu, items: list) -> None:
        menu.clear()
        for text, slot in items:
            menu.addAction(text).triggered.connect(lambda _=False, s=slot: s())
        if not items:
            menu.addAction("(no other layer)").setEnabled(False)

    # -- moving energy ----------------------------------------------------------------------
    def _edit(self, fn: Callable[[], object], done: str) -> bool:
        """Run an edit; a refusal (a locked layer, no selection) is said in the status bar."""
        try:
            fn()
        except ParameterError as exc:
            self.say(str(exc), 8000)
            return False
        except Exception as exc:  # noqa: BLE001 - any other failure gets its dialog
            from maskstudio.reporting import describe_failure

            show_error(self.window, describe_failure(exc)[0])
            return False
        self.say(done, 6000)
        return True

    def _layer_name(self, k: int | None) -> str:
        doc = self.window.doc
        return "the residual" if k is None or doc is None else f"'{doc.layers[k].name}'"

    def give(self, dst: int | None) -> bool:
        """The selection's share of the active layer goes to layer ``dst`` (None: residual)."""
        return self._move(dst, give=True)

    def take(self, src: int | None) -> bool:
        """The selection's share of layer ``src`` (None: the residual) goes to the active one."""
        return self._move(src, give=False)

    def _move(self, other: int | None, *, give: bool) -> bool:
        doc, k = self.window.doc, self.window.active.index
        if doc is None or k is None:
            return False
        src, dst = (k, other) if give else (other, k)
        sel = self.window.view.selection
        said = (f"gave the selection of {self._layer_name(k)} to {self._layer_name(other)}"
                if give else f"took the selection of {self._layer_name(other)} into "
                f"{self._layer_name(k)}")
        return self._edit(lambda: selections.move_selection(doc, src, dst, sel), said)

    def cast(self, under: int) -> bool:
        """The active layer takes ``under``'s share where it is present: in the selection, or
        over the whole file (after asking, in the background)."""
        doc, k = self.window.doc, self.window.active.index
        if doc is None or k is None:
            return False
        done = f"cast {self._layer_name(k)} over {self._layer_name(under)}"
        sel = self.window.view.selection
        if sel is not None:
            return self._edit(lambda: selections.cast_layer(doc, k, under, selection=sel),
                              done + " inside the selection")
        try:
            if k == under:
                raise ParameterError("a layer cannot be cast over itself: choose another")
            selections.check_movable(doc, k, under)
        except ParameterError as exc:  # refused before anything: said, nothing asked
            self.say(str(exc), 8000)
            return False
        if not self.edits.confirm_whole_file(
                f"{done} over the whole file? (Select a region first to change only that.)"):
            return False
        run_task(self.window, "Casting the layer…",
                 lambda p: selections.cast_layer(doc, k, under, progress=p),
                 lambda _: self.say(done + " over the whole file", 6000))
        return True

    # -- dialogs ----------------------------------------------------------------------------
    def bounds_dialog(self) -> None:
        """Edit ▸ Selection bounds…: a rectangle typed in seconds and Hz."""
        doc, view = self.window.doc, self.window.view
        if doc is None:
            show_error(self.window, "open an audio file first (File > Open)")
            return
        if view.selection is not None:
            b = view.selection[0]
            start = (b.t0 * doc.frame_seconds, (b.t1 - 1) * doc.frame_seconds,
                     b.f0 * doc.bin_hz, (b.f1 - 1) * doc.bin_hz)
        else:
            (x0, x1), _ = view.vb.viewRange()
            start = (max(0.0, x0), x1, 0.0, doc.samplerate / 2)
        dialog = BoundsDialog(self.window, start, duration=doc.n_frames * doc.frame_seconds,
                              nyquist=doc.samplerate / 2)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.set_bounds(*dialog.values())

    def set_bounds(self, start_s: float, end_s: float, low_hz: float, high_hz: float) -> bool:
        """Select the rectangle of those bounds."""
        doc = self.window.doc
        if doc is None:
            return False
        try:
            sel = selections.bounds_selection(doc, start_s, end_s, low_hz, high_hz)
        except ParameterError as exc:
            show_error(self.window, str(exc))
            return False
        self.window.view.set_selection(sel)
        return True

    def local_threshold_dialog(self) -> None:
        """Edit ▸ Local threshold… (Shift+T), previewed on the view while it is open."""
        doc = self.edits.need_layer()
        if doc is None:
            return
        view, settings = self.window.view, self.window.settings
        dialog = LocalThresholdDialog(
            self.window, has_selection=view.selection is not None,
            offset=float(str(settings.value("local_threshold/offset", 6.0))))

        def window_size() -> tuple[int, int]:
            ms, hz = dialog.window_ms.value(), dialog.window_hz.value()
            return (max(1, int(round(hz / doc.bin_hz))) | 1,
                    max(1, int(round(ms / 1000 / doc.frame_seconds))) | 1)

        def options() -> dict:
            bins, frames = window_size()
            return {"offset_db": dialog.offset.value(), "bins": bins, "frames": frames,
                    "reference": dialog.reference.currentText()}

        def preview(*_: object) -> None:
            box = Box(0, doc.n_bins, *view.shown_frames())
            if view.selection is not None and not dialog.whole_file():
                box = view.selection[0]
            values = self.guard(selections.local_threshold_preview, doc, box, **options())
            if values is not None:
                view.preview = (box.clip(doc.n_bins, doc.n_frames), values)
                view.update_overlay(None)

        def learn() -> None:
            o = options()
            offset = self.guard(selections.learn_local_offset, doc, view.selection,
                                bins=o["bins"], frames=o["frames"], reference=o["reference"])
            if offset is not None:
                dialog.offset.setValue(offset)

        dialog.previewChanged.connect(preview)
        dialog.learn.clicked.connect(learn)
        preview()
        accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        view.preview = None
        view.update_overlay(None)
        if not accepted:
            return
        o, k = options(), self.window.active.index or 0
        settings.setValue("local_threshold/offset", o["offset_db"])
        if dialog.whole_file():
            if not self.edits.confirm_whole_file(
                    f"threshold the layer '{doc.layers[k].name}' against its local level "
                    f"over the whole file? (Select a region first to change only that.)"):
                return
            run_task(self.window, "Local threshold over the whole file…",
                     lambda p: selections.local_threshold(doc, k, progress=p, **o),
                     lambda _: self.say("local threshold: over the whole file", 6000))
        else:
            self._edit(lambda: selections.local_threshold(doc, k, selection=view.selection,
                                                          **o),
                       "local threshold: inside the selection")

    # -- note names -------------------------------------------------------------------------
    def set_note_names(self, on: bool) -> None:
        """The frequency axis in note names (on) or Hz; remembered in the settings."""
        view = self.window.view
        view.freq_axis.notes = bool(on)
        view.plot.setLabel("left", "note" if on else "frequency (Hz)")
        view.freq_axis.picture = None
        view.freq_axis.update()
        self.window.settings.setValue("view/note_names", "true" if on else "false")


class BoundsDialog(QtWidgets.QDialog):
    """The selection's start and end (s), low and high frequency (Hz), typed exactly."""

    def __init__(self, parent: QtWidgets.QWidget | None, start: tuple, *, duration: float,
                 nyquist: float):
        super().__init__(parent)
        self.setWindowTitle("Selection bounds")
        self.setObjectName("boundsDialog")
        form = QtWidgets.QFormLayout(self)
        self.fields = []
        for (label, hi, suffix, decimals), v in zip(
                (("Start", duration, " s", 4), ("End", duration, " s", 4),
                 ("Low", nyquist, " Hz", 1), ("High", nyquist, " Hz", 1)), start):
            w = _spin(0, hi, min(max(0.0, v), hi), label, suffix=suffix, decimals=decimals,
                      step=0.01 if suffix == " s" else 10)
            form.addRow(label, w)
            self.fields.append(w)
        form.addRow(buttons(self))

    def values(self) -> tuple[float, float, float, float]:
        a, b, c, d = (w.value() for w in self.fields)
        return a, b, c, d


class LocalThresholdDialog(QtWidgets.QDialog):
    """Keep the layer where the mixture is louder than its local level, with a live preview
    and "Learn from selection"."""

    previewChanged = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, has_selection: bool = False,
                 offset: float = 6.0):
        super().__init__(parent)
        self.setWindowTitle("Local threshold")
        self.setObjectName("localThresholdDialog")
        form = QtWidgets.QFormLayout(self)
        self.offset = _spin(-60, 60, offset, "how far above its local level a bin must be",
                            step=0.5, suffix=" dB")
        self.window_ms = _spin(10, 5000, 200, "the neighbourhood's length", step=10,
                               suffix=" ms", decimals=0)
        self.window_hz = _spin(10, 10000, 500, "the neighbourhood's height", step=10,
                               suffix=" Hz", decimals=0)
        self.reference = QtWidgets.QComboBox()
        self.reference.addItems(["mean", "peak"])
        self.reference.setToolTip("the local level: the mean of the levels around, or their "
                                  "peak")
        self.learn = QtWidgets.QPushButton("Learn from selection")
        self.learn.setToolTip("set the offset so that the selected example is kept")
        self.learn.setEnabled(has_selection)
        self.scope = QtWidgets.QComboBox()
        self.scope.addItems(["inside the selection", "whole file"] if has_selection
                            else ["whole file"])
        for label, w in (("Offset", self.offset), ("Window", self.window_ms),
                         ("", self.window_hz), ("Reference", self.reference),
                         ("", self.learn), ("Apply to", self.scope)):
            form.addRow(label, w)
        form.addRow(QtWidgets.QLabel("The preview shows the visible part."))
        form.addRow(buttons(self, "Apply"))
        for w in (self.offset, self.window_ms, self.window_hz):
            w.valueChanged.connect(lambda *_: self.previewChanged.emit())
        self.reference.currentIndexChanged.connect(lambda *_: self.previewChanged.emit())
        self.scope.currentIndexChanged.connect(lambda *_: self.previewChanged.emit())

    def whole_file(self) -> bool:
        return self.scope.currentText() == "whole file"
