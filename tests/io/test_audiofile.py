import os
import warnings

import numpy as np
import pytest
import soundfile as sf

from maskstudio.errors import AudioFileError, OverwriteError, ParameterError
from maskstudio.io.audiofile import (
    AudioClip,
    MaskStudioWarning,
    conform_reference,
    load_audio,
    save_audio,
)

from ..conftest import SR, harmonic


@pytest.mark.parametrize("ext,subtype,tol", [
    ("wav", "PCM_16", 1e-4), ("wav", "FLOAT", 0), ("flac", "PCM_24", 1e-6),
    ("aiff", "PCM_16", 1e-4), ("ogg", "VORBIS", None), ("mp3", "MPEG_LAYER_III", None),
])
def test_reads_every_supported_format(tmp_path, ext, subtype, tol):
    x = np.stack([harmonic(SR), 0.5 * harmonic(SR, f0=330)])
    path = tmp_path / f"a.{ext}"
    sf.write(str(path), x.T, SR, subtype=subtype)
    clip = load_audio(path)
    assert clip.samples.dtype == np.float32
    assert clip.n_channels == 2 and clip.samplerate == SR
    if tol is not None:
        assert clip.n_samples == SR
        np.testing.assert_allclose(clip.samples, x, atol=tol)
    else:  # lossy codecs: similar length and a strongly correlated signal
        assert abs(clip.n_samples - SR) < 2000
        n = min(clip.n_samples, SR)
        lag = np.argmax(np.correlate(clip.samples[0, :4000], x[0, :2000], "valid"))
        y = clip.samples[0, lag:lag + n - 2000]
        assert np.corrcoef(y, x[0, : y.size])[0, 1] > 0.9


def test_any_rate_and_more_channels(write_wav):
    x = np.random.default_rng(0).standard_normal((6, 1000)).astype(np.float32) * 0.1
    clip = load_audio(write_wav("six.wav", x, sr=96000))
    assert clip.samples.shape == (6, 1000) and clip.samplerate == 96000
    np.testing.assert_array_equal(clip.samples, x)


@pytest.mark.parametrize("make,match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b"not audio at all" * 10), "cannot read"),
    (lambda p: p.write_bytes(b""), "cannot read"),
    (lambda p: sf.write(str(p), np.zeros((0, 1)), SR), "no samples"),
])
def test_bad_files_raise_clear_errors(tmp_path, make, match):
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(AudioFileError, match=match):
        load_audio(p)


def test_truncated_files_are_refused(tmp_path):
    for ext in ("wav", "flac"):
        full = tmp_path / f"full.{ext}"
        sf.write(str(full), np.random.default_rng(0).standard_normal((SR, 2)) * 0.1, SR)
        data = full.read_bytes()
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(AudioFileError, match="truncated|cannot read"):
            load_audio(cut)


def test_a_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioFileError, match="folder"):
        load_audio(tmp_path)


def test_export_matches_the_mixture_format_and_never_overwrites_it(tmp_path, write_wav):
    src = write_wav("mix.wav", harmonic(SR)[None], subtype="PCM_24")
    mix = load_audio(src)
    out = save_audio(tmp_path / "out" / "voice.wav", mix.samples * 0.5, SR, like=mix)
    assert sf.info(str(out)).subtype == "PCM_24"
    flac = save_audio(tmp_path / "voice.flac", mix.samples, SR, like=mix)
    assert sf.info(str(flac)).format == "FLAC" and sf.info(str(flac)).subtype == "PCM_24"
    before = src.read_bytes()
    with pytest.raises(OverwriteError, match="overwrite an input"):
        save_audio(src, mix.samples * 0, SR, like=mix)
    assert src.read_bytes() == before


def test_export_of_lossy_or_float_sources(tmp_path):
    mp3 = tmp_path / "m.mp3"
    sf.write(str(mp3), harmonic(SR), SR)
    clip = load_audio(mp3)
    out = save_audio(tmp_path / "s.wav", clip.samples, SR, like=clip)
    assert sf.info(str(out)).subtype == "FLOAT"  # nothing of ours is lost to requantising
    with pytest.raises(ParameterError, match=".wav or .flac"):
        save_audio(tmp_path / "s.mp3", clip.samples, SR)


def test_clipping_in_integer_export_is_reported(tmp_path):
    with pytest.warns(MaskStudioWarning, match="clip"):
        save_audio(tmp_path / "loud.wav", np.full((1, 100), 1.5, np.float32), SR,
                   subtype="PCM_16")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(sf.SoundFile, "write", boom)  # the disk fills while writing
    with pytest.raises(AudioFileError, match="disk full"):
        save_audio(target, np.zeros((1, 10)), SR)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.wav"]


def _clip(x, sr=SR):
    return AudioClip(np.atleast_2d(x).astype(np.float32), sr)


def test_reference_at_another_rate_is_resampled_with_a_warning():
    mix = _clip(np.zeros((1, SR)))
    tone = np.sin(2 * np.pi * 440 * np.arange(2 * SR) / (2 * SR))
    with pytest.warns(MaskStudioWarning, match="resampled"):
        x = conform_reference(_clip(tone, 2 * SR), mix)
    assert x.shape == (1, SR)
    spectrum = np.abs(np.fft.rfft(x[0]))
    assert np.argmax(spectrum) == 440  # 1 Hz bins over one second


@pytest.mark.parametrize("n,what", [(SR - 100, "padded"), (SR + 100, "trimmed")])
def test_reference_of_another_length_is_conformed_with_a_warning(n, what):
    mix = _clip(np.zeros((1, SR)))
    ref = np.arange(n, dtype=np.float32)[None]
    with pytest.warns(MaskStudioWarning, match=what):
        x = conform_reference(_clip(ref), mix)
    assert x.shape == (1, SR)
    k = min(n, SR)
    np.testing.assert_array_equal(x[0, :k], ref[0, :k])
    assert not x[0, k:].any()


def test_reference_channel_mismatch():
    mix = _clip(np.zeros((2, 100)))
    with pytest.raises(AudioFileError, match="3 channels but the mixture has 2"):
        conform_reference(_clip(np.zeros((3, 100))), mix)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = conform_reference(_clip(np.ones((1, 100))), mix)  # mono stem: every channel
    assert x.shape == (2, 100)


def test_a_file_written_block_by_block_is_clipped_with_a_warning(tmp_path):
    from maskstudio.io.audiofile import AudioWriter

    like = AudioClip(np.zeros((2, 10), np.float32), SR, subtype="PCM_16")
    x = np.sin(np.linspace(0, 50, 3000)).astype(np.float32)[None].repeat(2, 0) * 1.5
    with pytest.warns(MaskStudioWarning, match="clipped in PCM_16"):
        with AudioWriter(tmp_path / "loud.wav", SR, 2, like=like) as out:
            for k in range(0, 3000, 700):
                out.write(x[:, k:k + 700])
    y, _ = sf.read(str(tmp_path / "loud.wav"), dtype="float32", always_2d=True)
    assert y.shape == (3000, 2) and sf.info(str(tmp_path / "loud.wav")).subtype == "PCM_16"
    np.testing.assert_allclose(y.T, np.clip(x, -1, 1), atol=1 / 32767)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loud.wav"]  # no temporary left


def test_a_file_that_cannot_be_opened_for_writing_leaves_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")

    def refuse(*a, **k):
        raise sf.SoundFileError("no codec")
    monkeypatch.setattr(sf, "SoundFile", refuse)
    with pytest.raises(AudioFileError, match="no codec"):
        save_audio(target, np.zeros((1, 10)), SR)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.wav"]
