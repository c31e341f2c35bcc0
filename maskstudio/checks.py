"""Checks of numeric parameters: finite, of the right kind, in range, or one clear error.

Every numeric option a user can give (on the command line, in a dialog, in a file) goes through
:func:`check_number` where it is used, so ``nan``, ``inf``, ``1e300`` or ``2048.5`` are refused
with a line that names the parameter and its range instead of giving silent garbage later
(a NaN compares false with every bound, so ``if p <= 0`` lets it through).
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, overload

import numpy as np

from maskstudio.errors import ParameterError

__all__ = ["check_number", "check_phase_options", "check_input_file", "memory_budget",
           "MAX_ITERATIONS"]

#: More iterations than any phase mode needs (fgla converges in a few hundred).
MAX_ITERATIONS = 10_000


def _describe_range(name, lo, hi, lo_open: bool, hi_open: bool) -> str:
    left = "" if lo is None else f"{lo} {'<' if lo_open else '<='} "
    right = "" if hi is None else f" {'<' if hi_open else '<='} {hi}"
    if lo is not None and hi is None:
        return f"{name} {'>' if lo_open else '>='} {lo}"
    return f"{left}{name}{right}"


@overload
def check_number(value: object, name: str, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 integer: Literal[True], hint: str = "") -> int: ...


@overload
def check_number(value: object, name: str, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 integer: Literal[False] = False, hint: str = "") -> float: ...


@overload
def check_number(value: object, name: str, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 integer: bool = False, hint: str = "") -> int | float: ...


def check_number(value: object, name: str, *, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 integer: bool = False, hint: str = "") -> int | float:
    """``value`` as a finite ``float`` (or ``int`` with ``integer``) within ``[lo, hi]``.

    Parameters
    ----------
    value : number
        A Python or numpy number; ``bool``, strings and arrays are refused.
    name : str
        How the user knows the parameter (``"--n-fft"``, ``"n_fft"``), for the message.
    lo, hi : number, optional
        Bounds, inclusive unless ``lo_open`` / ``hi_open``.
    integer : bool
        Only whole numbers (``2048.0`` is accepted as 2048, ``2048.5`` is not).
    hint : str
        What to do, appended to the message.

    Returns
    -------
    int or float
        An ``int`` for a whole-number type (or with ``integer``), else a ``float``.

    Raises
    ------
    ParameterError
        The value is not a number, not finite, not whole when it must be, or out of range.
    """
    tail = f" ({hint})" if hint else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        kind = "an integer" if integer else "a number"
        raise ParameterError(f"{name} must be {kind}, got {value!r}{tail}")
    number: int | float
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        real = float(value)
        if not math.isfinite(real):
            what = "" if lo is None and hi is None else \
                f" with {_describe_range(name, lo, hi, lo_open, hi_open)}"
            raise ParameterError(f"{name} must be a finite number{what}, got {real}{tail}")
        if integer and not real.is_integer():
            raise ParameterError(f"{name} must be an integer (a whole number), got "
                                 f"{real}{tail}")
        number = int(real) if integer else real
    shown = f"{number:.6g}" if abs(number) >= 1e15 else f"{number}"
    below = lo is not None and (number <= lo if lo_open else number < lo)
    above = hi is not None and (number >= hi if hi_open else number > hi)
    if below or above:
        raise ParameterError(f"{name}={shown} is out of range: give "
                             f"{_describe_range(name, lo, hi, lo_open, hi_open)}{tail}")
    return number


def check_phase_options(n_iter=None, cutoff_hz=None, *, names=("n_iter", "cutoff_hz")):
    """The phase options' values checked: ``(n_iter, cutoff_hz)`` (None stays None);
    ``names`` are how the user knows them, for the message."""
    if n_iter is not None:
        n_iter = check_number(n_iter, names[0], lo=0, hi=MAX_ITERATIONS, integer=True)
    if cutoff_hz is not None:
        cutoff_hz = check_number(cutoff_hz, names[1], lo=0, hi=10_000_000,
                                 hint="the cutoff frequency in Hz, e.g. 6000")
    return n_iter, cutoff_hz


def check_input_file(path, error, what: str = "a file"):
    """``os.stat`` of an input ``path``, refusing with ``error`` (a MaskStudioError class)
    what is missing, a folder, or not a regular file.

    A FIFO, a device or a socket would block or never end when opened and read, so it is
    refused before it is opened.
    """
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"'{path}' does not exist: check the path") from None
    except OSError as exc:
        raise error(f"cannot open '{path}' ({exc.strerror or exc}): check the path and its "
                    f"permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"'{path}' is a folder, not {what}: give the file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"'{path}' is not a regular file (a pipe, device or socket), so it "
                    f"cannot be read as {what}: save it to a file first and give that path")
    return st


def memory_budget() -> int:
    """Bytes of memory available now (a guess where the system does not say)."""
    import os

    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30
