"""The editor window: menus, tools, layers, status line, and the long work behind them."""

from __future__ import annotations

from pathlib import Path

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from maskstudio import __version__
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.events import LayersChanged
from maskstudio.editing.spectrogram import FREQ_SCALES
from maskstudio.io.audiofile import load_audio
from maskstudio.ui.active_layer import ActiveLayer
from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.controller import Shell
from maskstudio.ui.datasets import DatasetMixin
from maskstudio.ui.dialogs import (
    AUDIO_FILTER,
    ExportDialog,
    ShortcutsDialog,
    STFTDialog,
    ThresholdDialog,
)
from maskstudio.ui.icons import tool_icon
from maskstudio.ui.mask_sources import MaskSourcesController
from maskstudio.ui.panels import LayersPanel, LevelsPanel, OptionsBar
from maskstudio.ui.playback import PlaybackController
from maskstudio.ui.projects import ProjectsMixin
from maskstudio.ui.scores_panel import MetricsPanel
from maskstudio.ui.spectrogram_view import COLORMAPS, SpectrogramView
from maskstudio.ui.workers import report_failure, run_task, show_error

MAX_RECENT = 10
OP_VERBS = {"invert": "invert", "binarize": "binarise", "threshold": "threshold"}
PANEL_WIDTH = 320  #: the left column of panels, at first: a layer row fits
TOOL_KEYS = [("brush", "B", "Brush"), ("eraser", "E", "Eraser"), ("rect", "R", "Rectangle"),
             ("time", "Y", "Time range"), ("band", "U", "Frequency band"),
             ("lasso", "L", "Lasso"), ("pan", "H", "Pan")]


class MainWindow(DatasetMixin, ProjectsMixin, Shell):
    firstSpectrogram = QtCore.Signal()

    def __init__(self, settings: QtCore.QSettings | None = None):
        super().__init__()
        self.settings = settings or QtCore.QSettings("maskstudio", "maskstudio")
        self.doc: Document | None = None
        self.confirm_close = True
        self.journaling = True  # every finished step goes to a crash journal
        #: False when nobody sits at the window (--screenshot): no question is asked, a
        #: failure to open is raised to the caller instead of shown in a dialog
        self.interactive = True
        self._fill_task = None
        self.setWindowTitle("maskstudio")
        self.setAcceptDrops(True)
        #: the one active layer: the Layers panel, the view, tools and playback read it
        self.active = ActiveLayer(self)
        self.view = SpectrogramView(self, active=self.active)
        self.setCentralWidget(self.view)
        self.layers = LayersPanel(self, active=self.active)
        dock = QtWidgets.QDockWidget("Layers", self)
        dock.setObjectName("layersDock")
        dock.setWidget(self.layers)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.levels = LevelsPanel(self)
        ldock = QtWidgets.QDockWidget("Levels", self)
        ldock.setObjectName("levelsDock")
        ldock.setWidget(self.levels)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, ldock)
        self.metrics = MetricsPanel(self)
        mdock = QtWidgets.QDockWidget("Scores", self)
        mdock.setObjectName("scoresDock")
        mdock.setWidget(self.metrics)
        # one column of panels at the left, the Scores tabbed with the Levels: the spectrogram
        # keeps most of the width (at least 60 % from 1100 px wide)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, mdock)
        self.tabifyDockWidget(ldock, mdock)
        ldock.raise_()
        mdock.hide()  # shown when there are stems to score against (show_scores)
        self.docks = [dock, ldock, mdock]
        self.resizeDocks([dock], [PANEL_WIDTH], QtCore.Qt.Orientation.Horizontal)
        self.options = OptionsBar(self)
        self.playback = PlaybackController(self)
        self.mask_sources = MaskSourcesController(self)
        self.status_label = QtWidgets.QLabel("Open an audio file: File > Open (Ctrl+O), "
                                             "or drop one here")
        self.statusBar().addWidget(self.status_label, 1)
        self._build_actions()
        self._connect()
        self._restore_settings()

    # -- construction ---------------------------------------------------------------------
    def _action(self, text, slot, shortcut=None, menu=None, tip=None, checkable=False):
        act = QtGui.QAction(text, self)
        if shortcut:
            act.setShortcut(QtGui.QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        if menu is not None:
            menu.addAction(act)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self._action("&Open…", self.open_dialog, "Ctrl+O", m)
        self._action("&Save", self.save, "Ctrl+S", m,
                     tip="save the project (the first time, choose where; a dataset's item "
                         "is saved in place)")
        self._action("Save &As…", self.save_as, "Ctrl+Shift+S", m,
                     tip="save the project under another name")
        self.recent_menu = m.addMenu("Open &Recent")
        self._action("Open the &demo", lambda: self.open_path(_demo_path()), None, m)
        self._init_datasets(m)
        m.addSeparator()
        self.act_export = self._action("&Export sources and residual…", self.export_dialog,
                                       "Ctrl+E", m)
        self._action("Export the &masks (.npz)…", self.save_masks_dialog, None, m)
        self._action("Export the view as &PNG…", self.export_png_dialog, None, m)
        m.addSeparator()
        self._action("&Quit", self.close, "Ctrl+Q", m)

        m = mb.addMenu("&Edit")
        self.act_undo = self._action("&Undo", self.undo, QtGui.QKeySequence.StandardKey.Undo, m)
        self.act_redo = self._action("&Redo", self.redo, "Ctrl+Shift+Z", m)
        m.addSeparator()
        self._action("&Fill the selection", lambda: self._selection_op("fill"), "F", m)
        self._action("&Erase the selection", lambda: self._selection_op("erase"), "Delete", m)
        self._action("&Invert", lambda: self._selection_op("invert"), "I", m)
        self._action("&Binarise", lambda: self._selection_op("binarize"), "Ctrl+B", m)
        self._action("S&mooth the selection", lambda: self._selection_op("smooth"),
                     "Ctrl+Shift+M", m)
        self._action("&Threshold…", self.threshold_dialog, "T", m)
        m.addSeparator()
        self.playback.fill_edit_menu(m)
        self.playback.fill_play_menu(mb.addMenu("&Play"))

        m = mb.addMenu("&Tools")
        self.tool_group = QtGui.QActionGroup(self)
        tools = QtWidgets.QToolBar("Tools", self)
        tools.setObjectName("toolsBar")
        tools.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools.setIconSize(QtCore.QSize(18, 18))
        for name, key, text in TOOL_KEYS:
            act = self._action(f"{text}  ({key})", lambda _=False, n=name: self.set_tool(n),
                               key, m, checkable=True)
            act.setData(name)
            act.setIcon(tool_icon(name))
            self.tool_group.addAction(act)
            tools.addAction(act)
        self.tool_group.actions()[0].setChecked(True)
        m.addSeparator()
        self._action("Smaller brush", lambda: self._brush_step(1 / 1.25), "[", m)
        self._action("Larger brush", lambda: self._brush_step(1.25), "]", m)
        self.addToolBar(tools)
        self.addToolBarBreak()
        self.addToolBar(self.options)

        m = mb.addMenu("&View")
        self._action("Zoom to &fit", self.view.zoom_to_fit, "Ctrl+0", m)
        self._action("&STFT settings…", self.stft_dialog, None, m)
        self._action("&Difference from the oracle", self.metrics.difference.toggle, "D", m)
        self.act_outline = self._action("&Outline the layers", self._outline_toggled, "O", m,
                                        tip="draw each layer as the contour of mask ≥ 0.5 "
                                            "over a faint fill", checkable=True)
        m.addSeparator()
        for d in self.docks:
            m.addAction(d.toggleViewAction())

        m = mb.addMenu("&Masks")
        self._action("&New layer", self.new_layer, "Ctrl+N", m)
        self._action("&Delete layer", self.delete_layer, None, m)
        m.addSeparator()
        self.mask_sources.fill_masks_menu(m)

        m = mb.addMenu("&Help")
        self._action("&Keyboard shortcuts", lambda: ShortcutsDialog(self).exec(), "F1", m)
        self._action("&About", self.about, None, m)

    def _connect(self) -> None:
        self._subscriptions = Subscriptions(self)
        self.view.cursorMoved.connect(self._show_cursor)
        self.view.errorRaised.connect(lambda msg: show_error(self, msg))
        self.layers.errorRaised.connect(lambda msg: show_error(self, msg))
        self.active.changed.connect(self._active_changed)
        self.layers.add_button.clicked.connect(self.new_layer)
        self.layers.remove_button.clicked.connect(self.delete_layer)
        self.options.changed.connect(self._options_changed)
        self.levels.rangeChanged.connect(self._levels_dragged)
        self.view.rendered.connect(self._rendered)
        self.metrics.differenceChanged.connect(self.view.set_difference)

    # -- settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        state = s.value("windowState")
        if state is not None:
            self.restoreState(state)
        o = self.options
        o.size.setValue(int(s.value("brush/size", 12)))
        o.hardness.setValue(float(s.value("brush/hardness", 0.8)))
        o.value.setValue(float(s.value("brush/value", 1.0)))
        o.scale.setCurrentText(str(s.value("view/scale", "linear")))
        o.cmap.setCurrentText(str(s.value("view/colormap", "grey")))
        o.floor.setValue(float(s.value("view/floor", -100)))
        o.ceiling.setValue(float(s.value("view/ceiling", 0)))
        o.auto_contrast.setChecked(str(s.value("view/auto_contrast", "true")) == "true")
        self.act_outline.setChecked(str(s.value("view/outline", "false")) == "true")
        self.view.outline = self.act_outline.isChecked()
        self._options_changed()
        self._update_recent_menu()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        o = self.options
        s.setValue("brush/size", o.size.value())
        s.setValue("brush/hardness", o.hardness.value())
        s.setValue("brush/value", o.value.value())
        s.setValue("view/scale", o.scale.currentText())
        s.setValue("view/colormap", o.cmap.currentText())
        s.setValue("view/floor", o.floor.value())
        s.setValue("view/ceiling", o.ceiling.value())
        s.setValue("view/auto_contrast", "true" if o.auto_contrast.isChecked() else "false")
        s.setValue("view/outline", "true" if self.act_outline.isChecked() else "false")
        s.sync()

    def recent_files(self) -> list:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if v]

    def _remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # -- opening --------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open a mixture or a project", str(self.settings.value("dirs/open", "")),
            "Projects and audio (*.msproj *.wav *.flac *.ogg *.mp3 *.aif *.aiff);;"
            + AUDIO_FILTER)
        if path:
            self.settings.setValue("dirs/open", str(Path(path).parent))
            self.open_path(path)

    def open_path(self, path, *, config: STFTConfig | None = None, wait: bool = False,
                  preloaded=None):
        """Open a mixture or a project: decoding runs in the background unless ``wait``.
        ``preloaded`` is a future of the decoded file (the command line starts decoding before
        Qt loads)."""
        path = Path(path)
        if not self.maybe_save(f"opening '{path.name}'"):
            return None
        self.item_index = None
        if path.suffix == ".msproj":
            return self.open_project(path)
        cfg = config  # None: the grid for the file's sample rate (STFTConfig.for_samplerate)

        def load(progress):
            clip = preloaded.result() if preloaded is not None else load_audio(path)
            doc = Document(clip, cfg)
            first = doc.spectrogram.blocks_for(0, min(doc.n_frames, 4096))
            for b in first:  # the opening view, while the window waits
                doc.spectrogram.compute_block(b)
            return doc

        if wait:
            try:
                self._offer_recovery(load(None))
            except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
                report_failure(self, exc)
            return None
        return run_task(self, f"Opening {path.name}…", load, self._offer_recovery)

    def set_document(self, doc: Document) -> None:
        self.playback.set_document(doc)  # nothing of the previous file carries over
        if self._fill_task is not None:
            self._fill_task.cancel()
        if self.doc is not None and self.doc is not doc:
            self.release_document(self.doc)  # journal kept for recovery, or discarded
        self.doc = doc
        subs = self._subscriptions
        subs.clear()
        subs.connect(doc.events.layers, self._layers_changed)
        subs.connect(doc.events.history, self._history_changed)
        subs.connect(doc.events.masks, self._maybe_modified)
        subs.connect(doc.events.item, self._maybe_modified)
        self.options.set_channels(doc.clip.n_channels)
        self.view.set_document(doc)
        self.view.set_selection(None)
        self.layers.set_vocabulary(self.dataset.labels if self.dataset is not None else [])
        self.layers.set_document(doc)
        self.dataset_panel.show_item(doc)
        self.metrics.set_document(doc)
        if doc.references:
            self.show_scores()
        self._set_active(0)
        if doc.clip.path is not None:
            self._remember(doc.clip.path)
        name = doc.clip.path.name if doc.clip.path else "untitled"
        self._update_title()
        self.status_label.setText(
            f"{name}: {doc.clip.n_channels} ch, {doc.samplerate} Hz, {doc.clip.duration:.1f} s; "
            f"{doc.config.describe()}")
        self._update_undo()
        self.firstSpectrogram.emit()
        self._fill_spectrogram()

    def _fill_spectrogram(self) -> None:
        """Compute the rest of the spectrogram image in the background, for smooth panning."""
        spec = self.doc.spectrogram

        def fill(progress):
            todo = spec.pending_blocks()
            for i, b in enumerate(todo):
                spec.compute_block(b)
                progress(i + 1, len(todo))

        self._fill_task = run_task(self, "", fill, None, modal=False,
                                   on_fail=lambda failure: None)

    # -- document events ------------------------------------------------------------------------
    def _layers_changed(self, event: LayersChanged) -> None:
        self._history_changed(event)

    def _history_changed(self, event: object) -> None:
        self._update_undo()
        self._maybe_modified(event)

    def _maybe_modified(self, event: object) -> None:
        if self.doc is not None and self.isWindowModified() != bool(self.doc.modified):
            self._update_title()  # the unsaved mark

    def show_scores(self) -> None:
        """Show the Scores panel (stems have just become known)."""
        self.docks[2].show()
        self.docks[2].raise_()

    def _update_undo(self) -> None:
        h = self.doc.history if self.doc else None
        self.act_undo.setEnabled(bool(h and h.can_undo))
        self.act_redo.setEnabled(bool(h and h.can_redo))
        self.act_undo.setText(f"&Undo {h.undo_label}" if h and h.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {h.redo_label}" if h and h.can_redo else "&Redo")

    def _show_cursor(self, info) -> None:
        if not info:
            return
        parts = [f"{info['seconds']:.3f} s", f"{info['hz']:.0f} Hz"]
        if "db" in info:
            parts.append(f"{info['db']:.1f} dB")
        for name, v in info.get("values", {}).items():
            parts.append(f"{name} {v:.2f}")
        self.status_label.setText("   ".join(parts))

    # -- tools and options ------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self.view.tool = name
        for act in self.tool_group.actions():
            if act.data() == name:
                act.setChecked(True)
        self.view.cursor_item.setVisible(False)

    def _brush_step(self, factor: float) -> None:
        self.options.size.setValue(max(1, int(round(self.options.size.value() * factor))))

    def _set_active(self, index: int) -> None:
        self.active.set(index)

    def _active_changed(self) -> None:
        if self.view.sounds_like:
            self.view.render()

    def _options_changed(self) -> None:
        o, v = self.options, self.view
        v.brush_px = float(o.size.value())
        v.hardness = float(o.hardness.value())
        v.brush_value = float(o.value.value())
        v.colormap = o.cmap.currentText() if o.cmap.currentText() in COLORMAPS else "grey"
        v.db_range = (o.floor.value(), max(o.ceiling.value(), o.floor.value() + 1))
        v.auto_levels = o.auto_contrast.isChecked()
        self.levels.set_range(*v.db_range)
        v.sounds_like = o.sounds_like.isChecked()
        scale = o.scale.currentText()
        if scale in FREQ_SCALES and scale != v.freq_scale and self.doc is not None:
            v.set_freq_scale(scale)
        else:
            v.freq_scale = scale if scale in FREQ_SCALES else v.freq_scale
            v.freq_axis.scale_name = v.freq_scale
        if self.doc is not None:
            index = o.channel.currentIndex()
            channel = "mid" if index <= 0 else index - 1
            self.doc.set_view_channel(channel)
            v.render()

    def _rendered(self) -> None:
        self.levels.set_levels(self.view.visible_db())
        self.levels.set_range(*self.view.shown_db)

    def _outline_toggled(self, on: bool) -> None:
        self.view.outline = bool(on)
        self.view.update_overlay(None)

    def _levels_dragged(self, lo: float, hi: float) -> None:
        self.options.auto_contrast.setChecked(False)  # a dragged range is a manual one
        self.options.floor.setValue(lo)
        self.options.ceiling.setValue(hi)

    # -- edits ----------------------------------------------------------------------------
    def _guard(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, or None after showing its failure (any failure: a bug's
        dialog says where its traceback was written)."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            report_failure(self, exc)
        return None

    def _need_layer(self) -> bool:
        if self.doc is None:
            show_error(self, "open an audio file first (File > Open)")
            return False
        if not self.doc.layers:
            show_error(self, "there is no layer yet: add one with Masks > New layer (Ctrl+N)")
            return False
        return True

    def undo(self) -> None:
        if self.doc is not None:
            self.doc.history.undo()

    def redo(self) -> None:
        if self.doc is not None:
            self.doc.history.redo()

    def new_layer(self) -> None:
        if self.doc is None:
            return
        label = self.layers.unused_label()
        i = self._guard(self.doc.add_layer, label, label=label or "")
        if i is not None:
            self.layers.set_active(i)

    def delete_layer(self) -> None:
        if self._need_layer():
            self._guard(self.doc.remove_layer, self.layers.active)

    def _selection_op(self, op: str) -> None:
        if not self._need_layer():
            return
        k, sel, doc = self.layers.active, self.view.selection, self.doc
        if sel is None and op in ("fill", "erase", "smooth"):
            self.statusBar().showMessage("select a region first (R, Y, U or L)", 4000)
            return
        if op == "fill":
            self._guard(doc.fill, k, sel, self.view.brush_value)
        elif op == "erase":
            self._guard(doc.erase, k, sel)
        elif op == "smooth":
            self._guard(doc.smooth, k, sel)
        elif sel is not None:
            if self._guard(lambda: getattr(doc, op)(k, sel) or True):
                self._said(op, k, "inside the selection")
        elif self.confirm_whole_file(f"{OP_VERBS[op]} the layer '{doc.layers[k].name}' over "
                                     f"the whole file? (Select a region first to change only "
                                     f"that.)"):
            run_task(self, f"{op.capitalize()} the layer…",
                     lambda p: getattr(doc, op)(k, None, progress=p),
                     lambda _: self._said(op, k, "over the whole file"))

    def confirm_whole_file(self, question: str) -> bool:
        """Whether the user agrees to an operation on the whole file (there is no selection)."""
        answer = QtWidgets.QMessageBox.question(
            self, "The whole file", question,
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Cancel)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def _said(self, op: str, k: int, scope: str) -> None:
        """The status bar says what an operation changed, and where."""
        if self.doc is not None and k < len(self.doc.layers):
            self.statusBar().showMessage(
                f"{OP_VERBS[op]}: layer '{self.doc.layers[k].name}', {scope}", 8000)

    def threshold_dialog(self) -> None:
        if not self._need_layer():
            return
        doc, view = self.doc, self.view
        dialog = ThresholdDialog(self, has_selection=view.selection is not None,
                                 threshold=float(self.settings.value("threshold/db", -50)))

        def preview(level, width):
            from maskstudio.editing.edits import Box

            cols = view._cols
            box = Box(0, doc.n_bins, int(cols[0]), int(max(cols[-1], cols[0] + 1)))
            if view.selection is not None and not dialog.whole_file():
                box = view.selection[0]
            view.preview = (box, self._guard(doc.threshold_preview, box, level, width))
            view.update_overlay(None)

        dialog.previewChanged.connect(preview)
        preview(dialog.level.value(), dialog.width_db.value())
        accepted = dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        view.preview = None
        view.update_overlay(None)
        if not accepted:
            return
        level, width = dialog.level.value(), dialog.width_db.value()
        self.settings.setValue("threshold/db", level)
        k = self.layers.active
        if dialog.whole_file():
            if not self.confirm_whole_file(
                    f"threshold the layer '{doc.layers[k].name}' at {level:.1f} dB over the "
                    f"whole file? (Select a region first to change only that.)"):
                return
            run_task(self, "Thresholding the whole file…",
                     lambda p: doc.threshold(k, level, width_db=width, progress=p),
                     lambda _: self._said("threshold", k, "over the whole file"))
        elif self._guard(lambda: doc.threshold(k, level, width_db=width,
                                               selection=view.selection) or True):
            self._said("threshold", k, "inside the selection")

    # -- export -----------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if not self._need_layer():
            return
        default = self.settings.value("dirs/export", "")
        if not default and self.doc.clip.path is not None:
            default = str(self.doc.clip.path.parent / f"{self.doc.clip.path.stem}-separated")
        dialog = ExportDialog(self, folder=str(default),
                              phase=self.playback.phase,
                              fmt=self._default_format(),
                              active=self.doc.layers[self.layers.active].name)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        if not v["out_dir"]:
            return show_error(self, "choose a folder to export into")
        self.settings.setValue("dirs/export", v["out_dir"])
        self.settings.setValue("export/phase", v["phase"])
        self.export(**v)

    def _default_format(self) -> str:
        fmt = (self.doc.clip.format or "").upper() if self.doc else ""
        return "flac" if fmt == "FLAC" else "wav"

    def export(self, out_dir, **options):
        doc = self.doc
        return run_task(self, "Exporting…", lambda p: doc.export(out_dir, progress=p, **options),
                        lambda files: self.statusBar().showMessage(
                            f"wrote {len(files)} files to {out_dir}", 8000))

    def save_masks_dialog(self) -> None:
        if not self._need_layer():
            return
        start = self.doc.clip.path.with_suffix(".masks.npz") if self.doc.clip.path else ""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save masks", str(start),
                                                        "Mask files (*.npz)")
        if path:
            if self._guard(self.doc.save_masks, path):  # an export: the project is unsaved
                self.statusBar().showMessage(f"saved {path}", 5000)

    def export_png_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export the view", "view.png",
                                                        "PNG images (*.png)")
        if path and not self.view.grab().save(path):
            show_error(self, f"could not write '{path}'")

    def stft_dialog(self) -> None:
        if self.doc is None:
            return
        dialog = STFTDialog(self.doc.config, self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        cfg = self._guard(dialog.config)
        if cfg is None:
            return
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            self._guard(self.doc.set_config, cfg)
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self.view.set_document(self.doc)

    def about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About maskstudio",
            f"maskstudio {__version__}\nA spectrogram mask editor for audio source separation.")

    # -- window events ----------------------------------------------------------------------
    def dragEnterEvent(self, ev):
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.suffix.lower() in (".npz", ".npy") and self.doc is not None:
                    self.mask_sources.load_masks(path)
                else:
                    self.open_path(path)
                break

    def closeEvent(self, ev):
        if not self.maybe_save("closing"):
            ev.ignore()  # cancelled, or the save failed (said): the window stays open
            return
        if self._fill_task is not None:
            self._fill_task.cancel()
        self.metrics.shutdown()
        self.playback.stop()
        self.save_settings()
        if self.doc is not None:
            self.release_document(self.doc)  # journal kept for recovery, or discarded
        super().closeEvent(ev)


def _demo_path() -> Path:
    from maskstudio.demo import demo_folder

    return demo_folder() / "mixture.flac"
