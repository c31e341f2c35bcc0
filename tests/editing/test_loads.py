"""Loads that respect the partition, mask files on the view's grid, STFT defaults by rate.

The class of bug: a load (oracle, separator, a model's file) appended its layers beside the
existing ones, so bins summed past one.  Every load now goes through
:func:`maskstudio.editing.loads.load_layers`; these tests attack its arithmetic (fuzzed), its
single undo step, its journal and its refusals, and the grid a file is read on.
"""

import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import maskstudio.editing.loads as loads
from maskstudio.annotation.journal import Journal, apply_record
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document, GridMismatchError
from maskstudio.editing.edits import rectangle
from maskstudio.editing.hearing import complex_data
from maskstudio.editing.loads import share_block
from maskstudio.errors import MaskFileError, ParameterError
from maskstudio.io.audiofile import AudioClip, load_audio

from ..conftest import SR, clicks, harmonic

GRID = STFTConfig(n_fft=64, hop_length=16)
TOL = 1e-6


def _doc(seconds=0.5):
    n = int(SR * seconds)
    return Document(AudioClip((harmonic(n) + clicks(n))[None], SR), GRID)


def _masks(doc, n, seed, *, total=1.0):
    """``n`` soft masks on the doc's grid that sum to ``total`` in every bin."""
    rng = np.random.default_rng(seed)
    m = rng.random((n, doc.n_bins, doc.n_frames)) + 1e-3
    return (total * m / m.sum(axis=0)).astype(np.float32)


def _sum(doc):
    return sum((doc.store.dense(i) for i in range(len(doc.layers))),
               np.zeros((doc.n_bins, doc.n_frames), np.float32))


def _state(doc):
    return ([(la.name, la.uid, la.locked, dict(la.provenance)) for la in doc.layers],
            [doc.store.dense(i).copy() for i in range(len(doc.layers))])


def _assert_state(doc, state):
    meta, dense = _state(doc)
    assert meta == state[0]
    assert len(dense) == len(state[1])
    for got, want in zip(dense, state[1]):
        np.testing.assert_array_equal(got, want)


# -- the arithmetic, fuzzed ---------------------------------------------------------------------
def _partition(data, k, shape):
    """``k`` layers in [0, 1] whose sum is at most one in every bin."""
    size = k * math.prod(shape)
    raw = np.array(data.draw(st.lists(st.floats(0, 1, allow_subnormal=False), min_size=size,
                                      max_size=size))).reshape((k,) + shape)
    budget = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.3, 1.0]),
                                         min_size=math.prod(shape),
                                         max_size=math.prod(shape)))).reshape(shape)
    s = raw.sum(axis=0)
    return raw * np.where(s > budget, budget / np.where(s > 0, s, 1), 1)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_mode_keeps_each_bin_at_most_one_and_does_its_own_arithmetic(data):
    shape = (3, 4)
    K, N = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 3))
    mode = data.draw(st.sampled_from(loads.LOAD_MODES))
    old = _partition(data, K, shape)
    new = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.0 + 1e-7]),
                                      min_size=N * 12, max_size=N * 12))).reshape((N,) + shape)
    locked = data.draw(st.lists(st.booleans(), min_size=K, max_size=K))
    replaced = [False] * K
    if mode == "replace":
        replaced = [r and not lk for r, lk in zip(
            data.draw(st.lists(st.booleans(), min_size=K, max_size=K)), locked)]
    out, got = share_block(old, new, mode=mode, locked=locked, replaced=replaced)
    kept = ~np.array(replaced, bool)
    lk = np.array(locked, bool)
    free = kept & ~lk
    m = np.clip(new, 0, 1)
    m = m / np.maximum(m.sum(axis=0), 1)  # the loaded set, made a partition itself
    # promises of every mode
    assert out.shape == old.shape and got.shape == new.shape
    assert (out >= 0).all() and (got >= 0).all() and (got <= m + 1e-12).all()
    np.testing.assert_array_equal(out[lk], old[lk])  # a lock is never broken
    np.testing.assert_array_equal(out[replaced], old[replaced])  # (they go, untouched)
    assert (out[free] <= old[free] + 1e-12).all()  # existing layers only ever give way
    assert (out[kept].sum(axis=0) + got.sum(axis=0) <= 1 + 1e-9).all()
    # each mode's own arithmetic
    room = 1 - old[kept & lk].sum(axis=0)
    if mode == "fill":
        np.testing.assert_array_equal(out, old)
        np.testing.assert_allclose(got, m * np.clip(1 - old.sum(axis=0), 0, 1), atol=1e-6)
    elif mode == "add":
        need = old[free].sum(axis=0) + m.sum(axis=0)
        fits = need <= room + 1e-12
        np.testing.assert_allclose(got[:, fits], m[:, fits], atol=1e-12)
        np.testing.assert_allclose(out[:, fits], old[:, fits], atol=1e-12)
        factor = np.where(fits, 1, room / np.where(need > 0, need, 1))
        np.testing.assert_allclose(got, m * factor, atol=1e-12)  # one factor for all
        np.testing.assert_allclose(out[free], old[free] * factor, atol=1e-12)
    else:
        fits = m.sum(axis=0) <= room + 1e-12
        np.testing.assert_allclose(got[:, fits], m[:, fits], atol=1e-12)  # the load wins
        left = room - got.sum(axis=0)
        enough = old[free].sum(axis=0) <= left + 1e-12
        np.testing.assert_allclose(out[free][:, enough], old[free][:, enough], atol=1e-6)
        full = out[kept].sum(axis=0) + got.sum(axis=0)  # locked + load + what was left
        np.testing.assert_allclose(full[~enough], 1, atol=1e-6)


def test_unknown_mode_is_refused_before_anything_changes():
    doc = _doc()
    with pytest.raises(ParameterError, match="load mode 'merge'"):
        doc.load_layers(["a"], _masks(doc, 1, 0), {"kind": "model"}, "load", mode="merge")
    assert doc.layers == [] and not doc.history.can_undo


# -- the document: loads, undo, journal ---------------------------------------------------------
@pytest.mark.parametrize("mode", loads.LOAD_MODES)
def test_loading_the_same_masks_twice_never_sums_past_one_and_undo_restores_exactly(
        mode, monkeypatch, tmp_path):
    monkeypatch.setattr(loads, "_BLOCK", 7)  # many blocks: their seams must not show
    doc = _doc()
    journal = tmp_path / "doc.journal"
    Journal.start(doc, journal)
    k = doc.add_layer("painted")
    doc.fill(k, rectangle(5, 20, 10, 200, n_bins=doc.n_bins, n_frames=doc.n_frames), 0.6)
    first = _masks(doc, 2, 1)
    second = _masks(doc, 2, 2)
    before = _state(doc)
    steps = len(doc.history)
    report = doc.load_layers(["voice", "music"], first, {"kind": "oracle"}, "oracle", mode=mode)
    assert len(doc.history) == steps + 1  # one undo step
    assert _sum(doc).max() <= 1 + TOL
    after_first = _state(doc)
    report = doc.load_layers(["voice", "music"], second, {"kind": "oracle"}, "oracle 2",
                             mode=mode)
    assert len(doc.history) == steps + 2
    total = _sum(doc)
    assert total.max() <= 1 + TOL
    names = [la.name for la in doc.layers]
    if mode == "replace":
        assert names == ["painted", "voice", "music"] and report.replaced == ["voice", "music"]
        np.testing.assert_allclose(doc.store.dense(1), second[0], atol=1e-7)  # the load wins
        np.testing.assert_array_equal(doc.store.dense(0), 0)  # nothing left for 'painted'
        assert report.scaled == []  # 'painted' had already given way to the first load
    elif mode == "add":
        assert names == ["painted", "voice", "music", "voice2", "music2"]
        assert report.added == ["voice2", "music2"]
        assert report.scaled == ["painted", "voice", "music"]
        np.testing.assert_allclose(total, 1, atol=TOL)  # shared: the bin is full
    else:
        assert names == ["painted", "voice", "music", "voice2", "music2"]
        for i in (3, 4):
            np.testing.assert_array_equal(doc.store.dense(i), 0)  # no residual was left
        assert report.scaled == []
    after_second = _state(doc)
    doc.history.undo()
    _assert_state(doc, after_first)
    doc.history.undo()
    _assert_state(doc, before)
    doc.history.redo()
    doc.history.redo()
    _assert_state(doc, after_second)
    # the journal replays to the same layers, values and names
    doc.close()
    fresh = _doc()
    _, records, _ = Journal.scan(journal)
    for header, payload in records:
        apply_record(fresh, header, payload)
    _assert_state(fresh, after_second)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("replace", "add", "fill", "undo", "redo")),
                          st.sampled_from((("voice",), ("voice", "music"), ("drums",))),
                          st.integers(0, 3)), min_size=1, max_size=8))
def test_any_sequence_of_loads_undos_and_redos_keeps_the_partition(actions):
    doc = _doc(0.25)
    start = _state(doc)
    for what, names, seed in actions:
        if what == "undo":
            doc.history.undo()
        elif what == "redo":
            doc.history.redo()
        else:
            doc.load_layers(list(names), _masks(doc, len(names), seed, total=0.3 + 0.3 * seed),
                            {"kind": "model"}, "load", mode=what)
        assert _sum(doc).max() <= 1 + TOL
        assert len({la.name for la in doc.layers}) == len(doc.layers)
    while doc.history.undo() is not None:
        pass
    _assert_state(doc, start)


def test_locks_hold_through_every_mode():
    doc = _doc()
    a = doc.add_layer("voice")
    doc.fill(a, rectangle(0, doc.n_bins, 0, doc.n_frames, n_bins=doc.n_bins,
                          n_frames=doc.n_frames), 0.7)
    doc.set_layer(a, locked=True)
    held = doc.store.dense(a).copy()
    before, steps = _state(doc), len(doc.history)
    with pytest.raises(ParameterError, match="'voice' is locked.*'add' or 'fill'"):
        doc.load_layers(["voice"], _masks(doc, 1, 0), {"kind": "model"}, "load",
                        mode="replace")
    _assert_state(doc, before)
    assert len(doc.history) == steps
    for mode in ("add", "fill"):
        doc.load_layers(["voice"], _masks(doc, 1, 0), {"kind": "model"}, "load", mode=mode)
        np.testing.assert_array_equal(doc.store.dense(a), held)
        assert _sum(doc).max() <= 1 + TOL
    np.testing.assert_allclose(doc.store.dense(1), 0.3, atol=1e-6)  # the room the lock left


def test_replace_keeps_the_layer_s_look_and_takes_the_load_s_provenance():
    doc = _doc()
    doc.load_layers(["voice", "music"], _masks(doc, 2, 0), {"kind": "oracle"}, "oracle")
    doc.set_layer(0, color=(1, 2, 3), label="lead")
    doc.load_layers(["voice"], _masks(doc, 1, 5, total=0.5), {"kind": "model", "file": "m"},
                    "model", mode="replace")
    voice = doc.layers[0]
    assert (voice.color, voice.label, voice.provenance) == ((1, 2, 3), "lead",
                                                             {"kind": "model", "file": "m"})
    # the music layer was scaled to make room: it is an edited oracle now
    assert doc.layers[1].provenance.get("edited") is True


def test_bad_loads_change_nothing():
    doc = _doc()
    doc.add_layer("painted")
    before = _state(doc)
    m = _masks(doc, 2, 0)
    for names, data, match in [
            (["a", "a"], m, "twice"), (["a", "../b"], m, "name"),
            (["a"], m[:1, :-1], "do not fit"),
            (["a", "b"], np.where(m > 0.5, np.nan, m), "NaN")]:
        with pytest.raises((MaskFileError, ParameterError), match=match):
            doc.load_layers(names, data, {"kind": "model"}, "load", mode="add")
        _assert_state(doc, before)


def test_complex_masks_are_scaled_with_their_magnitude():
    doc = _doc()
    doc.load_layers(["a"], _masks(doc, 1, 0, total=0.5), {"kind": "model"}, "first")
    rng = np.random.default_rng(3)
    phase = np.exp(1j * rng.uniform(0, 2 * np.pi, (1, doc.n_bins, doc.n_frames)))
    c = (0.8 * phase).astype(np.complex64)
    idx = doc.add_layers(["c"], c, {"kind": "oracle", "mask": "cirm"}, "cirm", mode="add")
    got = complex_data(doc, idx)[0]
    np.testing.assert_allclose(np.abs(got), doc.store.dense(idx[0]), atol=1e-6)
    np.testing.assert_allclose(np.angle(got * np.conj(c[0])), 0, atol=1e-5)
    assert _sum(doc).max() <= 1 + TOL


# -- mask files on the view's grid --------------------------------------------------------------
def test_a_bare_npy_loads_on_the_view_s_grid_and_a_transposed_one_is_explained(tmp_path):
    doc = _doc()
    m = _masks(doc, 1, 0, total=0.5)[0]
    np.save(tmp_path / "voice.npy", m)
    assert doc.load_model_masks(tmp_path / "voice.npy") == [0]
    assert doc.layers[0].name == "voice"
    np.testing.assert_array_equal(doc.store.dense(0), m)
    np.save(tmp_path / "t.npy", m.T)
    with pytest.raises(MaskFileError, match="transpose"):
        doc.read_model_masks(tmp_path / "t.npy")
    assert len(doc.layers) == 1


def test_an_npz_on_another_grid_says_which_so_the_view_can_switch(tmp_path):
    doc = _doc()
    other = STFTConfig(n_fft=128, hop_length=32)
    T = other.n_frames(doc.clip.n_samples)
    m = np.full((1, other.n_bins, T), 0.25, np.float32)
    np.savez(tmp_path / "m.npz", masks=m, names=np.array(["model"]), n_fft=128,
             hop_length=32, samplerate=SR)
    with pytest.raises(GridMismatchError, match="n_fft=128") as err:
        doc.load_model_masks(tmp_path / "m.npz")
    assert err.value.config == other and doc.layers == []
    doc.set_config(err.value.config)
    assert doc.load_model_masks(tmp_path / "m.npz", mode="replace") == [0]
    np.testing.assert_array_equal(doc.store.dense(0), m[0])


# -- STFT defaults that follow the sample rate --------------------------------------------------
@pytest.mark.parametrize("sr, n_fft", [(8000, 512), (16000, 1024), (22050, 1024),
                                       (44100, 2048), (48000, 2048), (96000, 4096)])
def test_the_default_window_is_about_46_ms_at_every_rate(sr, n_fft):
    cfg = STFTConfig.for_samplerate(sr)
    assert (cfg.n_fft, cfg.hop_length, cfg.win_length) == (n_fft, n_fft // 4, n_fft)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10_000_000))
def test_any_rate_gets_a_power_of_two_near_46_ms(sr):
    cfg = STFTConfig.for_samplerate(sr)
    assert cfg.n_fft & (cfg.n_fft - 1) == 0 and cfg.hop_length == cfg.n_fft // 4
    if 32 < sr * loads_window() < 65536:
        assert abs(math.log2(cfg.n_fft / (sr * loads_window()))) <= 0.5 + 1e-9


def loads_window():
    from maskstudio.dsp.stft import WINDOW_SECONDS

    return WINDOW_SECONDS


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "44100", 1e12])
def test_a_bad_rate_is_refused_in_one_line(bad):
    with pytest.raises(ParameterError, match="samplerate"):
        STFTConfig.for_samplerate(bad)


def test_explicit_settings_are_kept_and_a_document_defaults_to_its_rate(write_wav):
    assert STFTConfig.for_samplerate(16000, hop_length=100).hop_length == 100
    path = write_wav("speech.wav", harmonic(SR // 2), sr=SR)
    assert Document(load_audio(path)).config == STFTConfig(n_fft=1024, hop_length=256)
    sf.write(str(path), np.zeros(44100 // 4, np.float32), 44100)
    assert Document(load_audio(path)).config == STFTConfig(n_fft=2048, hop_length=512)
