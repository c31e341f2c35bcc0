"""Dataset mode on a MUSDB18-HQ tree: an item opens with the stems beside its mixture."""

from maskstudio.annotation.dataset import Dataset
from maskstudio.dsp.stft import STFTConfig

from ..annotation.test_layouts import STEMS, make_musdb
from .test_dataset_ui import _wait_item, open_window  # noqa: F401 (a fixture)

CFG = STFTConfig(n_fft=1024, hop_length=256)


def test_the_window_opens_an_item_of_a_musdb18hq_tree(open_window, qtbot, tmp_path):  # noqa: F811
    root = make_musdb(tmp_path / "musdb18hq", tracks=(("train", "A - One"), ("test", "B - Two")),
                      seconds=1.0)
    Dataset.open(root).set_config(CFG)
    win = open_window()
    win.datasets.open_dataset(root, wait=True)
    _wait_item(qtbot, win, "A - One")
    assert win.doc.clip.path == root / "train" / "A - One" / "mixture.wav"
    assert sorted(win.doc.references) == sorted(STEMS)
    assert win.doc.config == CFG
    assert [win.datasets.panel.items.topLevelItem(i).text(0)
            for i in range(win.datasets.panel.items.topLevelItemCount())] == ["A - One",
                                                                              "B - Two"]
    assert sorted(p.name for p in (root / "train" / "A - One").iterdir()) == [
        "bass.wav", "drums.wav", "mixture.wav", "other.wav", "vocals.wav"]  # nothing written
