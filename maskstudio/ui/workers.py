"""Long work off the GUI thread, with a progress dialog and Cancel.

``run_task(parent, label, fn, on_done)`` calls ``fn(progress)`` on Qt's thread pool; ``progress``
reports ``(done, total)`` and raises :class:`~maskstudio.errors.Cancelled` once the user has
pressed Cancel.  ``on_done(result)`` runs on the GUI thread.

Every failure of a user action ends in one error dialog (:func:`report_failure`): the message of
a :class:`MaskStudioError`, a line naming the path for an ``OSError`` (a read-only folder, a
full disk), and for a bug a line pointing to its crash log, where the traceback was written
(:mod:`maskstudio.reporting`).  ``_guard`` in the window, :class:`Task` here and the exception
hook (:func:`install_excepthook`, for slots that raise) all go through it.
"""

from __future__ import annotations

import sys
import threading

from pyqtgraph.Qt import QtCore, QtWidgets, isQObjectAlive

from maskstudio.errors import Cancelled
from maskstudio.reporting import describe_failure

__all__ = ["Task", "run_task", "show_error", "report_failure", "install_excepthook",
           "active_tasks"]

_TASKS: set = set()


def active_tasks() -> int:
    """How many tasks are running (tests wait for zero)."""
    return len(_TASKS)


def show_error(parent, message: str, title: str = "maskstudio") -> None:
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message,
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    box.open()


def report_failure(parent, exc: BaseException, *, prefix: str = "") -> str:
    """Show the failure ``exc`` of a user action in an error dialog over ``parent``.

    Call it in the ``except`` block: the user's error shows its message, an ``OSError`` the
    path and what to do, a bug a line that points to the crash log holding its traceback.
    Returns the message shown.
    """
    message, _ = describe_failure(exc)
    show_error(parent, prefix + message)
    return message


def install_excepthook(window) -> None:
    """Make an exception escaping a Qt slot (which Qt would only print) a dialog over
    ``window`` and, for a bug, a crash log."""
    previous = sys.excepthook

    def hook(kind, exc, tb):
        if not isinstance(exc, Exception):
            return previous(kind, exc, tb)
        try:
            message = report_failure(window, exc.with_traceback(tb))
            sys.stderr.write(f"maskstudio: {message}\n")
        except Exception:  # noqa: BLE001 - the window itself is gone: say it the old way
            previous(kind, exc, tb)
    sys.excepthook = hook


class Task(QtCore.QObject, QtCore.QRunnable):
    progressed = QtCore.Signal(int, int)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, fn):
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
            self.failed.emit(describe_failure(exc)[0])  # a bug's traceback: a crash log
        else:
            self.succeeded.emit(result)


def run_task(parent, label: str, fn, on_done=None, *, on_fail=None, modal: bool = True,
             pool: QtCore.QThreadPool | None = None) -> Task:
    """Run ``fn(progress)`` in the background (on ``pool``, by default Qt's global one);
    returns the task (tests may wait on it)."""
    task = Task(fn)
    dialog = None
    if modal:
        dialog = QtWidgets.QProgressDialog(label, "Cancel", 0, 100, parent)
        dialog.setObjectName("progressDialog")
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(task.cancel)
        task.progressed.connect(
            lambda d, t: dialog.setValue(int(100 * d / max(t, 1))))

    def finish():
        _TASKS.discard(task)
        if dialog is not None:
            dialog.reset()
            dialog.deleteLater()

    def gone() -> bool:  # the window or panel that asked was closed meanwhile
        return isinstance(parent, QtCore.QObject) and not isQObjectAlive(parent)

    def done(result):
        finish()
        if on_done is not None and not gone():
            on_done(result)

    def fail(message):
        finish()
        if gone():
            return
        if on_fail is not None:
            on_fail(message)
        else:
            show_error(parent, message)

    task.succeeded.connect(done)
    task.failed.connect(fail)
    task.cancelled.connect(finish)
    _TASKS.add(task)
    (pool or QtCore.QThreadPool.globalInstance()).start(task)
    return task
