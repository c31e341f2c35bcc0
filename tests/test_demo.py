import numpy as np
import soundfile as sf

from maskstudio import demo


def _read(path):
    return sf.read(str(path), dtype="float64", always_2d=True)[0]


def test_committed_demo_is_what_the_script_makes_and_sums_exactly(tmp_path):
    made = demo.make_demo(tmp_path).parent
    for rel in ("mixture.flac", "sources/voice.flac", "sources/drums.flac"):
        np.testing.assert_array_equal(_read(made / rel), _read(demo.REPO_RESOURCES / rel))
    total = _read(made / "sources/voice.flac") + _read(made / "sources/drums.flac")
    np.testing.assert_array_equal(_read(made / "mixture.flac"), total)


def test_an_install_without_resources_generates_the_demo_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "REPO_RESOURCES", tmp_path / "not-there")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = demo.demo_folder()
    assert folder == tmp_path / "cache" / "maskstudio" / "demo"
    assert sorted(demo.demo_stems()) == ["drums", "voice"]
    assert sf.info(str(folder / "mixture.flac")).samplerate == demo.SAMPLERATE
