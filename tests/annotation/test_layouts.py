"""Datasets as they are distributed (MUSDB18-HQ, MUSDB18, LibriMix / WHAM!, LibriMix's metadata
CSVs), processed by ``maskstudio batch`` and read back by the real musdb and museval."""

import json
import math
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.batch import export_dataset
from maskstudio.annotation.dataset import Dataset
from maskstudio.annotation.layouts import LIBRIMIX, MUSDB_HQ, describe_dataset
from maskstudio.annotation.project import save_project
from maskstudio.cli import main
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio

from ..conftest import clicks, harmonic, noise

MUS_SR = 44100  # musdb assumes MUSDB's rate
STEMS = ("vocals", "drums", "bass", "other")


def _stereo(x, pan=0.3):
    return np.stack([x * (1 - pan), x * (1 + pan)], axis=1).astype(np.float32)


def make_musdb(root, tracks=(("train", "A - One"), ("train", "B - Two"), ("test", "C - Three")),
               seconds=3.0):
    """A MUSDB18-HQ tree: ``<root>/<subset>/<track>/{mixture,vocals,drums,bass,other}.wav``."""
    n = int(MUS_SR * seconds)
    for i, (subset, name) in enumerate(tracks):
        folder = root / subset / name
        folder.mkdir(parents=True)
        t = np.arange(n) / MUS_SR
        stems = {"vocals": harmonic(n, sr=MUS_SR, f0=220 + 40 * i, seed=i),
                 "drums": clicks(n, sr=MUS_SR, seed=i),
                 "bass": 0.3 * np.sin(2 * np.pi * (55 + 5 * i) * t),
                 "other": noise(n, seed=10 + i, level=0.05)}
        for k, (s, x) in enumerate(stems.items()):
            sf.write(str(folder / f"{s}.wav"), _stereo(x, pan=0.1 * k), MUS_SR,
                     subtype="FLOAT")
        mix = sum(_stereo(x, pan=0.1 * k) for k, x in enumerate(stems.values()))
        sf.write(str(folder / "mixture.wav"), mix, MUS_SR, subtype="FLOAT")
    return root


def make_librimix(root, splits=("train-360", "test"), types=("mix_clean", "mix_both"),
                  ids=("19-198-0001_26-495-0002", "27-123-0003_32-21-0004"), sr=8000):
    """``<root>/<split>/{mix_clean,mix_both,s1,s2,noise}/<id>.wav`` as LibriMix writes it."""
    n = sr
    for split in splits:
        for i, ident in enumerate(ids):
            s1 = harmonic(n, sr=sr, f0=150 + 20 * i, seed=i)
            s2 = harmonic(n, sr=sr, f0=310 + 20 * i, n_harm=6, seed=i + 5)
            nz = noise(n, seed=i, level=0.02)
            files = {"s1": s1, "s2": s2, "noise": nz, "mix_clean": s1 + s2,
                     "mix_both": s1 + s2 + nz, "mix_single": s1 + nz}
            for folder in ("s1", "s2", "noise", *types):
                (root / split / folder).mkdir(parents=True, exist_ok=True)
                sf.write(str(root / split / folder / f"{ident}.wav"), files[folder], sr,
                         subtype="FLOAT")
    return root


def _musdb():
    try:
        import musdb
        import museval
    except (ImportError, RuntimeError) as exc:  # stempeg refuses to load without ffmpeg
        if os.environ.get("CI"):  # CI installs both and ffmpeg (.ci/run): test them for real
            pytest.fail(f"musdb/museval must be importable in CI: {exc}")
        pytest.skip(f"musdb/museval cannot be imported here ({exc}): pip install -e "
                    f"'.[reference]' and install ffmpeg")
    return musdb, museval


# -- recognising the layouts -------------------------------------------------------------------
def test_a_musdb18hq_tree_its_subsets_and_a_subset_given_directly(tmp_path, capsys):
    root = make_musdb(tmp_path / "musdb18hq")
    sf.write(str(root / "test" / "C - Three" / "accompaniment.wav"), np.zeros((10, 2)), MUS_SR)
    ds = Dataset.open(root)
    assert ds.layout == MUSDB_HQ
    assert [(it.name, it.subset, it.folder) for it in ds.items] == [
        ("A - One", "train", ("train", "A - One")), ("B - Two", "train", ("train", "B - Two")),
        ("C - Three", "test", ("test", "C - Three"))]
    assert all(sorted(it.sources) == sorted(STEMS) for it in ds.items)  # accompaniment is a sum
    assert ds.items[0].mixture == root / "train" / "A - One" / "mixture.wav"
    train = Dataset.open(root / "train")
    assert [(it.name, it.folder) for it in train.items] == [
        ("A - One", ("train", "A - One")), ("B - Two", ("train", "B - Two"))]
    assert main(["info", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "MUSDB18-HQ" in shown and "train 2, test 1" in shown and "items       3" in shown
    assert "bass 3, drums 3, other 3, vocals 3" in shown


def test_tracks_named_alike_in_two_subsets_stay_two_items(tmp_path):
    root = make_musdb(tmp_path / "m", tracks=(("train", "Same"), ("test", "Same")),
                      seconds=0.2)
    assert [it.name for it in Dataset.open(root).items] == ["Same (train)", "Same (test)"]


def test_librimix_folders_each_mixture_type_with_its_own_sources(tmp_path):
    root = make_librimix(tmp_path / "Libri2Mix" / "wav8k" / "min",
                         types=("mix_clean", "mix_both", "mix_single"))
    ds = Dataset.open(root)
    assert ds.layout == LIBRIMIX and len(ds.items) == 2 * 3 * 2
    by_folder = {it.folder: it for it in ds.items}
    ident = "19-198-0001_26-495-0002"
    assert sorted(by_folder["test", "mix_clean", ident].sources) == ["s1", "s2"]
    assert sorted(by_folder["test", "mix_both", ident].sources) == ["noise", "s1", "s2"]
    assert sorted(by_folder["test", "mix_single", ident].sources) == ["noise", "s1"]
    assert by_folder["test", "mix_both", ident].sources["s2"] == root / "test" / "s2" / \
        f"{ident}.wav"
    assert len({it.name for it in ds.items}) == len(ds.items)  # unique, and safe
    # a split given directly, and one mixture type chosen by giving its folder
    split = Dataset.open(root / "test")
    assert len(split.items) == 6 and split.items[0].folder[0] == "test"
    one = Dataset.open(root / "test" / "mix_clean")
    assert [it.name for it in one.items] == [ident, "27-123-0003_32-21-0004"]
    assert "LibriMix" in describe_dataset(ds) and "train-360/mix_both 2" in describe_dataset(ds)


def test_bad_trees_say_what_is_wrong_in_one_line(tmp_path, monkeypatch):
    root = make_librimix(tmp_path / "lm", splits=("dev",), types=("mix_both",))
    (root / "dev" / "noise" / "19-198-0001_26-495-0002.wav").unlink()
    with pytest.raises(MaskStudioError, match=r"no noise/19-198-0001_26-495-0002.wav") as e:
        Dataset.open(root)
    assert "\n" not in str(e.value)
    empty = tmp_path / "musdb" / "train" / "song"
    empty.mkdir(parents=True)
    sf.write(str(empty / "vocals.wav"), np.zeros(100), 8000)  # stems, but no mixture
    with pytest.raises(MaskStudioError, match="holds no items: .*MUSDB18"):
        Dataset.open(tmp_path / "musdb")
    stems = tmp_path / "musdb18" / "test"
    stems.mkdir(parents=True)
    (stems / "Artist - Title.stem.mp4").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # no ffmpeg on this PATH
    with pytest.raises(MaskStudioError, match="need ffmpeg and ffprobe to decode: install "
                                              "ffmpeg") as e:
        Dataset.open(tmp_path / "musdb18")
    assert "\n" not in str(e.value)
    (tmp_path / "meta.csv").write_text("mixture_ID,mixture_path,length\na,a.wav,10\n")
    with pytest.raises(MaskStudioError, match="needs the columns .*source_1_path"):
        Dataset.open(tmp_path / "meta.csv")


# -- MUSDB18-HQ end to end: batch, then the real musdb and museval ----------------------------
def test_a_musdb18hq_tree_batched_is_read_by_musdb_and_scored_by_museval(tmp_path):
    musdb, museval = _musdb()
    ref = make_musdb(tmp_path / "musdb18hq", tracks=(("train", "A - One"), ("test", "C - Three")),
                     seconds=2.0)
    out = tmp_path / "separated"
    assert main(["batch", str(ref), "--mask", "wiener", "--n-fft", "2048", "--jobs", "1",
                 "--out", str(out)]) == 0
    track = out / "train" / "A - One"
    assert {p.name for p in track.iterdir()} >= {"mixture.wav", "vocals.wav", "drums.wav",
                                                 "bass.wav", "other.wav", "accompaniment.wav",
                                                 "residual.wav", "masks.npz", ".done"}
    # accompaniment: every estimate but the vocals, which museval scores against the sum
    parts = sum(load_audio(track / f"{s}.wav").samples for s in ("drums", "bass", "other",
                                                                 "residual"))
    np.testing.assert_allclose(load_audio(track / "accompaniment.wav").samples, parts,
                               atol=1e-5)
    db = musdb.DB(root=str(out), is_wav=True, subsets=["train", "test"])
    assert [(t.subset, t.name) for t in db.tracks] == [("train", "A - One"),
                                                       ("test", "C - Three")]
    assert db.tracks[0].targets["vocals"].audio.shape == (2 * MUS_SR, 2)
    scores = tmp_path / "scores"
    museval.eval_mus_dir(dataset=musdb.DB(root=str(ref), is_wav=True), estimates_dir=str(out),
                         output_dir=str(scores))
    files = sorted(scores.rglob("*.json"))
    assert [(f.parent.name, f.stem) for f in files] == [("test", "C - Three"),
                                                        ("train", "A - One")]
    data = json.loads(files[1].read_text())
    targets = {t["name"]: t for t in data["targets"]}
    assert set(targets) == {"vocals", "drums", "bass", "other", "accompaniment"}
    sdr = [f["metrics"]["SDR"] for f in targets["vocals"]["frames"]]
    assert len(sdr) == 2 and all(math.isfinite(v) for v in sdr) and np.median(sdr) > 10
    # a second run skips what is done, found at its place in the tree
    assert main(["batch", str(ref), "--mask", "wiener", "--n-fft", "2048", "--jobs", "1",
                 "--out", str(out)]) == 0


def test_a_vocals_mask_alone_leaves_the_accompaniment_as_its_residual(tmp_path):
    ref = make_musdb(tmp_path / "m", tracks=(("test", "T"),), seconds=0.5)
    for s in ("drums", "bass", "other"):
        (ref / "test" / "T" / f"{s}.wav").unlink()
    out = tmp_path / "out"
    assert main(["batch", str(ref / "test"), "--mask", "wiener", "--jobs", "1",
                 "--out", str(out)]) == 0
    names = {p.name for p in (out / "test" / "T").iterdir()}
    assert "accompaniment.wav" in names and "residual.wav" not in names


def test_the_dataset_export_has_the_subset_level_and_the_mixture(tmp_path):
    musdb, _ = _musdb()
    root = make_musdb(tmp_path / "m", tracks=(("test", "X - Y"),), seconds=1.0)
    ds = Dataset.open(root)
    item = ds.items[0]
    doc = Document(load_audio(item.mixture), STFTConfig(n_fft=1024, hop_length=256))
    doc.add_layer("vocals", label="vocals", record=False)
    save_project(doc, ds.project_path(item))
    out = tmp_path / "export"
    assert export_dataset(ds, out)["written"] == ["X - Y"]
    folder = out / "test" / "X - Y"
    assert {"mixture.wav", "vocals.wav", "metadata.json"} <= {p.name for p in folder.iterdir()}
    assert [t.name for t in musdb.DB(root=str(out), is_wav=True, subsets="test").tracks] == \
        ["X - Y"]


# -- LibriMix end to end ----------------------------------------------------------------------
def test_a_librimix_tree_batched_keeps_split_type_and_id(tmp_path):
    root = make_librimix(tmp_path / "min", splits=("test",))
    out = tmp_path / "out"
    assert main(["batch", str(root), "--mask", "wiener", "--n-fft", "256", "--jobs", "1",
                 "--out", str(out)]) == 0
    ident = "19-198-0001_26-495-0002"
    clean, both = out / "test" / "mix_clean" / ident, out / "test" / "mix_both" / ident
    assert {p.name for p in clean.iterdir()} >= {"s1.wav", "s2.wav", "residual.wav",
                                                 "metrics.json", ".done"}
    assert {"s1.wav", "s2.wav", "noise.wav"} <= {p.name for p in both.iterdir()}
    total = sum(load_audio(both / f"{s}.wav").samples for s in ("s1", "s2", "noise",
                                                                "residual"))
    np.testing.assert_allclose(total, load_audio(root / "test" / "mix_both" / f"{ident}.wav")
                               .samples, atol=1e-4)
    assert json.loads((clean / "metrics.json").read_text())["s1"]["si_sdr"] > 3


def test_a_librimix_metadata_csv_absolute_and_relative_paths(tmp_path):
    root = make_librimix(tmp_path / "Libri2Mix" / "wav8k" / "min", splits=("dev",),
                         types=("mix_both",))
    meta = root / "metadata"
    meta.mkdir()
    ids = ["19-198-0001_26-495-0002", "27-123-0003_32-21-0004"]
    header = "mixture_ID,mixture_path,source_1_path,source_2_path,noise_path,length\n"
    rows = [f"{i},{root}/dev/mix_both/{i}.wav,{root}/dev/s1/{i}.wav,{root}/dev/s2/{i}.wav,"
            f"{root}/dev/noise/{i}.wav,8000\n" for i in ids]
    (meta / "mixture_dev_mix_both.csv").write_text(header + "".join(rows))
    relative = [r.replace(f"{root}/", "") for r in rows]
    (meta / "mixture_dev_mix_both_relative.csv").write_text(header + "".join(relative))
    for name in ("mixture_dev_mix_both.csv", "mixture_dev_mix_both_relative.csv"):
        ds = Dataset.open(meta / name)
        assert ds.layout == "librimix-csv" and [it.name for it in ds.items] == ids
        assert ds.items[0].sources["noise"] == root / "dev" / "noise" / f"{ids[0]}.wav"
    assert Dataset.open(meta / "mixture_dev_mix_both.csv").items[0].folder == \
        ("dev", "mix_both", ids[0])
    out = tmp_path / "out"
    assert main(["batch", str(meta / "mixture_dev_mix_both.csv"), "--mask", "wiener",
                 "--n-fft", "256", "--jobs", "1", "--out", str(out)]) == 0
    assert (out / "dev" / "mix_both" / ids[1] / "noise.wav").is_file()
    assert (out / "dev" / "mix_both" / ids[1] / ".done").is_file()


# -- MUSDB18 .stem.mp4, only where ffmpeg is ----------------------------------------------------
@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                    reason="ffmpeg is not installed: MUSDB18's .stem.mp4 cannot be decoded")
def test_a_musdb18_stem_mp4_is_decoded_and_batched(tmp_path):
    import stempeg

    n = MUS_SR
    stems = np.stack([_stereo(x) for x in (
        np.zeros(n), clicks(n, sr=MUS_SR), 0.3 * np.sin(np.arange(n) * 2 * np.pi * 55 / MUS_SR),
        noise(n, level=0.05), harmonic(n, sr=MUS_SR))])
    stems[0] = stems[1:].sum(axis=0)
    (tmp_path / "musdb18" / "test").mkdir(parents=True)
    path = tmp_path / "musdb18" / "test" / "A - B.stem.mp4"
    stempeg.write_stems(str(path), stems, sample_rate=MUS_SR,
                        writer=stempeg.StreamsWriter(codec="aac", bitrate=256000))
    ds = Dataset.open(tmp_path / "musdb18")
    assert ds.layout == "musdb18" and sorted(ds.items[0].sources) == sorted(STEMS)
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "musdb18"), "--mask", "wiener", "--jobs", "1",
                 "--out", str(out)]) == 0
    assert (out / "test" / "A - B" / "accompaniment.wav").is_file()
    assert (tmp_path / "musdb18.maskstudio" / "decoded" / "test" / "A - B" / "vocals.wav"
            ).is_file()
