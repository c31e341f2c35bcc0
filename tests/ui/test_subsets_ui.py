"""Stem subsets in the window's export dialog (File > Export sources and residual), offscreen:
made by ticking layers, written beside the sources as the sums they name, remembered."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import load_audio
from maskstudio.ui.dialogs import ExportDialog
from maskstudio.ui.workers import active_tasks

SHOTS = Path(os.environ.get("MASKSTUDIO_SHOTS", "/tmp/maskstudio-shots"))


def _two_layers(window) -> None:
    """Soft layers that share bins (each bin's sum below one: the residual has a part)."""
    doc = window.doc
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 0.5, (2, doc.n_bins, doc.n_frames)).astype(np.float32)
    doc.load_layers(["voice", "drums"], data, {"kind": "model"}, "two layers", mode="add")


def _in_dialog(qtbot, act) -> list:
    """Run ``act(dialog)`` on the export dialog once it is open (it runs modally)."""
    seen: list = []

    def poke():
        dialog = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(dialog, ExportDialog):
            QtCore.QTimer.singleShot(20, poke)
            return
        seen.append(dialog)
        act(dialog)
    QtCore.QTimer.singleShot(0, poke)
    return seen


def test_subsets_from_the_export_dialog_sum_correctly_and_are_remembered(
        window, qtbot, tmp_path, mixture_files):
    _two_layers(window)
    out = tmp_path / "out"

    def act(dialog):
        dialog.folder.edit.setText(str(out))
        s = dialog.subsets
        s.tick(["voice"], everything_but=True)  # a minus-one: everything but the voice
        assert s.terms.text() == "mixture-voice"
        assert s.add_from_row() == "minus-voice=mixture-voice"
        s.tick(["voice", "drums"])
        s.name.setText("both")
        assert s.add_from_row() == "both=voice+drums"
        assert s.add("voice=drums") is None and "voice" in s.error.text()  # a layer's name
        assert s.add("x=drums+guitar") is None and "guitar" in s.error.text()
        assert "\n" not in s.error.text()
        assert s.add("rhythm=drums+residual") == "rhythm=drums+residual"
        s.list.item(2).setCheckState(QtCore.Qt.CheckState.Unchecked)  # listed, not written
        dialog.resize(620, dialog.sizeHint().height())
        SHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SHOTS / "export_dialog_subsets.png"))
        dialog.accept()

    seen = _in_dialog(qtbot, act)
    window.export_dialog()
    assert seen
    qtbot.waitUntil(lambda: (out / "masks.npz").exists(), timeout=20000)
    qtbot.waitUntil(lambda: active_tasks() <= 1, timeout=20000)
    read = {p.stem: load_audio(p).samples for p in out.glob("*.wav")}
    assert set(read) == {"voice", "drums", "residual", "minus-voice", "both"}
    mixture = load_audio(mixture_files["mixture"]).samples
    np.testing.assert_allclose(read["minus-voice"], mixture - read["voice"], atol=1e-4)
    np.testing.assert_allclose(read["both"], read["voice"] + read["drums"], atol=1e-6)
    # the next time, the dialog offers the same subsets, ticked as they were
    again = _in_dialog(qtbot, lambda d: d.reject())
    window.export_dialog()
    s = again[0].subsets
    assert s.all_specs() == ["minus-voice=mixture-voice", "both=voice+drums",
                             "rhythm=drums+residual"]
    assert s.specs() == ["minus-voice=mixture-voice", "both=voice+drums"]


def test_a_subset_of_a_layer_not_exported_keeps_the_dialog_and_writes_nothing(
        window, qtbot, tmp_path):
    _two_layers(window)
    out = tmp_path / "out"

    def act(dialog):
        dialog.folder.edit.setText(str(out))
        assert dialog.subsets.add("rhythm=voice+drums")
        dialog.which.setCurrentIndex(1)  # only the active layer, 'voice'
        dialog.accept()
        assert dialog.isVisible()  # refused: the reason shows, the dialog stays
        text = dialog.subsets.error.text()
        assert "drums" in text and "\n" not in text
        dialog.reject()

    seen = _in_dialog(qtbot, act)
    window.export_dialog()
    assert seen and not out.exists()


def test_export_refuses_a_bad_spec_before_writing_anything(window, tmp_path):
    from maskstudio.editing.outputs import export

    _two_layers(window)
    for spec in ["karaoke", "k=mixture-bass", "voice=drums", "k=voice+"]:
        with pytest.raises(ParameterError) as info:
            export(window.doc, tmp_path / "out", mixes=[spec])
        assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match="twice"):
        export(window.doc, tmp_path / "out", mixes=["a=voice", "a=drums"])
    assert not (tmp_path / "out").exists()
