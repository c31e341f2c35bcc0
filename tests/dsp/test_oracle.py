import numpy as np
import pytest

from maskstudio.dsp.oracle import compress_cirm, oracle_from_stfts, oracle_masks, uncompress_cirm
from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.errors import ParameterError

# Bins (C=1, F=1, T=3): S1 = 3, S2 = 4j (so |Y| = 5); a silent bin; S1 = -1, S2 = 2 (Y = 1).
S1 = np.array([[[3, 0, -1]]], np.complex64)
S2 = np.array([[[4j, 0, 2]]], np.complex64)
Y = S1 + S2


def masks(kind, **kw):
    return oracle_from_stfts(Y, [S1, S2], kind, **kw)[:, 0]


def test_ibm_local_criterion():
    np.testing.assert_array_equal(masks("ibm"), [[0, 0, 0], [1, 0, 1]])
    # at +20 dB neither source dominates the 3-4j bin enough
    np.testing.assert_array_equal(masks("ibm", lc_db=20)[:, 0], [0, 0])


def test_ibm_with_several_sources_gives_each_bin_to_the_loudest():
    s = [np.array([[[v]]], np.complex64) for v in (3.0, 2.9, -2.8)]
    m = oracle_from_stfts(sum(s), s, "ibm", lc_db=-20)
    # sources 1 and 2 both pass a -20 dB criterion, but only the loudest gets the bin
    np.testing.assert_array_equal(m.ravel(), [1, 0, 0])


def test_irm_wiener_psm_cirm_by_hand():
    np.testing.assert_allclose(masks("irm")[:, 0], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(masks("irm", p=1, beta=1)[:, 0], [3 / 7, 4 / 7], atol=1e-6)
    np.testing.assert_allclose(masks("wiener")[:, 0], [0.36, 0.64], atol=1e-6)
    np.testing.assert_allclose(masks("psm")[:, 0], [0.36, 0.64], atol=1e-6)
    np.testing.assert_allclose(masks("psm")[:, 2], [0, 1], atol=1e-6)
    np.testing.assert_allclose(masks("psm", truncate=False)[:, 2], [-1, 2], atol=1e-6)
    c = masks("cirm")
    assert c.dtype == np.complex64
    np.testing.assert_allclose(c[:, 0], [0.36 - 0.48j, 0.64 + 0.48j], atol=1e-6)
    np.testing.assert_allclose(c[:, 2], [-1, 2], atol=1e-6)


@pytest.mark.parametrize("kind", ["ibm", "irm", "wiener", "psm", "cirm"])
def test_silent_bins_give_zero_not_nan(kind):
    m = masks(kind)
    assert np.isfinite(m).all()
    assert np.all(m[:, 1] == 0)


def test_missing_sources_count_as_other():
    only_first = oracle_from_stfts(Y, [S1], "wiener")[0, 0]
    np.testing.assert_allclose(only_first, masks("wiener")[0], atol=1e-6)
    assert oracle_from_stfts(Y, [S1], "ibm")[0, 0, 0] == 0  # 'other' (4j) is louder


def test_shared_and_per_channel_masks():
    a = np.array([[[1.0]], [[0.0]]], np.complex64)  # source a only in channel 0
    b = np.array([[[0.0]], [[1.0]]], np.complex64)  # source b only in channel 1
    per = oracle_from_stfts(a + b, [a, b], "ibm", per_channel=True)
    assert per.shape == (2, 2, 1, 1)
    np.testing.assert_array_equal(per[:, :, 0, 0], [[1, 0], [0, 1]])
    shared = oracle_from_stfts(a + b, [a, b], "wiener")
    np.testing.assert_allclose(shared.ravel(), [0.5, 0.5])
    np.testing.assert_allclose(oracle_from_stfts(a + b, [a, b], "cirm").ravel(), [0.5, 0.5])


def test_cirm_compression_round_trip():
    m = np.array([0.3 - 2j, -4 + 0.5j], np.complex64)
    c = compress_cirm(m)
    assert np.all(np.abs(c.real) < 10) and np.all(np.abs(c.imag) < 10)
    np.testing.assert_allclose(uncompress_cirm(c), m, atol=1e-4)


def test_bad_kind_and_parameters():
    with pytest.raises(ParameterError, match="choose one of"):
        oracle_from_stfts(Y, [S1], "nope")
    with pytest.raises(ParameterError, match="at least one"):
        oracle_from_stfts(Y, [], "ibm")
    with pytest.raises(ParameterError, match="p > 0"):
        oracle_from_stfts(Y, [S1], "irm", p=0)


def test_block_computation_equals_the_whole_stft(two_sources):
    mix, (s1, s2) = two_sources
    cfg = STFTConfig(n_fft=512, hop_length=128)
    for kind in ("ibm", "wiener", "cirm"):
        blocks = oracle_masks(mix, [s1, s2], cfg, kind)
        whole = oracle_from_stfts(stft(mix, **cfg.kwargs()),
                                  [stft(s, **cfg.kwargs()) for s in (s1, s2)], kind)
        np.testing.assert_allclose(blocks, whole, atol=1e-6)
