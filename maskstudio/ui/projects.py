"""Projects in the window: open and save them, locate a moved mixture, recover after a crash.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`; files and journals are
:mod:`maskstudio.annotation.project`'s.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtWidgets

from maskstudio.ui.dialogs import AUDIO_FILTER
from maskstudio.ui.workers import report_failure, show_error


class ProjectsMixin:
    """File ▸ Save project, opening .msproj files, and the offer to recover unsaved edits."""

    def open_project(self, path, mixture=None) -> None:
        from maskstudio.annotation.project import MixtureMovedError, load_project

        try:
            doc = load_project(path, mixture=mixture, start_journal=False)
        except MixtureMovedError as exc:
            if not self.interactive:  # nobody to ask (--screenshot): say it and stop
                raise
            answer = QtWidgets.QMessageBox.question(
                self, "Locate the mixture", f"{exc}\n\nLocate it now?")
            if answer == QtWidgets.QMessageBox.StandardButton.Yes:
                found, _ = QtWidgets.QFileDialog.getOpenFileName(
                    self, f"Locate {exc.expected.name}", str(exc.expected.parent), AUDIO_FILTER)
                if found:
                    self.open_project(path, mixture=found)
            return
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            if not self.interactive:
                raise
            return report_failure(self, exc)
        self._offer_recovery(doc, project=path, mixture=mixture)
        if self.doc is not None:
            missing = self.doc.restore_references()
            if missing:
                self.statusBar().showMessage(f"the stems of {', '.join(missing)} were not "
                                             f"found: no oracle phase or scores for them", 8000)
            self.metrics.update_now()
            if self.doc.references:
                self.show_scores()

    def _offer_recovery(self, doc, project=None, mixture=None) -> None:
        """If the last session of this file ended without saving, offer its edits back; then
        journal every finished step from here on.  A file that another session is editing
        is offered read-only (no journal, and no save over the other session's project)."""
        from maskstudio.annotation.project import (
            Journal,
            JournalInUseError,
            journal_for,
            journal_in_use,
            pending_recovery,
            recover,
        )

        if self.journaling:
            path = journal_for(doc)
            if self.doc is not None and self.doc.journal is not None and \
                    self.doc.journal.path == path:
                self.release_document(self.doc)  # reopening its own file: not "elsewhere"
            if journal_in_use(path) and not self.confirm_read_only(doc):
                return
            try:
                n = pending_recovery(path, doc.save_token)
                recovered = False
                if n and self.confirm_recovery(n):
                    try:
                        recover(path, doc)  # the document is on the journal's save already
                        recovered = True
                    except JournalInUseError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - any failure gets its dialog
                        kept = self._keep_aside(path)
                        report_failure(self, exc, prefix="could not recover: ")
                        if kept is not None:
                            self.statusBar().showMessage(
                                f"the journal that could not be recovered is kept as {kept}",
                                15000)
                if not recovered:
                    Journal.start(doc)
            except JournalInUseError:
                doc.journal = None  # read-only: the other session keeps its journal
                self.statusBar().showMessage("opened read-only: this file is open in another "
                                             "maskstudio session", 10000)
            except Exception as exc:  # noqa: BLE001 - the file opens all the same
                doc.journal = None
                from maskstudio.reporting import describe_failure

                show_error(self, f"{describe_failure(exc)[0]}\n\nThe file is open, but edits "
                                 f"are not protected against a crash until it is saved.")
        self.set_document(doc)

    @staticmethod
    def _keep_aside(path):
        """Move a journal that could not be recovered out of the way of the new one, so the
        edits in it are not overwritten (a newer maskstudio, or a person, may get them back)."""
        import os

        kept = path.with_name(path.name + ".unrecovered")
        try:
            os.replace(path, kept)
        except OSError:
            return None
        return kept

    def confirm_read_only(self, doc) -> bool:
        name = doc.project_path.name if doc.project_path else (
            doc.clip.path.name if doc.clip.path else "this file")
        answer = QtWidgets.QMessageBox.question(
            self, "Open elsewhere",
            f"'{name}' is open in another maskstudio window or process. Open it read-only "
            f"here? (Edits made here cannot be saved over the other session's project.)")
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def confirm_recovery(self, n: int) -> bool:
        answer = QtWidgets.QMessageBox.question(
            self, "Recover unsaved edits",
            f"The last session with this file ended without saving {n} edit(s). Recover them?")
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    # -- saving, and what happens to unsaved work -----------------------------------------
    def save(self) -> bool:
        """File ▸ Save (Ctrl+S): the project, in place; the first time, where the user says
        (a dataset's item has its project already).  False if nothing was saved."""
        if self.doc is None:
            return False
        if self.doc.project_path is None:
            return self.save_as()
        return self._save_to(self.doc.project_path)

    def save_as(self) -> bool:
        """File ▸ Save As (Ctrl+Shift+S): the project, where the user says, always asked."""
        if self.doc is None:
            return False
        start = self.doc.project_path or (self.doc.clip.path.with_suffix(".msproj")
                                          if self.doc.clip.path else "")
        path = self.ask_save_path(start)
        return bool(path) and self._save_to(path)

    save_project_dialog = save_as

    def ask_save_path(self, start) -> str | None:
        """Where to save the project (None: the user cancelled)."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the project", str(start),
                                                        "maskstudio projects (*.msproj)")
        return path or None

    def _save_to(self, path) -> bool:
        from maskstudio.annotation.project import save_project

        doc = self.doc
        saved = self._guard(save_project, doc, path)
        if saved is None:
            return False
        if self.item_index is None:
            self._remember(doc.project_path)
        self.statusBar().showMessage(f"saved {doc.project_path}", 5000)
        self._update_title()
        return True

    def ask_save_changes(self, action: str, reason: str = "") -> str:
        """Save, discard or cancel before ``action`` drops the unsaved work: "save",
        "discard" or "cancel" (Esc and closing the question cancel)."""
        B = QtWidgets.QMessageBox.StandardButton
        name = self._document_name()
        text = (f"{reason}\n\n" if reason else "") + (
            f"Save the changes to '{name}' before {action}?\n\n"
            f"Save writes the project; Discard drops the unsaved edits (they will not be "
            f"offered back at the next start).")
        answer = QtWidgets.QMessageBox.question(self, "Unsaved changes", text,
                                                B.Save | B.Discard | B.Cancel, B.Save)
        return {B.Save: "save", B.Discard: "discard"}.get(answer, "cancel")

    def maybe_save(self, action: str) -> bool:
        """Before anything replaces or closes the open work: True when it may go (saved,
        unchanged, or discarded), False when the user cancelled or the save failed.

        A dataset's item is saved in place without asking; only when that fails is the user
        asked, as for any other file."""
        doc = self.doc
        if self.item_index is not None:
            self.dataset_panel.flush_notes()
        if doc is None or not doc.modified:
            return True
        reason = ""
        if self.item_index is not None and doc.project_path is not None:
            from maskstudio.annotation.project import save_project
            from maskstudio.reporting import describe_failure

            try:
                save_project(doc, doc.project_path)
                self._update_title()
                return True
            except Exception as exc:  # noqa: BLE001 - said in the question that follows
                reason = f"'{doc.project_path.name}' could not be saved: " \
                         f"{describe_failure(exc)[0]}"
                if not (self.confirm_close and self.interactive):
                    show_error(self, reason)
                    return False
        elif not (self.confirm_close and self.interactive):
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
        self._discarded = self.doc
        self.doc.modified = False
        self._update_title()

    def release_document(self, doc) -> None:
        """``doc`` leaves the window: its journal is closed (kept for recovery), or removed
        if the user discarded its edits and has not edited since."""
        if doc is None:
            return
        if getattr(self, "_discarded", None) is doc and not doc.modified \
                and doc.journal is not None:
            doc.journal.discard()
            doc.journal = None
        self._discarded = None
        doc.close()

    def _document_name(self) -> str:
        doc = self.doc
        if doc is None:
            return ""
        if self.item_index is not None and self.dataset is not None:
            ds = self.dataset
            return f"{ds.items[self.item_index].name} ({self.item_index + 1}/{len(ds.items)})" \
                   f" — {ds.path.name}"
        if doc.project_path is not None:
            return doc.project_path.name
        return doc.clip.path.name if doc.clip.path else "untitled"

    def _update_title(self) -> None:
        """The project's (or file's, or item's) name, and "*" while there is unsaved work."""
        if self.doc is None:
            self.setWindowTitle("maskstudio")
            self.setWindowModified(False)
            return
        self.setWindowTitle(f"{self._document_name()}[*] — maskstudio")
        self.setWindowModified(bool(self.doc.modified))
