"""BSS Eval v4 equals museval's own figures: framewise, and as museval aggregates them.

Both sides are computed here, museval by its own ``evaluate`` and ``TrackStore`` (the JSON it
writes, read back by its ``json2df``).  Full-rank references, and amplitude-panned ones (a
source's channels proportional: a singular Gram matrix), which warn once.
"""

import json
import os
import pathlib
import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from maskstudio.dsp.bsseval import CollinearWarning, bss_eval_v4, museval_frames

pytestmark = pytest.mark.reference
SR = 8000


def _museval():
    try:
        import museval
        from museval.aggregate import TrackStore
    except (ImportError, RuntimeError) as exc:  # museval imports musdb, which needs ffmpeg
        if os.environ.get("CI"):  # CI installs it (.ci/run): compare with museval for real
            pytest.fail(f"museval must be importable in CI: {exc}")
        pytest.skip(f"museval cannot be imported here ({exc}): pip install -e '.[reference]'")
    return museval, TrackStore


def _sources(rng, n, panned):
    """Three stereo sources, one low-passed; with ``panned``, the first two are mono signals
    panned by gains (collinear channels), the third stays full-rank."""
    mono = rng.standard_normal((3, n))
    mono[0] = lfilter([1.0], [1.0, -0.9], mono[0])
    refs = rng.standard_normal((3, 2, n))
    refs[0, 0] = mono[0]
    if panned:
        refs[0] = mono[0] * np.array([[0.9], [0.35]])
        refs[1] = mono[1] * np.array([[0.3], [0.8]])
    return refs


def _estimates(rng, refs):
    est = refs + 0.3 * np.roll(refs, 1, axis=0) + 0.05 * rng.standard_normal(refs.shape)
    est[1, :, : SR // 2] = 0  # a silent stretch: museval's first frame is NaN
    est[2] = np.roll(est[2], 3, axis=-1)  # a delay: the filters' part
    return est


def _their_medians(museval, TrackStore, refs, est, names):
    """museval's figures: its evaluate, written by its TrackStore, aggregated as it does."""
    sdr, isr, sir, sar = museval.evaluate(np.moveaxis(refs, 1, 2), np.moveaxis(est, 1, 2),
                                          win=SR, hop=SR)
    store = TrackStore(track_name="t", win=1.0, hop=1.0)
    for i, name in enumerate(names):
        store.add_target(target_name=name, values={"SDR": sdr[i].tolist(),
                                                   "SIR": sir[i].tolist(),
                                                   "ISR": isr[i].tolist(),
                                                   "SAR": sar[i].tolist()})
    medians = store.df.groupby(["target", "metric"])["score"].median()
    return (sdr, isr, sir, sar), {k: np.array([medians[(n, k.upper())] for n in names])
                                  for k in ("sdr", "isr", "sir", "sar")}


@pytest.mark.parametrize("panned", [False, True])
def test_v4_equals_museval(panned):
    museval, TrackStore = _museval()
    rng = np.random.default_rng(3)
    n = int(SR * 5.6)  # a partial last window, dropped as museval's framing drops it
    refs = _sources(rng, n, panned)
    est = _estimates(rng, refs)
    names = ["a", "b", "c"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = bss_eval_v4(refs, est, samplerate=SR)
    theirs, their_medians = _their_medians(museval, TrackStore, refs, est, names)
    for mine, other in zip((ours.sdr, ours.isr, ours.sir, ours.sar), theirs):
        assert mine.shape == other.shape == (3, 5)
        np.testing.assert_allclose(mine, other, atol=1e-6)  # NaN where museval has NaN
    mine = ours.median()
    for k in ("sdr", "isr", "sir", "sar"):
        np.testing.assert_allclose(mine[k], their_medians[k], atol=0.01)
    collinear = [w for w in caught if issubclass(w.category, CollinearWarning)]
    if panned:
        assert ours.collinear == (0, 1)
        assert len(collinear) == 1  # once, one line, saying what and why
        text = str(collinear[0].message)
        assert "\n" not in text and "collinear" in text and "singular" in text
    else:
        assert ours.collinear == () and not collinear
    # the whole-signal figures come from the same filters: museval's with an infinite window
    whole = museval.evaluate(np.moveaxis(refs, 1, 2), np.moveaxis(est, 1, 2),
                             win=np.inf, hop=np.inf)
    for k, other in zip(("sdr", "isr", "sir", "sar"), whole):
        np.testing.assert_allclose(ours.whole[k], other[:, 0], atol=1e-6)


def test_museval_json_form_is_read_by_museval(tmp_path):
    museval, _ = _museval()
    from museval.aggregate import EvalStore, json2df

    rng = np.random.default_rng(5)
    refs = _sources(rng, SR * 3, panned=False)
    est = _estimates(rng, refs)
    res = bss_eval_v4(refs, est, samplerate=SR)
    form = museval_frames(res, ["vocals", "drums", "bass"])
    path = tmp_path / "track.json"
    path.write_text(json.dumps(form, indent=1))
    import jsonschema
    import simplejson

    data = simplejson.loads(path.read_text(), allow_nan=True)  # as museval reads its own
    schema = json.loads((pathlib.Path(museval.__path__[0]) / "musdb.schema.json").read_text())
    jsonschema.validate(data, schema)
    evals = EvalStore()
    evals.add_track(json2df(data, "track"))
    agg = evals.agg_frames_scores()
    med = res.median()
    for j, name in enumerate(["vocals", "drums", "bass"]):
        for k in ("sdr", "isr", "sir", "sar"):
            assert agg[("track", name, k.upper())] == pytest.approx(med[k][j], abs=1e-4)
    for j in range(3):  # every frame as computed, NaN (a frame museval cannot score) kept
        written = [f["metrics"]["SDR"] for f in data["targets"][j]["frames"]]
        np.testing.assert_allclose(np.array(written, dtype=float), res.sdr[j], atol=1e-4,
                                   equal_nan=True)
