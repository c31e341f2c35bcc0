"""Opening a file for editing, and the offer to recover what a crashed session left.

The window's part is only to ask: the work runs here, without Qt, on whichever thread the
caller likes (a worker's, since it decodes audio and hashes the mixture).  The flow is

1. :func:`open_for_editing` opens a mixture or a ``.msproj`` once and says what can be
   recovered: :class:`Opened` (the document, its journal's path, whether another session
   records into that journal, how many recorded steps it holds on this save);
2. the window asks (open read-only?  recover these edits?);
3. :func:`begin_editing` applies the answer to the document already open: it replays the
   journal into it, all or nothing, or starts a fresh journal, and reports what happened as
   :class:`Editing` (recovered, a recovery that failed and where its journal was kept aside,
   read-only, or not protected against a crash).

Nothing is decoded or hashed twice: the recovery replays the journal into the document that
:func:`open_for_editing` returned.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from maskstudio.annotation.journal import Journal, JournalInUseError, journal_for, journal_in_use
from maskstudio.annotation.project import load_project, pending_recovery, recover
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.io.ondemand import Mixture, open_audio

__all__ = ["Opened", "Editing", "open_for_editing", "begin_editing", "keep_aside"]


@dataclasses.dataclass
class Opened:
    """A document open for editing, not journaled yet, and what its last session left.

    ``in_use``: another session records into ``journal_path`` now (offer read-only).
    ``pending``: how many recorded steps that journal holds on this document's save (0 when
    there is nothing to recover, or when the journal is in use).  ``references``: stems
    conformed to the mixture that were put into ``doc.references`` (a dataset item's).
    ``created``: a dataset item's first visit, whose new project is saved and journaled
    already (:func:`begin_editing` then does nothing)."""

    doc: Document
    journal_path: Path
    in_use: bool = False
    pending: int = 0
    project: Path | None = None
    references: dict = dataclasses.field(default_factory=dict)
    created: bool = False

    def recheck(self) -> Opened:
        """Look again at the journal (cheap: the journal is read, not the mixture): after the
        window let go of its own document of this file, whose lock made it look in use."""
        self.in_use = journal_in_use(self.journal_path)
        self.pending = pending_recovery(self.journal_path, self.doc.save_token)
        return self


@dataclasses.dataclass
class Editing:
    """What :func:`begin_editing` did.

    ``recovered``: steps replayed into the document.  ``recovery_error``: the recovery failed
    (the document is as it was opened, a fresh journal was started); ``kept_aside``: where the
    journal that could not be recovered was moved (None if it could not be moved).
    ``read_only``: another session records into the journal, so this document has none (no
    crash protection, no save over the other session's project).  ``unprotected``: the journal
    could not be started (the file is open, but edits are not protected until it is saved)."""

    recovered: int = 0
    recovery_error: Exception | None = None
    kept_aside: Path | None = None
    read_only: bool = False
    unprotected: Exception | None = None


def open_for_editing(path, *, config: STFTConfig | None = None, mixture=None,
                     clip: Mixture | None = None,
                     progress: Callable[[int, int], object] | None = None) -> Opened:
    """Open a mixture or a ``.msproj`` project once, without a journal, and say what its last
    session left to recover.

    Parameters
    ----------
    path : path-like
        An audio file, or a project (``.msproj``).
    config : STFTConfig, optional
        The grid of an audio file (None: the grid for its sample rate); a project has its own.
    mixture : path-like, optional
        Where a project's mixture is, when it was located by the user.
    clip : AudioClip or AudioReader, optional
        The audio file already opened (the command line opens it before Qt loads).
    progress : callable, optional
        Accepted for a worker's ``progress(done, total)``; opening reports nothing yet.

    Returns
    -------
    Opened

    Raises
    ------
    maskstudio.annotation.project.MixtureMovedError
        A project's mixture is missing or changed: ask the user to locate it, then call again
        with ``mixture``.
    maskstudio.errors.MaskStudioError
        The file cannot be read (damaged project, unreadable audio).
    """
    del progress
    path = Path(path)
    if path.suffix == ".msproj":
        doc = load_project(path, mixture=mixture, start_journal=False)
        project: Path | None = path
    else:
        # read on demand: an hour is never decoded whole (nor held) to be edited
        doc = Document(clip if clip is not None else open_audio(path), config)
        project = None
    return Opened(doc, journal_for(doc), project=project).recheck()


def begin_editing(opened: Opened, *, recover_edits: bool) -> Editing:
    """Start recording ``opened.doc``'s steps: with ``recover_edits`` (and steps pending) the
    journal is first replayed into the document, all or nothing; otherwise, or when that
    fails, a fresh journal starts (a failed journal is kept aside, never overwritten).

    Call it before the document is shown (it changes the document without events).  A
    dataset item's first visit (``opened.created``) is journaled already: nothing is done.

    Returns
    -------
    Editing
        What happened; no exception is raised for a failed recovery or journal.
    """
    result = Editing()
    doc = opened.doc
    if opened.created and doc.journal is not None:
        return result
    try:
        recovered = False
        if recover_edits and opened.pending:
            try:
                result.recovered = recover(opened.journal_path, doc)
                recovered = True
            except JournalInUseError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the user as it is
                result.recovery_error = exc
                result.kept_aside = keep_aside(opened.journal_path)
        if not recovered:
            Journal.start(doc, opened.journal_path)
    except JournalInUseError:
        doc.journal = None  # read-only: the other session keeps its journal
        result.read_only = True
    except Exception as exc:  # noqa: BLE001 - the file opens all the same
        doc.journal = None
        result.unprotected = exc
    return result


def keep_aside(path) -> Path | None:
    """Move a journal that could not be recovered out of the way of the new one (as
    ``<name>.unrecovered``), so the edits in it are not overwritten; None if it could not be
    moved."""
    path = Path(path)
    kept = path.with_name(path.name + ".unrecovered")
    try:
        os.replace(path, kept)
    except OSError:
        return None
    return kept
