"""Reading ``.npy`` arrays and ``.npz`` members from untrusted files, header first.

``np.load`` allocates whatever shape a header declares before it reads a byte of data, so a
small, damaged or hostile file can ask for gigabytes; it also raises a dozen different
exceptions for a damaged zip.  Here the header is read and judged first (plain numbers or
text only, never objects; no more than the file holds; no more than the caller allows), and
every failure becomes the caller's one-line :class:`~maskstudio.errors.MaskStudioError`.
"""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib

import numpy as np

__all__ = ["READ_ERRORS", "read_header", "nbytes", "read_member", "size_text"]

#: What a damaged zip or ``.npy`` header raises (besides MaskStudioError): callers turn
#: these into their own one-line error.
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, IndexError, SyntaxError, TypeError,
               OverflowError, RecursionError, NotImplementedError, RuntimeError,
               zipfile.BadZipFile, zlib.error, struct.error,
               tokenize.TokenError)  # numpy tokenizes a damaged header's dict


def read_header(fh, error, where: str):
    """``(shape, dtype)`` of the ``.npy`` stream ``fh``, which is left at the data.

    Structured, sub-array and object dtypes (pickles) are refused with ``error``.
    """
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise error(f"{where} is in .npy format {version}, which maskstudio does not read: "
                    f"save it again with numpy")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{where} holds Python objects or records ({dtype}), not plain numbers "
                    f"or text: save it again with plain arrays (no pickles)")
    return tuple(int(k) for k in shape), dtype


def nbytes(shape, dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes (exact, however large)."""
    return math.prod(shape) * np.dtype(dtype).itemsize


def size_text(n: float) -> str:
    """``n`` bytes for people: "1.3 GB"."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, error, where: str, *,
                max_bytes: int, check=None) -> np.ndarray:
    """The array in member ``info`` of ``zf``, read only after its header passed.

    The declared size must fit in the member (else the file is truncated or lies) and in
    ``max_bytes``; ``check(shape, dtype)`` may refuse it too.  Nothing is allocated for the
    data before all of that holds.
    """
    with zf.open(info) as fh:
        shape, dtype = read_header(fh, error, where)
        if check is not None:
            check(shape, dtype)
        size, held = nbytes(shape, dtype), info.file_size - fh.tell()
        if size > held:
            raise error(f"{where} declares {shape} values of {dtype} ({size_text(size)}) but "
                        f"holds {size_text(max(held, 0))}: the file is truncated or damaged")
        if size > max_bytes:
            raise error(f"{where} declares {size_text(size)} of values, more than it can "
                        f"need ({size_text(max_bytes)}): the file is damaged")
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)
