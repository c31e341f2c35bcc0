import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskstudio.dsp.masks import (
    MaskSet,
    binarize,
    check_mask,
    invert,
    magnitude_db,
    normalize,
    overlap_report,
    residual,
    threshold_mask,
)
from maskstudio.errors import MaskFileError, ParameterError


def test_residual_is_one_minus_the_sum_clipped_at_zero():
    m = np.array([[[0.2, 0.7, 1.0]], [[0.3, 0.5, 0.0]]], np.float32)
    np.testing.assert_allclose(residual(m), [[0.5, 0.0, 0.0]], atol=1e-7)


def test_complex_residual_is_the_exact_complement():
    m = np.array([[[0.6 + 0.5j]], [[0.7 - 0.2j]]], np.complex64)
    r = residual(m)
    assert r.dtype == np.complex64
    np.testing.assert_allclose(m.sum(axis=0) + r, 1, atol=1e-6)


def test_invert_binarize_threshold():
    m = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    np.testing.assert_array_equal(invert(m), [[1.0, 0.75, 0.5, 0.0]])
    np.testing.assert_array_equal(binarize(m, 0.4), [[0, 0, 1, 1]])
    with pytest.raises(ParameterError):
        binarize(m, 2)
    level = np.array([[-80.0, -40.0, -30.0, -20.0, 0.0]], np.float32)
    np.testing.assert_array_equal(threshold_mask(level, -30), [[0, 0, 0, 1, 1]])
    soft = threshold_mask(level, -30, width_db=20)
    assert soft[0, 2] == pytest.approx(0.5)
    assert threshold_mask(np.float32([-20]), -30, width_db=20)[0] == pytest.approx(0.8808, abs=1e-3)
    assert np.all(np.diff(soft[0]) > 0) and soft.min() >= 0 and soft.max() <= 1


def test_magnitude_db_pools_channels_by_power():
    S = np.array([[[1.0]], [[0.0]]], np.complex64)  # [C=2, F=1, T=1]
    assert magnitude_db(S, channel_axis=0)[0, 0] == pytest.approx(10 * np.log10(0.5), abs=1e-4)
    assert magnitude_db(np.zeros(3))[0] == pytest.approx(-200)


def test_overlap_report_and_normalize():
    m = np.array([[[0.8, 0.2]], [[0.6, 0.3]]], np.float32)
    rep = overlap_report(m)
    assert rep.overlaps and rep.overlap_fraction == 0.5
    assert rep.max_sum == pytest.approx(1.4) and rep.mean_excess == pytest.approx(0.4)
    assert "overlap" in rep.describe()
    n = normalize(m)
    np.testing.assert_allclose(n.sum(axis=0), [[1.0, 0.5]], atol=1e-6)
    np.testing.assert_allclose(n[:, 0, 1], [0.2, 0.3])  # bins that fit are untouched
    assert not overlap_report(n).overlaps


def test_check_mask_explains_transposed_and_wrong_shapes():
    good = np.zeros((5, 7), np.float32)
    assert check_mask(good, n_bins=5, n_frames=7, n_channels=2).shape == (5, 7)
    assert check_mask(np.zeros((2, 5, 7)), n_bins=5, n_frames=7, n_channels=2).shape == (2, 5, 7)
    with pytest.raises(MaskFileError, match=r"\[time, freq\].*transpose"):
        check_mask(good.T, n_bins=5, n_frames=7, n_channels=1)
    with pytest.raises(MaskFileError, match="needs"):
        check_mask(np.zeros((5, 8)), n_bins=5, n_frames=7, n_channels=1)
    with pytest.raises(MaskFileError, match="needs"):
        check_mask(np.zeros((3, 5, 7)), n_bins=5, n_frames=7, n_channels=2)
    bad = good.copy()
    bad[1, 1] = np.nan
    with pytest.raises(MaskFileError, match="NaN"):
        check_mask(bad, n_bins=5, n_frames=7, n_channels=1)
    with pytest.raises(MaskFileError, match=r"\[0, 1\]"):
        check_mask(good + 3, n_bins=5, n_frames=7, n_channels=1)
    c = check_mask(good + 3j, n_bins=5, n_frames=7, n_channels=1)  # complex may exceed one
    assert c.dtype == np.complex64


def test_maskset_layers_and_residual():
    ms = MaskSet(["voice", "drums"], np.array([[[0.25]], [[0.5]]]))
    assert ms.shape == (1, 1) and len(ms) == 2 and not ms.is_complex
    assert ms["drums"][0, 0] == 0.5 and ms["residual"][0, 0] == 0.25
    assert ms.with_residual().shape == (3, 1, 1)
    with pytest.raises(ParameterError, match="no layer named"):
        ms["bass"]
    for names in (["a", "a"], ["residual", "b"]):
        with pytest.raises(ParameterError, match="unique"):
            MaskSet(names, np.zeros((2, 1, 1)))


unit = st.floats(0, 1, width=32)


@settings(deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6),
                  elements=unit))
def test_property_partition_of_unity(m):
    """Sources plus residual sum to one wherever sources fit; the residual is never negative."""
    m = normalize(m)
    r = residual(m)
    assert r.min() >= 0 and r.max() <= 1
    np.testing.assert_allclose(m.sum(axis=0) + r, 1, atol=1e-5)
    np.testing.assert_allclose(invert(invert(m[0])), m[0], atol=1e-6)
    np.testing.assert_allclose(residual(m[:1]), invert(m[0]), atol=1e-6)
