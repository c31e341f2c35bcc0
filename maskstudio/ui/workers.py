"""Long work off the GUI thread, with a progress dialog and Cancel.

``run_task(parent, label, fn, on_done)`` calls ``fn(progress)`` on Qt's thread pool; ``progress``
reports ``(done, total)`` and raises :class:`~maskstudio.errors.Cancelled` once the user has
pressed Cancel.  ``on_done(result)`` runs on the GUI thread; a :class:`MaskStudioError` becomes
an error dialog, anything else a dialog that points to the crash log.
"""

from __future__ import annotations

import tempfile
import threading
import traceback
from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.errors import Cancelled, MaskStudioError

__all__ = ["Task", "run_task", "show_error", "active_tasks"]

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
        except MaskStudioError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit("not enough memory for this operation: try a larger hop length "
                             "or a shorter file")
        except Exception as exc:  # a bug: keep the traceback for the report
            log = Path(tempfile.gettempdir()) / "maskstudio-crash.log"
            try:
                log.write_text(traceback.format_exc())
            except OSError:
                pass
            self.failed.emit(f"internal error: {exc!r}. Details are in {log}; please report it.")
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

    def done(result):
        finish()
        if on_done is not None:
            on_done(result)

    def fail(message):
        finish()
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
