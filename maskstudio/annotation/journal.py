"""The crash journal: every finished step of a document, so ``kill -9`` loses no finished edit.

A journal is a header (the save it continues: its token, the mixture, the STFT grid) followed
by records.  After every finished stroke or operation, and every undo or redo, one record is
appended: the list of layers, the values now in the boxes the step changed, and the whole
tiles of layers that appeared.  One discipline holds throughout:

- a record is whole or ignored: it carries its length and a CRC, and reading stops at the
  first record that is torn or damaged;
- before appending, the file is cut back to the end of its last whole record, so nothing is
  ever written after torn bytes (a record appended after a tear would be invisible);
- a record holds the values *now* in the store, in the order they were written (an undo's old
  values last-atom-first), so replaying the records always gives the live state;
- a write that fails (a full disk) leaves the file as it was and raises
  :class:`JournalWriteError`; :class:`~maskstudio.editing.history.History` then puts the store
  back, so the document never runs ahead of its journal;
- one editor at a time: a journal is locked (:mod:`filelock`) while a document records into
  it, and a second editor is told the file is open elsewhere (:class:`JournalInUseError`);
- a journal stays small: when it passes :attr:`Journal.compact_bytes` and
  :attr:`Journal.compact_ratio` times the size of the masks themselves, it is rewritten
  atomically as its header plus one snapshot record of the live state (every stored tile, the
  grid), so replaying it still gives the live state on the same save.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

import filelock
import numpy as np

from maskstudio.errors import MaskStudioError

__all__ = ["Journal", "JournalInUseError", "JournalWriteError", "journal_for", "recovery_dir",
           "journal_in_use", "apply_record", "LAYER_FIELDS"]

_MAGIC = b"MSJ1"
LAYER_FIELDS = ("name", "color", "opacity", "visible", "solo", "muted", "locked", "label",
                "provenance", "uid")


class JournalInUseError(MaskStudioError):
    """Another maskstudio session is recording into this journal (the file is open there)."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


class JournalWriteError(MaskStudioError):
    """A record could not be written (disk full, folder gone); the edit was not made."""


def recovery_dir() -> Path:
    """Where journals of documents without a project live (the per-user state folder)."""
    import platformdirs

    return Path(platformdirs.user_state_path("maskstudio")) / "recovery"


def journal_for(doc) -> Path:
    """Where a document's journal lives: beside its project, or in the recovery folder."""
    if doc.project_path is not None:
        return Path(str(doc.project_path) + ".journal")
    key = hashlib.sha1(str(Path(doc.clip.path or "untitled").resolve()).encode()).hexdigest()
    return recovery_dir() / f"{key[:16]}.journal"


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _acquire(path: Path) -> filelock.BaseFileLock:
    lock = filelock.FileLock(str(_lock_path(path)), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        what = path.name[:-len(".journal")] if path.name.endswith(".journal") else path.name
        raise JournalInUseError(
            f"'{what}' is open in another maskstudio window or process: close it there, or "
            f"open it read-only here", path) from None
    except OSError as exc:
        raise JournalWriteError(f"cannot lock the crash journal '{path}' ({exc.strerror or exc}): "
                                f"check that its folder is writable") from None
    return lock


def journal_in_use(path) -> bool:
    """Whether another session records into the journal at ``path`` right now."""
    path = Path(path)
    if not _lock_path(path).exists():
        return False
    try:
        lock = _acquire(path)
    except JournalInUseError:
        return True
    except MaskStudioError:
        return False
    lock.release()
    return False


def _layer_meta(layer) -> dict:
    d = {k: getattr(layer, k) for k in LAYER_FIELDS}
    d["color"] = list(d["color"])
    return d


class Journal:
    """Append-only record of a document's finished steps, for crash recovery."""

    #: compact when the file passes this many bytes ...
    compact_bytes = 64 << 20
    #: ... and this many times the bytes of one snapshot (the stored tiles of every layer)
    compact_ratio = 8

    def __init__(self, path, base: dict, *, end: int = 0, lock=None):
        self.path = Path(path)
        self.base = base
        self._end = int(end)  #: where the last whole record ends: the next one goes here
        self._lock = lock
        self._uids: set = set()

    # -- starting ---------------------------------------------------------------------------
    @classmethod
    def start(cls, doc, path=None, *, lock=None) -> Journal:
        """A fresh journal for ``doc`` (its current state is the base: a save, or nothing).

        Raises :class:`JournalInUseError` when another session records into the same journal.
        ``lock`` hands over a lock already held on ``path`` (a save to the same project)."""
        from maskstudio.io.audiofile import atomic_write

        path = Path(path) if path else journal_for(doc)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalWriteError(f"cannot create the folder of the crash journal "
                                    f"'{path.parent}' ({exc.strerror or exc})") from None
        lock = lock or _acquire(path)
        base = {"token": getattr(doc, "save_token", None), "mixture":
                str(Path(doc.clip.path).resolve()) if doc.clip.path else None,
                "config": doc.config.to_dict()}
        head = json.dumps(base).encode()
        data = _MAGIC + struct.pack("<I", len(head)) + head
        try:
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), suffix=".journal")
        except (OSError, MaskStudioError) as exc:
            lock.release()
            raise JournalWriteError(f"cannot start the crash journal '{path}' ({exc}): free "
                                    f"disk space or check the folder") from None
        old = doc.journal
        j = cls(path, base, end=len(data), lock=lock)
        j._uids = {layer.uid for layer in doc.layers}
        doc.journal = j
        if old is not None and old is not j and old.path != path:
            old.close()
        if doc.layers and doc.save_token is None:  # no save holds these layers: record them
            j.record_snapshot(doc)
        return j

    @classmethod
    def resume(cls, doc, path, *, lock=None) -> Journal:
        """Go on recording into the journal at ``path`` that was just replayed onto ``doc``:
        its torn tail, if any, is cut off before the next record."""
        path = Path(path)
        lock = lock or _acquire(path)
        try:
            base, _, end = cls.scan(path)
        except BaseException:
            lock.release()
            raise
        j = cls(path, base, end=end, lock=lock)
        j._uids = {layer.uid for layer in doc.layers}
        if doc.journal is not None and doc.journal is not j:
            doc.journal.close()
        doc.journal = j
        return j

    def close(self) -> None:
        """Stop recording (the file stays, for recovery) and let another session take it."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def discard(self) -> None:
        """Remove the journal: its steps are in a save now, or the user discarded them."""
        self.path.unlink(missing_ok=True)
        self.close()

    # -- writing ----------------------------------------------------------------------------
    def _append(self, header: dict, payload: bytes = b"") -> None:
        h = json.dumps(header).encode()
        body = struct.pack("<IQ", len(h), len(payload)) + h + payload
        record = body + struct.pack("<I", zlib.crc32(body))
        try:
            with open(self.path, "r+b") as f:
                try:
                    f.seek(self._end)
                    f.write(record)
                    f.truncate()  # nothing after the new record: no torn bytes survive
                    f.flush()
                    os.fsync(f.fileno())
                except BaseException:
                    f.truncate(self._end)  # the file as it was before this record
                    raise
        except OSError as exc:
            raise JournalWriteError(
                f"cannot record this edit in the crash journal '{self.path}' "
                f"({exc.strerror or exc}): the edit was not made; free disk space, then "
                f"save the project") from None
        self._end += len(record)

    def _record(self, doc, writes: list, full_uids=(), config: bool = False,
                snapshot: bool = False) -> None:
        header = {"layers": [_layer_meta(layer) for layer in doc.layers], "writes": [],
                  "notes": doc.notes, "status": doc.status, "lead": list(doc.store.lead)}
        if config:
            header["config"] = doc.config.to_dict()
        chunks, offset = [], 0
        index = {layer.uid: i for i, layer in enumerate(doc.layers)}
        full = []
        for uid in full_uids:  # whole layers: their stored tiles
            for k, tile in doc.store.layer_tiles()[index[uid]].items():
                t0 = k * doc.store.tile
                w = min(doc.store.tile, doc.n_frames - t0)
                full.append((uid, 0, t0, np.ascontiguousarray(tile[..., :w])))
        for uid, f0, t0, values in full + list(writes):
            data = np.ascontiguousarray(values, dtype=np.float32).tobytes()
            header["writes"].append({"uid": uid, "f0": int(f0), "t0": int(t0),
                                     "shape": list(values.shape), "offset": offset})
            chunks.append(data)
            offset += len(data)
        complex_masks = getattr(doc, "complex_masks", {})
        for uid in full_uids:  # a cIRM layer's complex mask travels with it
            if uid in complex_masks:
                data = np.ascontiguousarray(complex_masks[uid], dtype=np.complex64)
                header.setdefault("complex", []).append(
                    {"uid": uid, "shape": list(data.shape), "offset": offset})
                chunks.append(data.tobytes())
                offset += data.nbytes
        if snapshot:
            header["reset"] = True  # every stored tile is here: the ones it lacks are zeros
        self._append(header, b"".join(chunks))
        self._uids = set(index)
        if self._end > self.compact_bytes and not snapshot:
            snapshot = sum(t.nbytes for tiles in doc.store.layer_tiles()
                           for t in tiles.values())
            if self._end > self.compact_ratio * snapshot:
                self.compact(doc)

    def compact(self, doc) -> None:
        """Rewrite the journal as its header and one snapshot record of ``doc`` (whose state
        its records replay to), atomically: a crash leaves the old file or the new one.  The
        base (the save it continues) stays, so recovery replays it on the same save.  A
        failure leaves the old journal, which is whole, and is not raised: the edit is
        recorded already."""
        from maskstudio.io.audiofile import atomic_write

        head = json.dumps(self.base).encode()
        start = _MAGIC + struct.pack("<I", len(head)) + head
        old_path, old_end = self.path, self._end
        scratch = self.path.with_name(self.path.name + ".compact")
        try:
            scratch.write_bytes(start)
            self.path, self._end = scratch, len(start)
            self.record_snapshot(doc)  # whole records, the same discipline as any other
            data = scratch.read_bytes()
            atomic_write(old_path, lambda tmp: Path(tmp).write_bytes(data), suffix=".journal")
            self._end = len(data)
        except (OSError, MaskStudioError):
            self._end = old_end
        finally:
            self.path = old_path
            scratch.unlink(missing_ok=True)

    def record_step(self, doc, step, values: str) -> None:
        """After a step was done ("new") or undone ("old"): the values now in its boxes, in
        the order the store received them (an undo writes its atoms last first)."""
        uids = [layer.uid for layer in doc.layers]
        atoms = step.atoms if values == "new" else list(reversed(step.atoms))
        writes = []
        for atom in atoms:
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
        self._record(doc, [], [layer.uid for layer in doc.layers], config=True, snapshot=True)

    # -- reading ----------------------------------------------------------------------------
    @staticmethod
    def scan(path):
        """``(base, [(header, payload), ...], end)``: every whole record, in order, and the
        offset where the last one ends (what follows it is torn and will be cut off)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise MaskStudioError(f"cannot read the crash journal '{path}' "
                                  f"({exc.strerror or exc})") from None
        if not data.startswith(_MAGIC) or len(data) < 8:
            raise MaskStudioError(f"'{path}' is not a maskstudio journal")
        (n,) = struct.unpack_from("<I", data, 4)
        try:
            base = json.loads(data[8:8 + n])
        except (ValueError, RecursionError):
            raise MaskStudioError(f"the crash journal '{path}' is damaged at its start") from None
        if not isinstance(base, dict) or 8 + n > len(data):
            raise MaskStudioError(f"the crash journal '{path}' is damaged at its start")
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
            try:
                header = json.loads(body[12:12 + hl])
            except (ValueError, RecursionError):
                break
            if not isinstance(header, dict):
                break
            records.append((header, body[12 + hl:]))
            pos = end + 4
        return base, records, pos

    @classmethod
    def read(cls, path):
        """``(base, [(header, payload), ...])``: every whole record, in order."""
        base, records, _ = cls.scan(path)
        return base, records


def apply_record(doc, header: dict, payload: bytes) -> None:
    """Bring ``doc`` to the state after one journal record."""
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.editing.document import Layer

    if "config" in header:
        d = dict(header["config"])
        if isinstance(d.get("window"), list):
            d["window"] = tuple(d["window"])
        cfg = STFTConfig(**d)
        if cfg != doc.config:
            doc.config = cfg
            doc._make_grid(doc.store.lead)
            doc.store.set_layer_tiles([{} for _ in doc.layers])
            doc.complex_masks.clear()
    tiles = {layer.uid: t for layer, t in zip(doc.layers, doc.store.layer_tiles())}
    lead = tuple(header.get("lead", doc.store.lead))
    if lead != doc.store.lead:  # per-channel masks loaded into an empty document
        from maskstudio.editing.tiles import TiledMasks

        doc.store = TiledMasks(doc.n_bins, doc.n_frames, tile=doc.store.tile, lead=lead)
        doc._make_history()
        tiles = {}
    if header.get("reset"):  # a snapshot: every stored tile is in it
        tiles = {}
        doc.complex_masks.clear()
    layers = [Layer(**dict(meta, color=tuple(meta["color"]))) for meta in header["layers"]]
    doc.layers = layers
    doc.store.set_layer_tiles([tiles.get(layer.uid, {}) for layer in layers])
    doc._next_uid = max([doc._next_uid] + [layer.uid + 1 for layer in layers])
    doc.notes, doc.status = header.get("notes", doc.notes), header.get("status", doc.status)
    index = {layer.uid: i for i, layer in enumerate(layers)}
    for w in header["writes"]:
        if w["uid"] not in index:
            continue
        n = int(np.prod(w["shape"]))
        values = np.frombuffer(payload, np.float32, count=n, offset=w["offset"])
        doc.store.write([index[w["uid"]]], w["f0"], w["t0"], values.reshape(w["shape"])[None])
    for c in header.get("complex", []):
        n = int(np.prod(c["shape"]))
        doc.complex_masks[c["uid"]] = np.frombuffer(
            payload, np.complex64, count=n, offset=c["offset"]).reshape(c["shape"]).copy()
