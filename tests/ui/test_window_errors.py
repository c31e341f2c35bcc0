"""Every failure of a user action in the window shows one error dialog: the message, the path
for an OSError, and for a bug where its traceback was written.  Before, the window caught only
MaskStudioError, so an OSError in Save showed nothing at all."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest
from pyqtgraph.Qt import QtWidgets


def _dialogs(window) -> list[str]:
    return [box.text() for box in window.findChildren(QtWidgets.QMessageBox, "errorDialog")]


def _choose(monkeypatch, path) -> None:
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(path), "")))


def _read_only_folder(tmp_path) -> Path:
    """A folder nobody may write in: /sys on Linux (even for root), else a chmod-ed one."""
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        if Path("/sys/kernel").is_dir():
            return Path("/sys")
        pytest.skip("root writes anywhere here")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_saving_masks_into_a_read_only_folder_shows_a_dialog(window, monkeypatch, tmp_path):
    window.edits.new_layer()
    folder = _read_only_folder(tmp_path)
    _choose(monkeypatch, folder / "masks.npz")
    window.save_masks_dialog()
    texts = _dialogs(window)
    assert len(texts) == 1 and str(folder / "masks.npz") in texts[0]
    assert "internal error" not in texts[0]


def test_saving_a_project_into_a_read_only_folder_shows_a_dialog(window, monkeypatch,
                                                                   tmp_path):
    folder = _read_only_folder(tmp_path)
    _choose(monkeypatch, folder / "take.msproj")
    window.projects.save_as()
    texts = _dialogs(window)
    assert len(texts) == 1 and "take.msproj" in texts[0], texts


@pytest.mark.parametrize("exc,words", [
    (PermissionError(errno.EACCES, "Permission denied", "/data/m.npz"), "permission denied"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/m.npz"), "no space"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/m.npz"), "folder"),
])
def test_a_raw_os_error_in_save_shows_a_dialog_naming_the_path(window, monkeypatch, tmp_path,
                                                               exc, words):
    import maskstudio.editing.outputs as outputs

    def fail(*args, **kwargs):
        raise exc
    monkeypatch.setattr(outputs, "write_mask_file", fail)
    window.edits.new_layer()
    _choose(monkeypatch, tmp_path / "m.npz")
    window.save_masks_dialog()
    texts = _dialogs(window)
    assert len(texts) == 1 and "/data/m.npz" in texts[0] and words in texts[0], texts


def test_a_bug_shows_a_dialog_pointing_to_its_crash_log(window, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    window.edits.new_layer()
    monkeypatch.setattr(window.doc, "save_masks", lambda path: [][1])
    _choose(monkeypatch, tmp_path / "m.npz")
    window.save_masks_dialog()
    texts = _dialogs(window)
    assert len(texts) == 1 and "internal error" in texts[0] and "IndexError" in texts[0]
    log = Path(texts[0].split("details are in ")[1].split(". Please")[0])
    assert log.is_file() and "IndexError" in log.read_text()
    assert log.parent == tmp_path / "state" / "maskstudio" / "crashes"


def test_a_failing_background_task_shows_a_dialog(window, qtbot):
    from maskstudio.ui.workers import active_tasks, run_task

    def work(progress):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/out")
    run_task(window, "Working…", work, modal=False)
    qtbot.waitUntil(lambda: active_tasks() == 0 and bool(_dialogs(window)), timeout=5000)
    assert "/data/out" in _dialogs(window)[0]


def test_a_slot_that_raises_shows_a_dialog(window, monkeypatch, tmp_path):
    from maskstudio.ui.workers import install_excepthook

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window)
    try:
        raise RuntimeError("raised in a slot")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    texts = _dialogs(window)
    assert len(texts) == 1 and "raised in a slot" in texts[0] and "details are in" in texts[0]
