"""Files that appear whole: atomic writes that follow the umask and name the path on failure.

:func:`atomic_file` writes beside the target, fsyncs, gives the file the umask's mode (not
``mkstemp``'s 0600) and renames it over the target, so a crash or an error leaves the old
file or the complete new one.  An :class:`OSError` becomes a :class:`WriteError`, one line
naming the path (and still an :class:`OSError` for code that caught those).  Sets of files
that appear together are :class:`maskstudio.io.export.ExportSet`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from maskstudio.errors import MaskStudioError

__all__ = ["WriteError", "write_error", "file_mode", "fsync_folder", "atomic_file",
           "atomic_write"]


def _describe(path) -> str:
    return f"'{path}'"


class WriteError(MaskStudioError, OSError):
    """A file could not be written (no permission, a folder in the way, a full disk).

    Also an :class:`OSError`, so code that caught the operating system's error still does."""


def write_error(path, exc: BaseException) -> WriteError:
    """One line naming the path and the system's reason, and what to do.

    Parameters
    ----------
    path : path
        What could not be written.
    exc : BaseException
        The system's error.

    Returns
    -------
    WriteError
        To be raised by the caller.
    """
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return WriteError(f"cannot write {_describe(path)} ({reason}): choose a folder you can "
                      f"write to, or free some space")


_UMASK_LOCK = threading.Lock()
_UMASK: list = []


def file_mode() -> int:
    """The mode new files get: ``0o666`` less the umask, read once.

    On Linux the umask is read from ``/proc`` without changing it; elsewhere it is set and
    put back at once, under a lock (``os.umask`` is the only portable way to read it).

    Returns
    -------
    int
    """
    if not _UMASK:
        with _UMASK_LOCK:
            if not _UMASK:
                _UMASK.append(_read_umask())
    return 0o666 & ~_UMASK[0]


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_folder(folder) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened).

    Parameters
    ----------
    folder : path
    """
    try:
        dfd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, *, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``target``, as a context manager; on leaving without an error
    it is fsynced, given the umask's mode (:func:`file_mode`) and renamed over ``target``;
    after an error it is removed.

    A crash or an error leaves either the old file or the complete new one, never half of one.

    Parameters
    ----------
    target : path
        The file to write.
    suffix : str
        Of the temporary, ``.<target name>.<random><suffix or .tmp>`` (some writers choose
        the format by it).

    Yields
    ------
    str
        The temporary path to write.

    Raises
    ------
    WriteError
        An :class:`OSError` (no permission, a folder in the way, a full disk), naming
        ``target``.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(21, "a folder of that name is in the way")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp",
                                   dir=str(target.parent))
        os.close(fd)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, MaskStudioError):
            raise write_error(target, exc) from None
        raise
    fsync_folder(target.parent)  # make the rename itself durable


def atomic_write(target: str | os.PathLike, write: Callable[[str], object], *,
                 suffix: str = "") -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, fsync, rename over it
    (:func:`atomic_file`).

    Parameters
    ----------
    target : path
        The file to write.
    write : callable(path)
        Writes the file's content to the path it is given.
    suffix : str
        Of the temporary.

    Raises
    ------
    WriteError
        The file could not be written.
    """
    with atomic_file(target, suffix=suffix) as tmp:
        write(tmp)
