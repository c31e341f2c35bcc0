"""Opening and saving in the window: files and projects, crash recovery, unsaved work.

:class:`ProjectController` owns File ▸ Open, Save, Save As, Open Recent and Open the demo,
the window's title, and the question asked before unsaved work is replaced or closed.  The
work is :mod:`maskstudio.annotation`'s: a file or project is opened once, on a worker
thread (:func:`~maskstudio.annotation.recovery.open_for_editing`, which decodes and hashes
the mixture); back on the GUI thread the user is asked what its crashed session left
(open read-only?  recover the edits?), and :func:`~maskstudio.annotation.recovery.
begin_editing` applies the answer to that same document before it is shown.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future
from pathlib import Path

from PySide6 import QtWidgets

from maskstudio.annotation.project import MixtureMovedError, save_project
from maskstudio.annotation.recovery import Opened, begin_editing, open_for_editing
from maskstudio.demo import demo_mixture
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.io.ondemand import Mixture
from maskstudio.reporting import describe_failure
from maskstudio.ui.controller import Controller, Shell
from maskstudio.ui.dialogs import AUDIO_FILTER
from maskstudio.ui.workers import Failure, Progress, Task, report_failure, run_task, show_error

__all__ = ["ProjectController", "warm_up"]

MAX_RECENT = 10
OPEN_FILTER = ("Projects and audio (*.msproj *.wav *.flac *.ogg *.mp3 *.aif *.aiff);;"
               + AUDIO_FILTER)


def warm_up(doc: Document) -> Document:
    """Compute the spectrogram of the opening view (while the window waits for it)."""
    from maskstudio.ui.spectrogram_view import opening_frames

    doc.spectrogram.compute_range(0, opening_frames(doc))
    return doc


class ProjectController(Controller):
    """File ▸ Open, Save, Save As, Open Recent, Open the demo; crash recovery; the title.

    The questions it asks are methods tests replace: ``confirm_read_only``,
    ``confirm_recovery``, ``ask_save_path``, ``ask_save_changes``.
    """

    def __init__(self, window: Shell):
        super().__init__(window)
        self.recent_menu: QtWidgets.QMenu | None = None
        self._discarded: Document | None = None  #: its edits go with its journal, when it goes

    def fill_file_menu(self, menu: QtWidgets.QMenu) -> None:
        """File ▸ Open…, Save, Save As…, Open Recent ▸, Open the demo."""
        self.action("&Open…", self.open_dialog, "Ctrl+O", menu)
        self.action("&Save", self.save, "Ctrl+S", menu,
                    tip="save the project (the first time, choose where; a dataset's item "
                        "is saved in place)")
        self.action("Save &As…", self.save_as, "Ctrl+Shift+S", menu,
                    tip="save the project under another name")
        self.recent_menu = menu.addMenu("Open &Recent")
        self.action("Open the &demo", lambda: self.open_path(demo_mixture()), None, menu)
        self._update_recent_menu()

    # -- opening --------------------------------------------------------------------------
    def open_dialog(self) -> None:
        """File ▸ Open (Ctrl+O): a mixture or a project."""
        settings = self.window.settings
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open a mixture or a project", str(settings.value("dirs/open", "")),
            OPEN_FILTER)
        if path:
            settings.setValue("dirs/open", str(Path(path).parent))
            self.open_path(path)

    def open_path(self, path: str | Path, *, config: STFTConfig | None = None,
                  wait: bool = False, preloaded: Future[Mixture] | None = None
                  ) -> Task | None:
        """Open a mixture or a project, after the unsaved work's question.

        The file is opened on a worker thread, or here with ``wait``; ``config`` is an audio
        file's grid (None: the one for its sample rate); ``preloaded`` is a future of the
        opened file (the command line opens it before Qt loads).  Returns the task
        opening it (None with ``wait``, or when the user cancelled).  With nobody at the
        window (``interactive`` False), a project that cannot be opened raises."""
        path = Path(path)
        if not self.maybe_save(f"opening '{path.name}'"):
            return None
        self.window.datasets.forget_item()
        return self._open(path, config=config, wait=wait, preloaded=preloaded)

    def _open(self, path: Path, *, config: STFTConfig | None = None, mixture: str | None = None,
              wait: bool = False, preloaded: Future[Mixture] | None = None) -> Task | None:
        is_project = path.suffix == ".msproj"

        def load(progress: Progress | None) -> Opened:
            clip = preloaded.result() if preloaded is not None and not is_project else None
            opened = open_for_editing(path, config=config, mixture=mixture, clip=clip)
            warm_up(opened.doc)
            return opened

        if not wait:
            return run_task(self.window, f"Opening {path.name}…", load, self._opened,
                            on_fail=lambda failure: self._open_failed(path, failure))
        try:
            opened = load(None)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            if is_project and not self.window.interactive:
                raise  # nobody to ask or to read a dialog (--screenshot): say it and stop
            self._open_failed(path, Failure(exc, describe_failure(exc)[0]), wait=True)
            return None
        self._opened(opened)
        return None

    def _open_failed(self, path: Path, failure: Failure, *, wait: bool = False) -> None:
        """A project whose mixture moved: offer to locate it; anything else: say it."""
        exc = failure.error
        if not isinstance(exc, MixtureMovedError) or not self.window.interactive:
            show_error(self.window, failure.message)
            return
        answer = QtWidgets.QMessageBox.question(
            self.window, "Locate the mixture", f"{exc}\n\nLocate it now?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            found, _ = QtWidgets.QFileDialog.getOpenFileName(
                self.window, f"Locate {exc.expected.name}", str(exc.expected.parent),
                AUDIO_FILTER)
            if found:
                self._open(path, mixture=found, wait=wait)

    def _opened(self, opened: Opened) -> None:
        """Show what was opened (after the questions about its last session); a project's
        stems are looked for, for the live scores and the oracle phase."""
        if not self.begin(opened) or opened.project is None:
            return
        doc = opened.doc
        missing = doc.restore_references()
        if missing:
            self.say(f"the stems of {', '.join(missing)} were not found: no oracle phase or "
                     f"scores for them", 8000)
        self.window.metrics.update_now()
        if doc.references:
            self.window.show_scores()

    def begin(self, opened: Opened) -> bool:
        """Show ``opened.doc``, journaled from here on.  If the last session of this file
        ended without saving, its edits are offered back first.  A file that another
        session is editing is offered read-only (no journal, and no save over the other
        session's project); False when the user declined it: nothing changed."""
        window = self.window
        if window.journaling:
            current = window.doc
            if current is not None and current.journal is not None \
                    and current.journal.path == opened.journal_path:
                self.release_document(current)  # reopening its own file: not "elsewhere"
                opened.recheck()
            if opened.in_use and not self.confirm_read_only(opened.doc):
                return False
            recover = bool(opened.pending) and self.confirm_recovery(opened.pending)
            result = begin_editing(opened, recover_edits=recover)
            if result.recovery_error is not None:
                report_failure(window, result.recovery_error, prefix="could not recover: ")
                if result.kept_aside is not None:
                    self.say(f"the journal that could not be recovered is kept as "
                             f"{result.kept_aside}", 15000)
            if result.read_only:
                self.say("opened read-only: this file is open in another maskstudio "
                         "session", 10000)
            if result.unprotected is not None:
                show_error(window, f"{describe_failure(result.unprotected)[0]}\n\nThe file is "
                                   f"open, but edits are not protected against a crash until "
                                   f"it is saved.")
        window.set_document(opened.doc)
        return True

    def confirm_read_only(self, doc: Document) -> bool:
        """Whether to open ``doc`` read-only, another session editing it."""
        name = doc.project_path.name if doc.project_path else (
            doc.clip.path.name if doc.clip.path else "this file")
        answer = QtWidgets.QMessageBox.question(
            self.window, "Open elsewhere",
            f"'{name}' is open in another maskstudio window or process. Open it read-only "
            f"here? (Edits made here cannot be saved over the other session's project.)")
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def confirm_recovery(self, n: int) -> bool:
        """Whether to recover the ``n`` edits the last session did not save."""
        answer = QtWidgets.QMessageBox.question(
            self.window, "Recover unsaved edits",
            f"The last session with this file ended without saving {n} edit(s). Recover them?")
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    # -- recent files -----------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """The files and projects opened last, the newest first."""
        value = self.window.settings.value("recent", [])
        if isinstance(value, str):  # one entry, as an INI file gives it back
            value = [value]
        return [str(v) for v in value if v] if isinstance(value, list) else []

    def remember(self, path: Path) -> None:
        """Put ``path`` first in File ▸ Open Recent."""
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.window.settings.setValue("recent", recent[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        recent = self.recent_files()
        for p in recent:
            menu.addAction(p, functools.partial(self.open_path, p))
        menu.setEnabled(bool(recent))

    # -- saving, and what happens to unsaved work -----------------------------------------
    def save(self) -> bool:
        """File ▸ Save (Ctrl+S): the project, in place; the first time, where the user says
        (a dataset's item has its project already).  False if nothing was saved."""
        doc = self.window.doc
        if doc is None:
            return False
        if doc.project_path is None:
            return self.save_as()
        return self._save_to(doc.project_path)

    def save_as(self) -> bool:
        """File ▸ Save As (Ctrl+Shift+S): the project, where the user says, always asked."""
        doc = self.window.doc
        if doc is None:
            return False
        start = doc.project_path or (doc.clip.path.with_suffix(".msproj")
                                     if doc.clip.path else "")
        path = self.ask_save_path(start)
        return path is not None and self._save_to(path)

    def ask_save_path(self, start: str | Path) -> str | None:
        """Where to save the project (None: the user cancelled)."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save the project",
                                                        str(start),
                                                        "maskstudio projects (*.msproj)")
        return path or None

    def _save_to(self, path: str | Path) -> bool:
        doc = self.window.doc
        if doc is None or self.guard(save_project, doc, path) is None:
            return False
        if not self.window.datasets.item_open and doc.project_path is not None:
            self.remember(doc.project_path)
        self.say(f"saved {doc.project_path}", 5000)
        self.update_title()
        return True

    def ask_save_changes(self, action: str, reason: str = "") -> str:
        """Save, discard or cancel before ``action`` drops the unsaved work: "save",
        "discard" or "cancel" (Esc and closing the question cancel)."""
        B = QtWidgets.QMessageBox.StandardButton
        text = (f"{reason}\n\n" if reason else "") + (
            f"Save the changes to '{self.document_name()}' before {action}?\n\n"
            f"Save writes the project; Discard drops the unsaved edits (they will not be "
            f"offered back at the next start).")
        answer = QtWidgets.QMessageBox.question(self.window, "Unsaved changes", text,
                                                B.Save | B.Discard | B.Cancel, B.Save)
        return {B.Save: "save", B.Discard: "discard"}.get(answer, "cancel")

    def maybe_save(self, action: str) -> bool:
        """Before anything replaces or closes the open work: True when it may go (saved,
        unchanged, or discarded), False when the user cancelled or the save failed.

        A dataset's item is saved in place without asking; only when that fails is the user
        asked, as for any other file."""
        window, datasets = self.window, self.window.datasets
        doc = window.doc
        if datasets.item_open:
            datasets.flush_notes()
        if doc is None or not doc.modified:
            return True
        asks = window.confirm_close and window.interactive
        reason = ""
        if datasets.item_open and doc.project_path is not None:
            try:
                save_project(doc, doc.project_path)
                self.update_title()
                return True
            except Exception as exc:  # noqa: BLE001 - said in the question that follows
                reason = f"'{doc.project_path.name}' could not be saved: " \
                         f"{describe_failure(exc)[0]}"
                if not asks:
                    show_error(window, reason)
                    return False
        elif not asks:
            return True  # nobody to ask (tests, --screenshot): the journal keeps the edits
        answer = self.ask_save_changes(action, reason)
        if answer == "save":
            return self.save_as() if reason else self.save()
        if answer == "discard":
            self.discard_changes()
            return True
        return False

    def discard_changes(self) -> None:
        """Drop the unsaved edits for good once the document is replaced or the window
        closes: then their crash journal goes, so the next start does not offer them back.
        Until then the journal stays, so an open that fails or is cancelled leaves the
        document on screen still protected (see :meth:`release_document`)."""
        doc = self.window.doc
        if doc is None:
            return
        self._discarded = doc
        doc.modified = False
        self.update_title()

    def release_document(self, doc: Document | None) -> None:
        """``doc`` leaves the window: its journal is closed (kept for recovery), or removed
        if the user discarded its edits and has not edited since."""
        if doc is None:
            return
        if self._discarded is doc and not doc.modified and doc.journal is not None:
            doc.journal.discard()
            doc.journal = None
        self._discarded = None
        doc.close()

    # -- the title --------------------------------------------------------------------------
    def document_name(self) -> str:
        """The open item's name and place in its dataset, or the project's, or the file's."""
        doc = self.window.doc
        if doc is None:
            return ""
        item = self.window.datasets.item_title()
        if item is not None:
            return item
        if doc.project_path is not None:
            return doc.project_path.name
        return doc.clip.path.name if doc.clip.path else "untitled"

    def update_title(self) -> None:
        """The project's (or file's, or item's) name, and "*" while there is unsaved work."""
        window, doc = self.window, self.window.doc
        if doc is None:
            window.setWindowTitle("maskstudio")
            window.setWindowModified(False)
            return
        window.setWindowTitle(f"{self.document_name()}[*] — maskstudio")
        window.setWindowModified(bool(doc.modified))
