"""Reading on demand: any order of reads gives the samples a whole decode gives, and a mask
file changed underneath a reader is an error that can be said, never a crash."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.stft import STFTConfig
from maskstudio.io.npz import save_masks
from maskstudio.io.ondemand import open_audio, open_masks

from ..conftest import SR, clicks, harmonic

N = 3 * SR


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoded")
    x = np.stack([harmonic(N), clicks(N)]).T
    paths = {}
    for fmt, subtype in (("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                         ("MP3", "MPEG_LAYER_III")):
        path = folder / f"mix.{fmt.lower()}"
        sf.write(str(path), x, SR, format=fmt, subtype=subtype)
        paths[fmt] = path
    return paths


reads = st.lists(st.tuples(st.integers(-500, N + 500), st.integers(1, 6000)), min_size=1,
                 max_size=12)


@settings(max_examples=25, deadline=None)
# not MP3: libsndfile's own 16 kHz MP3s decode differently read in pieces than whole past
# ~2,900 samples (mpg123 reports their frames malformed); MP3 jumps are tested below
@given(fmt=st.sampled_from(["WAV", "FLAC", "OGG"]), pattern=reads)
def test_reads_in_any_order_give_what_a_whole_decode_gives(encoded, fmt, pattern):
    whole, _ = sf.read(str(encoded[fmt]), dtype="float32", always_2d=True)
    reader = open_audio(encoded[fmt])
    try:
        for start, length in pattern:
            got = reader.read(start, start + length)
            want = np.zeros((2, length), np.float32)
            a, b = max(0, start), min(whole.shape[0], start + length)
            if b > a:
                want[:, a - start:b - start] = whole[a:b].T
            # mpg123 rounds a last bit differently by where it starts decoding
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 if fmt == "MP3" else 0)
    finally:
        reader.close()


def test_overlapping_reads_as_a_renderer_makes_them_seek_exactly_on_ogg(encoded):
    """Forward jumps, then the overlapping reads of a renderer from there (libsndfile's Vorbis
    seek is off after a jump; the reader reopens the decoder instead)."""
    whole, _ = sf.read(str(encoded["OGG"]), dtype="float32", always_2d=True)
    reader = open_audio(encoded["OGG"])
    for start in (0, 1, 1000, 44099 % N, N // 2, N - 5000, 200):
        for k in range(4):  # overlapping, as a renderer's segments are
            a = start + k * 768
            got = reader.read(a, a + 1024)
            b = min(N, a + 1024)
            np.testing.assert_array_equal(got[:, :b - a], whole[a:b].T)
    reader.close()


def test_reads_jumping_into_the_last_ogg_page_give_the_whole_decode(encoded):
    """libsndfile maps a Vorbis seek into the file's last page wrongly (found by the test
    above at sample 44289 of a 1 s file); every read there, after a jump, is exact."""
    whole, _ = sf.read(str(encoded["OGG"]), dtype="float32", always_2d=True)
    reader = open_audio(encoded["OGG"])
    try:
        for a in range(N - 4, N - 20000, -53):  # backwards: every read is a jump
            np.testing.assert_array_equal(reader.read(a, a + 4)[:, :N - a],
                                          whole[a:a + 4].T, err_msg=f"at {a}")
    finally:
        reader.close()


def test_short_backward_jumps_in_an_mp3_give_the_whole_decode(encoded):
    """libsndfile's MP3 seek is off 1,000-2,900 samples back from where it decoded (found by
    a hostile test: a threshold preview dragged left frame by frame); the reader reopens."""
    whole, _ = sf.read(str(encoded["MP3"]), dtype="float32", always_2d=True)
    reader = open_audio(encoded["MP3"])
    try:
        for a in range(30000, 2000, -1203):
            reader.read(a + 2600, a + 4000)  # the decoder is past a, the cache too
            np.testing.assert_allclose(reader.read(a, a + 512), whole[a:a + 512].T, rtol=0,
                                       atol=1e-6, err_msg=f"at {a}")  # a last bit: mpg123
    finally:
        reader.close()


def test_a_mask_file_changed_underneath_is_an_error_not_a_crash(tmp_path):
    """Read, never mapped: a map of a file another program truncates kills the process with
    SIGBUS. In a subprocess, so that a crash fails this test instead of the run."""
    masks = np.random.default_rng(0).uniform(0, 1, (1, 257, 400)).astype(np.float32)
    save_masks(tmp_path / "m.npz", MaskSet(["voice"], masks), STFTConfig(n_fft=512,
               hop_length=128), SR)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from maskstudio.errors import MaskFileError
        from maskstudio.io.ondemand import open_masks
        path = Path({str(tmp_path / 'm.npz')!r})
        lazy = open_masks(path, n_channels=1, n_samples={128 * 399}, samplerate={SR})
        assert lazy.mapped
        lazy.frames(0, 16)
        with open(path, "r+b") as fh:  # rewritten in place by another program, shorter
            fh.truncate(4000)
        try:
            lazy.frames(200, 216)
        except MaskFileError as exc:
            print("said:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert "said:" in proc.stdout and "open it again" in proc.stdout


def test_open_masks_reads_what_load_masks_reads(tmp_path):
    masks = np.random.default_rng(1).uniform(0, 1, (2, 2, 257, 300)).astype(np.float32)
    cfg = STFTConfig(n_fft=512, hop_length=128)
    save_masks(tmp_path / "m.npz", MaskSet(["a", "b"], masks), cfg, SR)
    lazy = open_masks(tmp_path / "m.npz", n_channels=2, n_samples=128 * 299, samplerate=SR)
    assert lazy.mapped and lazy.names == ["a", "b"]
    for t0, t1 in ((0, 1), (5, 37), (250, 300), (0, 300)):
        np.testing.assert_array_equal(lazy.frames(t0, t1), masks[..., t0:t1])
