"""Projects that lose nothing: an atomic project file, and a journal of every finished step.

A project (``.msproj``) is a zip of plain arrays: ``project.json`` (the mixture by path relative
to the project and its SHA-256, the STFT grid, every layer's name, label, colour, lock and
provenance, notes and status), each layer's stored tiles, and the complex masks of cIRM layers,
so reopening restores the masks bit for bit and sparse layers stay small.  Saving is atomic
(write beside, fsync, rename).

The journal (``<project>.journal``, or one per mixture in the recovery folder before the first
save; see :mod:`maskstudio.annotation.journal`) receives every finished step, so killing the program
loses at most the record being written; on the next start :func:`recover` replays the journal
over the last save.  A project being edited is locked: a second session is told it is open
elsewhere, and cannot save over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from maskstudio.annotation.journal import (
    Journal,
    JournalInUseError,
    JournalWriteError,
    advance,
    config_from,
    journal_for,
    journal_in_use,
    lock_journal,
    recovery_dir,
)
from maskstudio.editing.tiles import LEVELS, hot
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import atomic_write
from maskstudio.io.ondemand import open_audio

__all__ = ["PROJECT_VERSION", "MixtureMovedError", "Journal", "JournalInUseError",
           "JournalWriteError", "save_project", "load_project", "recover", "file_checksum",
           "recovery_dir", "journal_for", "journal_in_use", "pending_recovery"]

#: The newest project format this version reads.  2 adds, for a layer holding both painted
#: (float32) and compact (uint8 codes) tiles, ``cidx_<uid>`` / ``codes_<uid>`` beside
#: ``idx_`` / ``tiles_`` (which then hold the float tiles only); a project without such a
#: layer is written as format 1, which older versions read.
PROJECT_VERSION = 2


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
    state = doc.state()
    meta = {
        "format_version": 1, "token": token,
        "mixture": os.path.relpath(mix, path.resolve().parent), "mixture_abs": str(mix),
        "checksum": file_checksum(mix), "samplerate": doc.samplerate,
        "n_samples": doc.clip.n_samples, "n_channels": doc.clip.n_channels,
        "config": state.config.to_dict(), "lead": list(state.lead),
        "tile": state.tile, "layers": [layer.meta() for layer in state.layers],
        "residual": state.residual.meta(), "notes": state.notes, "status": state.status,
        "next_uid": state.next_uid,
    }
    arrays: dict = {"project": np.str_(json.dumps(meta))}
    for layer in state.layers:  # cIRM layers keep their complex masks, by layer id
        if layer.uid in state.complex_masks:
            arrays[f"complex_{layer.uid}"] = np.asarray(state.complex_masks[layer.uid],
                                                        np.complex64)
    mixed = False
    for layer, tiles in zip(state.layers, state.tiles):
        keys = sorted(tiles)
        codes = [k for k in keys if tiles[k].dtype == np.uint8]
        if codes and len(codes) < len(keys):  # painted and compact tiles: each kept as it is
            mixed = True
            arrays[f"cidx_{layer.uid}"] = np.array(codes, dtype=np.int64)
            arrays[f"codes_{layer.uid}"] = [tiles[k] for k in codes]
            keys = [k for k in keys if tiles[k].dtype != np.uint8]
        arrays[f"idx_{layer.uid}"] = np.array(keys, dtype=np.int64)
        # each layer's tiles stacked as the file is written, a tile at a time (an hour's
        # layer is never assembled in memory; cold tiles are read from their spill)
        arrays[f"tiles_{layer.uid}"] = [tiles[k] for k in keys]
    if mixed:
        meta["format_version"] = 2
        arrays["project"] = np.str_(json.dumps(meta))

    def write(tmp):
        with open(tmp, "wb") as fh:
            _write_npz(fh, arrays, empty=state.lead + (state.config.n_bins, state.tile))

    old_journal = doc.journal
    jpath = Path(str(path) + ".journal")
    same = old_journal is not None and old_journal.path == jpath
    # this document is the one editing that project: its lock goes to the next journal;
    # otherwise refuse before writing if another session edits that project
    lock = old_journal.hand_over_lock() if same else lock_journal(jpath)
    try:
        atomic_write(path, write, suffix=".msproj")
    except BaseException:
        if same:
            old_journal.take_back_lock(lock)
        elif lock is not None:
            lock.release()
        raise
    doc.project_path, doc.save_token, doc.modified = path, token, False
    try:
        Journal.start(doc, jpath, lock=lock)
    except MaskStudioError as exc:
        if doc.journal is not None and doc.journal is old_journal:
            old_journal.close()
        doc.journal = None
        raise JournalWriteError(f"'{path.name}' was saved, but {exc}; edits from now on are "
                                f"not protected against a crash") from None
    if old_journal is not None and old_journal.path != jpath:
        old_journal.discard()  # the recovery journal of the unsaved state is now redundant
    return path


def _write_npz(fh, arrays: dict, *, empty: tuple) -> None:
    """What ``np.savez`` writes (a zip of ``.npy`` members, stored), with a list of tiles
    written as one stacked array a tile at a time: uint8 codes if every tile is compact, else
    float32 (compact ones turned into their values, exactly)."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                if not isinstance(value, list):
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
                    continue
                compact = bool(value) and all(t.dtype == np.uint8 for t in value)
                dtype = np.dtype(np.uint8 if compact else np.float32)
                shape = (len(value),) + (tuple(value[0].shape) if value else empty)
                np.lib.format.write_array_header_2_0(f, {
                    "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                    "shape": shape})
                for t in value:  # (a compact tile among float ones would give its values)
                    v = hot(t)
                    v = LEVELS[v] if v.dtype != dtype else np.ascontiguousarray(v)
                    f.write(v.tobytes())


def _read_meta(path: Path):
    """The open project archive and its ``project.json``, checked field by field
    (:func:`maskstudio.annotation.schema.check_meta`); any damage is one MaskStudioError
    naming the file."""
    from maskstudio.annotation.schema import ProjectArchive

    archive = ProjectArchive(path, newest=PROJECT_VERSION)
    return archive, archive.meta


def load_project(path, *, mixture=None, use_journal: bool = False,
                 start_journal: bool = True):
    """Open a project.  The mixture is looked for at its relative path, then its absolute
    one (or at ``mixture`` if given) and checked by checksum; a missing or changed file
    raises :class:`MixtureMovedError` so the user can be asked to locate it.  With
    ``use_journal`` the steps recorded after the last save are replayed (and the journal goes
    on); otherwise a fresh journal starts, unless ``start_journal`` is False (the caller first
    asks whether to recover)."""
    from maskstudio.editing.document import Document

    path = Path(path)
    z, meta = _read_meta(path)  # every field checked; arrays checked as they are read
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
        clip = open_audio(found)  # read on demand, never held whole
        doc = Document.from_state(clip, z.state_for(clip))  # each array checked on the grid
    doc.project_path, doc.save_token, doc.modified = path, meta["token"], False
    if not (use_journal or start_journal):
        return doc
    jpath = journal_for(doc)
    lock = lock_journal(jpath)  # before reading it: another session may be writing it
    try:
        try:
            base, records, _ = (Journal.scan(jpath) if use_journal and jpath.exists()
                                else ({}, [], 0))
        except MaskStudioError:  # a journal damaged at its start holds nothing to recover
            base, records = {}, []
        if records and base.get("token") == meta["token"]:
            replay(doc, base, records, jpath)
            doc.modified = True
            Journal.resume(doc, jpath, lock=lock)
            return doc
        Journal.start(doc, jpath, lock=lock)
    except BaseException:
        lock.release()
        raise
    return doc


def pending_recovery(path, token=None) -> int:
    """How many recorded steps the journal at ``path`` holds on the save ``token`` (None: an
    unsaved mixture); 0 when there is nothing to recover."""
    path = Path(path)
    if not path.exists() or journal_in_use(path):
        return 0  # nothing, or the steps of a session that is still running
    try:
        base, records = Journal.read(path)
    except (MaskStudioError, ValueError, OSError):
        return 0
    return len(records) if base.get("token") == token else 0


def replay(doc, base: dict, records, journal_path) -> None:
    """Apply journal ``records`` (recorded on ``base``) to ``doc``, all or nothing: a journal
    recorded on another grid is replayed on that grid when ``doc`` has no layers yet (the
    default grid may have changed since), and refused otherwise; a record that cannot be
    applied leaves ``doc`` exactly as it was and raises one :class:`MaskStudioError`.  A
    recovered document starts a new history."""
    state = doc.state().copy()  # the records write into the copy; doc changes only at the end
    try:
        if isinstance(base.get("config"), dict):
            cfg = config_from(base["config"])
            if cfg != state.config:
                if state.layers:
                    raise MaskStudioError(f"the journal '{journal_path}' was recorded on "
                                          f"{cfg.describe()}, not on this document's grid")
                state.config = cfg
        for header, payload in records:
            state = advance(state, header, payload, n_samples=doc.clip.n_samples)
    except BaseException as exc:
        if isinstance(exc, MaskStudioError) or not isinstance(exc, Exception):
            raise
        raise MaskStudioError(f"the journal '{journal_path}' does not fit this file (it may "
                              f"belong to another file of the same name): {exc}") from None
    doc.load_state(state)


def recover(journal_path, doc) -> int:
    """Replay the journal at ``journal_path`` onto ``doc`` (opened on the same base) and go on
    recording into it; returns how many records were replayed.  All or nothing: on failure
    ``doc`` is as it was, and the journal is untouched."""
    journal_path = Path(journal_path)
    lock = lock_journal(journal_path)
    try:
        base, records, _ = Journal.scan(journal_path)
        if base.get("token") != getattr(doc, "save_token", None):
            raise MaskStudioError("this recovery journal belongs to another save of the project")
        replay(doc, base, records, journal_path)
        if records:
            doc.modified = True
        Journal.resume(doc, journal_path, lock=lock)
    except BaseException:
        lock.release()
        raise
    return len(records)

