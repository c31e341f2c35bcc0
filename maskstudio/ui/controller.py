"""What the window's controllers share: the window as they see it, and how they make actions.

The editor window is composed of controllers, each created by the window and owning its
actions, menus, shortcuts and state:

- :class:`~maskstudio.ui.playback.PlaybackController`: play, pause, stop, the playhead, the
  output device;
- :class:`~maskstudio.ui.projects.ProjectController`: opening files and projects, saving,
  recovering after a crash, the unsaved-work question, the title and the recent files;
- :class:`~maskstudio.ui.datasets.DatasetController`: a dataset's items, their status, notes
  and labels;
- :class:`~maskstudio.ui.mask_sources.MaskSourcesController`: masks from elsewhere (oracle,
  separators, a model's mask file);
- :class:`~maskstudio.ui.edit_actions.EditController`: undo, redo and the operations on the
  active layer.

A controller talks to the window only through :class:`Shell`, the small surface declared
here: the open document, the view and panels, the settings, the status bar, and the few
calls that change what the window shows.  The window (:mod:`maskstudio.ui.main_window`) is
one; a test can make a smaller one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from PySide6 import QtCore, QtGui, QtWidgets

from maskstudio.ui import workers

if TYPE_CHECKING:
    from maskstudio.editing.document import Document
    from maskstudio.ui.active_layer import ActiveLayer
    from maskstudio.ui.datasets import DatasetController
    from maskstudio.ui.panels import LayersPanel
    from maskstudio.ui.projects import ProjectController
    from maskstudio.ui.scores_panel import MetricsPanel
    from maskstudio.ui.spectrogram_view import SpectrogramView

__all__ = ["Shell", "Controller", "Shortcut", "make_action"]

P = ParamSpec("P")
T = TypeVar("T")

#: a key sequence as text ("Ctrl+S") or one of Qt's standard keys
Shortcut = str | QtGui.QKeySequence.StandardKey


class Shell(QtWidgets.QMainWindow):
    """The window as its controllers see it.

    Attributes are set by the window before it creates its controllers; the methods are the
    window's to define.  A controller also uses the window as the parent of its dialogs and
    actions, and its status bar (``statusBar().showMessage``) to say what it did.
    """

    #: the window's settings (recent files, folders, the output device, …)
    settings: QtCore.QSettings
    #: the open document, None before the first file
    doc: Document | None
    view: SpectrogramView
    #: the one active layer: tools, the Layers panel and playback read it
    active: ActiveLayer
    layers: LayersPanel
    metrics: MetricsPanel
    #: False in tests and --screenshot: closing or replacing work never asks
    confirm_close: bool
    #: every finished step goes to a crash journal (False for --screenshot)
    journaling: bool
    #: False when nobody sits at the window (--screenshot): no question is asked, a failure
    #: to open is raised to the caller instead of shown in a dialog
    interactive: bool
    #: the controllers that others rely on: opening and saving, and the dataset's items
    projects: ProjectController
    datasets: DatasetController

    def set_document(self, doc: Document) -> None:
        """Show ``doc``: every view, panel and controller follows it."""
        raise NotImplementedError

    def show_scores(self) -> None:
        """Show the Scores panel (stems have just become known)."""
        raise NotImplementedError


def make_action(owner: QtCore.QObject, window: QtWidgets.QWidget, text: str,
                slot: Callable[[], object], shortcut: Shortcut | None = None,
                menu: QtWidgets.QMenu | None = None, *, tip: str | None = None,
                checkable: bool = False) -> QtGui.QAction:
    """An action owned by ``owner``, in ``menu`` if given, and the window's: its shortcut
    works wherever the focus is in the window, also when no menu shows it."""
    act = QtGui.QAction(text, owner)
    if shortcut:
        act.setShortcut(QtGui.QKeySequence(shortcut))
    if tip:
        act.setStatusTip(tip)
    act.setCheckable(checkable)
    act.triggered.connect(slot)
    if menu is not None:
        menu.addAction(act)
    window.addAction(act)
    return act


class Controller(QtCore.QObject):
    """A part of the window: created by it, owning its actions and state."""

    def __init__(self, window: Shell):
        super().__init__(window)
        self.window = window

    def action(self, text: str, slot: Callable[[], object], shortcut: Shortcut | None = None,
               menu: QtWidgets.QMenu | None = None, *, tip: str | None = None,
               checkable: bool = False) -> QtGui.QAction:
        """An action of this controller's (see :func:`make_action`)."""
        return make_action(self, self.window, text, slot, shortcut, menu, tip=tip,
                           checkable=checkable)

    def say(self, message: str, ms: int) -> None:
        """Say ``message`` in the window's status bar for ``ms`` milliseconds."""
        self.window.statusBar().showMessage(message, ms)

    def guard(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """``fn(*args, **kwargs)``, or None after its failure's dialog over the window."""
        return workers.guard(self.window, fn, *args, **kwargs)
