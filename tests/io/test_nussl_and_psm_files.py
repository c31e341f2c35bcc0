"""Two mask files through the real command line: nussl's [freq, time, channel] layout is
explained (it read as one source per frequency bin), and an untruncated PSM written by
``oracle --no-truncate`` is applied by ``separate`` as the oracle applied it."""

import subprocess
import sys

import numpy as np
import soundfile as sf

SR = 16000


def _files(folder):
    rng = np.random.default_rng(0)
    n = SR * 2
    a = (0.1 * rng.standard_normal((n, 2))).astype(np.float32)
    b = (0.1 * rng.standard_normal((n, 2))).astype(np.float32)
    sf.write(str(folder / "a.wav"), a, SR, subtype="FLOAT")
    sf.write(str(folder / "b.wav"), b, SR, subtype="FLOAT")
    sf.write(str(folder / "mix.wav"), a + b, SR, subtype="FLOAT")
    return 1 + n // 256  # frames at hop 256


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "maskstudio", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_a_nussl_shaped_mask_is_explained(tmp_path):
    frames = _files(tmp_path)
    m = np.random.default_rng(1).uniform(0, 1, (513, frames, 2)).astype(np.float32)
    np.savez(tmp_path / "nussl.npz", masks=m, samplerate=SR, n_fft=1024, hop_length=256,
             win_length=1024, window="hann", center=True)
    np.save(tmp_path / "nussl.npy", m)
    for args in (["--masks", "nussl.npz"],
                 ["--masks", "nussl.npy", "--n-fft", "1024", "--hop-length", "256"]):
        proc = _cli("separate", "mix.wav", *args, "--out", "o", cwd=tmp_path)
        err = proc.stderr.strip()
        assert proc.returncode == 2 and len(err.splitlines()) == 1, err
        assert "nussl's [freq, time, channel]" in err and "np.moveaxis(masks, 2, 0)[None]" in err
        assert "source1" not in err and "1025" not in err
    # the fix the message gives is read
    np.savez(tmp_path / "fixed.npz", masks=np.moveaxis(m, 2, 0)[None], samplerate=SR,
             n_fft=1024, hop_length=256, win_length=1024, window="hann", center=True)
    proc = _cli("separate", "mix.wav", "--masks", "fixed.npz", "--out", "f", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_an_untruncated_psm_is_applied_by_separate(tmp_path):
    _files(tmp_path)
    proc = _cli("oracle", "mix.wav", "--source", "a=a.wav", "--source", "b=b.wav", "--mask",
                "psm", "--no-truncate", "--n-fft", "1024", "--hop-length", "256", "--out",
                "o", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _cli("separate", "mix.wav", "--masks", "o/masks.npz", "--out", "s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("a", "b"):
        theirs = sf.read(str(tmp_path / "o" / f"{name}.wav"))[0]
        ours = sf.read(str(tmp_path / "s" / f"{name}.wav"))[0]
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # a mask outside [0, 1] that does not say it is an untruncated PSM is still refused
    m = np.full((1, 513, 126), 1.5, np.float32)
    np.savez(tmp_path / "big.npz", masks=m, samplerate=SR, n_fft=1024, hop_length=256,
             win_length=1024, window="hann", center=True)
    proc = _cli("separate", "mix.wav", "--masks", "big.npz", "--out", "b", cwd=tmp_path)
    assert proc.returncode == 2 and "[0, 1]" in proc.stderr
