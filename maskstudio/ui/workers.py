"""Long work off the GUI thread, with a progress dialog and Cancel.

``run_task(parent, label, fn, on_done)`` calls ``fn(progress)`` on Qt's thread pool; ``progress``
reports ``(done, total)`` and raises :class:`~maskstudio.errors.Cancelled` once the user has
pressed Cancel.  ``on_done(result)`` runs on the GUI thread; so does ``on_fail(failure)``, with
a :class:`Failure` that carries the exception itself (callers tell failures apart with
``isinstance``, never by their text) and the message shown for it.

Every failure of a user action ends in one error dialog (:func:`report_failure`): the message of
a :class:`MaskStudioError`, a line naming the path for an ``OSError`` (a read-only folder, a
full disk), and for a bug a line pointing to its crash log, where the traceback was written
(:mod:`maskstudio.reporting`).  :func:`guard`, :class:`Task` here and the exception
hook (:func:`install_excepthook`, for slots that raise) all go through it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from pyqtgraph.Qt import isQObjectAlive
from PySide6 import QtCore, QtWidgets

from maskstudio.errors import Cancelled
from maskstudio.reporting import describe_failure

__all__ = ["Task", "Failure", "Progress", "run_task", "show_error", "report_failure", "guard",
           "install_excepthook", "active_tasks"]

P = ParamSpec("P")
T = TypeVar("T")

#: what a task's function is given: ``progress(done, total)``, which raises
#: :class:`~maskstudio.errors.Cancelled` once the user has pressed Cancel
Progress = Callable[[int, int], None]

_TASKS: set[Task] = set()


@dataclass(frozen=True)
class Failure:
    """How a task failed: the exception, and the one line shown for it.

    The message is made on the worker thread, in the ``except`` block, so that a bug's
    traceback goes to its crash log from there (:func:`~maskstudio.reporting.describe_failure`).
    """

    error: Exception
    message: str


def active_tasks() -> int:
    """How many tasks are running (tests wait for zero)."""
    return len(_TASKS)


def show_error(parent: QtWidgets.QWidget | None, message: str, title: str = "maskstudio"
               ) -> None:
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message,
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    box.open()


def report_failure(parent: QtWidgets.QWidget | None, exc: BaseException, *, prefix: str = ""
                   ) -> str:
    """Show the failure ``exc`` of a user action in an error dialog over ``parent``.

    Call it in the ``except`` block: the user's error shows its message, an ``OSError`` the
    path and what to do, a bug a line that points to the crash log holding its traceback.
    Returns the message shown.
    """
    message, _ = describe_failure(exc)
    show_error(parent, prefix + message)
    return message


def guard(parent: QtWidgets.QWidget | None, fn: Callable[P, T], *args: P.args,
          **kwargs: P.kwargs) -> T | None:
    """``fn(*args, **kwargs)``, or None after showing its failure over ``parent`` (any
    failure: a bug's dialog says where its traceback was written)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
        report_failure(parent, exc)
    return None


def install_excepthook(window: QtWidgets.QWidget) -> None:
    """Make an exception escaping a Qt slot (which Qt would only print) a dialog over
    ``window`` and, for a bug, a crash log."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(exc, Exception):
            previous(kind, exc, tb)
            return
        try:
            message = report_failure(window, exc.with_traceback(tb))
            sys.stderr.write(f"maskstudio: {message}\n")
        except Exception:  # noqa: BLE001 - the window itself is gone: say it the old way
            previous(kind, exc, tb)
    sys.excepthook = hook


class Task(QtCore.QObject, QtCore.QRunnable):
    """``fn(progress)`` on a pool thread; its outcome is one of three signals, delivered on
    the GUI thread: ``succeeded(result)``, ``failed(Failure)`` or ``cancelled()``."""

    progressed = QtCore.Signal(int, int)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(object)  #: a :class:`Failure`
    cancelled = QtCore.Signal()

    def __init__(self, fn: Callable[[Progress], Any]):
        QtCore.QObject.__init__(self)
        QtCore.QRunnable.__init__(self)
        self.setAutoDelete(False)
        self.fn = fn
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")
        self.progressed.emit(int(done), int(total))

    def run(self) -> None:
        try:
            result = self.fn(self.progress)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            # the message now, in the except block: a bug's traceback goes to a crash log
            self.failed.emit(Failure(exc, describe_failure(exc)[0]))
        else:
            self.succeeded.emit(result)


def _progress_dialog(parent: QtWidgets.QWidget, label: str, task: Task
                     ) -> QtWidgets.QProgressDialog:
    """A window-modal progress dialog for ``task``, shown after 300 ms; Cancel cancels."""
    dialog = QtWidgets.QProgressDialog(label, "Cancel", 0, 100, parent)
    dialog.setObjectName("progressDialog")
    dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(task.cancel)
    task.progressed.connect(lambda d, t: dialog.setValue(int(100 * d / max(t, 1))))
    return dialog


def run_task(parent: QtWidgets.QWidget, label: str, fn: Callable[[Progress], Any],
             on_done: Callable[[Any], object] | None = None, *,
             on_fail: Callable[[Failure], object] | None = None, modal: bool = True,
             pool: QtCore.QThreadPool | None = None) -> Task:
    """Run ``fn(progress)`` in the background (on ``pool``, by default Qt's global one);
    returns the task (tests may wait on it).  ``on_done(result)`` or ``on_fail(failure)``
    runs on the GUI thread unless ``parent`` was closed meanwhile; without ``on_fail`` a
    failure's message is shown in a dialog over ``parent``; a cancelled task calls neither.
    A modal task shows a progress dialog over ``parent``, with Cancel."""
    task = Task(fn)
    dialog = _progress_dialog(parent, label, task) if modal else None

    def finish() -> None:
        _TASKS.discard(task)
        if dialog is not None:
            dialog.reset()
            dialog.deleteLater()

    def gone() -> bool:  # the window or panel that asked was closed meanwhile
        return not isQObjectAlive(parent)

    def done(result: object) -> None:
        finish()
        if on_done is not None and not gone():
            on_done(result)

    def fail(failure: Failure) -> None:
        finish()
        if gone():
            return
        if on_fail is not None:
            on_fail(failure)
        else:
            show_error(parent, failure.message)

    task.succeeded.connect(done)
    task.failed.connect(fail)
    task.cancelled.connect(finish)
    _TASKS.add(task)
    (pool or QtCore.QThreadPool.globalInstance()).start(task)
    return task
