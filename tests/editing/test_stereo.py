"""Stereo as a first-class citizen: per-channel layers from the start, the mid, side and
channel views, edits of one channel or of all (the link), the per-channel oracle by default,
and older shared layers (projects, journals) widened when they open."""

import dataclasses

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from maskstudio.annotation.journal import Journal
from maskstudio.annotation.project import load_project, recover, save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing import sources
from maskstudio.editing.channels import view_signal
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke, rectangle
from maskstudio.editing.spectrogram import SpectrogramImage
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import AudioClip, load_audio

from ..conftest import SR, clicks, harmonic, noise

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A stereo mixture whose sources sit differently in the two channels (voice mostly left,
    drums mostly right), so per-channel masks differ from shared ones, and its stems."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = SR * 2 + 31
    voice = np.stack([harmonic(n), 0.15 * harmonic(n, f0=330.0)])
    drums = np.stack([0.2 * clicks(n) + noise(n, seed=8, level=0.002),
                      clicks(n, seed=4) + noise(n, seed=7, level=0.02)])
    paths = {"mix": tmp_path / "mix.wav", "voice": tmp_path / "voice.wav",
             "drums": tmp_path / "drums.wav"}
    sf.write(str(paths["mix"]), (voice + drums).T, SR, subtype="FLOAT")
    sf.write(str(paths["voice"]), voice.T, SR, subtype="FLOAT")
    sf.write(str(paths["drums"]), drums.T, SR, subtype="FLOAT")
    return paths


def _stems(files):
    return {"voice": str(files["voice"]), "drums": str(files["drums"])}


def _scipy_stft(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Each channel's STFT by scipy (hann, zero-padded centre frames), ``[C, F, T]``."""
    _, _, Z = scipy.signal.stft(x, fs=SR, window="hann", nperseg=CFG.n_fft,
                                noverlap=CFG.n_fft - CFG.hop_length, boundary="zeros",
                                padded=True)
    return Z[..., :n_frames]


def _direct(kind: str, S: list, Y: np.ndarray) -> np.ndarray:
    """The masks of the DESIGN notes, per channel, from the stems' STFTs ``[C, F, T]`` (the
    rest of the mixture ``Y``, its float rounding here, counts as one more source)."""
    eps = 1e-30  # scipy scales by 1 / sum(window): quiet bins are small numbers
    power = [np.abs(s) ** 2 for s in S]
    total = sum(power) + np.abs(Y - sum(S)) ** 2
    if kind == "wiener":
        return np.stack([p / np.maximum(total, eps) for p in power])
    if kind == "irm":  # p = 2, beta = 0.5
        return np.stack([np.sqrt(p / np.maximum(total, eps)) for p in power])
    assert kind == "ibm"  # local criterion 0 dB: the source louder than the others together
    return np.stack([(np.abs(s) > np.abs(Y - s)).astype(np.float64) for s in S])


@pytest.mark.parametrize("kind", ["ibm", "irm", "wiener"])
def test_the_oracle_is_per_channel_by_default_and_equals_a_direct_computation(files, kind):
    doc = Document(load_audio(files["mix"]), CFG)
    assert doc.store.lead == (2,)  # per-channel layers from the start
    idx = sources.add_oracle_layers(doc, kind, _stems(files))
    got = np.stack([doc.store.dense(i) for i in idx])  # [N, C, F, T]
    stems = [sf.read(str(files[n]), dtype="float64")[0].T for n in ("voice", "drums")]
    S = [_scipy_stft(s, doc.n_frames) for s in stems]
    mix = _scipy_stft(sf.read(str(files["mix"]), dtype="float64")[0].T, doc.n_frames)
    want = _direct(kind, S, mix)
    want /= np.maximum(want.sum(axis=0), 1.0)  # layers sum to one at most (an IRM's do not)
    assert got.shape == want.shape == (2, 2, doc.n_bins, doc.n_frames)
    # where there is sound: in bins 100 dB below a channel's loudest, silence guards differ
    total = sum(np.abs(s) ** 2 for s in S)
    heard = np.broadcast_to(total > 1e-10 * total.max(axis=(-2, -1), keepdims=True), got.shape)
    assert heard.mean() > 0.9
    if kind == "ibm":  # binary: equal but for bins within float rounding of the criterion
        assert np.mean(got[heard] != want[heard]) < 1e-4
    else:
        assert np.abs(got - want)[heard].max() <= 1 / 255 + 1e-4  # the tiles' precision
    # the shared (pooled) oracle is not that: it differs where the channels differ
    shared = Document(load_audio(files["mix"]), CFG)
    sh = sources.add_oracle_layers(shared, kind, _stems(files), shared=True)
    pooled = np.stack([shared.store.dense(i) for i in sh])
    np.testing.assert_array_equal(pooled[:, 0], pooled[:, 1])
    assert np.abs(pooled - want)[heard].max() > 0.3


def test_a_mono_document_keeps_shared_layers(tmp_path):
    sf.write(str(tmp_path / "mono.wav"), harmonic(SR), SR, subtype="FLOAT")
    doc = Document(load_audio(tmp_path / "mono.wav"), CFG)
    assert doc.store.lead == ()
    with pytest.raises(ParameterError, match="stereo"):
        doc.set_view_channel("side")


def _two_layers(doc):
    """Layers a (0.5 everywhere, both channels) and b (empty)."""
    a = doc.add_layer("a", np.full((doc.n_bins, doc.n_frames), 0.5, np.float32))
    return a, doc.add_layer("b")


def test_a_channel_edit_changes_only_its_channel_and_undo_restores_it(files):
    doc = Document(load_audio(files["mix"]), CFG)
    a, b = _two_layers(doc)
    before = doc.store.read([a, b], 0, doc.n_bins, 0, doc.n_frames)
    doc.set_view_channel(1)
    doc.link_channels = False
    assert doc.edit_channel == 1
    box, alpha = brush_stroke([(40, 30), (60, 50)], 8, 6, n_bins=doc.n_bins,
                              n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(b, box, alpha, 1.0)
    doc.end_edit()
    after = doc.store.read([a, b], 0, doc.n_bins, 0, doc.n_frames)
    np.testing.assert_array_equal(after[:, 0], before[:, 0])  # channel 1 untouched
    assert after[1, 1].max() == 1.0 and not np.array_equal(after[:, 1], before[:, 1])
    assert after[0, 1].min() < 0.5  # what b gained in channel 2 came from a there
    assert after.sum(axis=0).max() <= 1 + 1e-6  # the partition holds in each channel
    # operations too: invert and threshold in channel 2 only
    sel = rectangle(10, 90, 5, 80, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.invert(a, sel)
    doc.threshold(b, -30.0, selection=sel)
    now = doc.store.read([a, b], 0, doc.n_bins, 0, doc.n_frames)
    np.testing.assert_array_equal(now[:, 0], before[:, 0])
    doc.history.undo()
    doc.history.undo()
    doc.history.undo()
    np.testing.assert_array_equal(doc.store.read([a, b], 0, doc.n_bins, 0, doc.n_frames),
                                  before)
    doc.history.redo()
    np.testing.assert_array_equal(doc.store.read([a, b], 0, doc.n_bins, 0, doc.n_frames),
                                  after)


@pytest.mark.parametrize("view, linked", [(1, True), ("mid", False), ("side", False)])
def test_linked_or_mid_and_side_edits_change_every_channel(files, view, linked):
    doc = Document(load_audio(files["mix"]), CFG)
    a, b = _two_layers(doc)
    doc.set_view_channel(view)
    doc.link_channels = linked
    assert doc.edit_channel is None
    box, alpha = brush_stroke([(40, 30)], 8, 6, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(b, box, alpha, 1.0)
    values = doc.store.read([b], 0, doc.n_bins, 0, doc.n_frames)[0]
    np.testing.assert_array_equal(values[0], values[1])
    assert values.max() == 1.0


def test_the_side_view_is_the_spectrogram_of_half_the_difference(files):
    clip = load_audio(files["mix"])
    doc = Document(clip, CFG)
    doc.set_view_channel("side")
    assert doc.spectrogram.channel == "side"
    side = ((clip.samples[0] - clip.samples[1]) / 2).astype(np.float32)
    np.testing.assert_allclose(view_signal(clip.samples, "side"), side, atol=1e-7)
    alone = SpectrogramImage(side[None], CFG, "mid")
    for image in (doc.spectrogram, alone):
        for b in range(image.n_blocks):
            image.compute_block(b)
    diff = doc.spectrogram.levels.astype(int) - alone.levels.astype(int)
    assert np.abs(diff).max() <= 1  # the same dB image, to the 0.5 dB step
    mid = SpectrogramImage(clip.samples, CFG, "mid")
    for b in range(mid.n_blocks):
        mid.compute_block(b)
    assert np.abs(mid.levels.astype(int) - alone.levels.astype(int)).mean() > 1  # not the mid


def test_the_status_values_follow_the_channel_on_view(files):
    doc = Document(load_audio(files["mix"]), CFG)
    a, b = _two_layers(doc)
    doc.set_view_channel(0)
    doc.link_channels = False
    doc.apply(b, rectangle(20, 20, 10, 10, n_bins=doc.n_bins, n_frames=doc.n_frames)[0],
              np.ones((1, 1), np.float32), 0.5)
    assert doc.values_at(20, 10) == {"a": 0.5, "b": 0.5, "residual": 0.0}
    doc.set_view_channel(1)
    assert doc.values_at(20, 10) == {"a": 0.5, "b": 0.0, "residual": 0.5}
    doc.set_view_channel("mid")
    assert doc.values_at(20, 10)["b"] == 0.25


def test_the_journal_recovers_a_per_channel_edit_exactly(files):
    doc = Document(load_audio(files["mix"]), CFG)
    j = Journal.start(doc, files["mix"].with_suffix(".journal"))
    a, b = _two_layers(doc)
    doc.set_view_channel(1)
    doc.link_channels = False
    box, alpha = brush_stroke([(30, 20), (70, 60)], 7, 5, n_bins=doc.n_bins,
                              n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(b, box, alpha, 0.8)
    doc.end_edit()
    doc.link_channels = True
    doc.apply(a, box.grow(0, 9).clip(doc.n_bins, doc.n_frames),
              np.ones(box.grow(0, 9).clip(doc.n_bins, doc.n_frames).shape, np.float32), 0.1)
    doc.history.undo()  # the linked edit, undone: journaled too
    j.close()
    fresh = Document(load_audio(files["mix"]), CFG)
    recover(files["mix"].with_suffix(".journal"), fresh)
    assert fresh.store.lead == (2,)
    for i in (a, b):
        np.testing.assert_array_equal(fresh.store.dense(i), doc.store.dense(i))
    assert not fresh.store.dense(b)[0].any() and fresh.store.dense(b)[1].max() > 0.5


def _shared_session(files) -> Document:
    """A document as an older version kept it: a stereo file with shared layers."""
    doc = Document(load_audio(files["mix"]), CFG)
    doc.make_grid(())
    return doc


def test_shared_layers_saved_before_open_widened(files, tmp_path):
    old = _shared_session(files)
    old.add_layer("a", np.linspace(0, 1, old.n_frames, dtype=np.float32)[None].repeat(
        old.n_bins, 0))
    shared = old.store.dense(0)
    assert shared.shape == (old.n_bins, old.n_frames)
    # a project of shared layers
    project = save_project(old, tmp_path / "old.msproj")
    old.close()
    doc = load_project(project)
    assert doc.store.lead == (2,)
    np.testing.assert_array_equal(doc.store.dense(0), np.stack([shared, shared]))
    doc.close()
    # a state of shared layers (a project's, a journal's)
    state = dataclasses.replace(old.state(), lead=())
    fresh = Document.from_state(load_audio(files["mix"]), state)
    np.testing.assert_array_equal(fresh.store.dense(0), np.stack([shared, shared]))


def test_a_journal_of_shared_layers_recovers_onto_per_channel_ones(files):
    old = _shared_session(files)
    path = files["mix"].with_suffix(".journal")
    Journal.start(old, path)
    old.add_layer("a")
    old.add_layer("b", np.full((old.n_bins, old.n_frames), 0.25, np.float32))
    box, alpha = brush_stroke([(30, 20), (50, 40)], 6, 6, n_bins=old.n_bins,
                              n_frames=old.n_frames)
    old.apply(0, box, alpha, 1.0)
    old.journal.close()
    doc = Document(load_audio(files["mix"]), CFG)
    recover(path, doc)
    assert doc.store.lead == (2,)
    for i in (0, 1):
        want = old.store.dense(i)
        np.testing.assert_array_equal(doc.store.dense(i), np.stack([want, want]))


def test_an_array_document_of_stereo_starts_per_channel():
    clip = AudioClip(np.stack([harmonic(SR), noise(SR)]), SR)
    doc = Document(clip, CFG)
    assert doc.store.lead == (2,) and doc.view_channel == "mid" and doc.link_channels


def test_an_edit_of_equal_channels_is_the_full_edit_exactly():
    """Channels holding the same values are edited once and the result given to each: bit
    for bit what editing every channel gives (the brush's common case, at half the cost)."""
    from maskstudio.editing.channels import edit_channels
    from maskstudio.editing.edits import edit_layer

    rng = np.random.default_rng(4)
    one = rng.random((3, 20, 30)).astype(np.float32) / 3
    old = np.stack([one, one], axis=1)  # [L, C, h, w], equal channels
    alpha = rng.random((20, 30)).astype(np.float32)
    for target in (1.0, 0.0, rng.random((20, 30)).astype(np.float32)):
        for locked in ([False] * 3, [False, False, True]):
            got = edit_channels(old, 1, target, alpha, locked, None)
            np.testing.assert_array_equal(got, edit_layer(old, 1, target, alpha, locked))
    differ = old.copy()
    differ[:, 1] *= 0.5  # unequal channels: the full edit
    np.testing.assert_array_equal(edit_channels(differ, 0, 1.0, alpha, [False] * 3, None),
                                  edit_layer(differ, 0, 1.0, alpha, [False] * 3))


def test_a_redone_layer_whose_name_was_taken_meanwhile_gets_a_free_one():
    """Found by the journal's state machine: add 'voice', rename it 'lead', undo, name another
    layer 'lead', redo: two layers named 'lead' made a project that could not be opened."""
    doc = Document(AudioClip(noise(SR)[None], SR), CFG)
    doc.add_layer("a")
    doc.add_layer("voice")
    doc.set_layer(1, name="lead")
    doc.history.undo()
    doc.set_layer(0, name="lead")
    doc.history.redo()
    assert [layer.name for layer in doc.layers] == ["lead", "lead2"]
