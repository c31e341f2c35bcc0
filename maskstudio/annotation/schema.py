"""Reading a ``.msproj`` that may be damaged: a schema for ``project.json``, a check of every
array against the grid before it is used.

A project is a zip (see :mod:`maskstudio.annotation.project`).  Any damage (a bad CRC, an empty or
truncated file, JSON of the wrong shape, a tile array of the wrong shape or type, a tile key
out of range, NaN or 5.0 in a mask, a layer whose arrays are missing, an absurd tile size or
``next_uid``) ends in one :class:`~maskstudio.errors.MaskStudioError` naming the file and the
field, never in a half-built document or a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from maskstudio.checks import check_input_file, check_number
from maskstudio.dsp.masks import check_mask
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.state import STATUSES, DocumentState, Layer
from maskstudio.editing.tiles import Spill, cool, spills
from maskstudio.errors import MaskStudioError, ParameterError
from maskstudio.io.npy_header import READ_ERRORS, nbytes, read_member, read_member_rows

__all__ = ["ProjectArchive", "check_meta"]

#: ``project.json`` larger than this is damage (notes and a thousand layers fit in 1 MB).
_META_BYTES = 16 << 20
_MAX_TILE = 1 << 16
_MAX_UID = 2 ** 31 - 1
_MAX_CHANNELS = 1024
_MAX_TEXT = 1 << 20
_CONFIG_KEYS = ("n_fft", "hop_length", "win_length", "window", "center")
_TOLERANCE = 1e-6


_KIND_NAMES = {str: "text", dict: "an object", list: "a list", int: "an integer",
               float: "a number", bool: "true or false"}


class _Damaged(MaskStudioError):
    """The field-level complaint; :class:`ProjectArchive` adds the file's name."""


def _get(d: dict, key: str, kind, what: str, *, default=dataclasses.MISSING):
    if key not in d:
        if default is dataclasses.MISSING:
            raise _Damaged(f"{what} has no '{key}'")
        return default
    value = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if bool not in kinds and isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise _Damaged(f"{what}'s '{key}' is {type(value).__name__} {_short(value)}, not {names}")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise _Damaged(f"{what}'s '{key}' is {len(value)} characters long")
    return value


def _short(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:40] + "..."


def _int(d: dict, key: str, what: str, *, lo, hi, default=dataclasses.MISSING) -> int:
    value = _get(d, key, int, what, default=default)
    try:
        return check_number(value, f"{what}'s '{key}'", lo=lo, hi=hi, integer=True)
    except ParameterError as exc:
        raise _Damaged(str(exc)) from None


def _layer(d, what: str, *, residual: bool = False) -> dict:
    """The fields of one layer, type-checked; unknown fields are dropped."""
    if not isinstance(d, dict):
        raise _Damaged(f"{what} is {type(d).__name__} {_short(d)}, not an object")
    out = {"name": _get(d, "name", str, what),
           "uid": _int(d, "uid", what, lo=-1 if residual else 0, hi=_MAX_UID)}
    if not out["name"].strip():
        raise _Damaged(f"{what} has an empty name")
    if "color" in d:
        color = _get(d, "color", list, what)
        if len(color) not in (3, 4) or not all(isinstance(c, int) and not isinstance(c, bool)
                                               and 0 <= c <= 255 for c in color):
            raise _Damaged(f"{what}'s colour {_short(color)} is not 3 or 4 values in 0..255")
        out["color"] = tuple(color)
    if "opacity" in d:
        try:
            out["opacity"] = check_number(_get(d, "opacity", (int, float), what),
                                          f"{what}'s opacity", lo=0, hi=1)
        except ParameterError as exc:
            raise _Damaged(str(exc)) from None
    for key in ("visible", "solo", "muted", "locked"):
        if key in d:
            out[key] = _get(d, key, bool, what)
    if "label" in d:
        out["label"] = _get(d, "label", str, what)
    if "provenance" in d:
        out["provenance"] = dict(_get(d, "provenance", dict, what))
    return out


def _config(d) -> STFTConfig:
    if not isinstance(d, dict):
        raise _Damaged(f"its STFT settings are {type(d).__name__} {_short(d)}, not an object")
    unknown = set(d) - set(_CONFIG_KEYS)
    if unknown:
        raise _Damaged(f"its STFT settings have unknown keys {', '.join(sorted(unknown))}")
    if "n_fft" not in d:
        raise _Damaged("its STFT settings have no n_fft")
    kw = dict(d)
    if isinstance(kw.get("window"), list):
        kw["window"] = tuple(kw["window"])
    try:
        return STFTConfig(**kw)
    except ParameterError as exc:
        raise _Damaged(f"its STFT settings are unusable ({exc})") from None


def check_meta(meta, *, newest: int) -> dict:
    """``project.json``, field by field: a dict with every field checked and converted
    (``config`` an :class:`STFTConfig`, ``layers`` and ``residual`` Layer keyword dicts,
    ``lead`` a tuple).  Raises :class:`MaskStudioError` naming the first bad field."""
    what = "project.json"
    if not isinstance(meta, dict):
        raise _Damaged(f"{what} is a JSON {type(meta).__name__}, not an object")
    version = _int(meta, "format_version", what, lo=0, hi=_MAX_UID)
    if version > newest:
        raise MaskStudioError(f"it was saved by a newer maskstudio (project format {version}): "
                              f"update maskstudio to open it")
    out = {"format_version": version, "token": _get(meta, "token", str, what),
           "mixture": _get(meta, "mixture", str, what),
           "mixture_abs": _get(meta, "mixture_abs", str, what),
           "checksum": _get(meta, "checksum", str, what),
           "config": _config(_get(meta, "config", dict, what)),
           "tile": _int(meta, "tile", what, lo=1, hi=_MAX_TILE),
           "notes": _get(meta, "notes", str, what, default=""),
           "status": _get(meta, "status", str, what, default="to do"),
           "next_uid": _int(meta, "next_uid", what, lo=0, hi=_MAX_UID)}
    if not out["mixture"] or "\x00" in out["mixture"] + out["mixture_abs"]:
        raise _Damaged(f"{what}'s 'mixture' is not a path")
    if out["status"] not in STATUSES:
        raise _Damaged(f"{what}'s status {_short(out['status'])} is not one of "
                       f"{', '.join(STATUSES)}")
    lead = _get(meta, "lead", list, what)
    if len(lead) > 1 or not all(isinstance(c, int) and not isinstance(c, bool)
                                and 1 <= c <= _MAX_CHANNELS for c in lead):
        raise _Damaged(f"{what}'s 'lead' {_short(lead)} is not [] or [channels]")
    out["lead"] = tuple(lead)
    for key, hi in (("samplerate", 10_000_000), ("n_samples", 2 ** 48),
                    ("n_channels", _MAX_CHANNELS)):
        if key in meta:
            out[key] = _int(meta, key, what, lo=1, hi=hi)
    layers = _get(meta, "layers", list, what)
    out["layers"] = [_layer(m, f"layer {i + 1}") for i, m in enumerate(layers)]
    uids = [m["uid"] for m in out["layers"]]
    if len(set(uids)) != len(uids):
        raise _Damaged(f"{what} gives two layers the same uid")
    names = [m["name"] for m in out["layers"]]
    if len(set(names)) != len(names):
        raise _Damaged(f"{what} has two layers with the same name")
    out["residual"] = _layer(_get(meta, "residual", dict, what), "the residual", residual=True)
    out["next_uid"] = max([out["next_uid"]] + [u + 1 for u in uids])
    return out


class ProjectArchive:
    """An open ``.msproj``: :attr:`meta` is its checked ``project.json``; the layers' tiles
    and complex masks are read with :meth:`layer_tiles` and :meth:`complex_masks`, each
    checked against the grid of the mixture before use.  Use as a context manager."""

    def __init__(self, path, *, newest: int):
        self.path = Path(path)
        check_input_file(self.path, MaskStudioError, "a maskstudio project")
        self._fh: BinaryIO | None = None
        self.zf: zipfile.ZipFile | None = None
        with self._errors():
            self._fh = open(self.path, "rb")
            self.zf = zipfile.ZipFile(self._fh)
            self.members = {i.filename[:-4]: i for i in self.zf.infolist()
                            if i.filename.endswith(".npy")}
            if "project" not in self.members:
                raise _Damaged("it has no project.json")
            raw = read_member(self.zf, self.members["project"], _Damaged, "its project.json",
                              max_bytes=_META_BYTES)
            if raw.ndim != 0 or raw.dtype.kind != "U":
                raise _Damaged("its project.json is not text")
            try:
                meta = json.loads(str(raw))
            except (ValueError, RecursionError):
                raise _Damaged("its project.json is not valid JSON (or is nested too "
                               "deeply)") from None
            self.meta = check_meta(meta, newest=newest)

    # -- errors ----------------------------------------------------------------------------
    def _errors(self):
        archive = self

        class Context:
            def __enter__(self):
                return self

            def __exit__(self, kind, exc, tb):
                if exc is None:
                    return False
                if isinstance(exc, _Damaged) or isinstance(exc, READ_ERRORS) \
                        and not isinstance(exc, MaskStudioError):
                    archive.close()
                    reason = str(exc).strip() or type(exc).__name__
                    raise MaskStudioError(
                        f"cannot open '{archive.path}' as a maskstudio project: {reason[:300]}; "
                        f"the file is damaged: restore it from a backup") from None
                if isinstance(exc, MaskStudioError):
                    archive.close()
                    raise MaskStudioError(f"cannot open '{archive.path}': {exc}") from None
                if isinstance(exc, MemoryError):
                    archive.close()
                    raise MaskStudioError(f"'{archive.path}' is too large for the memory "
                                          f"available: close other programs") from None
                return False
        return Context()

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()
        if self._fh is not None:
            self._fh.close()
        self.zf = self._fh = None

    def __enter__(self) -> ProjectArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- arrays ----------------------------------------------------------------------------
    def _array(self, key: str, what: str, *, max_bytes: int, check) -> np.ndarray:
        assert self.zf is not None, "a project archive is read before it is closed"
        if key not in self.members:
            raise _Damaged(f"{what} is missing ('{key}')")
        return read_member(self.zf, self.members[key], _Damaged, what, max_bytes=max_bytes,
                           check=check)

    def state_for(self, clip) -> DocumentState:
        """The project's :class:`~maskstudio.editing.state.DocumentState` on ``clip`` (its
        mixture, opened): the layers' tiles and complex masks are read and checked against
        the grid, after checking that the mixture is the one ``project.json`` describes."""
        meta = self.meta
        with self._errors():
            for key, value in (("samplerate", clip.samplerate), ("n_samples", clip.n_samples),
                               ("n_channels", clip.n_channels)):
                if meta.get(key, value) != value:
                    raise _Damaged(f"project.json's {key} is {meta[key]} but the mixture's "
                                   f"is {value}")
        config = meta["config"]
        n_bins, n_frames = config.n_bins, config.n_frames(clip.n_samples)
        return DocumentState(
            config=config, layers=[Layer(**m) for m in meta["layers"]],
            tiles=self.layer_tiles(n_bins, n_frames, clip.n_channels),
            residual=Layer(**meta["residual"]),
            complex_masks=self.complex_masks(n_bins, n_frames, clip.n_channels),
            lead=meta["lead"], tile=meta["tile"], notes=meta["notes"], status=meta["status"],
            next_uid=meta["next_uid"])

    def layer_tiles(self, n_bins: int, n_frames: int, n_channels: int) -> list:
        """Every layer's ``{tile key: float32 tile}``, each array checked: keys whole and in
        range, tiles ``lead + (n_bins, tile)`` of finite values in [0, 1]."""
        with self._errors():
            meta = self.meta
            tile, lead = meta["tile"], meta["lead"]
            if lead not in ((), (n_channels,)):
                raise _Damaged(f"its masks are per channel for {lead[0]} channel(s), but the "
                               f"mixture has {n_channels}")
            n_tiles = -(-n_frames // tile)
            shape = lead + (n_bins, tile)
            out: list[dict] = []
            spills_here = spills(n_bins, n_frames, lead)
            spill: list[Spill] = []  # one for the whole project, made on first use

            def member(uid, index_key, tiles_key, what, codes_only):
                index_what, tiles_what = f"the tile index of {what}", f"the tiles of {what}"

                def key_check(s, dtype):
                    if len(s) != 1 or dtype.kind not in "iu":
                        raise _Damaged(f"the tile index of {what} is {s} of {dtype}, not a "
                                       f"list of integers")

                keys = [int(k) for k in self._array(f"{index_key}_{uid}", index_what,
                                                    max_bytes=8 * n_tiles,
                                                    check=key_check).tolist()]
                if len(set(keys)) != len(keys) or any(not 0 <= k < n_tiles for k in keys):
                    raise _Damaged(f"{index_what} holds keys outside 0..{n_tiles - 1} or twice "
                                   f"the same key")

                n = len(keys)

                def tile_check(s, dtype):
                    if s != (n,) + shape or (dtype != np.uint8 if codes_only else
                                             (dtype.kind != "f" and dtype != np.uint8)):
                        raise _Damaged(f"the tiles of {what} are {s} of {dtype}; this grid "
                                       f"needs {(n,) + shape} of "
                                       f"{'uint8 codes' if codes_only else 'float32'}"
                                       f"{'' if codes_only else ' (or uint8 codes)'}")

                assert self.zf is not None, "a project archive is read before it is closed"
                if f"{tiles_key}_{uid}" not in self.members:
                    raise _Damaged(f"{tiles_what} is missing ('{tiles_key}_{uid}')")
                _, dtype, rows = read_member_rows(
                    self.zf, self.members[f"{tiles_key}_{uid}"], _Damaged, tiles_what,
                    max_bytes=nbytes((len(keys),) + shape, np.float64), check=tile_check)
                if dtype == np.uint8 and spills_here:  # a long file's codes: kept cold
                    spill[:] = spill or [Spill()]
                    return cool(zip(keys, rows), spill[0])
                data = np.stack(list(rows)) if keys else np.zeros((0,) + shape, dtype)
                if data.dtype != np.uint8:  # compact tiles: any code is a value
                    data = np.asarray(data, dtype=np.float32)
                    _check_values(data, tiles_what)
                return {k: np.array(t) for k, t in zip(keys, data)}

            for m in meta["layers"]:
                what = f"layer '{m['name']}'"
                tiles = member(m["uid"], "idx", "tiles", what, False)
                if f"cidx_{m['uid']}" in self.members:  # format 2: its compact tiles apart
                    codes = member(m["uid"], "cidx", "codes", f"{what} (compact)", True)
                    if codes.keys() & tiles.keys():
                        raise _Damaged(f"{what} stores a tile twice, painted and compact")
                    tiles.update(codes)
                out.append(tiles)
            return out

    def complex_masks(self, n_bins: int, n_frames: int, n_channels: int) -> dict:
        """``{layer uid: complex64 mask}`` of the cIRM layers, checked against the grid."""
        with self._errors():
            out = {}
            for m in self.meta["layers"]:
                key = f"complex_{m['uid']}"
                if key not in self.members:
                    continue
                what = f"the complex mask of layer '{m['name']}'"

                def check(s, dtype, what=what):
                    if dtype.kind != "c" or len(s) not in (2, 3) or s[-2:] != (n_bins, n_frames):
                        raise _Damaged(f"{what} is {s} of {dtype}, not complex [freq, time] = "
                                       f"{(n_bins, n_frames)}")

                data = self._array(key, what, check=check, max_bytes=nbytes(
                    (n_channels, n_bins, n_frames), np.complex128))
                out[m["uid"]] = check_mask(data, n_bins=n_bins, n_frames=n_frames,
                                           n_channels=n_channels, name=what)
            return out


def _check_values(data: np.ndarray, what: str) -> None:
    if data.size == 0:
        return
    lo, hi = float(np.min(data)), float(np.max(data))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        raise _Damaged(f"{what}: {bad} value(s) are NaN or infinite")
    if lo < -_TOLERANCE or hi > 1 + _TOLERANCE:
        raise _Damaged(f"{what}: values from {lo:.3g} to {hi:.3g}, outside [0, 1]")
    np.clip(data, 0, 1, out=data)
