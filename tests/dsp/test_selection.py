"""Selections from the sound (magic wand, local threshold) and moving shares between layers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maskstudio.dsp.selection import (
    cast_over,
    learn_offset,
    local_threshold,
    magic_wand,
    move_share,
)
from maskstudio.errors import ParameterError


def _scene():
    rng = np.random.default_rng(0)
    level = -60 + rng.uniform(-1, 1, (64, 80)).astype(np.float32)  # a quiet floor
    level[10:20, 5:40] = -20 + rng.uniform(-1, 1, (10, 35))         # a loud blob
    level[10:20, 50:70] = -20                                       # another, apart from it
    level[30, 0:80] = -10                                           # a loud line
    return level


def test_the_wand_stops_at_a_level_edge():
    level = _scene()
    got = magic_wand(level, (15, 10), tolerance_db=6)
    want = np.zeros(level.shape, bool)
    want[10:20, 5:40] = True
    np.testing.assert_array_equal(got, want)  # not the other blob, not the floor or the line
    floor = magic_wand(level, (50, 10), tolerance_db=6)
    assert floor.sum() == 33 * 80  # the floor below the loud line, which cuts it in two


def test_the_wand_follows_corners_only_with_8_connectivity():
    level = np.full((5, 5), -60.0)
    level[1, 1] = level[2, 2] = level[3, 3] = 0.0
    assert magic_wand(level, (1, 1), connectivity=8).sum() == 3
    assert magic_wand(level, (1, 1), connectivity=4).sum() == 1


def test_the_wand_within_a_layer_s_share():
    level = _scene()
    share = np.zeros(level.shape, bool)
    share[:, :20] = True
    got = magic_wand(level, (15, 10), within=share)
    assert got.sum() == 10 * 15 and not got[:, 20:].any()
    assert not magic_wand(level, (15, 30), within=share).any()  # a seed outside the share


def test_local_threshold_picks_what_stands_out_and_learn_sets_it_from_an_example():
    rng = np.random.default_rng(1)
    level = (-60 + 3 * rng.standard_normal((128, 200))).astype(np.float32)
    level[40, :] = -25           # a steady partial
    level[:, 100] += 10          # a broadband click, 10 dB up
    mean = local_threshold(level, offset_db=15)
    assert mean[40].all() and mean.sum() - 200 < 0.001 * mean.size  # the partial stands out,
    assert mean[:, 100].sum() < 5                                      # not the click
    example = np.zeros(level.shape, bool)
    example[40, 20:60] = True
    offset = learn_offset(level, example, keep=1.0)
    learned = local_threshold(level, offset_db=offset)
    assert learned[40].all() and learned.sum() < 400
    peak = local_threshold(level, offset_db=0, reference="peak")
    assert peak[40, :80].all() and not peak[40, 90:100].any()  # the peak, but near the click


@pytest.mark.parametrize("call", [
    lambda lv: magic_wand(lv, (999, 0)),
    lambda lv: magic_wand(lv, (0, 0), connectivity=6),
    lambda lv: magic_wand(lv, (0, 0), tolerance_db=-1),
    lambda lv: local_threshold(lv, reference="median"),
    lambda lv: local_threshold(lv, bins=0),
    lambda lv: learn_offset(lv, np.zeros(lv.shape, bool)),
    lambda lv: magic_wand(lv[0], (0, 0)),
    lambda lv: move_share(np.zeros((2, 4, 4)), 0, 0, 1.0),
    lambda lv: move_share(np.zeros((2, 4, 4)), None, None, 1.0),
    lambda lv: move_share(np.zeros((2, 4, 4)), 0, 5, 1.0),
])
def test_bad_requests_are_one_clear_error(call):
    with pytest.raises(ParameterError):
        call(_scene())


@st.composite
def partitions(draw):
    L = draw(st.integers(1, 4))
    raw = draw(arrays(np.float32, (L + 1, 2, 3, 5), elements=st.floats(0, 1, width=32)))
    masks = raw[:L] / np.maximum(raw.sum(axis=0), 1e-3)
    return np.minimum(masks, 1).astype(np.float32)


@settings(max_examples=200, deadline=None)
@given(partitions(), st.data())
def test_moving_a_share_keeps_the_partition(masks, data):
    L = masks.shape[0]
    ends = [None, *range(L)]
    src = data.draw(st.sampled_from(ends))
    dst = data.draw(st.sampled_from([e for e in ends if e != src]))
    amount = data.draw(arrays(np.float32, masks.shape[1:], elements=st.floats(0, 1, width=32)))
    out = move_share(masks, src, dst, amount)
    total = out.sum(axis=0)
    assert out.min() >= 0 and total.max() <= 1 + 1e-5
    untouched = [k for k in range(L) if k not in (src, dst)]
    np.testing.assert_array_equal(out[untouched], masks[untouched])
    if src is not None and dst is not None:  # between layers: the residual is unchanged
        np.testing.assert_allclose(total, masks.sum(axis=0), atol=1e-5)
    if src is not None:
        np.testing.assert_allclose(out[src], masks[src] * (1 - amount), atol=1e-6)


def test_cast_takes_only_where_the_layer_over_is_present():
    masks = np.zeros((2, 1, 4), np.float32)
    masks[0, 0] = [0.9, 0.6, 0.2, 0.0]   # "over"
    masks[1, 0] = [0.1, 0.4, 0.5, 1.0]   # "under"
    out = cast_over(masks, 0, 1)
    np.testing.assert_allclose(out[0, 0], [1.0, 1.0, 0.2, 0.0])
    np.testing.assert_allclose(out[1, 0], [0.0, 0.0, 0.5, 1.0])
