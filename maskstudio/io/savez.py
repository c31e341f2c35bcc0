"""Writing mask files: the ``.npz`` layout :mod:`maskstudio.io.npz` describes and reads.

The file is what ``np.savez`` writes (plain arrays, no pickles), but the masks are streamed into
it a band of bins at a time, so masks kept in time tiles are never whole in memory.  Written
atomically, and never over one of the user's inputs.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.masks import MaskSet
from maskstudio.errors import MaskFileError
from maskstudio.io.atomic import atomic_write
from maskstudio.io.audiofile import check_not_input

__all__ = ["FORMAT_VERSION", "save_masks", "write_mask_file"]

#: The layout's version, stored in every file; a reader refuses a newer one.
FORMAT_VERSION = 1


def save_masks(path: str | os.PathLike, masks: MaskSet, config: STFTConfig, samplerate: int,
               *, metadata: dict | None = None, protect: Iterable = ()) -> Path:
    """Write ``masks`` with their STFT settings to an ``.npz``, atomically.

    Parameters
    ----------
    path : path
        Ending in .npz.
    masks : MaskSet
    config : STFTConfig
        The grid of the masks.
    samplerate : int
    metadata : dict, optional
        Stored as JSON.
    protect : iterable of paths
        Inputs never to overwrite.

    Returns
    -------
    Path

    Raises
    ------
    MaskStudioError
        As :func:`write_mask_file`.
    """
    data = masks.data
    return write_mask_file(path, masks.names, data.shape, lambda i, f0, f1: data[i, ..., f0:f1, :],
                           config, samplerate, dtype=data.dtype, metadata=metadata,
                           protect=protect)


#: Frequency bins written at a time by :func:`write_mask_file`.
_BAND = 32


def write_mask_file(path: str | os.PathLike, names: Sequence[str], shape: tuple,
                    read_rows: Callable[[int, int, int], np.ndarray], config: STFTConfig,
                    samplerate: int, *, dtype: DTypeLike = np.float32,
                    metadata: dict | None = None, protect: Iterable = ()) -> Path:
    """Write a mask file whose masks are read a band of bins at a time.

    Masks kept in time tiles are written without ever being whole (the file is the same as
    ``np.savez`` writes).  Atomic, and never over one of ``protect``.

    Parameters
    ----------
    path : path
        Ending in .npz.
    names : sequence of str
        One per mask.
    shape : tuple of int
        Of all the masks: ``(S, F, T)`` or ``(S, C, F, T)``.
    read_rows : callable(i, f0, f1) -> np.ndarray [shape=((C,) f1 - f0, T)]
        Mask ``i``'s bins ``f0 <= f < f1`` over all frames.
    config : STFTConfig
        The grid of the masks.
    samplerate : int
    dtype : numpy dtype
        float32, or complex64 for complex masks.
    metadata : dict, optional
        Stored as JSON.
    protect : iterable of paths
        Inputs never to overwrite.

    Returns
    -------
    Path

    Raises
    ------
    MaskStudioError
        Not an .npz name (``MaskFileError``), an input in the way (``OverwriteError``), or a
        failed write (``WriteError``).
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise MaskFileError(f"mask files are saved as .npz, not '{path.suffix}': rename "
                            f"'{path.name}'")
    check_not_input(path, protect)
    window = config.window
    small = dict(
        names=np.array(list(names), dtype=np.str_),
        samplerate=np.int64(samplerate),
        n_fft=np.int64(config.n_fft),
        hop_length=np.int64(config.hop_length),
        win_length=np.int64(config.win_length),
        # a name as it is; a (name, parameter, ...) tuple or a Kaiser beta as JSON
        window=np.str_(window if isinstance(window, str) else json.dumps(
            list(window) if isinstance(window, tuple) else window)),
        center=np.bool_(config.center),
        format_version=np.int64(FORMAT_VERSION),
        metadata=np.str_(json.dumps(metadata or {})),
    )
    shape = tuple(int(k) for k in shape)
    dtype = np.dtype(dtype)
    lead = shape[1:-2]  # (C,) for per-channel masks

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open("masks.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                         "shape": shape})
                for i in range(shape[0]):
                    for c in np.ndindex(*lead):
                        for f0 in range(0, shape[-2], _BAND):
                            rows = read_rows(i, f0, min(shape[-2], f0 + _BAND))
                            fh.write(np.ascontiguousarray(rows[c], dtype=dtype).tobytes())
            for key, value in small.items():
                with zf.open(f"{key}.npy", "w") as fh:
                    np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)

    atomic_write(path, write, suffix=".npz")
    return path
