import importlib.metadata
import importlib.util
import pathlib

import numpy as np
import pytest

from maskstudio.dsp.metrics import bss_eval, mask_f1, mask_iou, si_sdr
from maskstudio.errors import ParameterError


def test_si_sdr_by_construction():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(10000)
    s -= s.mean()
    n = rng.standard_normal(10000)
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s  # orthogonal to s
    n *= np.linalg.norm(s) / np.linalg.norm(n) * 10 ** (-12 / 20)  # 12 dB below s
    assert si_sdr(s, 3.0 * s + 3.0 * n) == pytest.approx(12.0, abs=1e-9)  # scale-invariant
    assert si_sdr(s, 0.5 * s) == np.inf
    with pytest.raises(ParameterError):
        si_sdr(s, s[:-1])


def test_bss_eval_sees_interference_and_artifacts():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, 1, 8000))
    clean = bss_eval(refs, refs + 1e-3 * rng.standard_normal(refs.shape))
    leaky = bss_eval(refs, refs + 0.3 * refs[::-1])
    assert clean.sdr.min() > 40
    assert leaky.sir.max() < 15 and leaky.sar.min() > 40  # interference, not artifacts
    with pytest.raises(ParameterError, match="silent"):
        bss_eval(np.zeros((2, 1, 100)), refs[..., :100])


def _museval_metrics():
    """museval's metrics module alone: its package imports musdb, which wants ffmpeg."""
    try:
        dist = importlib.metadata.distribution("museval")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("museval is not installed (pip install -e '.[reference]')")
    path = pathlib.Path(dist.locate_file("museval/metrics.py"))
    spec = importlib.util.spec_from_file_location("museval_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.reference
@pytest.mark.parametrize("channels, centred", [(1, False), (2, False), (2, True)])
def test_bss_eval_matches_museval(channels, centred):
    museval = _museval_metrics()
    rng = np.random.default_rng(2)
    sr, n = 4000, 4000 * 3
    refs = rng.standard_normal((2, channels, n))
    refs[0] *= np.sin(np.arange(n) / 300)
    if centred:  # a source panned to the centre: its channels are one signal (singular Gram)
        refs[0, 1] = refs[0, 0]
    est = np.stack([0.7 * refs[0] + 0.2 * refs[1] + 0.05 * rng.standard_normal((channels, n)),
                    np.roll(refs[1], 2, axis=-1) + 0.1 * refs[0]])
    ours = bss_eval(refs, est, window=sr, hop=sr)
    theirs = museval.bss_eval(np.moveaxis(refs, 1, 2), np.moveaxis(est, 1, 2), window=sr, hop=sr)
    for mine, other in zip((ours.sdr, ours.isr, ours.sir, ours.sar), theirs[:4]):
        np.testing.assert_allclose(mine, other, atol=1e-6)


def test_mask_iou_and_f1():
    a = np.array([[1, 1, 0, 0]], np.float32)
    b = np.array([[0.9, 0.2, 0.7, 0.0]], np.float32)  # binarised: 1 0 1 0
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    assert mask_f1(a, b) == pytest.approx(0.5)
    assert mask_iou(np.zeros(3), np.zeros(3)) == 1.0
    with pytest.raises(ParameterError):
        mask_f1(a, b.T)
