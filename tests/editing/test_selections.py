"""The editing power tools on a document: harmonic selection read on demand, the wand on the
image's levels, local threshold, and shares moved between layers (one undo step each,
per channel, locks refused, journaled)."""

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.journal import Journal
from maskstudio.annotation.project import recover
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing import selections
from maskstudio.editing.document import Document
from maskstudio.editing.edits import Box, rectangle
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import load_audio

from ..conftest import SR

CFG = STFTConfig(n_fft=1024, hop_length=256)
F0 = 220.0


def vibrato_tone(n, f0=F0, n_harm=10):
    t = np.arange(n) / SR
    f = f0 * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    held = ((t >= 0.5) & (t < 2.0)).astype(np.float64)
    return held * sum(0.2 / h * np.sin(h * phase) for h in range(1, n_harm + 1))


@pytest.fixture
def tone(tmp_path, monkeypatch):
    """A stereo file: a vibrato harmonic tone from 0.5 to 2 s over white noise (and the tone
    alone, for its energy)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = int(2.5 * SR)
    note = vibrato_tone(n)
    rng = np.random.default_rng(3)
    noise = 0.004 * rng.standard_normal((2, n))
    mix = np.stack([note, 0.7 * note]) + noise
    path = tmp_path / "tone.wav"
    sf.write(str(path), mix.T.astype(np.float32), SR, subtype="FLOAT")
    only = tmp_path / "only.wav"
    sf.write(str(only), np.stack([note, 0.7 * note]).T.astype(np.float32), SR, subtype="FLOAT")
    return path, only


def _energy(path):
    from maskstudio.io.ondemand import stft_frames_of
    clip = load_audio(path)
    n_frames = Document(clip, CFG).n_frames
    X = stft_frames_of(clip, 0, n_frames, CFG)
    return (np.abs(X) ** 2).sum(axis=0)  # [F, T]


def test_harmonic_selection_covers_the_tone(tone):
    path, only = tone
    doc = Document(load_audio(path), CFG)
    frame = 1.2 / doc.frame_seconds
    sel = selections.harmonic_selection(doc, frame, 2 * F0, width_cents=80)
    assert sel is not None
    box, alpha = sel
    full = np.zeros((doc.n_bins, doc.n_frames), np.float32)
    full[box.f0:box.f1, box.t0:box.t1] = alpha
    tone_e = _energy(only)
    mix_e = _energy(path)
    inside = (full * tone_e).sum() / tone_e.sum()
    outside = (full * np.maximum(mix_e - tone_e, 0)).sum() / (full * mix_e).sum()
    assert inside >= 0.9, inside
    assert outside <= 0.1, outside
    # the track spans the note (0.5 .. 2 s) and no more than a few frames beyond
    assert abs(box.t0 * doc.frame_seconds - 0.5) < 0.1
    assert abs(box.t1 * doc.frame_seconds - 2.0) < 0.1
    # the inverse covers the rest of those frames, not the harmonics
    ibox, ialpha = selections.harmonic_selection(doc, frame, 2 * F0, width_cents=80,
                                                 inverse=True)
    assert ibox.f0 == 0 and ibox.f1 == doc.n_bins
    inv = np.zeros_like(full)
    inv[:, ibox.t0:ibox.t1] = ialpha
    assert (inv * tone_e).sum() / tone_e.sum() < 0.1


def test_harmonic_selection_over_a_drag_span_stops_there(tone):
    doc = Document(load_audio(tone[0]), CFG)
    a, b = int(0.9 / doc.frame_seconds), int(1.3 / doc.frame_seconds)
    box, _ = selections.harmonic_selection(doc, (a + b) / 2, F0, span=(a, b))
    assert a <= box.t0 and box.t1 <= b + 1


def test_the_wand_stops_at_a_level_edge(tmp_path):
    n = 2 * SR
    x = np.zeros(n)
    rng = np.random.default_rng(0)
    x[: n // 2] = 0.3 * rng.standard_normal(n // 2)          # loud noise, then quiet noise
    x[n // 2:] = 0.003 * rng.standard_normal(n - n // 2)
    sf.write(str(tmp_path / "edge.wav"), x.astype(np.float32), SR, subtype="FLOAT")
    doc = Document(load_audio(tmp_path / "edge.wav"), CFG)
    edge = int(1.0 / doc.frame_seconds)
    view = Box(0, doc.n_bins, 0, doc.n_frames)
    box, alpha = selections.wand_selection(doc, view, (200, edge // 2), tolerance_db=15)
    assert box.t1 <= edge + 3  # the loud half only
    assert alpha.mean() > 0.8  # most of it
    box2, _ = selections.wand_selection(doc, view, (200, edge + edge // 2), tolerance_db=15)
    assert box2.t0 >= edge - 3
    # within a layer's share: only where that layer holds some
    doc.add_layer("a")
    held = rectangle(100, 300, 10, 40, n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.apply(0, *held, 1.0)
    box3, _ = selections.wand_selection(doc, view, (200, 20), tolerance_db=15, within=0)
    assert box3 == held[0]
    assert selections.wand_selection(doc, view, (400, 20), tolerance_db=15, within=0) is None


def _two_layers(doc):
    doc.add_layer("a", np.full((doc.n_bins, doc.n_frames), 0.6, np.float32))
    doc.add_layer("b", np.full((doc.n_bins, doc.n_frames), 0.3, np.float32))


def test_moving_keeps_the_partition_undo_restores_and_the_journal_recovers(tone):
    path = tone[0]
    doc = Document(load_audio(path), CFG)
    j = Journal.start(doc, path.with_suffix(".journal"))
    _two_layers(doc)
    before = [doc.store.dense(i).copy() for i in range(2)]
    sel = rectangle(10, 60, 5, 30, n_bins=doc.n_bins, n_frames=doc.n_frames)
    steps = len(doc.history)
    selections.move_selection(doc, 0, 1, sel)
    assert len(doc.history) == steps + 1 and doc.history.undo_label == "move"
    a, b = doc.store.dense(0), doc.store.dense(1)
    np.testing.assert_allclose(a + b, before[0] + before[1], atol=1e-6)  # partition kept
    assert a[:, 20:40, 10:20].max() == 0 and np.allclose(b[:, 20:40, 10:20], 0.9)
    # to the residual, one channel only (the link off, channel 2 on view)
    doc.set_view_channel(1)
    doc.link_channels = False
    selections.move_selection(doc, 1, None, sel)
    b2 = doc.store.dense(1)
    assert b2[1, 20:40, 10:20].max() == 0 and np.allclose(b2[0, 20:40, 10:20], 0.9)
    assert (doc.store.dense(0) + b2).max() <= 1 + 1e-6
    # cast a over b (whole file): b gives up its share where a is present (>= 0.5)
    doc.link_channels = True
    doc.set_view_channel("mid")
    selections.cast_layer(doc, 0, 1)
    b3, a3 = doc.store.dense(1), doc.store.dense(0)
    assert b3[:, 200, 100] .max() == 0 and np.allclose(a3[:, 200, 100], 0.9)
    assert b3[0, 20:40, 10:20].max() > 0.8  # there a was absent: b kept its share
    j.close()
    fresh = Document(load_audio(path), CFG)
    recover(path.with_suffix(".journal"), fresh)
    for i in range(2):
        np.testing.assert_array_equal(fresh.store.dense(i), doc.store.dense(i))
    for _ in range(3):
        doc.history.undo()
    for i in range(2):
        np.testing.assert_array_equal(doc.store.dense(i), before[i])


def test_a_locked_layer_neither_gives_nor_takes(tone):
    doc = Document(load_audio(tone[0]), CFG)
    _two_layers(doc)
    doc.set_layer(1, locked=True)
    sel = rectangle(10, 60, 5, 30, n_bins=doc.n_bins, n_frames=doc.n_frames)
    before = len(doc.history)
    for src, dst in ((0, 1), (1, 0), (1, None)):
        with pytest.raises(ParameterError, match="locked"):
            selections.move_selection(doc, src, dst, sel)
    with pytest.raises(ParameterError, match="locked"):
        selections.cast_layer(doc, 0, 1)
    assert len(doc.history) == before
    selections.move_selection(doc, 0, None, sel)  # the unlocked one gives to the residual
    assert doc.store.dense(0)[:, 20:40, 10:20].max() == 0


def test_local_threshold_and_learning_from_a_selection(tone):
    doc = Document(load_audio(tone[0]), CFG)
    doc.add_layer("tone")
    frame = 1.2 / doc.frame_seconds
    example = selections.harmonic_selection(doc, frame, F0)
    offset = selections.learn_local_offset(doc, example, bins=15, frames=9)
    assert offset > 3  # the partials stand well above their neighbourhood
    selections.local_threshold(doc, 0, offset_db=offset, bins=15, frames=9)
    m = doc.store.dense(0)[0]
    f = int(round(F0 / doc.bin_hz))
    t = int(frame)
    assert m[f - 1:f + 2, t].max() == 1  # the fundamental passes
    assert m[:, : int(0.4 / doc.frame_seconds)].mean() < 0.05  # noise alone, mostly not
    assert doc.history.undo_label == "local threshold"
    preview = selections.local_threshold_preview(doc, Box(0, doc.n_bins, t - 5, t + 5),
                                                 offset_db=offset, bins=15, frames=9)
    np.testing.assert_array_equal(preview, m[:, t - 5:t + 5])


def test_typed_bounds():
    from maskstudio.io.audiofile import AudioClip
    doc = Document(AudioClip(np.zeros((1, SR), np.float32), SR), CFG)
    box, alpha = selections.bounds_selection(doc, 0.25, 0.5, 1000, 2000)
    assert box.t0 * doc.frame_seconds >= 0.25 and (box.t1 - 1) * doc.frame_seconds <= 0.5
    assert box.f0 * doc.bin_hz >= 1000 and (box.f1 - 1) * doc.bin_hz <= 2000
    assert (box.f0 - 1) * doc.bin_hz < 1000 and box.f1 * doc.bin_hz > 2000
    with pytest.raises(ParameterError):
        selections.bounds_selection(doc, 0.5, 0.25, 1000, 2000)


def test_snap_to_peaks_moves_the_edges_to_a_partials_edges(tone):
    doc = Document(load_audio(tone[0]), CFG)
    t0, t1 = int(0.8 / doc.frame_seconds), int(1.6 / doc.frame_seconds)
    k = F0 / doc.bin_hz  # the fundamental's bin (its vibrato spans a few bins)
    rough = Box(int(k * 0.6), int(k * 1.35), t0, t1)  # drawn loosely around the fundamental
    box = selections.snap_to_peaks(doc, rough)
    assert (box.t0, box.t1) == (t0, t1)
    assert rough.f0 < box.f0 <= round(k) < box.f1 < rough.f1  # tight, and holds it
    assert box.f1 - box.f0 <= 5  # the main lobe's -6 dB width and the vibrato's
    # around the second and third harmonics: from the second's low edge to the third's high
    box2 = selections.snap_to_peaks(doc, Box(int(1.8 * k), int(3.2 * k), t0, t1))
    assert 1.8 * k < box2.f0 <= round(2 * k) and round(3 * k) < box2.f1 < 3.2 * k
    # nothing stands out (noise alone): the box stays
    quiet = Box(int(6 * k), int(8 * k), 0, int(0.4 / doc.frame_seconds))
    assert selections.snap_to_peaks(doc, quiet, drop_db=30) == quiet
