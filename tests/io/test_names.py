"""Names that become paths: one rule for every source of names, and nothing lands outside --out.

Every source of names is attacked: the names inside a mask file (through the real
``maskstudio separate``), a manifest's item and source names (CSV and JSON, through the real
``maskstudio batch``), folder names of a scanned dataset, layer names (the document API),
dataset item names on their way to a project path, and a separator's mask names.  Then
arbitrary text: either refused with one of the project's errors, or every file lands inside
the output folder and nothing outside changes.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstudio.annotation.dataset import Dataset, Item
from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError, ParameterError
from maskstudio.io.audiofile import AudioClip
from maskstudio.io.export import check_source_name, write_outputs
from maskstudio.io.names import MAX_BYTES, check_inside, safe_file_name

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=64, hop_length=16)
HOSTILE = ["", " ", ".", "..", "...", "a/b", "../x", "../../x/song", "..\\x", "a\\b", "/abs",
           "/tmp/evil", "C:evil", "C:\\evil", "x\x00y", "x\ny", "tab\there", "\x7f", "con",
           "CON.wav", "Lpt1", "com9.txt", "nul .txt", "conin$", "a.", "a ", " a", ".hidden",
           "x" * 121, "\u00e9" * (MAX_BYTES // 2 + 1), "\ud800", "a|b", "a?b", "a*b", 'a"b',
           "line\u2028sep"]
GOOD = ["voice", "Artist - Title (Live)", "voix \u00e9lev\u00e9e", "\u30c9\u30e9\u30e0",
        "a.b", "source1", "Beatles_-_Let It Be [2009 remaster]", "x" * 120, "bass+drums",
        "100% (final)", "it's"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "maskstudio", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def snapshot(root: Path, skip: Path | None = None) -> dict:
    """Every file under root (outside ``skip``): its size and bytes' hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath).resolve().is_relative_to(skip.resolve()):
            continue
        for f in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath, f)
            out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() else "link"
    return out


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_is_refused_with_one_line_naming_it(name):
    with pytest.raises(ParameterError) as err:
        safe_file_name(name, what="the mask file 'm.npz' names a source")
    msg = str(err.value)
    assert msg.startswith("the mask file 'm.npz' names a source ") and "rename it" in msg
    assert "\n" not in msg and "\x00" not in msg and len(msg) < 300
    with pytest.raises(ParameterError):
        check_source_name(name)


@pytest.mark.parametrize("name", GOOD)
def test_portable_names_are_kept_as_they_are(name):
    assert safe_file_name(name) == name and check_source_name(name) == name


@pytest.mark.parametrize("name", ["residual", "Residual", "MIXTURE", "masks"])
def test_maskstudios_own_output_names_are_reserved(name):
    with pytest.raises(ParameterError, match="reserved"):
        check_source_name(name, what="the layer name")


def test_non_text_names_are_refused():
    for name in (None, 5, b"voice", ["a"]):
        with pytest.raises(ParameterError, match="not text"):
            safe_file_name(name)


# -- the real command line ------------------------------------------------------------------
@pytest.fixture
def planted(tmp_path):
    """A mixture, an unrelated WAV outside the output folder, and the output folder."""
    n = SR // 4
    mix = tmp_path / "work" / "mix.wav"
    mix.parent.mkdir()
    sf.write(str(mix), harmonic(n) + clicks(n), SR, subtype="FLOAT")
    victim = tmp_path / "x" / "song.wav"
    victim.parent.mkdir()
    sf.write(str(victim), np.full(100, 0.25, np.float32), SR)
    return {"mix": mix, "victim": victim, "out": tmp_path / "work" / "a" / "b" / "out",
            "root": tmp_path, "frames": CFG.n_frames(n)}


@pytest.mark.parametrize("bad", ["../../../x/song", "..", "/abs/song", "a/../../../x/song"])
def test_names_inside_a_mask_file_never_reach_outside_out(planted, bad):
    if bad.startswith("/"):
        bad = str(planted["victim"].with_suffix(""))  # absolute: aims at the victim itself
    masks = planted["root"] / "work" / "m.npz"
    np.savez(masks, masks=np.full((2, CFG.n_bins, planted["frames"]), 0.5, np.float32),
             names=np.array(["ok", bad]), n_fft=CFG.n_fft, hop_length=CFG.hop_length,
             samplerate=SR)
    before = snapshot(planted["root"])
    proc = run_cli("separate", planted["mix"], "--masks", masks, "--out", planted["out"])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "the mask file 'm.npz' names a source" in proc.stderr and repr(bad) in proc.stderr
    assert snapshot(planted["root"]) == before  # the victim untouched, nothing new anywhere


def _dataset(root: Path, n_items=1) -> Path:
    n = SR // 4
    for i in range(n_items):
        d = root / f"song{i}"
        (d / "sources").mkdir(parents=True)
        sf.write(str(d / "mixture.wav"), harmonic(n) + clicks(n), SR, subtype="FLOAT")
        sf.write(str(d / "sources" / "voice.wav"), harmonic(n), SR, subtype="FLOAT")
        sf.write(str(d / "sources" / "drums.wav"), clicks(n), SR, subtype="FLOAT")
    return root


@pytest.mark.parametrize("kind", ["csv item", "csv source", "json item", "json source",
                                  "json absolute", "derived .."])
def test_manifest_names_never_reach_outside_out(tmp_path, kind):
    _dataset(tmp_path / "ds")
    victim = tmp_path / "x" / "song.wav"
    victim.parent.mkdir()
    sf.write(str(victim), np.zeros(10, np.float32), SR)
    mix, voice = "ds/song0/mixture.wav", "ds/song0/sources/voice.wav"
    bad = "../../x/song"
    manifest = tmp_path / ("list.csv" if kind.startswith("csv") else "list.json")
    if kind == "csv item":
        manifest.write_text(f"name,mixture,source:voice\n{bad},{mix},{voice}\n")
    elif kind == "csv source":
        manifest.write_text(f"name,mixture,source:{bad}\nok,{mix},{voice}\n")
    elif kind == "json item":
        manifest.write_text(json.dumps([{"name": bad, "mixture": mix}]))
    elif kind == "json source":
        manifest.write_text(json.dumps([{"name": "ok", "mixture": mix,
                                         "sources": {bad: voice}}]))
    elif kind == "json absolute":
        manifest.write_text(json.dumps([{"name": str(victim.with_suffix("")),
                                         "mixture": mix}]))
    else:  # no name: it is derived from the mixture's folder, here '..'
        manifest = tmp_path / "ds" / "song0" / "sub" / "list.json"
        manifest.parent.mkdir()
        manifest.write_text(json.dumps([{"mixture": "../mixture.wav"},
                                        {"mixture": "../../song0/mixture.wav"}]))
    before = snapshot(tmp_path)
    out = tmp_path / "a" / "out"
    proc = run_cli("batch", manifest, "--separator", "hpss", "--n-fft", "256", "--jobs", "1",
                   "--out", out)
    if kind == "derived ..":  # '..' is not a name: the file's stem is, and it is unique
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in out.iterdir()) == ["mixture", "song0"]
        return
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and manifest.name in proc.stderr, proc.stderr
    assert snapshot(tmp_path) == before and not out.exists()


def test_scanned_folder_and_stem_names_are_checked(tmp_path):
    ds = _dataset(tmp_path / "ds")
    (ds / "song0" / "sources" / "con.wav").write_bytes(
        (ds / "song0" / "sources" / "voice.wav").read_bytes())
    with pytest.raises(MaskStudioError, match="'con'.*Windows reserves"):
        Dataset.open(ds)
    (ds / "song0" / "sources" / "con.wav").unlink()
    (ds / "song0" / "sources" / "._voice.wav").write_bytes(b"macOS resource fork")
    (ds / ".git").mkdir()  # hidden folders and files are not items or stems
    assert list(Dataset.open(ds).items[0].sources) == ["drums", "voice"]
    (ds / "song0").rename(ds / "song0?")
    with pytest.raises(MaskStudioError, match=r"item folder 'song0\?'"):
        Dataset.open(ds)


def test_dataset_item_names_never_make_a_project_path_outside(tmp_path):
    ds = Dataset(tmp_path / "ds", [Item("ok", tmp_path / "m.wav")])
    assert ds.project_path(ds.items[0]) == tmp_path / "ds.maskstudio" / "items" / "ok.msproj"
    for bad in ("../../evil", "..", "/etc/evil", "a/b", "nul"):
        with pytest.raises(ParameterError, match="item name"):
            ds.project_path(Item(bad, tmp_path / "m.wav"))


def test_layer_names_are_checked_on_add_rename_and_load(tmp_path):
    clip = AudioClip(np.zeros((1, SR // 4), np.float32), SR, tmp_path / "m.wav")
    doc = Document(clip, CFG)
    for bad in ("../x", "/etc/x", "..", "aux", "a\x00b"):
        with pytest.raises(ParameterError, match="layer name"):
            doc.add_layer(bad)
    k = doc.add_layer("Lead Vocal (take 2)")  # the portable rule, not ASCII only
    for bad in ("../x", "x/y", "residual"):
        with pytest.raises(ParameterError):
            doc.set_layer(k, name=bad)
    assert [la.name for la in doc.layers] == ["Lead Vocal (take 2)"]
    m = tmp_path / "model.npz"
    np.savez(m, masks=np.zeros((1, CFG.n_bins, doc.n_frames), np.float32),
             names=np.array(["../../escape"]), n_fft=CFG.n_fft, hop_length=CFG.hop_length,
             samplerate=SR)
    with pytest.raises(MaskStudioError, match="escape"):
        doc.load_model_masks(m)
    data = np.zeros((2, CFG.n_bins, doc.n_frames), np.float32)
    with pytest.raises(ParameterError, match="layer name '../x'"):
        doc.add_layers(["ok", "../x"], data, {"kind": "model"}, "load")
    assert [la.name for la in doc.layers] == ["Lead Vocal (take 2)"]  # nothing half-added


def test_an_export_through_a_symlinked_item_folder_is_refused(tmp_path):
    from maskstudio.annotation.batch import run_batch

    ds = Dataset.open(_dataset(tmp_path / "ds"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "song0").symlink_to(elsewhere, target_is_directory=True)
    res = run_batch(ds, out, mode=("mask", "ibm"), config=STFTConfig(n_fft=256))
    assert "outside the output folder" in res["failed"]["song0"]
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(ParameterError, match="outside"):
        check_inside(out, out / "song0" / "x.wav")


def test_a_symlinked_output_folder_is_where_the_files_go(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    clip = AudioClip(np.zeros((1, SR // 8), np.float32), SR)
    masks = MaskSet(["a"], np.full((1, CFG.n_bins, CFG.n_frames(SR // 8)), 0.5, np.float32))
    sig = np.zeros((2, 1, SR // 8), np.float32)
    write_outputs(tmp_path / "link", clip, masks, sig, CFG)
    assert sorted(p.name for p in real.iterdir()) == ["a.wav", "masks.npz", "residual.wav"]


# -- arbitrary names ------------------------------------------------------------------------
_fragments = st.sampled_from(["..", ".", "/", "\\", "x", "con", " ", "\x00", "C:", "\u00e9",
                              "~", "$HOME", "%s", "residual", "\n", "a" * 60, "\u202e", "*"])
NAMES = st.one_of(st.text(max_size=140), st.lists(_fragments, max_size=6).map("".join))
_N = SR // 16
_CLIP_SAMPLES = np.zeros((1, _N), np.float32)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(NAMES, min_size=1, max_size=3))
def test_arbitrary_names_are_refused_or_land_inside_out(names):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        victim = root / "song.wav"
        sf.write(str(victim), np.full(16, 0.5, np.float32), SR)
        out = root / "a" / "out"
        out.mkdir(parents=True)
        before = snapshot(root, skip=out)
        clip = AudioClip(_CLIP_SAMPLES, SR, root / "mix.wav")
        masks_data = np.full((len(names), CFG.n_bins, CFG.n_frames(_N)), 0.1, np.float32)
        try:
            masks = MaskSet(names, masks_data)
            written = write_outputs(out, clip, masks, np.zeros((len(names) + 1, 1, _N),
                                                               np.float32), CFG)
        except MaskStudioError:
            written = []
        assert snapshot(root, skip=out) == before
        real = out.resolve()
        for p in written:
            assert p.resolve().parent == real and p.is_file()
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)


def test_a_separators_mask_names_are_checked_before_they_become_files(tmp_path, monkeypatch):
    from maskstudio.annotation import batch

    ds = Dataset.open(_dataset(tmp_path / "ds"))

    def plugin(name, Y, **kw):  # a plugin naming its masks as it likes
        return ["ok", "../../../escape"], np.full((2,) + Y.shape[-2:], 0.5, np.float32)
    monkeypatch.setattr(batch, "run_separator", plugin)
    before = snapshot(tmp_path)
    res = batch.run_batch(ds, tmp_path / "out", mode=("separator", "mine"),
                          config=STFTConfig(n_fft=256))
    assert "the separator 'mine' names a mask '../../../escape'" in res["failed"]["song0"]
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before
