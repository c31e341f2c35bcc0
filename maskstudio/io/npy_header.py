"""Reading ``.npy`` arrays and ``.npz`` members from untrusted files, header first.

``np.load`` allocates whatever shape a header declares before it reads a byte of data, so a
small, damaged or hostile file can ask for gigabytes; it also raises a dozen different
exceptions for a damaged zip.  Here the header is read and judged first (plain numbers or
text only, never objects; no more than the file holds; no more than the caller allows), and
every failure becomes the caller's one-line :class:`~maskstudio.errors.MaskStudioError`.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from numpy.typing import DTypeLike

from maskstudio.checks import check_number
from maskstudio.errors import MaskStudioError, ParameterError

__all__ = ["StoredArray", "READ_ERRORS", "read_header", "nbytes", "read_member",
           "read_member_rows", "size_text",
           "member_number", "member_text", "shown_value"]

#: What a damaged zip or ``.npy`` header raises (besides MaskStudioError): callers turn
#: these into their own one-line error.
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, IndexError, SyntaxError, TypeError,
               OverflowError, RecursionError, NotImplementedError, RuntimeError,
               zipfile.BadZipFile, zlib.error, struct.error,
               tokenize.TokenError)  # numpy tokenizes a damaged header's dict


def read_header(fh: IO[bytes], error: type[MaskStudioError], where: str, *,
                c_order: bool = False) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of a ``.npy`` stream, which is left at the data.

    Parameters
    ----------
    fh : binary file
        At the start of the ``.npy`` data.
    error : MaskStudioError subclass
        What to raise.
    where : str
        How the message names the array (``"'x.npz' member 'masks'"``).
    c_order : bool
        Refuse an array stored in Fortran order (one read row by row).

    Returns
    -------
    (tuple of int, np.dtype)

    Raises
    ------
    MaskStudioError
        ``error``: an unknown format version, or a structured, sub-array or object dtype
        (a pickle).  A damaged header raises one of :data:`READ_ERRORS`.
    """
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise error(f"{where} is in .npy format {version}, which maskstudio does not read: "
                    f"save it again with numpy")
    if c_order and fortran and len(shape) > 1:
        raise error(f"{where} is stored in Fortran order, which maskstudio does not write: "
                    f"the file is damaged")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{where} holds Python objects or records ({dtype}), not plain numbers "
                    f"or text: save it again with plain arrays (no pickles)")
    return tuple(int(k) for k in shape), dtype


def nbytes(shape: tuple[int, ...], dtype: DTypeLike) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes (exact, however large).

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    int
    """
    return math.prod(shape) * np.dtype(dtype).itemsize


def size_text(n: float) -> str:
    """``n`` bytes for people: "1.3 GB".

    Parameters
    ----------
    n : float
        A number of bytes.

    Returns
    -------
    str
    """
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, error: type[MaskStudioError],
                where: str, *, max_bytes: int,
                check: Callable[[tuple[int, ...], np.dtype], None] | None = None
                ) -> np.ndarray:
    """The array in member ``info`` of ``zf``, read only after its header passed.

    Nothing is allocated for the data before the header has been judged.

    Parameters
    ----------
    zf : zipfile.ZipFile
    info : zipfile.ZipInfo
        The member.
    error : MaskStudioError subclass
        What to raise.
    where : str
        How the message names the array.
    max_bytes : int
        The most the caller accepts.
    check : callable(shape, dtype), optional
        May refuse the declared shape and dtype (by raising).

    Returns
    -------
    np.ndarray

    Raises
    ------
    MaskStudioError
        ``error``: a refused header (:func:`read_header`), or a declared size that the member
        does not hold (truncated or lying) or beyond ``max_bytes``.  A damaged member raises
        one of :data:`READ_ERRORS`.
    """
    with zf.open(info) as fh:
        _checked_header(fh, info, error, where, max_bytes=max_bytes, check=check)
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def read_member_rows(zf: zipfile.ZipFile, info: zipfile.ZipInfo, error: type[MaskStudioError],
                     where: str, *, max_bytes: int,
                     check: Callable[[tuple[int, ...], np.dtype], None] | None = None):
    """The array in member ``info`` of ``zf`` a row at a time (along its first axis), each a
    read-only array, after its header passed as :func:`read_member`'s does: an hour of a
    project's tiles is never read into memory at once.

    Parameters
    ----------
    zf : zipfile.ZipFile
    info : zipfile.ZipInfo
        The member (a C-ordered array of at least one dimension).
    error : MaskStudioError subclass
        What to raise.
    where : str
        How the message names the array.
    max_bytes : int
        The most the caller accepts.
    check : callable(shape, dtype), optional
        May refuse the declared shape and dtype (by raising).

    Returns
    -------
    (tuple of int, np.dtype, iterator of np.ndarray)
        The shape, the dtype and the rows; the member is open while they are read.

    Raises
    ------
    MaskStudioError
        As :func:`read_member`; also a member with no dimension or in Fortran order.
    """
    fh = zf.open(info)
    try:
        shape, dtype = _checked_header(fh, info, error, where, max_bytes=max_bytes,
                                       check=check, c_order=True)
        if not shape:
            raise error(f"{where} is one value, not rows")
    except BaseException:
        fh.close()
        raise

    def rows():
        with fh:
            size = nbytes(shape[1:], dtype)
            for _ in range(shape[0]):
                data = fh.read(size)
                if len(data) != size:
                    raise error(f"{where} ends before its last row: the file is truncated")
                yield np.frombuffer(data, dtype).reshape(shape[1:])
    return shape, dtype, rows()


def _checked_header(fh, info, error, where, *, max_bytes, check, c_order=False):
    """Read and judge a member's header (see :func:`read_member`); ``fh`` is left at the
    data.  Returns its shape and dtype."""
    shape, dtype = read_header(fh, error, where, c_order=c_order)
    if check is not None:
        check(shape, dtype)
    size, held = nbytes(shape, dtype), info.file_size - fh.tell()
    if size > held:
        raise error(f"{where} declares {shape} values of {dtype} ({size_text(size)}) but "
                    f"holds {size_text(max(held, 0))}: the file is truncated or damaged")
    if size > max_bytes:
        raise error(f"{where} declares {size_text(size)} of values, more than it can "
                    f"need ({size_text(max_bytes)}): the file is damaged")
    return shape, dtype


def shown_value(v: np.ndarray) -> str:
    """A small member's value as a message quotes it: cut if long, with its dtype.

    Parameters
    ----------
    v : np.ndarray

    Returns
    -------
    str
    """
    if v.size != 1:
        return f"an array of shape {v.shape} ({v.dtype})"
    shown = repr(v.reshape(()).item())
    return f"{shown[:40]}{'...' if len(shown) > 40 else ''} ({v.dtype})"


def member_number(value: np.ndarray, key: str, where: str, error: type[MaskStudioError],
                  **bounds: Any) -> Any:
    """The number a file stores under ``key``, checked as :func:`~maskstudio.checks.check_number`
    does.

    Parameters
    ----------
    value : np.ndarray
        The member, as read.
    key : str
        Its name.
    where : str
        How the message names the file (``"'x.npz'"``).
    error : MaskStudioError subclass
        What to raise.
    **bounds
        :func:`~maskstudio.checks.check_number`'s options (``lo``, ``hi``, ``integer``).

    Returns
    -------
    int or float

    Raises
    ------
    MaskStudioError
        ``error``: not one number, or out of bounds.
    """
    v = np.asarray(value)
    if v.size != 1 or v.dtype.kind not in "biuf":
        raise error(f"{where}: its '{key}' is {shown_value(v)}, not a number: re-save the "
                    f"file with np.savez")
    try:
        return check_number(v.reshape(()).item() if v.dtype.kind != "b" else int(v.item()),
                            key, **bounds)
    except ParameterError as exc:
        raise error(f"{where}: its {exc}; re-save the file with valid settings") from None


def member_text(value: np.ndarray, key: str, where: str, error: type[MaskStudioError]) -> str:
    """The text a file stores under ``key``.

    Parameters
    ----------
    value : np.ndarray
        The member, as read.
    key : str
        Its name.
    where : str
        How the message names the file.
    error : MaskStudioError subclass
        What to raise.

    Returns
    -------
    str
        Bytes decoded as UTF-8 (bad bytes replaced).

    Raises
    ------
    MaskStudioError
        ``error``: not one text.
    """
    v = np.asarray(value)
    if v.size != 1 or v.dtype.kind not in "US":
        raise error(f"{where}: its '{key}' is {shown_value(v)}, not text: re-save the file "
                    f"with np.savez")
    item = v.reshape(()).item()
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


class StoredArray:
    """An array stored uncompressed in a file, read a slice of its last axis at a time.

    The file is read, never memory-mapped: a mapped file that another program rewrites
    underneath kills the process (SIGBUS), whereas a read that comes back short is an error
    that can be said. Each row's slice is one ``pread``.

    Parameters
    ----------
    path : path
        The file.
    offset : int
        Where the array's data begins in the file.
    shape : tuple of int
        Its shape (C order).
    dtype : numpy dtype
        Its type.
    error : type
        The exception raised when the file no longer holds the data.
    """

    def __init__(self, path: str | os.PathLike, offset: int, shape: tuple, dtype: DTypeLike,
                 error: type[Exception]):
        self.filename = str(path)
        self.offset = int(offset)
        self.shape = tuple(int(k) for k in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._error = error

    def __getitem__(self, key: tuple) -> np.ndarray:
        """``stored[..., t0:t1]``: every row's ``t0..t1`` as an array.

        Parameters
        ----------
        key : tuple
            ``(Ellipsis, slice(t0, t1))``, the only form supported.

        Returns
        -------
        np.ndarray
            ``shape[:-1] + (t1 - t0,)``.

        Raises
        ------
        Exception
            The ``error`` given: the file is shorter than the array (it changed).
        """
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] is Ellipsis
                and isinstance(key[1], slice) and key[1].step in (None, 1)):
            raise TypeError("a stored array is read as stored[..., t0:t1]")
        T = self.shape[-1]
        t0, t1, _ = key[1].indices(T)
        n, item = max(0, t1 - t0), self.dtype.itemsize
        rows = math.prod(self.shape[:-1])
        out = np.empty((rows, n), self.dtype)
        if n:
            fd = os.open(self.filename, os.O_RDONLY)
            try:
                for r in range(rows):
                    data = os.pread(fd, n * item, self.offset + (r * T + t0) * item)
                    if len(data) < n * item:
                        raise self._error(f"'{self.filename}' no longer holds what it held "
                                          f"when it was opened (it was changed or cut short "
                                          f"while in use): open it again")
                    out[r] = np.frombuffer(data, self.dtype)
            finally:
                os.close(fd)
        return out.reshape(self.shape[:-1] + (n,))
