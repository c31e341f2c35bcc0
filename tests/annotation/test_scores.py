"""Scores of edited masks against the stems, with the oracle's beside them."""

import dataclasses

import numpy as np
import pytest

from maskstudio.annotation.scores import MaskScorer, match_layers, stream_scores
from maskstudio.dsp.blockwise import ArrayReader
from maskstudio.dsp.metrics import bss_eval
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig, istft, stft
from maskstudio.errors import ParameterError

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def scorer():
    n = SR * 2
    refs = {"voice": harmonic(n)[None], "drums": clicks(n)[None]}
    mix = refs["voice"] + refs["drums"]
    return MaskScorer(mix, refs, CFG, oracle_kind="irm")


def _si_sdr_written_out(ref, est):
    ref = ref.ravel().astype(np.float64)
    est = est.ravel().astype(np.float64)
    ref, est = ref - ref.mean(), est - est.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * np.log10(np.sum(target ** 2) / np.sum((est - target) ** 2))


def test_scores_of_a_mask_match_an_independent_computation(scorer):
    om = scorer.oracle_masks()
    mask = np.clip(om[0] + 0.2 * (np.arange(om.shape[-1]) % 7 == 0), 0, 1)
    got = scorer.score({"voice": mask})["voice"]
    Y = stft(scorer.mixture, **CFG.kwargs())
    est = istft(Y * mask, length=scorer.mixture.shape[-1], **CFG.kwargs())
    assert got["si_sdr"] == pytest.approx(_si_sdr_written_out(scorer.references["voice"], est),
                                          abs=1e-3)
    sdr = bss_eval(scorer.references["voice"][None], est[None]).sdr[0, 0]
    assert got["sdr"] == pytest.approx(sdr, abs=1e-3)
    binary_e, binary_o = mask > 0.5, om[0] > 0.5
    iou = np.sum(binary_e & binary_o) / np.sum(binary_e | binary_o)
    assert got["iou"] == pytest.approx(iou)
    assert got["f1"] == pytest.approx(2 * iou / (1 + iou))


def test_the_oracle_scores_itself_perfectly_and_an_edit_away_from_it_scores_worse(scorer):
    oracle = scorer.oracle_scores()
    om = scorer.oracle_masks()
    assert oracle["voice"]["si_sdr"] > 10 and oracle["drums"]["si_sdr"] > 5
    same = scorer.score(dict(zip(scorer.names, om)))
    for n in scorer.names:
        assert same[n]["iou"] == 1.0 and same[n]["f1"] == 1.0
        assert same[n]["si_sdr"] == pytest.approx(oracle[n]["si_sdr"])
    worse = om.copy()
    worse[0][:, : om.shape[-1] // 2] = 0.5  # the first second left undecided
    worse[1] = 1 - worse[0]
    edited = scorer.score(dict(zip(scorer.names, worse)))
    for n in scorer.names:
        assert edited[n]["si_sdr"] < oracle[n]["si_sdr"] - 3
        assert edited[n]["sir"] < oracle[n]["sir"]
        assert edited[n]["iou"] < 0.9


def test_an_empty_mask_scores_nothing_and_a_missing_layer_is_left_out(scorer):
    F, T = CFG.n_bins, CFG.n_frames(scorer.mixture.shape[-1])
    got = scorer.score({"voice": np.zeros((F, T), np.float32)}, bss=False)
    assert set(got) == {"voice"} and "sdr" not in got["voice"]
    assert got["voice"]["iou"] == 0.0
    assert got["voice"]["si_sdr"] < -20 or not np.isfinite(got["voice"]["si_sdr"])


@pytest.mark.parametrize("stop_at", [1, 3])
def test_progress_may_cancel_scoring_and_bss_eval_midway(scorer, stop_at):
    class Stop(Exception):
        pass

    calls = []

    def progress(done, total):
        calls.append((done, total))
        if len(calls) == stop_at:
            raise Stop

    with pytest.raises(Stop):
        scorer.score(dict(zip(scorer.names, scorer.oracle_masks())), progress=progress)
    assert calls == [(1, 4), (2, 4), (2, 4)][:stop_at]  # the third from inside BSS Eval


def test_per_channel_masks_are_scored_against_per_channel_oracles():
    n = SR
    v, d = harmonic(n), clicks(n)
    refs = {"voice": np.stack([v, 0.5 * v]), "drums": np.stack([0.5 * d, d])}
    mix = refs["voice"] + refs["drums"]
    sc = MaskScorer(mix, refs, CFG, per_channel=True)
    om = sc.oracle_masks()
    assert om.shape == (2, 2, CFG.n_bins, CFG.n_frames(n))
    got = sc.score({"voice": om[0]})
    assert got["voice"]["iou"] == 1.0 and got["voice"]["si_sdr"] > 10
    assert sc.oracle_store().dense(0).shape == om.shape[-2:]


def test_bad_inputs_say_what_is_wrong(scorer):
    with pytest.raises(ParameterError, match="no stem for bass"):
        scorer.score({"bass": np.zeros((3, 3))})
    with pytest.raises(ParameterError, match="grid"):
        scorer.score({"voice": np.zeros((3, 3))})
    with pytest.raises(ParameterError, match="oracle"):
        MaskScorer(scorer.mixture, scorer.references, CFG, oracle_kind="cirm")
    with pytest.raises(ParameterError, match="conform"):
        MaskScorer(scorer.mixture, {"voice": np.zeros((1, 5))}, CFG)
    with pytest.raises(ParameterError, match="at least one stem"):
        MaskScorer(scorer.mixture, {}, CFG)


@dataclasses.dataclass
class _L:
    name: str
    label: str = ""


def test_layers_match_stems_by_name_then_by_label():
    layers = [_L("source1", "voice"), _L("drums"), _L("voice2", "voice"), _L("x", "drums")]
    assert match_layers(layers, ["voice", "drums", "bass"]) == {"voice": 0, "drums": 1}


def test_bss_eval_is_redone_only_for_the_masks_that_changed(scorer, monkeypatch):
    import maskstudio.annotation.scores as lm

    calls = []
    real = lm.bss_eval

    def spy(*args, **kwargs):
        calls.append(kwargs.get("only"))
        return real(*args, **kwargs)
    monkeypatch.setattr(lm, "bss_eval", spy)
    om = scorer.oracle_masks()
    oracle = scorer.oracle_scores()
    assert calls == [[0, 1]]
    edited = om.copy()
    edited[0][:, 10:40] = 0  # the voice edited; the drums untouched (still the oracle's)
    got = scorer.score(dict(zip(scorer.names, edited)))
    assert calls[-1] == [0]
    assert got["drums"]["sdr"] == oracle["drums"]["sdr"]
    again = scorer.score(dict(zip(scorer.names, edited)))
    assert len(calls) == 2 and again == got  # nothing changed: nothing evaluated
    fresh = MaskScorer(scorer.mixture, scorer.references, CFG).score(
        dict(zip(scorer.names, edited)))
    for n in scorer.names:
        for k in ("sdr", "sir", "sar"):
            assert got[n][k] == pytest.approx(fresh[n][k], abs=1e-9)


def test_the_bss_stage_on_the_same_snapshot_does_not_resynthesize_again(scorer, monkeypatch):
    import maskstudio.annotation.scores as lm

    calls = []
    real = lm.resynthesize
    monkeypatch.setattr(lm, "resynthesize", lambda *a, **k: calls.append(1) or real(*a, **k))
    snapshot = dict(zip(scorer.names, scorer.oracle_masks() * 0.9))
    fast = scorer.score(snapshot, bss=False)
    full = scorer.score(snapshot, bss=True)
    assert len(calls) == 1
    assert {n: {k: full[n][k] for k in fast[n]} for n in full} == fast
    assert all("sdr" in full[n] for n in full) and "sdr" not in fast["voice"]
    scorer.score(dict(snapshot), bss=False)  # a new dict: new masks, computed afresh
    assert len(calls) == 2


def test_long_files_are_scored_block_by_block_as_whole_ones():
    """SI-SDR from running sums and IoU/F1 from blocks equal the whole-signal scorer's."""
    rng = np.random.default_rng(3)
    n = 40000
    voice = (0.3 * np.sin(np.arange(n) * 0.05)[None] * np.ones((2, 1))).astype(np.float32)
    drums = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    mix = voice + drums
    cfg = STFTConfig(n_fft=512, hop_length=128)
    refs = {"voice": voice, "drums": drums}
    whole = MaskScorer(mix, refs, cfg, oracle_kind="wiener")
    masks = whole.oracle_masks().copy()
    masks[0, :, : masks.shape[-1] // 3] *= 0.3  # an edited layer, not the oracle
    want = whole.score(dict(zip(whole.names, masks)), bss=False)
    got = stream_scores(ArrayReader(mix), {k: ArrayReader(v) for k, v in refs.items()},
                        lambda t0, t1: masks[..., t0:t1], cfg, oracle_kind="wiener")
    for name in refs:
        assert got[name]["si_sdr"] == pytest.approx(want[name]["si_sdr"], abs=1e-3)
        assert got[name]["iou"] == pytest.approx(want[name]["iou"], abs=1e-3)
        assert got[name]["f1"] == pytest.approx(want[name]["f1"], abs=1e-3)
    assert got["voice"]["iou"] < 0.99  # the edit shows


def test_si_sdr_is_each_channel_s_own_and_their_mean_whole_and_block_by_block():
    """A stereo stem whose right channel is 20 dB quieter: flattening the channels would let
    the loud one decide; the live scores say each channel's SI-SDR and their mean."""
    rng = np.random.default_rng(4)
    n = 30000
    voice = np.sin(np.arange(n) * 0.05)[None] * np.array([[0.3], [0.03]])
    drums = 0.05 * rng.standard_normal((2, n))
    mix = (voice + drums).astype(np.float32)
    refs = {"voice": voice.astype(np.float32), "drums": drums.astype(np.float32)}
    cfg = STFTConfig(n_fft=512, hop_length=128)
    whole = MaskScorer(mix, refs, cfg, oracle_kind="wiener")
    masks = whole.oracle_masks()
    got = whole.score(dict(zip(whole.names, masks)), bss=False)["voice"]
    est = resynthesize(mix, masks[[whole.names.index("voice")]], cfg,
                       include_residual=False)[0]
    per = [_si_sdr_written_out(refs["voice"][c], est[c]) for c in range(2)]
    assert got["si_sdr_channels"] == pytest.approx(per, abs=1e-3)
    assert got["si_sdr"] == pytest.approx(np.mean(per), abs=1e-3)
    flat = _si_sdr_written_out(refs["voice"], est)
    assert abs(flat - np.mean(per)) > 1  # the flattened figure would say something else
    streamed = stream_scores(ArrayReader(mix), {k: ArrayReader(v) for k, v in refs.items()},
                             lambda t0, t1: masks[..., t0:t1], cfg, oracle_kind="wiener")
    assert streamed["voice"]["si_sdr_channels"] == pytest.approx(per, abs=1e-3)
    assert streamed["voice"]["si_sdr"] == pytest.approx(got["si_sdr"], abs=1e-3)
