import numpy as np
import pytest

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.stft import STFTConfig
from maskstudio.errors import MaskFileError, OverwriteError
from maskstudio.io.npz import FORMAT_VERSION, load_masks, read_mask_file, save_masks

CFG = STFTConfig(n_fft=256, hop_length=64, window=("kaiser", 6.0))
SR, N = 8000, 4000
T = CFG.n_frames(N)


def _masks(kind=np.float32, channels=None):
    rng = np.random.default_rng(0)
    shape = (2,) + ((channels,) if channels else ()) + (CFG.n_bins, T)
    data = rng.uniform(0, 0.5, shape).astype(np.float32)
    if kind is np.complex64:
        data = data * np.exp(1j * rng.uniform(0, 6, shape)).astype(np.complex64)
    return MaskSet(["voice", "noise"], data)


@pytest.mark.parametrize("kind,channels", [(np.float32, None), (np.complex64, None),
                                           (np.float32, 2)])
def test_round_trip_keeps_masks_names_and_settings(tmp_path, kind, channels):
    ms = _masks(kind, channels)
    path = save_masks(tmp_path / "m.npz", ms, CFG, SR, metadata={"kind": "test"})
    mf = load_masks(path, n_channels=channels or 1, n_samples=N, samplerate=SR)
    assert mf.masks.names == ["voice", "noise"] and mf.config == CFG and mf.samplerate == SR
    assert mf.masks.data.dtype == kind
    np.testing.assert_array_equal(mf.masks.data, ms.data)
    assert mf.metadata == {"kind": "test"}
    with np.load(path, allow_pickle=False) as z:  # plain arrays anyone can read
        assert int(z["format_version"]) == FORMAT_VERSION and int(z["n_fft"]) == 256


@pytest.mark.parametrize("window", ["hann", ("kaiser", 6.0), 8.0])
def test_every_kind_of_window_is_saved_and_read_back(tmp_path, window):
    # a name, a (name, parameter) tuple, or a number (a Kaiser beta): saving a number used
    # to fail (list(8.0))
    cfg = STFTConfig(n_fft=256, hop_length=64, window=window)
    path = save_masks(tmp_path / "m.npz", _masks(), cfg, SR)
    assert load_masks(path, n_channels=1, n_samples=N, samplerate=SR).config == cfg


def test_bare_npy_fits_or_is_explained(tmp_path):
    m = np.full((CFG.n_bins, T), 0.5, np.float32)
    np.save(tmp_path / "one.npy", m)
    mf = load_masks(tmp_path / "one.npy", n_channels=1, n_samples=N, samplerate=SR, config=CFG)
    assert mf.masks.names == ["one"] and mf.masks.data.shape == (1, CFG.n_bins, T)
    np.save(tmp_path / "t.npy", m.T)
    with pytest.raises(MaskFileError, match="transpose"):
        load_masks(tmp_path / "t.npy", n_channels=1, n_samples=N, samplerate=SR, config=CFG)
    with pytest.raises(MaskFileError, match="which STFT"):
        load_masks(tmp_path / "one.npy", n_channels=1, n_samples=N, samplerate=SR)


def test_bad_mask_files_are_refused_with_reasons(tmp_path):
    path = save_masks(tmp_path / "m.npz", _masks(), CFG, SR)
    with pytest.raises(MaskFileError, match="needs"):
        load_masks(path, n_channels=1, n_samples=N * 2, samplerate=SR)
    with pytest.raises(MaskFileError, match="Hz"):
        load_masks(path, n_channels=1, n_samples=N, samplerate=16000)
    with pytest.raises(MaskFileError, match="was asked for"):
        load_masks(path, n_channels=1, n_samples=N, samplerate=SR, config=STFTConfig(n_fft=256))
    bad = np.full((1, CFG.n_bins, T), np.nan, np.float32)
    np.savez(tmp_path / "nan.npz", masks=bad)
    with pytest.raises(MaskFileError, match="NaN"):
        load_masks(tmp_path / "nan.npz", n_channels=1, n_samples=N, samplerate=SR, config=CFG)
    np.savez(tmp_path / "nomasks.npz", other=np.zeros(3))
    with pytest.raises(MaskFileError, match="no 'masks'"):
        read_mask_file(tmp_path / "nomasks.npz")
    np.savez(tmp_path / "future.npz", masks=np.zeros((1, 2, 2)), format_version=99)
    with pytest.raises(MaskFileError, match="newer"):
        read_mask_file(tmp_path / "future.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MaskFileError, match="cannot read"):
        read_mask_file(tmp_path / "junk.npz")
    with pytest.raises(MaskFileError, match="does not exist"):
        read_mask_file(tmp_path / "none.npz")


def test_save_refuses_other_extensions_and_inputs(tmp_path):
    with pytest.raises(MaskFileError, match=".npz"):
        save_masks(tmp_path / "m.mat", _masks(), CFG, SR)
    mine = tmp_path / "given.npz"
    mine.write_bytes(b"user data")
    with pytest.raises(OverwriteError):
        save_masks(mine, _masks(), CFG, SR, protect=[mine])
    assert mine.read_bytes() == b"user data"
