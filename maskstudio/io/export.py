"""From a mixture and masks to files: the export the command line and the window share.

Every export is a set of files (a file per source, the residual, ``masks.npz``, and for a
batch ``metrics.json`` and ``.done``) that appears whole: :class:`ExportSet` writes each one
into a hidden staging folder inside the output folder and moves them into place only when all
are complete, the files readers wait on (``masks.npz``, ``.done``) last.  An error or Cancel
leaves the folder as it was; what a killed export left is finished or removed by the next
export into that folder (:func:`recover_exports`).  The user's input files are never
overwritten, and every file lands inside the output folder, whatever the names.

``oracle``, ``separate`` and the window's export render and write block by block
(:func:`maskstudio.io.blockexport.export_blocks`, into an :class:`ExportSet`);
:func:`render` and :func:`write_outputs` take and give signals computed whole, for library
users and a batch's short items.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.phase import resynthesize
from maskstudio.errors import ParameterError
from maskstudio.io.atomic import atomic_write, fsync_folder, write_error
from maskstudio.io.audiofile import AudioClip, check_not_input, save_audio
from maskstudio.io.names import check_inside, name_key, safe_file_name
from maskstudio.io.savez import save_masks

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["check_source_name", "render", "write_outputs", "output_targets", "ExportSet",
           "recover_exports", "STAGING_PREFIX", "MASKS"]

RESERVED = ("residual", "mixture", "masks")
MASKS = "masks.npz"
#: Hidden staging folders of exports in progress start with this.
STAGING_PREFIX = ".maskstudio-export-"
_STAGING = re.compile(re.escape(STAGING_PREFIX) + r"[a-z0-9_]+")
_COMMIT = "COMMIT"  #: in a staging folder: every file is complete, the moves may begin
_LOCK = ".lock"  #: held by the export that owns a staging folder


def check_source_name(name: str, *, what: str = "the source name") -> str:
    """A source name, checked: it doubles as a file name
    (:func:`~maskstudio.io.names.safe_file_name`) and must not be one of maskstudio's own
    outputs (residual, mixture, masks).

    Parameters
    ----------
    name : str
    what : str
        How the message names it.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ParameterError
        Not a safe file name, or reserved.
    """
    safe_file_name(name, what=what)
    if name_key(name) in RESERVED:
        raise ParameterError(f"{what} '{name}' is reserved for maskstudio's own outputs: "
                             f"rename it")
    return name


def render(mixture: AudioClip, masks: MaskSet, config: STFTConfig, *, phase: str = "mixture",
           references: Sequence[np.ndarray] | None = None, n_iter: int | None = None,
           cutoff_hz: float = 6000.0, progress: Callable[[int, int], None] | None = None
           ) -> np.ndarray:
    """Every source and the residual as time signals, for :func:`write_outputs`
    (:func:`~maskstudio.dsp.phase.resynthesize` on a clip and a mask set).

    Parameters
    ----------
    mixture : AudioClip
    masks : MaskSet
        On the grid ``config``.
    config : STFTConfig
    phase : str
        One of :data:`~maskstudio.dsp.phase.PHASE_MODES`.
    references : sequence of np.ndarray [shape=(C, n)], optional
        One stem per mask, for ``oracle``.
    n_iter : int, optional
        Iterations of the iterative phases.
    cutoff_hz : float
        The hybrid's cutoff.
    progress : callable(done, total), optional
        Called as work advances; it may raise to cancel.

    Returns
    -------
    np.ndarray [shape=(S + 1, C, n)], float32
        The residual last.
    """
    return resynthesize(mixture.samples, masks.data, config, phase=phase,
                        samplerate=mixture.samplerate, n_iter=n_iter, cutoff_hz=cutoff_hz,
                        references=references, progress=progress)


def output_targets(out_dir: str | os.PathLike, names: Sequence[str], fmt: str,
                   protect: Iterable, *, what: str = "the source name",
                   residual: str = "residual") -> list[Path]:
    """The files of an export: ``<name>.<fmt>`` per source, ``residual.<fmt>`` and
    ``masks.npz`` in ``out_dir``, checked; nothing is written.

    Every name is checked as a file name, two names may not give the same file anywhere
    (case-insensitive systems included), every target must land inside ``out_dir`` and none
    may be one of the inputs.

    Parameters
    ----------
    out_dir : path
        The output folder.
    names : sequence of str
        The sources' names.
    fmt : {'wav', 'flac'}
    protect : iterable of paths
        The user's inputs.
    what : str
        Where the names came from, for the message.
    residual : str
        The residual's name (a dataset's own: MUSDB's ``accompaniment``).

    Returns
    -------
    list of Path
        The sources' files, the residual's, then ``masks.npz``.

    Raises
    ------
    MaskStudioError
        An unknown format, a folder that is a file, a bad or clashing name
        (``ParameterError``), or an input in the way (``OverwriteError``).
    """
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in ("wav", "flac"):
        raise ParameterError(f"unknown output format {fmt!r}: choose wav or flac")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"'{out_dir}' exists and is not a folder: choose an output folder")
    seen: dict[str, str] = {}
    for n in names:
        check_source_name(n, what=what)
        if name_key(n) in seen:
            raise ParameterError(f"{what}s {seen[name_key(n)]!r} and {n!r} would write the "
                                 f"same file on many systems: rename one of them")
        seen[name_key(n)] = n
    if residual != "residual" and name_key(residual) in seen:
        raise ParameterError(f"{what} {residual!r}, the residual's name here: rename it")
    targets = [out_dir / f"{n}.{fmt}" for n in list(names) + [residual]]
    targets.append(out_dir / MASKS)
    for t in targets:
        check_inside(out_dir, t)
        check_not_input(t, protect)
    return targets


def write_outputs(out_dir, mixture: AudioClip, masks: MaskSet, signals: np.ndarray,
                  config: STFTConfig, *, fmt: str = "wav", metadata: dict | None = None,
                  protect: Sequence = (), what: str = "the source name",
                  extra: dict | None = None, markers: Sequence[str] = (MASKS,),
                  residual: str = "residual", audio: dict | None = None,
                  copies: dict | None = None) -> list:
    """Write ``<source>.<fmt>`` per source, ``residual.<fmt>`` and ``masks.npz`` into out_dir,
    as one :class:`ExportSet` (they appear together, ``masks.npz`` last).

    Checks every target before writing any.

    Parameters
    ----------
    out_dir : path
        The output folder.
    mixture : AudioClip
        Its sample format is matched; it is never overwritten.
    masks : MaskSet
    signals : np.ndarray [shape=(S + 1, C, n)]
        The sources and the residual (:func:`render`).
    config : STFTConfig
        Stored in ``masks.npz``.
    fmt : {'wav', 'flac'}
    metadata : dict, optional
        Stored in ``masks.npz``.
    protect : sequence of paths
        More inputs never to overwrite.
    what : str
        Where the names came from, for messages.
    extra : dict, optional
        More file names and their text (a batch's ``metrics.json`` and ``.done``).
    markers : sequence of str
        Moved into place last, in that order.
    residual : str
        The residual's name (a dataset's own: MUSDB's ``accompaniment``).
    audio : dict, optional
        More signals ``{name: [C, n] array}`` written as ``<name>.<fmt>`` (MUSDB's
        ``accompaniment`` beside the stems).
    copies : dict, optional
        More files ``{file name: path}`` copied as they are (the mixture where a dataset's
        reader expects it).

    Returns
    -------
    list of Path
        The files written (the extra files not included).

    Raises
    ------
    MaskStudioError
        A bad target (see :func:`output_targets`), signals that do not match the masks
        (``ParameterError``), or a failed write.
    """
    names = list(masks.names) + ["residual"]
    if signals.shape[0] != len(names):
        raise ParameterError(f"{signals.shape[0]} signals for {len(names)} layers")
    protect = list(protect) + [mixture.path]
    targets = output_targets(out_dir, masks.names, fmt, protect, what=what, residual=residual)
    extra, audio, copies = dict(extra or {}), dict(audio or {}), dict(copies or {})
    more = [f"{n}.{targets[0].suffix.lstrip('.')}" for n in audio]
    with ExportSet(out_dir, [t.name for t in targets] + more + list(copies) + list(extra),
                   protect=protect, markers=markers) as files:
        for sig, target in zip(signals, targets):
            save_audio(files.path(target.name), sig, mixture.samplerate, like=mixture)
        for sig, name in zip(audio.values(), more):
            save_audio(files.path(name), sig, mixture.samplerate, like=mixture)
        for name, source in copies.items():
            try:
                shutil.copyfile(source, files.path(name))
            except OSError as exc:
                raise write_error(Path(out_dir) / name, exc) from None
        save_masks(files.path(MASKS), masks, config, mixture.samplerate, metadata=metadata)
        for name, text in extra.items():
            atomic_write(files.path(name), functools.partial(_write_text, text=text))
    return targets


def _write_text(path: str, *, text: str) -> None:
    Path(path).write_text(text)


class ExportSet:
    """Files that appear in ``folder`` together, or not at all.

    Use as a context manager: write each file to :meth:`path`; on leaving without an error
    the set is committed (a ``COMMIT`` record in the staging folder), the old ``markers`` are
    removed, the files are moved into place, and the ``markers`` come last, so a reader that
    waits for ``masks.npz`` finds every other file of the same export beside it.  An error
    or Cancel removes the staging folder and leaves ``folder`` as it was.

    Parameters
    ----------
    folder : path
        The output folder (made if needed).
    names : list of str
        The file names of the set.  Each must land inside ``folder``.
    protect : sequence of paths, keyword-only
        The user's inputs: none of them may be replaced.
    markers : sequence of str, keyword-only
        Files moved last, in this order (``masks.npz``; a batch's ``.done`` after it).

    Raises
    ------
    MaskStudioError
        A folder that is a file, two names of one file, a target that is a folder
        (``ParameterError``) or an input (``OverwriteError``); on entering, a folder that
        cannot be written (``WriteError``).
    """

    def __init__(self, folder, names: Sequence[str], *, protect: Sequence = (),
                 markers: Sequence[str] = (MASKS,)):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ParameterError(f"'{self.folder}' exists and is not a folder: choose an "
                                 f"output folder")
        names = [str(n) for n in names]
        keys = [name_key(n) for n in names]
        if len(set(keys)) != len(keys):
            raise ParameterError(f"two files of one export have the same name ({names}): "
                                 f"rename one of them")
        self.markers = [m for m in markers if m in names]
        self.order = [n for n in names if n not in self.markers] + self.markers
        for n in self.order:
            target = check_inside(self.folder, self.folder / n)
            if target.is_dir():
                raise ParameterError(f"'{target}' is a folder: move it aside or choose another "
                                     f"output folder")
            check_not_input(target, protect)
        self.staging: Path | None = None
        self._lock: FileLock | None = None

    def path(self, name: str) -> Path:
        """Where to write ``name`` (inside the staging folder).

        Parameters
        ----------
        name : str
            A file of the set.

        Returns
        -------
        Path

        Raises
        ------
        ParameterError
            Not a file of this set, or the set is not open.
        """
        if self.staging is None or name not in self.order:
            raise ParameterError(f"'{name}' is not a file of this export")
        return self.staging / name

    def scratch(self, name: str) -> Path:
        """Where to keep a temporary file of the export (staged masks): inside the staging
        folder, so an error, Cancel or a kill removes it with the rest.

        Parameters
        ----------
        name : str
            A plain file name, not one of the set's.

        Returns
        -------
        Path

        Raises
        ------
        ParameterError
            A name of the set or not a plain name, or the set is not open.
        """
        if self.staging is None or not _plain(name) or name in self.order \
                or name in (_COMMIT, _LOCK):
            raise ParameterError(f"'{name}' cannot be a scratch file of this export")
        return self.staging / f".scratch-{name}"

    def __enter__(self) -> ExportSet:
        from filelock import FileLock

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.folder, exc) from None
        recover_exports(self.folder, names=self.order)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.folder))
            self._lock = FileLock(str(self.staging / _LOCK))
            self._lock.acquire(timeout=0)
        except OSError as exc:
            self._discard()
            raise write_error(self.folder, exc) from None
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._discard()
        return False

    def _commit(self) -> None:
        staging = self.staging
        if staging is None:  # a bug of the caller: committed outside the with block
            raise RuntimeError("export set committed before it was entered")
        missing = [n for n in self.order if not (staging / n).is_file()]
        if missing:  # a bug of the caller: an export set is written whole
            raise RuntimeError(f"export set committed without {missing}")
        record = json.dumps({"order": self.order, "markers": self.markers})
        try:
            atomic_write(staging / _COMMIT, lambda tmp: Path(tmp).write_text(record))
            _move_all(staging, self.folder, self.order, self.markers)
            (staging / _COMMIT).unlink()
        except OSError as exc:
            raise write_error(self.folder, exc) from None

    def _discard(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None


def _move_all(staging: Path, folder: Path, order: Sequence[str], markers: Sequence[str]
              ) -> None:
    """Move the staged files into ``folder`` (idempotent: a second call finishes the first).

    The old markers go first, so no marker ever stands beside files of another export."""
    for m in markers:
        if (staging / m).exists():
            try:
                (folder / m).unlink()
            except FileNotFoundError:
                pass
    for n in order:
        if (staging / n).exists():
            os.replace(staging / n, folder / n)
    fsync_folder(folder)


def _plain(name) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name \
        and "\\" not in name


def recover_exports(folder, *, names: Sequence[str] = ()) -> int:
    """Finish or remove what killed exports left in ``folder``; returns how many were found.

    A staging folder (``.maskstudio-export-*``) whose export is gone (its lock is free) is
    finished if it was committed (its files are moved into place), else removed; one whose
    export still runs is left alone.  Temporaries of single-file writes of ``names``
    (``.<name>.<8 characters><.tmp or the extension>``) are removed too.  Nothing else in
    ``folder`` is touched.

    Parameters
    ----------
    folder : path
        An output folder.
    names : sequence of str
        Files whose temporaries may be removed.

    Returns
    -------
    int
        Staging folders and temporaries found.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    found = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    temporaries = [re.compile(re.escape(f".{n}.") + r"[a-z0-9_]{8}(\.tmp|"
                              + re.escape(Path(n).suffix) + r")") for n in names if _plain(n)]
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and _STAGING.fullmatch(entry.name):
            lock = FileLock(os.path.join(entry.path, _LOCK))
            try:
                lock.acquire(timeout=0)
            except (Timeout, OSError):
                continue  # a live export (or one we cannot judge): leave it
            found += 1
            try:
                _finish(Path(entry.path), folder)
            finally:
                lock.release()
                shutil.rmtree(entry.path, ignore_errors=True)
        elif entry.is_file(follow_symlinks=False) and any(r.fullmatch(entry.name)
                                                          for r in temporaries):
            found += 1
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    return found


def _finish(staging: Path, folder: Path) -> None:
    """Move a committed staging folder's files into place; an uncommitted one is dropped."""
    try:
        record = json.loads((staging / _COMMIT).read_text(encoding="utf-8"))
        order, markers = list(record["order"]), list(record["markers"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # not committed (or not ours to trust): its files are discarded
    if not all(_plain(n) for n in order + markers) or not set(markers) <= set(order):
        return
    try:
        _move_all(staging, folder, order, markers)
    except OSError:
        pass
