"""File > Export annotations / Import annotations through the real window, offscreen."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.dsp.regions import LabelBox, box_to_region
from maskstudio.ui.workers import active_tasks

SHOTS = Path(os.environ.get("MASKSTUDIO_SHOTS", "/tmp/maskstudio-shots"))
#: two layers' boxes of cells: bins f0..f1, frames t0..t1 (the 512/128 grid at 16 kHz)
CELLS = {"voice": (20, 40, 30, 80), "drums": (100, 150, 120, 200)}


def _errors(window) -> list[str]:
    return [box.text() for box in window.findChildren(QtWidgets.QMessageBox, "errorDialog")]


def _shot(widget: QtWidgets.QWidget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / name))


def _load_boxes(window) -> None:
    doc = window.doc
    data = np.zeros((2, doc.n_bins, doc.n_frames), np.float32)
    for k, (f0, f1, t0, t1) in enumerate(CELLS.values()):
        data[k, f0:f1, t0:t1] = 1.0
    doc.load_layers(list(CELLS), data, {"kind": "model"}, "two boxes", mode="add")


def test_export_annotations_writes_a_raven_table_with_the_layers_boxes(window, qtbot,
                                                                         tmp_path):
    _load_boxes(window)
    out = tmp_path / "boxes.txt"

    def ask(dialog):
        assert dialog.fmt.count() == 3  # Raven, Audacity, Sonic Visualiser
        dialog.file.edit.setText(str(out))
        dialog.show()
        _shot(dialog, "export_annotations_dialog.png")
        return dialog.values()

    window.annotations.ask = ask
    window.annotations.export_dialog()
    qtbot.waitUntil(out.exists, timeout=20000)
    qtbot.waitUntil(lambda: active_tasks() <= 1, timeout=20000)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert sorted(r["Annotation"] for r in rows) == ["drums", "voice"]
    doc = window.doc
    for r in rows:
        box = LabelBox(float(r["Begin Time (s)"]), float(r["End Time (s)"]),
                       float(r["Low Freq (Hz)"]), float(r["High Freq (Hz)"]),
                       r["Annotation"], int(r["Channel"]))
        region = box_to_region(box, doc.config, doc.samplerate, doc.n_frames)
        assert (region.f0, region.f1, region.t0, region.t1) == CELLS[r["Annotation"]]
    assert window.settings.value("annotations/format") == "raven"


def _raven(path: Path, rows: list[tuple]) -> Path:
    lines = ["Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
             "High Freq (Hz)\tAnnotation"]
    lines += [f"{k}\tSpectrogram 1\t1\t{b}\t{e}\t{lo}\t{hi}\t{label}"
              for k, (b, e, lo, hi, label) in enumerate(rows, 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_annotations_adds_a_layer_per_label_undo_redo_and_crash_recovery(
        window, qtbot, tmp_path, mixture_files):
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.ui.main_window import MainWindow

    doc = window.doc
    table = _raven(tmp_path / "calls.txt", [(0.2, 0.6, 500.0, 1500.0, "bird"),
                                           (1.0, 1.4, 3000.0, 4000.0, "frog"),
                                           (1.5, 1.8, 600.0, 900.0, "bird")])

    def ask(dialog):
        assert dialog.fmt.count() == 2  # Raven and Audacity are read
        dialog.file.edit.setText(str(table))
        dialog.show()
        _shot(dialog, "import_annotations_dialog.png")
        return dialog.values()

    window.annotations.ask = ask
    window.annotations.import_dialog()
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    assert [la.name for la in doc.layers] == ["bird", "frog"]
    expected = np.zeros((2, doc.n_bins, doc.n_frames), np.float32)
    for b in [LabelBox(0.2, 0.6, 500.0, 1500.0, "bird"), LabelBox(1.5, 1.8, 600.0, 900.0, "bird"),
              LabelBox(1.0, 1.4, 3000.0, 4000.0, "frog")]:
        r = box_to_region(b, doc.config, doc.samplerate, doc.n_frames)
        expected[0 if b.label == "bird" else 1, r.f0:r.f1, r.t0:r.t1] = 1
    got = np.stack([doc.store.dense(0), doc.store.dense(1)])
    np.testing.assert_array_equal(got, expected)
    assert doc.layers[0].provenance["kind"] == "boxes"
    window.view.render()
    _shot(window, "imported_annotations_window.png")
    assert doc.history.undo_label == "import calls.txt"
    window.edits.undo()
    assert doc.layers == []
    window.edits.redo()
    assert [la.name for la in doc.layers] == ["bird", "frog"]
    np.testing.assert_array_equal(np.stack([doc.store.dense(0), doc.store.dense(1)]), expected)
    # the program dies unsaved: the next session offers the import back from the journal
    doc.close()
    win2 = MainWindow(QtCore.QSettings(str(tmp_path / "s2.ini"),
                                       QtCore.QSettings.Format.IniFormat))
    win2.confirm_close = False
    qtbot.addWidget(win2)
    win2.projects.confirm_recovery = lambda n: True
    win2.projects.open_path(mixture_files["mixture"],
                            config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    assert [la.name for la in win2.doc.layers] == ["bird", "frog"]
    np.testing.assert_array_equal(
        np.stack([win2.doc.store.dense(0), win2.doc.store.dense(1)]), expected)


def test_a_bad_table_is_one_message_and_changes_nothing(window, qtbot, tmp_path):
    doc = window.doc
    _load_boxes(window)
    before = [la.name for la in doc.layers], doc.store.dense(0).copy()
    undo = doc.history.undo_label
    bad = tmp_path / "bad.txt"
    bad.write_text("Selection\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n"
                   "1\t0.2\tlater\t100\t200\n")
    window.annotations.import_annotations(bad, "raven")
    qtbot.waitUntil(lambda: len(_errors(window)) == 1, timeout=20000)
    text = _errors(window)[0]
    assert "line 2" in text and "later" in text and "\n" not in text
    assert [la.name for la in doc.layers] == before[0]
    np.testing.assert_array_equal(doc.store.dense(0), before[1])
    assert doc.history.undo_label == undo
    # a table for another recording: a box past the file's end
    far = _raven(tmp_path / "far.txt", [(30.0, 31.0, 100.0, 200.0, "late")])
    window.annotations.import_annotations(far, "raven")
    qtbot.waitUntil(lambda: len(_errors(window)) == 2, timeout=20000)
    assert "\n" not in _errors(window)[1]
    assert [la.name for la in doc.layers] == before[0]


def test_stereo_layers_give_raven_boxes_per_channel_and_back(window, qtbot, tmp_path):
    import soundfile as sf

    from maskstudio.dsp.stft import STFTConfig
    from tests.conftest import SR, clicks, harmonic

    n = SR * 2
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.stack([harmonic(n), clicks(n)], axis=1), SR, subtype="FLOAT")
    window.projects.open_path(stereo, config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    doc = window.doc
    assert doc.store.lead == (2,)
    data = np.zeros((1, 2, doc.n_bins, doc.n_frames), np.float32)
    data[0, 0, 20:40, 30:80] = 1  # left only
    data[0, 1, 100:150, 120:200] = 1  # right only
    doc.load_layers(["call"], data, {"kind": "model"}, "per channel", mode="add")
    out = tmp_path / "stereo.txt"
    window.annotations.export_annotations(out, "raven")
    qtbot.waitUntil(lambda: out.exists() and active_tasks() <= 1, timeout=20000)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    got = {}
    for r in rows:
        box = LabelBox(float(r["Begin Time (s)"]), float(r["End Time (s)"]),
                       float(r["Low Freq (Hz)"]), float(r["High Freq (Hz)"]), "call",
                       int(r["Channel"]))
        reg = box_to_region(box, doc.config, doc.samplerate, doc.n_frames)
        got[box.channel] = (reg.f0, reg.f1, reg.t0, reg.t1)
    assert got == {1: (20, 40, 30, 80), 2: (100, 150, 120, 200)}
    # read back (the layer it came from taken away first): a layer per channel, as it was
    window.edits.undo()
    assert doc.layers == []
    window.annotations.import_annotations(out, "raven")
    qtbot.waitUntil(lambda: len(doc.layers) == 1, timeout=20000)
    np.testing.assert_array_equal(doc.store.dense(0), data[0])
