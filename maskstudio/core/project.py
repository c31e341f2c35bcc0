"""Projects that lose nothing: an atomic project file, and a journal of every finished step.

A project (``.msproj``) is a zip of plain arrays: ``project.json`` (the mixture by path relative
to the project and its SHA-256, the STFT grid, every layer's name, label, colour, lock and
provenance, notes and status) and each layer's stored tiles, so reopening restores the masks
bit for bit and sparse layers stay small.  Saving is atomic (write beside, fsync, rename).

The journal (``<project>.journal``, or one per mixture in the recovery folder before the first
save) receives, after every finished stroke or operation (and every undo or redo), the values
now in the changed boxes and the list of layers, each record fsynced.  Killing the program
loses at most the record being written; on the next start :func:`recover` replays the journal
over the last save.  Records carry a CRC, so a torn last record is recognised and ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np

from maskstudio.core.audio_io import atomic_write, load_audio
from maskstudio.core.stft import STFTConfig
from maskstudio.errors import MaskStudioError

__all__ = ["PROJECT_VERSION", "MixtureMovedError", "Journal", "save_project", "load_project",
           "recover", "file_checksum", "recovery_dir", "journal_for"]

PROJECT_VERSION = 1
_MAGIC = b"MSJ1"
_LAYER_FIELDS = ("name", "color", "opacity", "visible", "solo", "muted", "locked", "label",
                 "provenance", "uid")


class MixtureMovedError(MaskStudioError):
    """The project's mixture is missing or has changed since the project was saved."""

    def __init__(self, message: str, expected: Path):
        super().__init__(message)
        self.expected = expected


def file_checksum(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recovery_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "maskstudio" / "recovery"


def journal_for(doc) -> Path:
    """Where a document's journal lives: beside its project, or in the recovery folder."""
    if doc.project_path is not None:
        return Path(str(doc.project_path) + ".journal")
    key = hashlib.sha1(str(Path(doc.clip.path or "untitled").resolve()).encode()).hexdigest()
    return recovery_dir() / f"{key[:16]}.journal"


def _layer_meta(layer) -> dict:
    d = {k: getattr(layer, k) for k in _LAYER_FIELDS}
    d["color"] = list(d["color"])
    return d


def _config_dict(cfg: STFTConfig) -> dict:
    return cfg.to_dict()


def _config_from(d: dict) -> STFTConfig:
    d = dict(d)
    if isinstance(d.get("window"), list):
        d["window"] = tuple(d["window"])
    return STFTConfig(**d)


# -- the journal ----------------------------------------------------------------------------
class Journal:
    """Append-only record of a document's finished steps, for crash recovery."""

    def __init__(self, path, base: dict):
        self.path = Path(path)
        self.base = base
        self._uids: set = set()

    @classmethod
    def start(cls, doc, path=None) -> "Journal":
        """A fresh journal for ``doc`` (its current state is the base: a save, or nothing)."""
        path = Path(path) if path else journal_for(doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = {"token": getattr(doc, "save_token", None), "mixture":
                str(Path(doc.clip.path).resolve()) if doc.clip.path else None,
                "config": _config_dict(doc.config)}
        j = cls(path, base)
        head = json.dumps(base).encode()
        with open(path, "wb") as f:
            f.write(_MAGIC + struct.pack("<I", len(head)) + head)
            f.flush()
            os.fsync(f.fileno())
        j._uids = {layer.uid for layer in doc.layers}
        doc.journal = j
        if doc.layers and doc.save_token is None:  # no save holds these layers: record them
            j.record_snapshot(doc)
        return j

    def _append(self, header: dict, payload: bytes = b"") -> None:
        h = json.dumps(header).encode()
        body = struct.pack("<IQ", len(h), len(payload)) + h + payload
        with open(self.path, "ab") as f:
            f.write(body + struct.pack("<I", zlib.crc32(body)))
            f.flush()
            os.fsync(f.fileno())

    def _record(self, doc, writes: list, full_uids=(), config: bool = False) -> None:
        header = {"layers": [_layer_meta(layer) for layer in doc.layers], "writes": [],
                  "notes": doc.notes, "status": doc.status}
        if config:
            header["config"] = _config_dict(doc.config)
        chunks, offset = [], 0
        index = {layer.uid: i for i, layer in enumerate(doc.layers)}
        for uid in full_uids:  # whole layers: their stored tiles
            for k, tile in doc.store.layer_tiles()[index[uid]].items():
                t0 = k * doc.store.tile
                w = min(doc.store.tile, doc.n_frames - t0)
                writes.append((uid, 0, t0, np.ascontiguousarray(tile[..., :w])))
        for uid, f0, t0, values in writes:
            data = np.ascontiguousarray(values, dtype=np.float32).tobytes()
            header["writes"].append({"uid": uid, "f0": int(f0), "t0": int(t0),
                                     "shape": list(values.shape), "offset": offset})
            chunks.append(data)
            offset += len(data)
        self._append(header, b"".join(chunks))
        self._uids = set(index)

    def record_step(self, doc, step, values: str) -> None:
        """After a step was done ("new") or undone ("old"): the values now in its boxes."""
        uids = [layer.uid for layer in doc.layers]
        writes = []
        for atom in step.atoms:
            vals = atom.new if values == "new" else atom.old
            for j, layer_index in enumerate(atom.layers):
                if layer_index < len(uids):
                    writes.append((uids[layer_index], atom.f0, atom.t0, vals[j]))
        appeared = [u for u in uids if u not in self._uids]
        self._record(doc, writes, appeared)

    def record_layers(self, doc) -> None:
        self._record(doc, [])

    def record_snapshot(self, doc) -> None:
        """Everything: after a change of grid, or to start a journal with layers in it."""
        self._record(doc, [], [layer.uid for layer in doc.layers], config=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    # -- reading ----------------------------------------------------------------------------
    @staticmethod
    def read(path):
        """``(base, [(header, payload), ...])``: every complete record, in order."""
        data = Path(path).read_bytes()
        if not data.startswith(_MAGIC):
            raise MaskStudioError(f"'{path}' is not a maskstudio journal")
        (n,) = struct.unpack_from("<I", data, 4)
        base = json.loads(data[8:8 + n])
        pos, records = 8 + n, []
        while pos + 12 <= len(data):
            hl, pl = struct.unpack_from("<IQ", data, pos)
            end = pos + 12 + hl + pl
            if end + 4 > len(data):
                break  # a record torn by a crash: everything before it is whole
            body = data[pos:end]
            (crc,) = struct.unpack_from("<I", data, end)
            if zlib.crc32(body) != crc:
                break
            records.append((json.loads(body[12:12 + hl]), body[12 + hl:]))
            pos = end + 4
        return base, records


def _apply_record(doc, header: dict, payload: bytes) -> None:
    from maskstudio.core.document import Layer

    if "config" in header:
        cfg = _config_from(header["config"])
        if cfg != doc.config:
            doc.config = cfg
            doc._make_grid(doc.store.lead)
            doc.store.set_layer_tiles([{} for _ in doc.layers])
    tiles = {layer.uid: t for layer, t in zip(doc.layers, doc.store.layer_tiles())}
    layers = []
    for meta in header["layers"]:
        meta = dict(meta, color=tuple(meta["color"]))
        layers.append(Layer(**meta))
    doc.layers = layers
    doc.store.set_layer_tiles([tiles.get(layer.uid, {}) for layer in layers])
    doc._next_uid = max([doc._next_uid] + [layer.uid + 1 for layer in layers])
    doc.notes, doc.status = header.get("notes", doc.notes), header.get("status", doc.status)
    index = {layer.uid: i for i, layer in enumerate(layers)}
    for w in header["writes"]:
        if w["uid"] not in index:
            continue
        n = int(np.prod(w["shape"])) * 4
        values = np.frombuffer(payload, np.float32, count=n // 4, offset=w["offset"])
        doc.store.write([index[w["uid"]]], w["f0"], w["t0"], values.reshape(w["shape"])[None])


# -- project files --------------------------------------------------------------------------
def save_project(doc, path) -> Path:
    """Write ``doc`` to a ``.msproj`` atomically and start a fresh journal beside it."""
    path = Path(path)
    if path.suffix != ".msproj":
        path = path.with_suffix(".msproj")
    mix = Path(doc.clip.path).resolve() if doc.clip.path else None
    if mix is None:
        raise MaskStudioError("this mixture has no file, so a project cannot refer to it")
    token = uuid.uuid4().hex
    meta = {
        "format_version": PROJECT_VERSION, "token": token,
        "mixture": os.path.relpath(mix, path.resolve().parent), "mixture_abs": str(mix),
        "checksum": file_checksum(mix), "samplerate": doc.samplerate,
        "n_samples": doc.clip.n_samples, "n_channels": doc.clip.n_channels,
        "config": _config_dict(doc.config), "lead": list(doc.store.lead),
        "tile": doc.store.tile, "layers": [_layer_meta(layer) for layer in doc.layers],
        "residual": _layer_meta(doc.residual), "notes": doc.notes, "status": doc.status,
        "next_uid": doc._next_uid,
    }
    arrays = {}
    for layer, tiles in zip(doc.layers, doc.store.layer_tiles()):
        keys = sorted(tiles)
        arrays[f"idx_{layer.uid}"] = np.array(keys, dtype=np.int64)
        arrays[f"tiles_{layer.uid}"] = (np.stack([tiles[k] for k in keys]) if keys else
                                        np.zeros((0,) + doc.store.lead + (doc.n_bins,
                                                                          doc.store.tile),
                                                 np.float32))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, project=np.str_(json.dumps(meta)), **arrays)

    atomic_write(path, write, suffix=".msproj")
    old_journal = doc.journal
    doc.project_path, doc.save_token, doc.modified = path, token, False
    Journal.start(doc)
    if old_journal is not None and old_journal.path != doc.journal.path:
        old_journal.discard()  # the recovery journal of the unsaved state is now redundant
    return path


def _read_meta(path: Path):
    try:
        z = np.load(str(path), allow_pickle=False)
        meta = json.loads(str(z["project"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise MaskStudioError(f"cannot read '{path}' as a maskstudio project ({exc})") from None
    if meta.get("format_version", 0) > PROJECT_VERSION:
        raise MaskStudioError(f"'{path}' was saved by a newer maskstudio: update to open it")
    return z, meta


def load_project(path, *, mixture=None, use_journal: bool = False,
                 start_journal: bool = True):
    """Open a project.  The mixture is looked for at its relative path, then its absolute
    one (or at ``mixture`` if given) and checked by checksum; a missing or changed file
    raises :class:`MixtureMovedError` so the user can be asked to locate it.  With
    ``use_journal`` the steps recorded after the last save are replayed (and the journal goes
    on); otherwise a fresh journal starts, unless ``start_journal`` is False (the caller first
    asks whether to recover)."""
    from maskstudio.core.document import Document, Layer
    from maskstudio.core.tiles import TiledMasks

    path = Path(path)
    z, meta = _read_meta(path)
    with z:
        candidates = [Path(mixture)] if mixture else [
            (path.parent / meta["mixture"]), Path(meta["mixture_abs"])]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise MixtureMovedError(f"the mixture of '{path.name}' was not found at "
                                    f"'{candidates[0]}': locate it", candidates[0])
        if file_checksum(found) != meta["checksum"]:
            raise MixtureMovedError(f"'{found}' has changed since '{path.name}' was saved (its "
                                    f"checksum differs): locate the original", found)
        doc = Document(load_audio(found), _config_from(meta["config"]))
        doc.store = TiledMasks(doc.n_bins, doc.n_frames, tile=meta["tile"],
                               lead=tuple(meta["lead"]))
        doc._make_history()
        layers, tiles = [], []
        for m in meta["layers"]:
            layers.append(Layer(**dict(m, color=tuple(m["color"]))))
            keys, data = z[f"idx_{m['uid']}"], z[f"tiles_{m['uid']}"]
            tiles.append({int(k): np.array(t) for k, t in zip(keys, data)})
        doc.layers = layers
        doc.store.set_layer_tiles(tiles)
        doc.residual = Layer(**dict(meta["residual"], color=tuple(meta["residual"]["color"])))
    doc.notes, doc.status = meta["notes"], meta["status"]
    doc._next_uid = meta["next_uid"]
    doc.project_path, doc.save_token, doc.modified = path, meta["token"], False
    jpath = journal_for(doc)
    if use_journal and jpath.exists():
        base, records = Journal.read(jpath)
        if base.get("token") == meta["token"]:
            for header, payload in records:
                _apply_record(doc, header, payload)
            doc.modified = bool(records)
    if use_journal and doc.modified:
        _continue_journal(doc, jpath)
    elif start_journal:
        Journal.start(doc)
    return doc


def _continue_journal(doc, path: Path) -> None:
    """Keep appending to a journal that was just replayed (its records stay valid)."""
    base, _ = Journal.read(path)
    j = Journal(path, base)
    j._uids = {layer.uid for layer in doc.layers}
    doc.journal = j


def pending_recovery(path, token=None) -> int:
    """How many recorded steps the journal at ``path`` holds on the save ``token`` (None: an
    unsaved mixture); 0 when there is nothing to recover."""
    path = Path(path)
    if not path.exists():
        return 0
    try:
        base, records = Journal.read(path)
    except (MaskStudioError, ValueError, OSError):
        return 0
    return len(records) if base.get("token") == token else 0


def recover(journal_path, doc) -> int:
    """Replay the journal at ``journal_path`` onto ``doc`` (opened on the same base)."""
    base, records = Journal.read(journal_path)
    if base.get("token") != getattr(doc, "save_token", None):
        raise MaskStudioError("this recovery journal belongs to another save of the project")
    for header, payload in records:
        _apply_record(doc, header, payload)
    if records:
        doc.modified = True
    _continue_journal(doc, Path(journal_path))
    return len(records)

