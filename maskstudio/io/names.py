"""Where a name becomes a file name: one rule for every name that reaches a path.

Names come from the user and from files: layer names, the names inside a mask file, a
manifest's item and source names, folder names of a scanned dataset, a separator's mask
names.  Each one becomes ``<folder>/<name>.<ext>``, so each one goes through
:func:`safe_file_name` first: a plain, portable file name (no separators, no ``..``, nothing
absolute, no control characters, bounded length, none of the names Windows reserves), or a
:class:`~maskstudio.errors.ParameterError` that names the bad name and where it came from.

:func:`check_inside` is the second line of defence, at the place a path is built: the file
lands inside its folder, whatever the name, symlinked folders included.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from maskstudio.errors import ParameterError

__all__ = ["safe_file_name", "check_inside", "MAX_CHARS", "MAX_BYTES", "WINDOWS_RESERVED",
           "name_key"]

#: Longest name, in characters and in UTF-8 bytes: with an extension and the temporary
#: file's prefix and suffix it stays under the 255 bytes most file systems allow.
MAX_CHARS = 120
MAX_BYTES = 200

#: Device names Windows reserves, with any extension ("con.wav" is the console there).
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{k}" for dev in ("COM", "LPT") for k in (*"123456789", "\u00b9", "\u00b2",
                                                        "\u00b3")])

#: Characters that cannot be in a file name on Windows (':' is also a drive there).
_FORBIDDEN = '<>:"|?*'
#: Unicode categories refused: control characters, lone surrogates, line separators.
_BAD_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def _shown(name: str) -> str:
    """The name as the message quotes it: escaped, and cut if it is very long."""
    text = repr(name)
    return text if len(text) <= 80 else text[:60] + f"...' ({len(name)} characters)"


def _problem(name) -> str | None:
    """Why ``name`` cannot be a file name, or None."""
    if not isinstance(name, str):
        return f"it is {type(name).__name__}, not text"
    if not name or not name.strip():
        return "it is empty"
    for ch in name:
        if ch in "/\\":
            return f"it holds a path separator ({ch!r})"
        if ch in _FORBIDDEN:
            return f"it holds {ch!r}, which file names cannot hold on Windows"
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            return f"it holds the control character {ch!r}"
    if not name.strip("."):
        return "it is made only of dots"
    if name.startswith("."):
        return "it starts with '.', which would make a hidden file"
    if name != name.strip():
        return "it starts or ends with a space"
    if name.endswith("."):
        return "it ends with '.'"
    if len(name) > MAX_CHARS or len(name.encode("utf-8")) > MAX_BYTES:
        return f"it is longer than {MAX_CHARS} characters ({MAX_BYTES} bytes)"
    if name.split(".")[0].rstrip().upper() in WINDOWS_RESERVED:
        return "Windows reserves it for a device"
    if os.path.isabs(name) or Path(name).name != name:
        return "it is a path, not a name"
    return None


def safe_file_name(name, *, what: str = "the name") -> str:
    """``name`` if it can be a file name on any system, else a :class:`ParameterError`.

    Parameters
    ----------
    name : str
        The name (without extension) that becomes ``<folder>/<name>.<ext>``.
    what : str, keyword-only
        Where it came from, as the message starts: ``"the layer name"``, ``"the mask file
        'x.npz' names a source"``.

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    ParameterError
        The name holds a separator, a control character or a character Windows refuses, is
        empty, only dots, hidden, padded with spaces, too long, or a Windows device name.
    """
    problem = _problem(name)
    if problem is not None:
        shown = _shown(name) if isinstance(name, str) else repr(name)[:60]
        raise ParameterError(f"{what} {shown}: {problem}, so it cannot be a file name; "
                             f"rename it")
    return name


def name_key(name: str) -> str:
    """What two names must differ in to be two files everywhere (case-insensitive, NFC).

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        Equal for two names that would be one file somewhere.
    """
    return unicodedata.normalize("NFC", name).casefold()


def check_inside(folder: str | os.PathLike, target: str | os.PathLike) -> Path:
    """``target`` if it lands inside ``folder``: the second line of defence after
    :func:`safe_file_name`.

    Both are resolved, symlinks followed: a target that is a symlink to elsewhere is outside.

    Parameters
    ----------
    folder : path
        The output folder.
    target : path
        A file to be written in it.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    ParameterError
        The target cannot be resolved, or lands outside ``folder`` (or is ``folder``).
    """
    folder, target = Path(folder), Path(target)
    try:
        base = Path(os.path.realpath(folder))
        where = Path(os.path.realpath(target))
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot resolve '{target}' ({exc}): choose another output "
                             f"folder") from None
    if target.name in ("", ".", "..") or not where.is_relative_to(base) or where == base:
        raise ParameterError(f"'{target}' would be written outside the output folder "
                             f"'{folder}': rename the source or choose another folder")
    return target
