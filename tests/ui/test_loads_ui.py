"""Loads in the window: they ask how to meet the layers, never sum past one, undo in one step;
every .npy loads on the view's grid; a file on another grid offers to switch; a file opens
on the grid for its sample rate."""

import numpy as np
import pytest
import soundfile as sf
from pyqtgraph.Qt import QtWidgets

from maskstudio.annotation.dataset import Dataset
from maskstudio.dsp.stft import STFTConfig
from maskstudio.ui import load_dialogs
from maskstudio.ui.workers import active_tasks

from ..annotation.test_dataset_batch import make_dataset
from ..conftest import SR

TOL = 1e-6


@pytest.fixture
def answer(monkeypatch):
    """Answer the load dialog as a user would: see its default, click a mode (None: Cancel)."""
    seen = []

    def answer(mode):
        def exec_(dialog):
            seen.append(dialog.mode())  # the default the user sees
            if mode is None:
                return QtWidgets.QDialog.DialogCode.Rejected
            dialog.buttons[mode].click()
            return QtWidgets.QDialog.DialogCode.Accepted
        monkeypatch.setattr(load_dialogs.LoadModeDialog, "exec", exec_)
    answer.seen = seen
    return answer


def _sum(doc):
    return sum((doc.store.dense(i) for i in range(len(doc.layers))),
               np.zeros((doc.n_bins, doc.n_frames), np.float32))


def _state(doc):
    return ([(la.name, la.uid, dict(la.provenance)) for la in doc.layers],
            [doc.store.dense(i).copy() for i in range(len(doc.layers))])


def _same(doc, state):
    got = _state(doc)
    return got[0] == state[0] and all(np.array_equal(a, b) for a, b in zip(got[1], state[1]))


def _oracle(window, qtbot, files, kind="wiener"):
    steps = len(window.doc.history)
    window.mask_sources.compute_oracle(kind, {"voice": files["voice"], "drums": files["drums"]})
    qtbot.waitUntil(lambda: active_tasks() <= 1 and (len(window.doc.history) > steps or
                    "not loaded" in window.statusBar().currentMessage()), timeout=10000)


@pytest.mark.parametrize("mode", ["replace", "add", "fill"])
def test_a_second_oracle_never_sums_past_one_and_one_ctrl_z_undoes_it(
        window, qtbot, mixture_files, answer, mode):
    answer(mode)
    _oracle(window, qtbot, mixture_files, "ibm")
    assert answer.seen == []  # nothing to meet yet: no question
    doc = window.doc
    first = _state(doc)
    _oracle(window, qtbot, mixture_files, "wiener")
    assert answer.seen == ["replace"]  # names collide: replace is offered first
    assert _sum(doc).max() <= 1 + TOL
    names = [la.name for la in doc.layers]
    message = window.statusBar().currentMessage()
    if mode == "replace":
        assert names == ["voice", "drums"] and "replaced voice, drums" in message
        assert doc.layers[0].provenance["mask"] == "wiener"
    else:
        assert names == ["voice", "drums", "voice2", "drums2"] and "added voice2, drums2" in message
    if mode == "fill":
        assert "from the residual" in message
    assert window.active.index == (0 if mode == "replace" else 2)  # the first loaded layer
    window.edits.undo()  # one step
    assert _same(doc, first)
    window.edits.redo()
    assert _sum(doc).max() <= 1 + TOL


def test_cancelling_the_question_loads_nothing(window, qtbot, mixture_files, answer):
    answer("add")
    _oracle(window, qtbot, mixture_files)
    before, steps = _state(window.doc), len(window.doc.history)
    answer(None)
    _oracle(window, qtbot, mixture_files)
    assert _same(window.doc, before) and len(window.doc.history) == steps
    assert "not loaded" in window.statusBar().currentMessage()


def test_the_dialog_offers_add_when_no_name_collides_and_explains_each_mode(qtbot):
    dialog = load_dialogs.LoadModeDialog(names=["bass"], layers=["voice"], default="add")
    qtbot.addWidget(dialog)
    assert dialog.mode() == "add"
    assert "residual" in dialog.buttons["fill"].text()
    dialog.buttons["replace"].click()
    assert dialog.mode() == "replace"


def test_model_masks_loaded_twice_replace_by_default(window, answer, tmp_path):
    doc = window.doc
    m = np.random.default_rng(0).random((2, doc.n_bins, doc.n_frames)).astype(np.float32)
    m /= m.sum(axis=0) * 1.25  # each bin sums to 0.8
    np.savez(tmp_path / "model.npz", masks=m, names=np.array(["voice", "drums"]), n_fft=512,
             hop_length=128, samplerate=SR)
    window.edits.new_layer()  # a painted layer: the first load already meets something
    answer("add")
    assert window.mask_sources.load_masks(tmp_path / "model.npz") == [1, 2]
    answer.seen.clear()
    steps = len(doc.history)
    answer("replace")
    assert window.mask_sources.load_masks(tmp_path / "model.npz") == [1, 2]
    assert answer.seen == ["replace"] and len(doc.history) == steps + 1
    assert [la.name for la in doc.layers] == ["source1", "voice", "drums"]
    np.testing.assert_allclose(doc.store.dense(1), m[0], atol=1e-7)
    assert _sum(doc).max() <= 1 + TOL


def test_a_bare_npy_loads_on_the_view_s_grid(window, answer, tmp_path, qtbot):
    doc = window.doc
    m = np.full((doc.n_bins, doc.n_frames), 0.4, np.float32)
    np.save(tmp_path / "voice.npy", m)
    assert window.mask_sources.load_masks(tmp_path / "voice.npy") == [0]
    assert doc.layers[0].name == "voice"
    np.testing.assert_array_equal(doc.store.dense(0), m)
    np.save(tmp_path / "upside.npy", m.T)
    assert window.mask_sources.load_masks(tmp_path / "upside.npy") is None
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "errorDialog") is not None)
    assert "transpose" in window.findChild(QtWidgets.QMessageBox, "errorDialog").text()
    assert len(doc.layers) == 1


@pytest.mark.parametrize("switch", [True, False])
def test_an_npz_on_another_grid_offers_to_switch_the_grid_and_load(window, tmp_path, switch):
    doc = window.doc
    other = STFTConfig(n_fft=1024, hop_length=256)
    m = np.full((1, other.n_bins, other.n_frames(doc.clip.n_samples)), 0.5, np.float32)
    np.savez(tmp_path / "big.npz", masks=m, names=np.array(["model"]), n_fft=1024,
             hop_length=256, samplerate=SR)
    asked = []

    def confirm(message, config):
        asked.append((message, config))
        return switch
    window.mask_sources.confirm_switch_grid = confirm
    got = window.mask_sources.load_masks(tmp_path / "big.npz")
    assert len(asked) == 1 and asked[0][1] == other and "n_fft=1024" in asked[0][0]
    if switch:
        assert got == [0] and doc.config == other
        np.testing.assert_array_equal(doc.store.dense(0), m[0])
    else:
        assert got is None and doc.config == STFTConfig(n_fft=512, hop_length=128)
        assert doc.layers == []


def test_a_file_opens_on_the_grid_for_its_rate(window, tmp_path, mixture_files):
    window.projects.open_path(mixture_files["mixture"], wait=True)  # 16 kHz
    assert window.doc.config == STFTConfig(n_fft=1024, hop_length=256)
    path = tmp_path / "cd.wav"
    sf.write(str(path), np.zeros(44100 // 2, np.float32), 44100)
    window.projects.open_path(path, wait=True)
    assert window.doc.config == STFTConfig(n_fft=2048, hop_length=512)


def test_a_new_dataset_takes_the_grid_of_its_first_item_s_rate(window, tmp_path, qtbot):
    root = make_dataset(tmp_path / "songs", n_items=2, seconds=1.0)
    assert Dataset.open(root).config is None
    window.datasets.open_dataset(root, wait=True)
    qtbot.waitUntil(lambda: window.datasets.item_index is not None and active_tasks() <= 1,
                    timeout=10000)
    assert window.doc.config == STFTConfig(n_fft=1024, hop_length=256)  # 16 kHz items
    assert Dataset.open(root).config == STFTConfig(n_fft=1024, hop_length=256)
