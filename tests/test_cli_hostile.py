"""The real command, attacked: every hostile input ends in exit 2 and one line on stderr that
says what is wrong, never "internal error", a traceback, a hang or silent garbage.

Each case runs ``python -m maskstudio`` in a subprocess (the cases run a few at a time, so the
table stays quick); a bug's traceback goes to a crash log in the per-user state folder, never
through a symlink planted for it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from maskstudio.cli import main

from .conftest import SR, clicks, harmonic

N = SR // 2
TIMEOUT = 60


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _grid_masks(**extra):
    T = 1 + N // 128
    d = dict(masks=np.full((1, 257, T), 0.5, np.float32), names=np.array(["voice"]),
             n_fft=np.int64(512), hop_length=np.int64(128), samplerate=np.int64(SR))
    d.update(extra)
    return {k: v for k, v in d.items() if v is not None}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    voice, drums = harmonic(N), clicks(N)
    sf.write(str(d / "voice.wav"), voice, SR, subtype="FLOAT")
    sf.write(str(d / "mix.wav"), voice + drums, SR, subtype="FLOAT")
    huge = (voice + drums) * 1e37
    sf.write(str(d / "huge.wav"), huge.astype(np.float32), SR, subtype="FLOAT")
    nan = (voice + drums).copy()
    nan[10] = np.nan
    sf.write(str(d / "nan.wav"), nan, SR, subtype="FLOAT")
    if hasattr(os, "mkfifo"):
        for name in ("fifo.wav", "fifo.npz"):
            os.mkfifo(d / name)
    (d / "a_file").write_text("x")
    nan_masks = np.full((1, 257, 1 + N // 128), 0.5, np.float32)
    nan_masks[0, :2, :3] = np.nan
    masks = {
        "ok": _grid_masks(),
        "meta_list": _grid_masks(metadata=np.str_("[1, 2]")),
        "meta_number": _grid_masks(metadata=np.str_("7")),
        "meta_deep": _grid_masks(metadata=np.str_("[" * 5000 + "]" * 5000)),
        "names_scalar": _grid_masks(names=np.str_("voice")),
        "names_wrong_length": _grid_masks(names=np.array(["a", "b"])),
        "zero_sources": _grid_masks(masks=np.zeros((0, 257, 1 + N // 128), np.float32),
                                    names=np.array([], dtype=str)),
        "n_fft_inf": _grid_masks(n_fft=np.float64(np.inf)),
        "n_fft_huge": _grid_masks(n_fft=np.int64(2 ** 40)),
        "n_fft_fraction": _grid_masks(n_fft=np.float64(512.5)),
        "samplerate_nan": _grid_masks(samplerate=np.float64(np.nan)),
        "hop_negative": _grid_masks(hop_length=np.int64(-128)),
        "window_dict": _grid_masks(window=np.str_('{"kaiser": 8}')),
        "window_list_of_dict": _grid_masks(window=np.str_('[{"kaiser": 8}]')),
        "text_masks": _grid_masks(masks=np.full((1, 257, 1 + N // 128), "x")),
        "nan_masks": _grid_masks(masks=nan_masks),
        "five_masks": _grid_masks(masks=np.full((1, 257, 1 + N // 128), 5, np.float32)),
    }
    for name, arrays in masks.items():
        _npz(d / f"{name}.npz", **arrays)
    np.savez(d / "pickled.npz", masks=np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "zip_named.npy").write_bytes((d / "ok.npz").read_bytes())
    with zipfile.ZipFile(d / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:  # 600 GB declared
        with zf.open("masks.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f4", "fortran_order": False, "shape": (400, 1025, 400000)})
            fh.write(bytes(1 << 20))
        for key, value in dict(n_fft=512, hop_length=128, samplerate=SR).items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.int64(value))
    return d


def _cases(d: Path) -> dict:
    mix, v = d / "mix.wav", f"voice={d / 'voice.wav'}"
    out = d / "out"
    oracle = ("oracle", mix, "--source", v, "--mask")
    sep = ("separate", mix, "--out", out, "--masks")
    cases = {
        "--p nan": (*oracle, "irm", "--p", "nan", "--out", out),
        "--p -1": (*oracle, "irm", "--p", "-1", "--out", out),
        "--beta inf": (*oracle, "irm", "--beta", "inf", "--out", out),
        "--lc-db nan": (*oracle, "ibm", "--lc-db", "nan", "--out", out),
        "--lc-db 1e9": (*oracle, "ibm", "--lc-db", "1e9", "--out", out),
        "--n-fft huge": (*oracle, "ibm", "--n-fft", "1000000000000", "--out", out),
        "--n-fft fraction": (*oracle, "ibm", "--n-fft", "512.5", "--out", out),
        "--hop-length 0": (*oracle, "ibm", "--hop-length", "0", "--out", out),
        "--win-length too long": (*oracle, "ibm", "--win-length", "99999", "--out", out),
        "--window dict": (*oracle, "ibm", "--window", '{"a": 1}', "--out", out),
        "--cutoff-hz nan": (*oracle, "ibm", "--phase", "hybrid", "--cutoff-hz", "nan",
                            "--out", out),
        "--cutoff-hz -5": (*oracle, "ibm", "--phase", "hybrid", "--cutoff-hz", "-5",
                           "--out", out),
        "--n-iter -1": (*oracle, "ibm", "--phase", "misi", "--n-iter", "-1", "--out", out),
        "--n-iter 1e8": (*oracle, "ibm", "--phase", "fgla", "--n-iter", "100000000",
                         "--out", out),
        "play --start nan": ("play", mix, "--start", "nan"),
        "play --start 1e300": ("play", mix, "--start", "1e300"),
        "play --duration inf": ("play", mix, "--duration", "inf"),
        "play --duration 0": ("play", mix, "--duration", "0"),
        "play --preroll -1": ("play", mix, "--preroll", "-1"),
        "play --preroll nan": ("play", mix, "--preroll", "nan"),
        "samples near 1e37": (*oracle[:1], d / "huge.wav", *oracle[2:], "ibm", "--out", out),
        "NaN samples": ("info", d / "nan.wav"),
        "a device as audio": ("info", "/dev/zero"),
        "--out under a file": (*oracle, "ibm", "--out", d / "a_file" / "sub"),
        "--out a file": (*oracle, "ibm", "--out", d / "a_file"),
        "info of a bomb": ("info", d / "bomb.npz"),
        "separate a bomb": (*sep, d / "bomb.npz"),
        "pickled masks": (*sep, d / "pickled.npz"),
        "a zip named .npy": (*sep, d / "zip_named.npy", "--n-fft", "512"),
    }
    if hasattr(os, "mkfifo"):
        cases["a FIFO as the mixture"] = ("oracle", d / "fifo.wav", "--source", v, "--mask",
                                          "ibm", "--out", out)
        cases["a FIFO as a stem"] = (*oracle[:3], f"voice={d / 'fifo.wav'}", "--mask", "ibm",
                                     "--out", out)
        cases["a FIFO as masks"] = (*sep, d / "fifo.npz")
        cases["info of a FIFO"] = ("info", d / "fifo.npz")
    if Path("/sys/kernel").is_dir():
        cases["--out where nobody may write"] = (*oracle, "ibm", "--out", "/sys/maskstudio-x")
    return cases


#: Malformed mask files (their classes are fuzzed in tests/io/test_hostile_inputs.py):
#: through the CLI's own main() here, to keep the subprocess table quick.
MASK_VARIANTS = ("meta_list", "meta_number", "meta_deep", "names_scalar", "names_wrong_length",
                 "zero_sources", "n_fft_inf", "n_fft_huge", "n_fft_fraction", "samplerate_nan",
                 "hop_negative", "window_dict", "window_list_of_dict", "text_masks",
                 "nan_masks", "five_masks")


@pytest.mark.parametrize("name", MASK_VARIANTS)
def test_malformed_mask_files_through_the_cli(files, name, capsys):
    for command in (["separate", str(files / "mix.wav"), "--out", str(files / "out"),
                     "--masks"], ["info"]):
        if command == ["info"] and name in ("nan_masks", "five_masks"):
            continue  # info describes those values instead of refusing them
        code = main([*command, str(files / f"{name}.npz")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("maskstudio: error: "), \
            (name, command[0], err)
        assert "internal error" not in err
        assert _SAYS.get(name, "") in err, (name, err)


_SAYS = {"meta_deep": "nested", "nan_masks": "6 NaN", "five_masks": "[0, 1]",
         "names_scalar": "list of text", "zero_sources": "no masks", "n_fft_inf": "finite",
         "window_dict": "window", "text_masks": "not numbers", "meta_list": "not an object",
         "n_fft_fraction": "whole number", "samplerate_nan": "samplerate"}


def _run(args, env):
    try:
        proc = subprocess.run([sys.executable, "-m", "maskstudio", *map(str, args)],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return None, "", "timed out: it hangs"
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def results(files, tmp_path_factory):
    """Every case of the table, run a few at a time."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path_factory.mktemp("state")))
    cases = _cases(files)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {label: pool.submit(_run, args, env) for label, args in cases.items()}
        return {label: f.result() for label, f in futures.items()}, files


CASE_LABELS = sorted(_cases(Path("/x")))


@pytest.mark.parametrize("label", CASE_LABELS)
def test_hostile_input_exits_2_with_one_line(results, label):
    table, files = results
    if label not in table:
        pytest.skip("not available on this system")
    code, out, err = table[label]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (label, code, err)
    assert len(lines) == 1 and lines[0].startswith("maskstudio: error: "), (label, err)
    assert "internal error" not in err and "Traceback" not in err, (label, err)
    assert not (files / "out").exists() or not any((files / "out").iterdir()), label


def test_the_table_covers_the_reported_classes():
    assert len(CASE_LABELS) + 2 * len(MASK_VARIANTS) >= 60


def test_the_messages_say_what_is_wrong(results):
    table, _ = results
    expect = {"--p nan": "p must be a finite", "--lc-db nan": "lc_db",
              "play --start nan": "--start", "play --duration inf": "--duration",
              "samples near 1e37": "over full scale",
              "info of a bomb": "truncated",
              "--out under a file": "a_file", "a device as audio": "not a regular file"}
    for label, words in expect.items():
        assert words in table[label][2], (label, table[label][2])


def test_the_valid_file_of_the_table_works(files, tmp_path):
    assert main(["separate", str(files / "mix.wav"), "--masks", str(files / "ok.npz"),
                 "--out", str(tmp_path / "sep")]) == 0


# -- OSErrors at the top level ------------------------------------------------------------
@pytest.mark.parametrize("exc,words", [
    (PermissionError(errno.EACCES, "Permission denied", "/data/out/voice.wav"),
     "permission denied"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/out/voice.wav"), "folder"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/out"), "not a folder"),
    (FileExistsError(errno.EEXIST, "File exists", "/data/out"), "in the way"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out/voice.wav"), "no space"),
    (OSError(errno.EROFS, "Read-only file system", "/data/out"), "read-only"),
])
def test_an_os_error_anywhere_is_one_line_naming_the_path(monkeypatch, capsys, files, exc,
                                                         words):
    import maskstudio.io.blockexport as separation

    def fail(*args, **kwargs):
        raise exc
    monkeypatch.setattr(separation, "export_blocks", fail)
    code = main(["oracle", str(files / "mix.wav"), "--source", f"voice={files / 'voice.wav'}",
                 "--mask", "ibm", "--out", str(files / "elsewhere")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert words in err and exc.filename in err and "internal error" not in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_output_folder(files, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _run(["oracle", files / "mix.wav", "--source",
                             f"voice={files / 'voice.wav'}", "--mask", "ibm", "--out",
                             locked / "out"], dict(os.environ))
    finally:
        locked.chmod(0o700)
    assert code == 2 and err.count("\n") == 1 and "locked" in err, err


# -- the crash log ------------------------------------------------------------------------
_BUG = ("import sys, maskstudio.cli as c\n"
        "def boom(args):\n    raise RuntimeError('a bug')\n"
        "c.cmd_info = boom\n"
        "sys.exit(c.main(['info', 'anything']))\n")


def test_a_bug_writes_a_private_crash_log_never_through_a_symlink(tmp_path):
    state, tmp = tmp_path / "state", tmp_path / "tmp"
    tmp.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    os.symlink(target, tmp / "maskstudio-crash.log")  # where the old log was written
    crashes = state / "maskstudio" / "crashes"
    crashes.mkdir(parents=True)
    os.symlink(target, crashes / "maskstudio-crash.log")
    env = dict(os.environ, XDG_STATE_HOME=str(state), TMPDIR=str(tmp))
    proc = subprocess.run([sys.executable, "-c", _BUG], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "internal error" in proc.stderr
    assert target.read_text() == "keep me"
    logs = [p for p in crashes.iterdir() if not p.is_symlink()]
    assert len(logs) == 1 and str(logs[0]) in proc.stderr
    assert "RuntimeError: a bug" in logs[0].read_text()
    assert (logs[0].stat().st_mode & 0o777) == 0o600


def test_a_planted_log_name_is_never_followed(tmp_path, monkeypatch):
    from maskstudio import reporting

    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = reporting.crash_dir()
    folder.mkdir(parents=True)
    os.symlink(target, folder / "planted.log")
    names = iter(["planted.log", "fresh.log"])
    monkeypatch.setattr(reporting, "_unique_name", lambda: next(names))
    log = reporting.write_crash_log("traceback here")
    assert log == folder / "fresh.log" and log.read_text() == "traceback here"
    assert target.read_text() == "keep me"


def test_the_crash_log_is_in_the_user_state_folder(monkeypatch, capsys, tmp_path):
    import maskstudio.cli as cli

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(cli, "cmd_info", lambda args: {}["a bug"])
    assert main(["info", "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "KeyError" in err
    log = Path(err.split("details are in ")[1].split(". Please")[0])
    assert log.parent == tmp_path / "state" / "maskstudio" / "crashes"
    assert "KeyError" in log.read_text()
