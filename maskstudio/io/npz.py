"""Mask files: ``.npz`` with the masks, their names and the STFT settings; bare ``.npy``.

An ``.npz`` holds ``masks`` float32 ``[source, freq, time]`` (or ``[source, channel, freq,
time]``; complex64 for complex masks), ``names``, ``samplerate``, ``n_fft``, ``hop_length``,
``win_length``, ``window``, ``center`` and ``format_version``.  Everything is a plain array
(no pickles), so numpy, librosa or a training script read it with ``np.load``.

A bare ``.npy`` ``[freq, time]`` (or ``[source, freq, time]``) is accepted when its shape fits
the mixture's STFT; a transposed one is recognised and explained, never applied.  This module
reads them, header first (a file is judged by what it declares before its data is read);
:mod:`maskstudio.io.savez` writes them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from maskstudio.checks import check_input_file, memory_budget
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.validation import check_mask, check_mask_shape
from maskstudio.dsp.windows import MAX_N_FFT, check_window
from maskstudio.errors import MaskFileError, MaskStudioError, ParameterError
from maskstudio.io.npy_header import (
    READ_ERRORS,
    StoredArray,
    member_number,
    member_text,
    nbytes,
    read_header,
    read_member,
    shown_value,
    size_text,
)
from maskstudio.io.savez import FORMAT_VERSION, save_masks, write_mask_file

__all__ = ["MaskFile", "RawMaskFile", "load_masks", "read_mask_file", "read_for_mixture",
           "is_untruncated_psm",
           # the writer's, imported here where callers have always found them
           "FORMAT_VERSION", "save_masks", "write_mask_file"]

@dataclasses.dataclass
class RawMaskFile:
    """A mask file as stored, checked only for being well formed (:func:`read_mask_file`).

    Parameters
    ----------
    data : np.ndarray [shape=(source, freq, time) or (source, channel, freq, time)]
    names : list of str
    config : STFTConfig or None
        None for a bare ``.npy``.
    samplerate : int or None
        None for a bare ``.npy``.
    path : Path
    metadata : dict
    """

    data: np.ndarray
    names: list
    config: STFTConfig | None
    samplerate: int | None
    path: Path
    metadata: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MaskFile:
    """A mask file checked against a mixture (:func:`load_masks`).

    Parameters
    ----------
    masks : MaskSet
    config : STFTConfig
        The grid the masks live on.
    samplerate : int or None
        The file's, if it says.
    path : Path
    metadata : dict
    """

    masks: MaskSet
    config: STFTConfig
    samplerate: int | None
    path: Path
    metadata: dict = dataclasses.field(default_factory=dict)


#: Members of an .npz besides the masks (names, settings, metadata) are small; larger ones
#: are refused unread.
_SMALL_MEMBER = 1 << 20

#: When the grid is unknown (``info``), the masks may declare at most this many bytes, or
#: this many times the size they take in the file, whichever is more.
_UNKNOWN_GRID_BYTES = 256 << 20
_UNKNOWN_GRID_RATIO = 100

_ZIP_MAGIC = b"PK\x03\x04"


def _number(value: np.ndarray, key: str, path, **bounds) -> Any:
    return member_number(value, key, f"'{path}'", MaskFileError, **bounds)


def _text(value: np.ndarray, key: str, path) -> str:
    return member_text(value, key, f"'{path}'", MaskFileError)


def _config_from_file(small: dict, path) -> STFTConfig | None:
    if "n_fft" not in small:
        return None
    text = _text(small["window"], "window", path) if "window" in small else "hann"
    window: object = text
    if text.lstrip().startswith("["):
        try:
            window = json.loads(text)
        except (ValueError, RecursionError):
            raise MaskFileError(f"'{path}': its window {text[:60]!r} is not valid: re-save "
                                f"the file with a window name such as 'hann'") from None
    else:
        try:
            window = float(text)  # a Kaiser beta, stored as its number
        except ValueError:
            pass
    def setting(key: str) -> Any:
        return _number(small[key], key, path, lo=1, hi=MAX_N_FFT, integer=True) \
            if key in small else None

    n_fft, hop_length, win_length = setting("n_fft"), setting("hop_length"), \
        setting("win_length")
    center = bool(_number(small["center"], "center", path, lo=0, hi=1, integer=True)) \
        if "center" in small else True
    try:
        return STFTConfig(n_fft, hop_length, win_length, check_window(window), center)
    except ParameterError as exc:
        raise MaskFileError(f"'{path}' has unusable STFT settings ({exc}): re-save it with "
                            f"valid ones") from None


def _metadata(small: dict, path) -> dict:
    if "metadata" not in small:
        return {}
    text = _text(small["metadata"], "metadata", path)
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise MaskFileError(f"'{path}': its metadata is not valid JSON (or is nested too "
                            f"deeply): re-save the file") from None
    if not isinstance(meta, dict):
        raise MaskFileError(f"'{path}': its metadata is a JSON {type(meta).__name__}, not an "
                            f"object: re-save the file with a dict as metadata")
    return meta


def _names(small: dict, n_sources: int, path, default_stem: str) -> list:
    if "names" not in small:
        return [f"source{i + 1}" for i in range(n_sources)] if n_sources > 1 else \
            [default_stem]
    v = np.asarray(small["names"])
    if v.ndim != 1 or v.dtype.kind not in "US":
        raise MaskFileError(f"'{path}': its 'names' is {shown_value(v)}; it must be a list of "
                            f"text, one name per mask: re-save it with names=np.array([...])")
    names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
             for n in v.tolist()]
    if len(names) != n_sources:
        raise MaskFileError(f"'{path}' has {len(names)} name(s) for {n_sources} mask(s): give "
                            f"one name per mask")
    return names


def _check_masks_header(shape, dtype, path) -> None:
    if dtype.kind not in "biufc":
        raise MaskFileError(f"'{path}': its masks hold values of type {dtype}, not numbers: "
                            f"save them as float32 (or complex64)")
    if len(shape) not in (2, 3, 4):
        raise MaskFileError(f"'{path}' holds masks of shape {shape}; masks are [freq, time], "
                            f"[source, freq, time] or [source, channel, freq, time]")
    if len(shape) > 2 and shape[0] == 0:
        raise MaskFileError(f"'{path}' holds no masks (zero sources): save at least one")
    if 0 in shape:
        raise MaskFileError(f"'{path}' holds empty masks of shape {shape}: save masks with at "
                            f"least one bin and one frame")


def _check_size(size: int, held: int, packed: int, shape, path, *, grid_known: bool) -> None:
    """Refuse, unread, masks declaring more than the file holds (``held`` bytes, ``packed``
    into fewer when compressed) or more than memory allows."""
    if size > held:
        raise MaskFileError(f"'{path}' declares masks of shape {shape} ({size_text(size)}) "
                            f"but holds only {size_text(max(held, 0))} of data: the file is "
                            f"truncated or damaged; save it again")
    if not grid_known and size > max(_UNKNOWN_GRID_BYTES, _UNKNOWN_GRID_RATIO * packed):
        raise MaskFileError(f"'{path}' declares masks of {size_text(size)} packed into "
                            f"{size_text(packed)}, which looks like a decompression bomb: if "
                            f"it is genuine, apply it to its mixture (maskstudio separate), "
                            f"which checks its shape first, or save it uncompressed")
    budget = memory_budget()
    if size > budget // 2:
        raise MaskFileError(f"'{path}' holds masks of {size_text(size)}, more than half the "
                            f"memory available ({size_text(budget)}): use a larger hop_length "
                            f"or split the file")


def _read(path, expect=None, lazy: bool = False) -> RawMaskFile:
    """Read a mask file; ``expect(config, samplerate, names, shape)`` may refuse it from its
    declared shape and settings before the masks' data is read.  ``lazy``: the data is left in
    the file and read on demand, where it is stored uncompressed (as maskstudio writes it)."""
    path = Path(path)
    st = check_input_file(path, MaskFileError, "a mask file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise MaskFileError(f"'{path}' is not a mask file: use .npz (or a bare .npy)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
            if suffix == ".npy":
                if magic.startswith(_ZIP_MAGIC):
                    raise MaskFileError(f"'{path}' is a zip archive (an .npz), not a bare "
                                        f".npy: rename it to '{path.stem}.npz'")
                fh.seek(0)
                return _read_npy(fh, path, st.st_size, expect, lazy)
            if magic == b"\x93NUMPY":
                raise MaskFileError(f"'{path}' is a bare .npy array, not an .npz archive: "
                                    f"rename it to '{path.stem}.npy'")
            fh.seek(0)
            return _read_npz(fh, path, expect, lazy)
    except MaskStudioError:
        raise
    except MemoryError:
        raise MaskFileError(f"'{path}' is too large for the memory available: use a "
                            f"larger hop_length or split the file") from None
    except READ_ERRORS as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise MaskFileError(f"cannot read '{path}' as a mask file ({reason[:200]}): it is "
                            f"damaged or not a mask file; re-save it with np.savez") from None


def _stored(path, offset: int, shape, dtype, header_stream) -> StoredArray | None:
    """The array at ``offset`` of ``path``, read on demand, or None when its header (read
    again from ``header_stream``) says it is stored in Fortran order."""
    version = np.lib.format.read_magic(header_stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
        np.lib.format.read_array_header_2_0
    _, fortran, _ = read(header_stream)
    if fortran:
        return None
    return StoredArray(path, offset, shape, dtype, MaskFileError)


def _member_data_start(fh, info: zipfile.ZipInfo) -> int:
    """Where member ``info``'s bytes begin in the archive: after its local header."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != _ZIP_MAGIC:
        raise zipfile.BadZipFile("a local header is damaged")
    name_len = int.from_bytes(local[26:28], "little")
    extra_len = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


def _read_npy(fh, path, file_size: int, expect, lazy: bool = False) -> RawMaskFile:
    shape, dtype = read_header(fh, MaskFileError, f"'{path}'")
    _check_masks_header(shape, dtype, path)
    if len(shape) not in (2, 3):
        raise MaskFileError(f"'{path}' holds an array of shape {shape}; a .npy mask is "
                            f"[freq, time] or [source, freq, time]")
    n = 1 if len(shape) == 2 else shape[0]
    names = _names({}, n, path, path.stem)
    if expect is not None:
        expect(None, None, names, shape if len(shape) == 3 else (1,) + shape)
    held = file_size - fh.tell()
    _check_size(nbytes(shape, dtype), held, held, shape, path, grid_known=expect is not None)
    offset = fh.tell()
    full = shape if len(shape) == 3 else (1,) + shape  # the same bytes, a source axis added
    fh.seek(0)
    stored = _stored(path, offset, full, dtype, fh) if lazy else None
    fh.seek(0)
    if stored is not None:
        return RawMaskFile(stored, names, None, None, path)  # type: ignore[arg-type]
    data = np.lib.format.read_array(fh, allow_pickle=False)
    return RawMaskFile(data.reshape(full), names, None, None, path)


def _read_npz(fh, path, expect, lazy: bool = False) -> RawMaskFile:
    with zipfile.ZipFile(fh) as zf:
        members = {info.filename[:-4]: info for info in zf.infolist()
                   if info.filename.endswith(".npy")}
        if "masks" not in members:
            raise MaskFileError(f"'{path}' has no 'masks' array (it holds "
                                f"{', '.join(sorted(members)) or 'nothing'})")
        small = {key: read_member(zf, members[key], MaskFileError, f"'{path}': its '{key}'",
                                  max_bytes=_SMALL_MEMBER)
                 for key in ("format_version", "names", "samplerate", "n_fft", "hop_length",
                             "win_length", "window", "center", "metadata") if key in members}
        version = _number(small["format_version"], "format_version", path, lo=0,
                          integer=True) if "format_version" in small else 1
        if version > FORMAT_VERSION:
            raise MaskFileError(f"'{path}' was written by a newer maskstudio (format "
                                f"{version}): update maskstudio to read it")
        config = _config_from_file(small, path)
        samplerate = _number(small["samplerate"], "samplerate", path, lo=1, hi=10_000_000,
                             integer=True) if "samplerate" in small else None
        metadata = _metadata(small, path)
        info = members["masks"]
        with zf.open(info) as m:
            shape, dtype = read_header(m, MaskFileError, f"'{path}': its masks")
            _check_masks_header(shape, dtype, path)
            full = shape if len(shape) > 2 else (1,) + shape
            names = _names(small, full[0], path, path.stem)
            if expect is not None:
                expect(config, samplerate, names, full)
            held = info.file_size - m.tell()
            _check_size(nbytes(shape, dtype), held, info.compress_size, shape, path,
                        grid_known=expect is not None)
            header_size = m.tell()
        if lazy and info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            with zf.open(info) as m:
                stored = _stored(path, _member_data_start(fh, info) + header_size, full, dtype,
                                 m)
            if stored is not None:  # read on demand: a MaskReader's data (see read_for_mixture)
                return RawMaskFile(stored, names, config, samplerate, path,  # type: ignore[arg-type]
                                   metadata)
        with zf.open(info) as m:
            data = np.lib.format.read_array(m, allow_pickle=False)
    return RawMaskFile(data.reshape(full), names, config, samplerate, path, metadata)


def is_untruncated_psm(metadata: dict) -> bool:
    """Whether a mask file's metadata says it holds an untruncated phase-sensitive mask
    (``maskstudio oracle --mask psm --no-truncate``), whose values may leave [0, 1].

    Parameters
    ----------
    metadata : dict
        The file's ``metadata`` member.

    Returns
    -------
    bool
    """
    options = metadata.get("options") if isinstance(metadata, dict) else None
    return metadata.get("kind") == "psm" and isinstance(options, dict) and \
        options.get("truncate") is False


def _nussl_layout(shape, n_bins: int, n_frames: int, n_channels: int, path) -> None:
    """Refuse, explained, masks laid out as nussl keeps them: ``[freq, time, channel]``
    (one source) or ``[freq, time, channel, source]``, which would read as one source per
    frequency bin."""
    if len(shape) not in (3, 4) or shape[0] == 1:
        return
    if shape[0] != n_bins or shape[1] != n_frames or shape[2] not in (1, n_channels):
        return
    if len(shape) == 3 and shape[1] == n_bins and shape[2] == n_frames:
        return  # also a valid [source, freq, time]: take it as that
    layout, fix = ("[freq, time, channel]", "np.moveaxis(masks, 2, 0)[None]") \
        if len(shape) == 3 else ("[freq, time, channel, source]",
                                 "np.transpose(masks, (3, 2, 0, 1))")
    raise MaskFileError(f"'{path}' holds masks of shape {tuple(shape)}, nussl's {layout} "
                        f"layout; maskstudio reads [source, channel, freq, time]: save "
                        f"{fix} instead")


def read_mask_file(path: str | os.PathLike) -> RawMaskFile:
    """Read a mask file as it is, checking that it is well formed.

    Every setting is checked (type, finite, in range), and the masks' declared shape and type
    are judged from the array header before their data is read: a file declaring more than it
    holds, or (with no grid to compare with) far more than its size suggests, is refused
    unread.

    Parameters
    ----------
    path : path
        An .npz or bare .npy.

    Returns
    -------
    RawMaskFile

    Raises
    ------
    MaskFileError
        The file is missing, not a regular file, damaged, or not a well-formed mask file.
    """
    return _read(path)


def load_masks(path: str | os.PathLike, *, n_channels: int, n_samples: int, samplerate: int,
               config: STFTConfig | None = None, allow_complex: bool = True) -> MaskFile:
    """Read a mask file and check it fits a mixture of ``n_channels`` x ``n_samples``.

    The file's own STFT settings are used when it has them; ``config`` is the grid to assume
    for a bare ``.npy`` (and, if given, must agree with the file's).  The settings, sample
    rate and declared shape are checked against the mixture before the masks are read, so a
    file declaring a huge array costs nothing; then every value is checked (finite, in
    [0, 1] for real masks; complex masks only with ``allow_complex``).

    Parameters
    ----------
    path : path
        An .npz or bare .npy.
    n_channels, n_samples, samplerate : int
        The mixture's.
    config : STFTConfig, optional
        The grid to assume for a bare .npy (and to agree with the file's).
    allow_complex : bool
        Whether complex (cIRM) masks are accepted.

    Returns
    -------
    MaskFile

    Raises
    ------
    MaskFileError
        The file cannot be read (see :func:`read_mask_file`), does not say its grid, was
        made for another grid or sample rate, or holds masks that do not fit the mixture.
    """
    mf, cfg, n_frames = read_for_mixture(path, n_channels=n_channels, n_samples=n_samples,
                                         samplerate=samplerate, config=config)
    raw, names = mf.data, mf.names
    checked = [check_mask(raw[i], n_bins=cfg.n_bins, n_frames=n_frames,
                          n_channels=n_channels, allow_complex=allow_complex,
                          unbounded=is_untruncated_psm(mf.metadata),
                          name=f"mask '{names[i]}' in '{Path(path).name}'")
               for i in range(raw.shape[0])]
    try:
        masks = MaskSet(names, np.stack(checked))
    except MaskStudioError as exc:
        raise MaskFileError(f"'{path}': {exc}") from None
    return MaskFile(masks, cfg, mf.samplerate, Path(path), mf.metadata)


def read_for_mixture(path: str | os.PathLike, *, n_channels: int, n_samples: int,
                     samplerate: int, config: STFTConfig | None = None,
                     mapped: bool = False) -> tuple[RawMaskFile, STFTConfig, int]:
    """Read a mask file made for a mixture, its grid, rate and shape checked before its data.

    Parameters
    ----------
    path : path
        An .npz or bare .npy.
    n_channels, n_samples, samplerate : int
        The mixture's.
    config : STFTConfig, optional
        The grid to assume for a bare .npy (and to agree with the file's).
    mapped : bool
        Leave the masks in the file, read a slice at a time (an
        :class:`~maskstudio.io.npy_header.StoredArray`), where they are stored uncompressed;
        their values are then not checked here: the caller checks what it reads.

    Returns
    -------
    tuple of (RawMaskFile, STFTConfig, int)
        The file, the grid its masks are on, and the number of frames of the mixture.

    Raises
    ------
    MaskFileError
        The file cannot be read, does not say its grid, or was made for another grid, sample
        rate or mixture.
    """
    found: dict[str, Any] = {}

    def expect(file_config, file_rate, names, shape):
        cfg = file_config or config
        if cfg is None:
            raise MaskFileError(f"'{path}' does not say which STFT it was made with: give "
                                f"n_fft and hop_length")
        if file_config is not None and config is not None and file_config != config:
            raise MaskFileError(f"'{path}' was made with {file_config.describe()}, but "
                                f"{config.describe()} was asked for: use the file's settings")
        if file_rate is not None and file_rate != samplerate:
            raise MaskFileError(f"'{path}' was made at {file_rate} Hz but the mixture is at "
                                f"{samplerate} Hz: resample the mixture or recompute the "
                                f"masks")
        n_frames = cfg.n_frames(n_samples)
        _nussl_layout(shape, cfg.n_bins, n_frames, n_channels, path)
        check_mask_shape(shape[1:], n_bins=cfg.n_bins, n_frames=n_frames,
                         n_channels=n_channels,
                         name=f"mask '{names[0]}' in '{Path(path).name}'")
        found.update(config=cfg, n_frames=n_frames)

    return _read(path, expect, lazy=mapped), found["config"], found["n_frames"]
