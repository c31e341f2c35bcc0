"""Projects in the window: open and save them, locate a moved mixture, recover after a crash.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`; files and journals are
:mod:`maskstudio.core.project`'s.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtWidgets

from maskstudio.errors import MaskStudioError
from maskstudio.ui.dialogs import AUDIO_FILTER
from maskstudio.ui.workers import report_failure, show_error


class ProjectsMixin:
    """File ▸ Save project, opening .msproj files, and the offer to recover unsaved edits."""

    def open_project(self, path, mixture=None) -> None:
        from maskstudio.core.project import MixtureMovedError, load_project

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
        from maskstudio.core.project import (Journal, JournalInUseError, journal_for,
                                             journal_in_use, pending_recovery, recover)

        if self.journaling:
            path = journal_for(doc)
            if self.doc is not None and self.doc.journal is not None and \
                    self.doc.journal.path == path:
                self.doc.close()  # this window reopens its own file: it is not "elsewhere"
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
                        report_failure(self, exc, prefix="could not recover: ")
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

    def save_project_dialog(self) -> None:
        if self.doc is None:
            return
        from maskstudio.core.project import save_project

        if self.item_index is not None:  # a dataset's item has its project already
            if self._guard(save_project, self.doc, self.doc.project_path):
                self.statusBar().showMessage(f"saved {self.doc.project_path.name}", 5000)
            return
        start = self.doc.project_path or (self.doc.clip.path.with_suffix(".msproj")
                                          if self.doc.clip.path else "")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the project", str(start),
                                                        "maskstudio projects (*.msproj)")
        if path and self._guard(save_project, self.doc, path):
            self._remember(self.doc.project_path)
            self.statusBar().showMessage(f"saved {self.doc.project_path}", 5000)

