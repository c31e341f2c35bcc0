"""The editor window: the view and its panels, and the controllers it is composed of.

The window lays out the spectrogram view, the Layers, Levels, Scores and Items panels and
the toolbars; it creates one controller per kind of work (:mod:`maskstudio.ui.controller`
lists them), each owning its actions, and it keeps what they share: the open document, which
it hands to every view, panel and controller (:meth:`MainWindow.set_document`).  Its own
actions are the tools, the view's options and the exports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from maskstudio import __version__
from maskstudio.editing.document import Document
from maskstudio.editing.outputs import export as export_document
from maskstudio.editing.spectrogram import FREQ_SCALES
from maskstudio.ui.active_layer import ActiveLayer
from maskstudio.ui.annotations import AnnotationsController
from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.controller import Shell, Shortcut, make_action
from maskstudio.ui.datasets import DatasetController
from maskstudio.ui.dialogs import ExportDialog, ShortcutsDialog, STFTDialog
from maskstudio.ui.edit_actions import EditController
from maskstudio.ui.icons import tool_icon
from maskstudio.ui.mask_sources import MaskSourcesController
from maskstudio.ui.panels import LayersPanel, LevelsPanel, OptionsBar
from maskstudio.ui.playback import PlaybackController
from maskstudio.ui.projects import ProjectController
from maskstudio.ui.scores_panel import MetricsPanel
from maskstudio.ui.spectrogram_view import COLORMAPS, SpectrogramView
from maskstudio.ui.tool_actions import ToolController
from maskstudio.ui.view_parts import FillControl
from maskstudio.ui.workers import Task, guard, run_task, show_error

__all__ = ["MainWindow"]

PANEL_WIDTH = 320  #: the left column of panels, at first: a layer row fits
TOOL_KEYS = [("brush", "B", "Brush"), ("eraser", "E", "Eraser"), ("rect", "R", "Rectangle"),
             ("time", "Y", "Time range"), ("band", "U", "Frequency band"),
             ("lasso", "L", "Lasso"), ("harmonic", "A", "Harmonics"), ("wand", "W", "Magic wand"),
             ("pan", "H", "Pan")]


class MainWindow(Shell):
    """The editor window.  Its parts: ``playback``, ``projects``, ``datasets``,
    ``mask_sources``, ``edits`` and ``annotations`` (the controllers), ``view``, ``layers``,
    ``levels``, ``metrics`` and ``options``."""

    firstSpectrogram = QtCore.Signal()

    def __init__(self, settings: QtCore.QSettings | None = None):
        super().__init__()
        self.settings = settings or QtCore.QSettings("maskstudio", "maskstudio")
        self.doc = None
        self.confirm_close = True
        self.journaling = True
        self.interactive = True
        self._fill_task: FillControl | None = None
        self.setWindowTitle("maskstudio")
        self.setAcceptDrops(True)
        self.active = ActiveLayer(self)
        self.view = SpectrogramView(self, active=self.active)
        self.setCentralWidget(self.view)
        self.layers = LayersPanel(self, active=self.active)
        self.levels = LevelsPanel(self)
        self.metrics = MetricsPanel(self)
        self.docks = [self._dock("Layers", "layersDock", self.layers),
                      self._dock("Levels", "levelsDock", self.levels),
                      self._dock("Scores", "scoresDock", self.metrics)]
        # one column of panels at the left, the Scores tabbed with the Levels: the spectrogram
        # keeps most of the width (at least 60 % from 1100 px wide)
        self.tabifyDockWidget(self.docks[1], self.docks[2])
        self.docks[1].raise_()
        self.docks[2].hide()  # shown when there are stems to score against (show_scores)
        self.resizeDocks([self.docks[0]], [PANEL_WIDTH], QtCore.Qt.Orientation.Horizontal)
        self.options = OptionsBar(self)
        self.playback = PlaybackController(self)
        self.projects = ProjectController(self)
        self.datasets = DatasetController(self)
        self.docks.append(self.datasets.dock)
        self.mask_sources = MaskSourcesController(self)
        self.edits = EditController(self)
        self.tool_actions = ToolController(self, self.edits)  # issue 15's power tools
        self.annotations = AnnotationsController(self)
        self.status_label = QtWidgets.QLabel("Open an audio file: File > Open (Ctrl+O), "
                                             "or drop one here")
        self.statusBar().addWidget(self.status_label, 1)
        self._build_menus()
        self._connect()
        self._restore_settings()

    # -- construction ---------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        return dock

    def _action(self, text: str, slot: Callable[..., object], shortcut: Shortcut | None = None,
                menu: QtWidgets.QMenu | None = None, *, tip: str | None = None,
                checkable: bool = False) -> QtGui.QAction:
        return make_action(self, self, text, slot, shortcut, menu, tip=tip, checkable=checkable)

    def _build_menus(self) -> None:
        """The menus in their order; each controller fills in its own entries."""
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self.projects.fill_file_menu(m)
        self.datasets.fill_file_menu(m)
        m.addSeparator()
        self._action("&Export sources and residual…", self.export_dialog, "Ctrl+E", m)
        self._action("Export the &masks (.npz)…", self.save_masks_dialog, None, m)
        self._action("Export the view as &PNG…", self.export_png_dialog, None, m)
        m.addSeparator()
        self.annotations.fill_file_menu(m)
        m.addSeparator()
        self._action("&Quit", self.close, "Ctrl+Q", m)

        m = mb.addMenu("&Edit")
        self.edits.fill_edit_menu(m)
        self.tool_actions.fill_edit_menu(m)
        m.addSeparator()
        self.playback.fill_edit_menu(m)
        self.playback.fill_play_menu(mb.addMenu("&Play"))
        self._build_tools(mb.addMenu("&Tools"))

        m = mb.addMenu("&View")
        self._action("Zoom to &fit", self.view.zoom_to_fit, "Ctrl+0", m)
        self._action("&STFT settings…", self.stft_dialog, None, m)
        self._action("&Difference from the oracle", self.metrics.difference.toggle, "D", m)
        self.act_outline = self._action("&Outline the layers", self._outline_toggled, "O", m,
                                        tip="draw each layer as the contour of mask ≥ 0.5 "
                                            "over a faint fill", checkable=True)
        self.tool_actions.fill_view_menu(m)
        m.addSeparator()
        for d in self.docks:
            m.addAction(d.toggleViewAction())

        m = mb.addMenu("&Masks")
        self.edits.fill_masks_menu(m)
        self.act_link = self._action("&Link the channels", self._link_toggled, "K", m,
                                     tip="edits change every channel; off: only the channel "
                                         "shown", checkable=True)
        self.tools_bar.addSeparator()
        self.tools_bar.addAction(self.act_link)
        self.tool_actions.fill_masks_menu(m)
        m.addSeparator()
        self.mask_sources.fill_masks_menu(m)

        m = mb.addMenu("&Help")
        self._action("&Keyboard shortcuts", lambda: ShortcutsDialog(self).exec(), "F1", m)
        self._action("&About", self.about, None, m)

    def _build_tools(self, menu: QtWidgets.QMenu) -> None:
        """Tools: one checkable action per tool (in the menu and the toolbar), brush size."""
        self.tool_group = QtGui.QActionGroup(self)
        tools = self.tools_bar = QtWidgets.QToolBar("Tools", self)
        tools.setObjectName("toolsBar")
        tools.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools.setIconSize(QtCore.QSize(18, 18))
        for name, key, text in TOOL_KEYS:
            act = self._action(f"{text}  ({key})", lambda _=False, n=name: self.set_tool(n),
                               key, menu, checkable=True)
            act.setData(name)
            act.setIcon(tool_icon(name))
            self.tool_group.addAction(act)
            tools.addAction(act)
        self.tool_group.actions()[0].setChecked(True)
        menu.addSeparator()
        self._action("Smaller brush", lambda: self._brush_step(1 / 1.25), "[", menu)
        self._action("Larger brush", lambda: self._brush_step(1.25), "]", menu)
        self.addToolBar(tools)
        self.addToolBarBreak()
        self.addToolBar(self.options)
        self.addToolBarBreak()  # the pick tools' options: a row of their own
        self.addToolBar(self.tool_actions.options_bar)

    def _connect(self) -> None:
        self._subscriptions = Subscriptions(self)
        self.view.cursorMoved.connect(self._show_cursor)
        self.view.errorRaised.connect(lambda msg: show_error(self, msg))
        self.layers.errorRaised.connect(lambda msg: show_error(self, msg))
        self.active.changed.connect(self._active_changed)
        self.layers.add_button.clicked.connect(self.edits.new_layer)
        self.layers.remove_button.clicked.connect(self.edits.delete_layer)
        self.options.changed.connect(self._options_changed)
        self.levels.rangeChanged.connect(self._levels_dragged)
        self.view.rendered.connect(self._rendered)
        self.metrics.differenceChanged.connect(self.view.set_difference)
        self.metrics.yield_to = lambda: self.playback.playing  # scores wait while it plays

    # -- settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("geometry")
        if isinstance(geo, (QtCore.QByteArray, bytes)):
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        state = s.value("windowState")
        if isinstance(state, (QtCore.QByteArray, bytes)):
            self.restoreState(state)
        o = self.options

        def value(key: str, default: object) -> str:
            return str(s.value(key, default))

        o.size.setValue(int(value("brush/size", 12)))
        o.hardness.setValue(float(value("brush/hardness", 0.8)))
        o.value.setValue(float(value("brush/value", 1.0)))
        o.scale.setCurrentText(value("view/scale", "linear"))
        o.cmap.setCurrentText(value("view/colormap", "grey"))
        o.floor.setValue(float(value("view/floor", -100)))
        o.ceiling.setValue(float(value("view/ceiling", 0)))
        o.auto_contrast.setChecked(value("view/auto_contrast", "true") == "true")
        self.act_outline.setChecked(value("view/outline", "false") == "true")
        self.act_link.setChecked(value("edit/link_channels", "true") == "true")
        self.view.outline = self.act_outline.isChecked()
        self._options_changed()

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
        s.setValue("edit/link_channels", "true" if self.act_link.isChecked() else "false")
        s.sync()

    # -- the document ---------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        """Show ``doc``: every view, panel and controller follows it; the previous document
        is let go (its journal kept for recovery, or discarded)."""
        self.playback.set_document(doc)  # nothing of the previous file carries over
        if self._fill_task is not None:
            self._fill_task.cancel()
        if self.doc is not None and self.doc is not doc:
            self.projects.release_document(self.doc)
        self.doc = doc
        subs = self._subscriptions
        subs.clear()
        subs.connect(doc.events.layers, self._history_changed)
        subs.connect(doc.events.history, self._history_changed)
        subs.connect(doc.events.masks, self._maybe_modified)
        subs.connect(doc.events.item, self._maybe_modified)
        self.options.set_channels(doc.clip.n_channels)
        doc.link_channels = self.act_link.isChecked()
        self.view.set_document(doc)
        self.view.set_selection(None)
        self.layers.set_vocabulary(self.datasets.vocabulary())
        self.layers.set_document(doc)
        self.datasets.set_document(doc)
        self.metrics.set_document(doc)
        if doc.references:
            self.show_scores()
        self.active.set(0)
        if doc.clip.path is not None:
            self.projects.remember(doc.clip.path)
        name = doc.clip.path.name if doc.clip.path else "untitled"
        self.projects.update_title()
        self.status_label.setText(
            f"{name}: {doc.clip.n_channels} ch, {doc.samplerate} Hz, {doc.clip.duration:.1f} s; "
            f"{doc.config.describe()}")
        self.edits.update_undo()
        self.firstSpectrogram.emit()
        self._fill_spectrogram(doc)

    def _fill_spectrogram(self, doc: Document) -> None:
        """The view fills the rest of the spectrogram in the background (its image's own
        thread, the frames on screen first); the window cancels it when it closes."""
        self._fill_task = self.view.filling

    def _history_changed(self, event: object) -> None:
        self.edits.update_undo()
        self._maybe_modified(event)

    def _maybe_modified(self, event: object) -> None:
        if self.doc is not None and self.isWindowModified() != bool(self.doc.modified):
            self.projects.update_title()  # the unsaved mark

    def show_scores(self) -> None:
        """Show the Scores panel (stems have just become known)."""
        self.docks[2].show()
        self.docks[2].raise_()

    def _show_cursor(self, info: dict) -> None:
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
            channel = o.channel.currentData()
            self.doc.set_view_channel("mid" if channel is None else channel)
            v.render()

    def _rendered(self) -> None:
        self.levels.schedule(self.view.visible_db)  # coalesced: not on every redraw
        self.levels.set_range(*self.view.shown_db)

    def _link_toggled(self, on: bool) -> None:
        """Masks ▸ Link the channels (K): an edit in a channel view changes every channel, or
        (off) only the one shown; the mid and side views always edit every channel."""
        if self.doc is not None:
            self.doc.link_channels = bool(on)
        self.statusBar().showMessage("edits change every channel" if on else
                                     "edits in a channel view change only that channel", 4000)

    def _outline_toggled(self, on: bool) -> None:
        self.view.outline = bool(on)
        self.view.update_overlay(None)

    def _levels_dragged(self, lo: float, hi: float) -> None:
        self.options.auto_contrast.setChecked(False)  # a dragged range is a manual one
        self.options.floor.setValue(lo)
        self.options.ceiling.setValue(hi)

    # -- export -----------------------------------------------------------------------------
    def export_dialog(self) -> None:
        """File ▸ Export sources and residual (Ctrl+E)."""
        doc = self.edits.need_layer()
        if doc is None:
            return
        default = str(self.settings.value("dirs/export", ""))
        if not default and doc.clip.path is not None:
            default = str(doc.clip.path.parent / f"{doc.clip.path.stem}-separated")
        dialog = ExportDialog(self, folder=default, phase=self.playback.phase,
                              fmt=self._default_format(doc),
                              active=doc.layers[self.active.index or 0].name,
                              layers=[la.name for la in doc.layers], settings=self.settings)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        if not v["out_dir"]:
            show_error(self, "choose a folder to export into")
            return
        self.settings.setValue("dirs/export", v["out_dir"])
        self.settings.setValue("export/phase", v["phase"])
        self.export(**v)

    @staticmethod
    def _default_format(doc: Document) -> str:
        return "flac" if (doc.clip.format or "").upper() == "FLAC" else "wav"

    def export(self, out_dir: str | Path, **options: Any) -> Task | None:
        """Export the open document's sources, residual and masks into ``out_dir``."""
        doc = self.doc
        if doc is None:
            return None
        return run_task(self, "Exporting…",
                        lambda p: export_document(doc, out_dir, progress=p, **options),
                        lambda files: self.statusBar().showMessage(
                            f"wrote {len(files)} files to {out_dir}", 8000))

    def save_masks_dialog(self) -> None:
        """File ▸ Export the masks (.npz)."""
        doc = self.edits.need_layer()
        if doc is None:
            return
        start = doc.clip.path.with_suffix(".masks.npz") if doc.clip.path else ""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save masks", str(start),
                                                        "Mask files (*.npz)")
        if path and guard(self, doc.save_masks, path) is not None:
            self.statusBar().showMessage(f"saved {path}", 5000)  # an export: still unsaved

    def export_png_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export the view", "view.png",
                                                        "PNG images (*.png)")
        if path and not self.view.grab().save(path):
            show_error(self, f"could not write '{path}'")

    def stft_dialog(self) -> None:
        """View ▸ STFT settings: the document moves to another grid."""
        doc = self.doc
        if doc is None:
            return
        dialog = STFTDialog(doc.config, self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        cfg = guard(self, dialog.config)
        if cfg is None:
            return
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            guard(self, doc.set_config, cfg)
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self.view.set_document(doc)

    def about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About maskstudio",
            f"maskstudio {__version__}\nA spectrogram mask editor for audio source separation.")

    # -- window events ----------------------------------------------------------------------
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.suffix.lower() in (".npz", ".npy") and self.doc is not None:
                    self.mask_sources.load_masks(path)
                else:
                    self.projects.open_path(path)
                break

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        if not self.projects.maybe_save("closing"):
            ev.ignore()  # cancelled, or the save failed (said): the window stays open
            return
        if self._fill_task is not None:
            self._fill_task.cancel()
        self.metrics.shutdown()
        self.playback.stop()
        self.save_settings()
        if self.doc is not None:
            self.projects.release_document(self.doc)  # journal kept for recovery, or discarded
        super().closeEvent(ev)
