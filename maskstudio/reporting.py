"""What the user is told when something fails: one line, and for bugs a crash log.

The command line and the window report every failure through :func:`describe_failure`:

- a :class:`~maskstudio.errors.MaskStudioError` is the user's: its message as it is;
- an :class:`OSError` (no permission, a folder in the way, a full disk) is the system's: a line
  naming the path and what to do (:func:`os_error_message`);
- ``MemoryError``: what to change so that it fits;
- anything else is a bug: the traceback goes to a crash log of its own in the per-user state
  folder (``platformdirs.user_state_path("maskstudio")``, which follows ``XDG_STATE_HOME``),
  created new (``O_EXCL``), never through a symlink (``O_NOFOLLOW``), readable by its owner
  only, and the line says where it is.
"""

from __future__ import annotations

import errno
import os
import time
import traceback
import uuid
from pathlib import Path

from maskstudio.errors import MaskStudioError

__all__ = ["describe_failure", "os_error_message", "write_crash_log", "crash_dir",
           "MEMORY_MESSAGE"]

MEMORY_MESSAGE = ("not enough memory for this file with these settings: try a larger hop "
                  "length or a shorter excerpt")

#: Crash logs kept; older ones are removed when a new one is written.
_KEEP = 20


def crash_dir() -> Path:
    """The folder of crash logs: ``<user state folder>/maskstudio/crashes``."""
    import platformdirs

    return Path(platformdirs.user_state_path("maskstudio")) / "crashes"


def _unique_name() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"crash-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.log"


def write_crash_log(text: str) -> Path | None:
    """Write ``text`` to a new crash log; its path, or None if it could not be written.

    The file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 in a folder of
    mode 0700, so nothing planted in its place (a symlink, another file) is ever followed or
    overwritten.
    """
    try:
        folder = crash_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if folder.is_symlink() or not folder.is_dir():
            return None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
            | getattr(os, "O_CLOEXEC", 0)
        for _ in range(5):
            path = folder / _unique_name()
            try:
                fd = os.open(str(path), flags, 0o600)
            except FileExistsError:
                continue  # taken (or planted): another name
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
                fh.write(text)
            _prune(folder)
            return path
    except OSError:
        pass
    return None


def _prune(folder: Path) -> None:
    try:
        logs = sorted((p for p in folder.glob("crash-*.log") if not p.is_symlink()),
                      key=lambda p: p.stat().st_mtime)
        for old in logs[:-_KEEP]:
            old.unlink()
    except OSError:
        pass


_ERRNO_ADVICE = {
    errno.EACCES: "permission denied: choose a place you can write to, or change its "
                  "permissions",
    errno.EPERM: "the operation is not permitted there: choose another place",
    errno.EISDIR: "it is a folder: give a file name inside it",
    errno.ENOTDIR: "a part of this path is a file, not a folder: choose another folder",
    errno.EEXIST: "something is already there and in the way: remove it or choose another name",
    errno.ENOSPC: "no space left on the disk: free some space or choose another disk",
    errno.EROFS: "the disk is read-only: choose another folder",
    errno.ENOENT: "it does not exist, or a folder on the way is missing: check the path",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter name or folder",
    errno.EMFILE: "too many files are open: close some programs and try again",
    errno.ENFILE: "too many files are open: close some programs and try again",
    errno.EIO: "the disk reported an input/output error: check the disk and try again",
}
for _name in ("EDQUOT", "ELOOP", "ETXTBSY", "EBUSY"):
    if hasattr(errno, _name):
        _ERRNO_ADVICE[getattr(errno, _name)] = {
            "EDQUOT": "the disk quota is exhausted: free some space or choose another disk",
            "ELOOP": "too many symbolic links on the way: check the path",
            "ETXTBSY": "the file is busy: close the program using it and try again",
            "EBUSY": "the file is busy: close the program using it and try again",
        }[_name]


def os_error_message(exc: OSError) -> str:
    """One line for an :class:`OSError`: the path(s) it names, what went wrong, what to do."""
    where = exc.filename
    if exc.filename2 is not None:
        where = f"{exc.filename}' -> '{exc.filename2}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    known = _ERRNO_ADVICE.get(exc.errno) if exc.errno is not None else None
    advice = known or f"{reason}; check the path, its permissions and the disk"
    return advice if where is None else f"cannot use '{where}': {advice}"


def describe_failure(exc: BaseException) -> tuple[str, bool]:
    """``(message, is_bug)`` for a failure caught at the top of a user action.

    Call it from the ``except`` block (a bug's traceback is taken from there and written to a
    crash log, whose path the message gives).
    """
    if isinstance(exc, MaskStudioError):
        return str(exc), False
    if isinstance(exc, MemoryError):
        return MEMORY_MESSAGE, False
    if isinstance(exc, OSError):
        return os_error_message(exc), False
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log = write_crash_log(text)
    where = f"; details are in {log}" if log is not None else ""
    return f"internal error: {exc!r}{where}. Please report it.", True
