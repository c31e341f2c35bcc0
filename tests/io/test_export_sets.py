"""Export sets appear whole: a reader waiting on masks.npz finds the rest beside it, a kill -9
leaves the old set or the new one (never a mix), the next export cleans what a killed one
left, and the files follow the umask."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from filelock import FileLock

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.errors import MaskStudioError, ParameterError
from maskstudio.io import export as separation
from maskstudio.io.audiofile import AudioClip
from maskstudio.io.export import MASKS, STAGING_PREFIX, ExportSet, recover_exports, write_outputs

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=256, hop_length=64)
SET = ("a.wav", "b.wav", "residual.wav", MASKS)


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    """Two seconds: a harmonic and a percussive stem, and their mixture."""
    root = tmp_path_factory.mktemp("stems")
    n = 2 * SR
    a, b = harmonic(n), clicks(n)
    for name, x in (("a", a), ("b", b), ("mix", a + b)):
        sf.write(str(root / f"{name}.wav"), x, SR, subtype="FLOAT")
    return root


def oracle_cmd(stems, kind, out):
    return [sys.executable, "-m", "maskstudio", "oracle", str(stems / "mix.wav"),
            "--source", f"a={stems / 'a.wav'}", "--source", f"b={stems / 'b.wav'}",
            "--mask", kind, "--n-fft", "256", "--out", str(out)]


def read_set(folder: Path) -> dict:
    """The set's files as the bytes of their arrays (the files themselves hold timestamps:
    the zip's, and the PEAK chunk of a float WAV)."""
    out = {}
    for name in SET:
        p = folder / name
        if p.exists():
            if name == MASKS:
                with np.load(str(p)) as z:
                    out[name] = z["masks"].tobytes()
            else:
                out[name] = sf.read(str(p), dtype="float32")[0].tobytes()
    return out


def ours(folder: Path) -> list:
    """What an export leaves besides its set: staging folders and temporaries."""
    return sorted(p.name for p in folder.iterdir() if p.name not in SET)


def judge(folder: Path, refs: dict) -> str:
    """The state of the folder as a reader that trusts masks.npz sees it."""
    if not folder.exists():
        return "nothing"
    seen = read_set(folder)
    if MASKS in seen:
        kinds = [k for k, ref in refs.items() if ref[MASKS] == seen[MASKS]]
        assert len(kinds) == 1, "masks.npz belongs to no complete export"
        ref = refs[kinds[0]]
        assert seen == ref, f"masks.npz of {kinds[0]} beside files of another export"
        return f"whole {kinds[0]}"
    staged = [p for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
    committed = [p for p in staged if (p / "COMMIT").exists()]
    if not seen:
        return "nothing yet"
    # without its marker, a set is being moved in: the commit record must be there
    assert committed, f"files without masks.npz and no commit to finish: {sorted(seen)}"
    return "moving in"


def wait_for(proc, seen, pause, timeout=20):
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        try:
            if seen():
                return
        except OSError:  # the folder changes under the listing
            pass
        time.sleep(pause)


def test_a_killed_export_leaves_the_old_set_or_the_new_one(stems, tmp_path):
    refs = {}
    for kind in ("ibm", "irm"):
        subprocess.run(oracle_cmd(stems, kind, tmp_path / kind), check=True,
                       capture_output=True, timeout=60)
        refs[kind] = read_set(tmp_path / kind)
        assert set(refs[kind]) == set(SET)
    out = tmp_path / "out"
    rng = random.Random(9)
    states, kills, runs = Counter(), 0, 0
    start = time.monotonic()
    while kills < 30:
        # a bound so a broken export cannot loop for ever (about 25 s here; generous for CI)
        assert time.monotonic() - start < 400, f"only {kills} kills in 400 s"
        kind = ("ibm", "irm")[runs % 2]
        proc = subprocess.Popen(oracle_cmd(stems, kind, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        runs += 1
        if runs % 3 == 1:  # aim at the writing: wait for the staging folder, then a little
            wait_for(proc, lambda: any(p.name.startswith(STAGING_PREFIX)
                                       for p in out.iterdir()), 0.002)
            time.sleep(rng.uniform(0, 0.15))
        elif runs % 3 == 2:  # aim at the moves: the instant the commit record appears
            wait_for(proc, lambda: any((p / "COMMIT").exists() for p in out.iterdir()
                                       if p.name.startswith(STAGING_PREFIX)), 0.0005)
        else:  # anywhere in the run
            time.sleep(rng.uniform(0.1, 0.9))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        states[judge(out, refs)] += 1
        if runs % 2:  # half the time the next export finishes what was left, else this
            recover_exports(out)
            states["after recovery: " + judge(out, refs)] += 1
            assert not out.exists() or ours(out) == []
    proc = subprocess.run(oracle_cmd(stems, "ibm", out), capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(SET)  # no temporaries left
    assert read_set(out) == refs["ibm"]
    assert not any(s.startswith("after recovery: moving") for s in states)
    print(f"{kills} kills in {runs} runs, {time.monotonic() - start:.1f} s: {dict(states)}")


def _small_export(folder, value=0.5, fail=None):
    clip = AudioClip(np.zeros((1, SR // 8), np.float32), SR)
    masks = MaskSet(["a", "b"], np.full((2, CFG.n_bins, CFG.n_frames(SR // 8)), value / 2,
                                        np.float32))
    sig = np.full((3, 1, SR // 8), value, np.float32)
    return write_outputs(folder, clip, masks, sig, CFG)


def test_masks_npz_is_moved_in_last_after_the_old_one_is_gone(tmp_path, monkeypatch):
    _small_export(tmp_path, 0.25)
    moves = []
    real = os.replace

    def spy(src, dst):
        if Path(dst).parent == tmp_path:
            moves.append(Path(dst).name)
            if len(moves) == 1:
                assert not (tmp_path / MASKS).exists(), "old masks.npz beside new files"
        real(src, dst)
    monkeypatch.setattr(separation.os, "replace", spy)
    _small_export(tmp_path, 0.5)
    assert moves[-1] == MASKS and sorted(moves) == sorted(["a.wav", "b.wav", "residual.wav",
                                                           MASKS])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SET)


def test_a_set_cut_while_moving_in_is_finished_by_the_next_export(tmp_path, monkeypatch):
    class Killed(BaseException):
        pass
    _small_export(tmp_path, 0.25)
    real, moved = os.replace, []

    def dying(src, dst):
        if Path(dst).parent == tmp_path and Path(src).parent.name.startswith(STAGING_PREFIX):
            if moved:
                raise Killed()  # -9 after the first file moved in
            moved.append(Path(dst).name)
        real(src, dst)
    monkeypatch.setattr(separation.os, "replace", dying)
    monkeypatch.setattr(ExportSet, "_discard", lambda self: self._lock.release())
    with pytest.raises(Killed):
        _small_export(tmp_path, 0.5)
    monkeypatch.undo()
    assert not (tmp_path / MASKS).exists()  # no marker beside a mix of two exports
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]) == 1
    assert recover_exports(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SET)
    for name in ("a.wav", "b.wav", "residual.wav"):
        assert sf.read(str(tmp_path / name))[0][0] == 0.5


def test_an_error_midway_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    _small_export(tmp_path, 0.25)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(*a, **k):
        raise MaskStudioError("disk full")
    monkeypatch.setattr(separation, "save_masks", boom)
    with pytest.raises(MaskStudioError, match="disk full"):
        _small_export(tmp_path, 0.5)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_reader_waiting_on_masks_npz_finds_every_file_complete(two_sources, tmp_path):
    mix, (s1, s2) = two_sources
    doc = Document(AudioClip(mix, SR), STFTConfig(n_fft=512, hop_length=128))
    doc.add_layers(["tone", "hits"], oracle_masks(mix, [s1, s2], doc.config, "irm"),
                   {"kind": "oracle"}, "oracle")
    problems, stop = [], threading.Event()

    def reader(folder):
        while not stop.is_set():
            if (folder / MASKS).exists():
                for name in ("tone.wav", "hits.wav", "residual.wav"):
                    try:
                        n = sf.info(str(folder / name)).frames
                        if n != mix.shape[1]:
                            problems.append(f"{name}: {n} frames")
                    except Exception as exc:  # missing or half-written
                        problems.append(f"{name}: {exc}")
                return
    for k in range(4):
        folder = tmp_path / f"out{k}"
        t = threading.Thread(target=reader, args=(folder,))
        t.start()
        try:
            doc.export(folder)
        finally:
            t.join(10)
            stop.set()
        stop.clear()
    assert problems == []


def test_the_next_export_cleans_only_what_a_killed_one_left(tmp_path):
    _small_export(tmp_path, 0.25)
    dead = tmp_path / f"{STAGING_PREFIX}dead1234"
    dead.mkdir()
    (dead / "a.wav").write_bytes(b"half a file")
    committed = tmp_path / f"{STAGING_PREFIX}done5678"
    committed.mkdir()
    (committed / "extra.txt").write_text("from a killed export")
    (committed / "COMMIT").write_text('{"order": ["extra.txt"], "markers": []}')
    live = tmp_path / f"{STAGING_PREFIX}live9999"
    live.mkdir()
    hold = FileLock(str(live / ".lock"))
    hold.acquire()
    legacy = [".a.wav.k3j2h1g0.wav", ".masks.npz.abcdefgh.npz", ".b.wav.zz_9zz_9.tmp"]
    users = [".a.wav.backup", "notes.tmp", f"{STAGING_PREFIX}notes.txt", ".maskstudio-export",
             ".masks.npz.toolong12345.npz", "keep.wav"]
    for name in legacy + users:
        (tmp_path / name).write_bytes(b"x")
    try:
        _small_export(tmp_path, 0.5)
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted(list(SET) + users + ["extra.txt", live.name])
        assert (tmp_path / "extra.txt").read_text() == "from a killed export"
    finally:
        hold.release()
    recover_exports(tmp_path)
    assert not live.exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(stems, tmp_path, umask, mode):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.wav").write_bytes(b"an old file")
    os.chmod(out / "a.wav", 0o600)
    proc = subprocess.run(oracle_cmd(stems, "ibm", out), capture_output=True, text=True,
                          umask=umask, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in SET:
        assert (out / name).stat().st_mode & 0o777 == mode, name


def test_a_folder_in_the_way_is_one_line_and_changes_nothing(stems, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = subprocess.run(oracle_cmd(stems, "ibm", blocker / "out"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot write" in proc.stderr and str(blocker) in proc.stderr
    out = tmp_path / "out"
    (out / "b.wav").mkdir(parents=True)
    (out / "a.wav").write_bytes(b"old")
    proc = subprocess.run(oracle_cmd(stems, "ibm", out), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "is a folder" in proc.stderr, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav"]
    assert (out / "a.wav").read_bytes() == b"old"


def test_an_export_set_refuses_names_that_leave_its_folder(tmp_path):
    for bad in (["../x.wav"], ["a.wav", "A.WAV"], ["/etc/x.wav"]):
        with pytest.raises(ParameterError):
            ExportSet(tmp_path / "out", bad)
    assert not (tmp_path / "out").exists()
