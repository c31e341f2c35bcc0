"""Mask files: ``.npz`` with the masks, their names and the STFT settings; bare ``.npy``.

An ``.npz`` holds ``masks`` float32 ``[source, freq, time]`` (or ``[source, channel, freq,
time]``; complex64 for complex masks), ``names``, ``samplerate``, ``n_fft``, ``hop_length``,
``win_length``, ``window``, ``center`` and ``format_version``.  Everything is a plain array
(no pickles), so numpy, librosa or a training script read it with ``np.load``.

A bare ``.npy`` ``[freq, time]`` (or ``[source, freq, time]``) is accepted when its shape fits
the mixture's STFT; a transposed one is recognised and explained, never applied.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from maskstudio.core.audio_io import atomic_write, check_not_input
from maskstudio.core.masks import MaskSet, check_mask
from maskstudio.core.stft import STFTConfig
from maskstudio.errors import MaskFileError, MaskStudioError

__all__ = ["FORMAT_VERSION", "MaskFile", "RawMaskFile", "save_masks", "write_mask_file",
           "load_masks", "read_mask_file"]

FORMAT_VERSION = 1


@dataclasses.dataclass
class RawMaskFile:
    """A mask file as stored, checked only for being well formed.

    ``data`` is ``[source, freq, time]`` or ``[source, channel, freq, time]``; ``config`` and
    ``samplerate`` are None for a bare ``.npy``.
    """

    data: np.ndarray
    names: list
    config: STFTConfig | None
    samplerate: int | None
    path: Path
    metadata: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MaskFile:
    """A mask file checked against a mixture: its masks and the grid they live on."""

    masks: MaskSet
    config: STFTConfig
    samplerate: int | None
    path: Path
    metadata: dict = dataclasses.field(default_factory=dict)


def save_masks(path, masks: MaskSet, config: STFTConfig, samplerate: int, *,
               metadata: dict | None = None, protect=()) -> Path:
    """Write ``masks`` with their STFT settings to an ``.npz``, atomically."""
    data = masks.data
    return write_mask_file(path, masks.names, data.shape, lambda i, f0, f1: data[i, ..., f0:f1, :],
                           config, samplerate, dtype=data.dtype, metadata=metadata,
                           protect=protect)


#: Frequency bins written at a time by :func:`write_mask_file`.
_BAND = 32


def write_mask_file(path, names, shape: tuple, read_rows, config: STFTConfig,
                    samplerate: int, *, dtype=np.float32, metadata: dict | None = None,
                    protect=()) -> Path:
    """Write a mask file whose masks are read a band of bins at a time.

    ``read_rows(i, f0, f1)`` gives mask ``i``'s bins ``f0..f1`` over all frames,
    ``[(C,) f1 - f0, T]``, so masks kept in time tiles are written without ever being whole
    (the file is the same as ``np.savez`` writes).  Atomic, and never over one of ``protect``.
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
        window=np.str_(window if isinstance(window, str) else json.dumps(list(window))),
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


def _scalar(z, key, kind):
    try:
        return kind(z[key].item())
    except (ValueError, TypeError) as exc:
        raise MaskFileError(f"the mask file's '{key}' is not a valid {kind.__name__}") from exc


def read_mask_file(path) -> RawMaskFile:
    """Read a mask file as it is, checking only that it is well formed."""
    path = Path(path)
    if not path.exists():
        raise MaskFileError(f"'{path}' does not exist: check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(str(path), allow_pickle=False)
            if data.ndim == 2:
                data = data[None]
            if data.ndim != 3:
                raise MaskFileError(f"'{path}' holds an array of shape {data.shape}; a .npy mask "
                                    f"is [freq, time] or [source, freq, time]")
            names = [f"source{i + 1}" for i in range(data.shape[0])] if data.shape[0] > 1 \
                else [path.stem]
            return RawMaskFile(data, names, None, None, path)
        if suffix != ".npz":
            raise MaskFileError(f"'{path}' is not a mask file: use .npz (or a bare .npy)")
        with np.load(str(path), allow_pickle=False) as z:
            keys = set(z.files)
            if "masks" not in keys:
                raise MaskFileError(f"'{path}' has no 'masks' array (it holds "
                                    f"{', '.join(sorted(keys)) or 'nothing'})")
            data = z["masks"]
            version = _scalar(z, "format_version", int) if "format_version" in keys else 1
            if version > FORMAT_VERSION:
                raise MaskFileError(f"'{path}' was written by a newer maskstudio (format "
                                    f"{version}): update maskstudio to read it")
            if data.ndim == 2:
                data = data[None]
            names = [str(n) for n in z["names"]] if "names" in keys else \
                [f"source{i + 1}" for i in range(data.shape[0])]
            config = samplerate = None
            if "n_fft" in keys:
                window = str(z["window"].item()) if "window" in keys else "hann"
                if window.startswith("["):
                    window = tuple(json.loads(window))
                config = STFTConfig(
                    n_fft=_scalar(z, "n_fft", int),
                    hop_length=_scalar(z, "hop_length", int) if "hop_length" in keys else None,
                    win_length=_scalar(z, "win_length", int) if "win_length" in keys else None,
                    window=window,
                    center=_scalar(z, "center", bool) if "center" in keys else True,
                )
            if "samplerate" in keys:
                samplerate = _scalar(z, "samplerate", int)
            metadata = json.loads(str(z["metadata"].item())) if "metadata" in keys else {}
    except MaskStudioError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as exc:
        raise MaskFileError(f"cannot read '{path}' as a mask file ({exc}): re-save it with "
                            f"np.savez") from None
    if data.ndim not in (3, 4) or len(names) != data.shape[0]:
        raise MaskFileError(f"'{path}' has {len(names)} names for masks of shape {data.shape}")
    return RawMaskFile(data, names, config, samplerate, path, dict(metadata))


def load_masks(path, *, n_channels: int, n_samples: int, samplerate: int,
               config: STFTConfig | None = None) -> MaskFile:
    """Read a mask file and check it fits a mixture of ``n_channels`` x ``n_samples``.

    The file's own STFT settings are used when it has them; ``config`` is the grid to assume
    for a bare ``.npy`` (and, if given, must agree with the file's).
    """
    mf = read_mask_file(path)
    raw, names = mf.data, mf.names
    cfg = mf.config or config
    if cfg is None:
        raise MaskFileError(f"'{path}' does not say which STFT it was made with: give n_fft "
                            f"and hop_length")
    if mf.config is not None and config is not None and mf.config != config:
        raise MaskFileError(f"'{path}' was made with {mf.config.describe()}, but "
                            f"{config.describe()} was asked for: use the file's settings")
    if mf.samplerate is not None and mf.samplerate != samplerate:
        raise MaskFileError(f"'{path}' was made at {mf.samplerate} Hz but the mixture is at "
                            f"{samplerate} Hz: resample the mixture or recompute the masks")
    n_frames = cfg.n_frames(n_samples)
    checked = [check_mask(raw[i], n_bins=cfg.n_bins, n_frames=n_frames, n_channels=n_channels,
                          name=f"mask '{names[i]}' in '{Path(path).name}'")
               for i in range(raw.shape[0])]
    try:
        masks = MaskSet(names, np.stack(checked))
    except MaskStudioError as exc:
        raise MaskFileError(f"'{path}': {exc}") from None
    return MaskFile(masks, cfg, samplerate, Path(path), mf.metadata)
