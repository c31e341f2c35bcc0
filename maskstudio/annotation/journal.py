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
import shutil
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import filelock
import numpy as np

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.state import LAYER_FIELDS, DocumentState, Layer
from maskstudio.editing.tiles import ColdTile, TiledMasks, hot
from maskstudio.errors import MaskStudioError

__all__ = ["Journal", "JournalInUseError", "JournalWriteError", "journal_for", "recovery_dir",
           "journal_in_use", "lock_journal", "apply_record", "advance", "config_from",
           "LAYER_FIELDS"]

_MAGIC = b"MSJ1"


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


def lock_journal(path: Path) -> filelock.BaseFileLock:
    """Hold the lock of the journal at ``path`` (one editor at a time): raises
    :class:`JournalInUseError` if another session holds it, :class:`JournalWriteError` if its
    folder cannot be written."""
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
        lock = lock_journal(path)
    except JournalInUseError:
        return True
    except MaskStudioError:
        return False
    lock.release()
    return False


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
        lock = lock or lock_journal(path)
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
        lock = lock or lock_journal(path)
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

    def hand_over_lock(self) -> filelock.BaseFileLock | None:
        """Give up this journal's lock without releasing it (a save to the same project
        hands it to the next journal); :meth:`take_back_lock` if the save failed."""
        lock, self._lock = self._lock, None
        return lock

    def take_back_lock(self, lock: filelock.BaseFileLock | None) -> None:
        self._lock = lock

    def discard(self) -> None:
        """Remove the journal: its steps are in a save now, or the user discarded them."""
        self.path.unlink(missing_ok=True)
        self.close()

    # -- writing ----------------------------------------------------------------------------
    def _append(self, header: dict, chunks: Sequence = ()) -> None:
        """One record: the header, then ``chunks`` written one after the other, so an hour of
        tiles is not joined into one more copy of itself.  A chunk is a buffer, or a
        ``(nbytes, read)`` pair whose ``read()`` gives it when it is written (a cold tile:
        read from its spill one at a time, never all at once)."""
        h = json.dumps(header).encode()
        sizes = [c[0] if isinstance(c, tuple) else memoryview(c).nbytes for c in chunks]
        head = struct.pack("<IQ", len(h), sum(sizes)) + h
        try:
            with open(self.path, "r+b") as f:
                try:
                    f.seek(self._end)
                    f.write(head)
                    crc = zlib.crc32(head)
                    for chunk, size in zip(chunks, sizes):
                        data = chunk[1]() if isinstance(chunk, tuple) else chunk
                        if memoryview(data).nbytes != size:
                            raise OSError("a tile changed size while it was recorded")
                        f.write(data)
                        crc = zlib.crc32(data, crc)
                    f.write(struct.pack("<I", crc))
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
        self._end += len(head) + sum(sizes) + 4

    def _record(self, doc, writes: list, full_uids=(), config: bool = False,
                snapshot: bool = False) -> None:
        state: DocumentState = doc.state()
        writes_meta: list[dict[str, Any]] = []
        header: dict[str, Any] = {
            "layers": [layer.meta() for layer in state.layers], "writes": writes_meta,
            "notes": state.notes, "status": state.status, "lead": list(state.lead)}
        if config:
            header["config"] = state.config.to_dict()
        chunks: list[Any] = []
        offset = 0
        index = {layer.uid: i for i, layer in enumerate(state.layers)}
        n_frames = state.config.n_frames(doc.clip.n_samples)
        for uid in full_uids:  # whole layers: their stored tiles, read as they are written
            for k, tile in state.tiles[index[uid]].items():
                t0 = k * state.tile
                w = min(state.tile, n_frames - t0)
                # a tile the channels share is recorded once (replay gives it to each)
                shared = tile.shared if isinstance(tile, ColdTile) else \
                    (tile.ndim > 2 and tile.strides[0] == 0)
                shape = (tile.shape[-2:-1] if shared else tile.shape[:-1]) + (w,)
                codes = tile.dtype == np.uint8
                meta = {"uid": uid, "f0": 0, "t0": int(t0), "shape": list(shape),
                        "offset": offset}
                if codes:
                    meta["codes"] = True
                if shared:
                    meta["shared"] = True
                writes_meta.append(meta)
                size = int(np.prod(shape)) * (1 if codes else 4)

                def read(tile=tile, w=w, shared=shared):
                    v = hot(tile)
                    v = v[(0,) * (v.ndim - 2)] if shared else v
                    return np.ascontiguousarray(v[..., :w]).reshape(-1).view(np.uint8)

                chunks.append((size, read))
                offset += size
        for uid, f0, t0, values in writes:
            codes = values.dtype == np.uint8  # a compact tile is recorded as its codes
            data = np.ascontiguousarray(values, dtype=np.uint8 if codes else np.float32)
            meta = {"uid": uid, "f0": int(f0), "t0": int(t0), "shape": list(values.shape),
                    "offset": offset}
            writes_meta.append(dict(meta, codes=True) if codes else meta)
            chunks.append(data.reshape(-1).view(np.uint8))
            offset += data.nbytes
        for uid in full_uids:  # a cIRM layer's complex mask travels with it
            if uid in state.complex_masks:
                cplx = np.ascontiguousarray(state.complex_masks[uid], dtype=np.complex64)
                header.setdefault("complex", []).append(
                    {"uid": uid, "shape": list(cplx.shape), "offset": offset})
                chunks.append(cplx.reshape(-1).view(np.uint8))
                offset += cplx.nbytes
        if snapshot:
            header["reset"] = True  # every stored tile is here: the ones it lacks are zeros
        self._append(header, chunks)
        self._uids = set(index)
        if self._end > self.compact_bytes and not snapshot \
                and self._end > self.compact_ratio * state.nbytes():
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
            end = self._end  # copied by the system, not read into memory (an hour of tiles)
            atomic_write(old_path, lambda tmp: shutil.copyfile(scratch, tmp),
                         suffix=".journal")
            self._end = end
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


def config_from(d: dict) -> STFTConfig:
    """The STFT grid of a journal's or project's ``config`` (JSON: the window a list)."""
    d = dict(d)
    if isinstance(d.get("window"), list):
        d["window"] = tuple(d["window"])
    return STFTConfig(**d)


def advance(state: DocumentState, header: dict, payload: bytes, *,
            n_samples: int) -> DocumentState:
    """The state after one journal record, from ``state`` before it, for a mixture of
    ``n_samples`` samples.  The record's values are written into the arrays of ``state``'s
    tiles: pass a copy (:meth:`DocumentState.copy`) to keep it."""
    config, complex_masks, lead = state.config, dict(state.complex_masks), state.lead
    by_uid = {layer.uid: t for layer, t in zip(state.layers, state.tiles)}
    if "config" in header:
        cfg = config_from(header["config"])
        if cfg != config:  # a change of grid: every layer is in the record
            config, by_uid = cfg, {}
            complex_masks.clear()
    recorded = tuple(header.get("lead", lead))
    if recorded and recorded != lead:  # per-channel masks loaded into no layers
        lead, by_uid = recorded, {}
    # a record of masks shared by the channels (an older session's) on per-channel layers:
    # its values are written to every channel, as a project of shared masks is widened
    widen = bool(lead) and not recorded
    if header.get("reset"):  # a snapshot: every stored tile is in it
        by_uid = {}
        complex_masks.clear()
    layers = [Layer(**dict(meta, color=tuple(meta["color"]))) for meta in header["layers"]]
    store = TiledMasks(config.n_bins, config.n_frames(n_samples), tile=state.tile, lead=lead)
    store.set_layer_tiles([by_uid.get(layer.uid, {}) for layer in layers])
    index = {layer.uid: i for i, layer in enumerate(layers)}
    for w in header["writes"]:
        if w["uid"] not in index:
            continue
        n = int(np.prod(w["shape"]))
        # a tile the channels share was recorded once: each channel is given it
        shape = (lead if w.get("shared") else ()) + tuple(w["shape"])
        if w.get("codes"):  # a compact tile, whole
            codes = np.frombuffer(payload, np.uint8, count=n, offset=w["offset"])
            codes = np.broadcast_to(codes.reshape(w["shape"]), shape)
            store.write_codes([index[w["uid"]]], w["t0"], codes[None])
            continue
        values = np.frombuffer(payload, np.float32, count=n, offset=w["offset"])
        values = np.broadcast_to(values.reshape(w["shape"]), shape)
        store.write([index[w["uid"]]], w["f0"], w["t0"], values[None])
    for c in header.get("complex", []):
        n = int(np.prod(c["shape"]))
        cplx = np.frombuffer(payload, np.complex64, count=n, offset=c["offset"])
        cplx = cplx.reshape(c["shape"])
        complex_masks[c["uid"]] = np.array(np.broadcast_to(cplx, lead + cplx.shape) if widen
                                           else cplx)
    return DocumentState(
        config=config, layers=layers, tiles=store.layer_tiles(), residual=state.residual,
        complex_masks=complex_masks, lead=lead, tile=state.tile,
        notes=header.get("notes", state.notes), status=header.get("status", state.status),
        next_uid=max([state.next_uid] + [layer.uid + 1 for layer in layers]))


def apply_record(doc, header: dict, payload: bytes) -> None:
    """Bring ``doc`` to the state after one journal record (:func:`advance`)."""
    doc.load_state(advance(doc.state(), header, payload, n_samples=doc.clip.n_samples))
