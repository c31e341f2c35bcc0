"""The separator rnnoise in the window: Masks ▸ Separate lists it and runs it; without its
package the user is told what to install."""

import importlib.util
import os

import pytest
from pyqtgraph.Qt import QtWidgets

from maskstudio.dsp import speech


def _separate_menu(window) -> QtWidgets.QMenu:
    masks = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Masks")
    sub = next(a.menu() for a in masks.actions() if a.text() == "&Separate")
    sub.aboutToShow.emit()  # as when the user opens it
    return sub


def test_masks_separate_lists_and_runs_rnnoise(window, qtbot):
    if not speech.rnnoise_available():
        if os.environ.get("CI"):
            pytest.fail("CI installs pyrnnoise (.ci/run): the real model must be tested")
        pytest.skip("pyrnnoise is not installed: pip install 'maskstudio[models]'")
    action = next(a for a in _separate_menu(window).actions() if a.text() == "rnnoise")
    doc = window.doc
    action.trigger()
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=60000)
    assert [la.name for la in doc.layers] == ["speech", "noise"]
    assert doc.layers[0].provenance["kind"] == "separator"
    total = doc.store.dense(0) + doc.store.dense(1)
    assert abs(total - 1).max() <= 1e-5


def test_without_the_package_the_window_says_what_to_install(window, qtbot, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "pyrnnoise" else real(name, *a, **k))
    speech._library.cache_clear()
    try:
        assert "rnnoise" in [a.text() for a in _separate_menu(window).actions()]
        window.mask_sources.separate("rnnoise")

        def dialogs():
            return [b.text() for b in window.findChildren(QtWidgets.QMessageBox, "errorDialog")]
        qtbot.waitUntil(lambda: len(dialogs()) == 1, timeout=20000)
        assert "pip install 'maskstudio[models]'" in dialogs()[0]
        assert not window.doc.layers
    finally:
        monkeypatch.undo()
        speech._library.cache_clear()
