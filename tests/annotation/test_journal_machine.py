"""The journal discipline, attacked by a state machine.

Hypothesis drives a real document with a real journal on disk through every kind of step:
strokes of overlapping dabs, fills, inversions, thresholds, layers added and removed, locks,
notes, complex (cIRM) layers, a change of STFT grid, saves, undo and redo; operations that fail
(a locked layer), that are cancelled half-way, and whose journal write fails (a full disk).
After every step it checks the promises:

- a refused, failed or cancelled operation changes nothing, and leaves the previous step's undo
  where it was;
- a crash, simulated by cutting the journal at a random byte (or leaving torn garbage after
  it), recovers exactly the live state at the last whole record;
- a session that recovered and went on editing is recovered whole after its own crash (records
  are never appended after torn bytes).
"""

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import maskstudio.annotation.journal as journal_module
import maskstudio.editing.operations as operations_module
import maskstudio.editing.tiles as tiles_module
from maskstudio.annotation.journal import Journal, JournalWriteError, apply_record
from maskstudio.annotation.project import load_project, recover, save_project
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing import selections
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke, rectangle
from maskstudio.editing.tiles import TiledMasks, quantize
from maskstudio.errors import Cancelled, MaskStudioError, ParameterError
from maskstudio.io.audiofile import load_audio

from ..conftest import clicks, harmonic

SR = 8000
GRIDS = [STFTConfig(n_fft=256, hop_length=64), STFTConfig(n_fft=128, hop_length=64)]


def _state(doc):
    """What a user would call the document's content (not its undo history)."""
    uids = {la.uid for la in doc.layers}
    return {
        "layers": [(la.name, la.label, tuple(la.color), la.opacity, la.visible, la.locked,
                    la.uid, repr(la.provenance)) for la in doc.layers],
        "masks": [doc.store.dense(i) for i in range(len(doc.layers))],
        "complex": {u: m for u, m in doc.complex_masks.items() if u in uids},
        "notes": doc.notes, "status": doc.status, "config": doc.config,
    }


def _assert_same(got, want, what):
    assert got["layers"] == want["layers"], what
    assert got["notes"] == want["notes"] and got["status"] == want["status"], what
    assert got["config"] == want["config"], what
    assert len(got["masks"]) == len(want["masks"]), what
    for a, b in zip(got["masks"], want["masks"]):
        np.testing.assert_array_equal(a, b, err_msg=what)
    assert got["complex"].keys() == want["complex"].keys(), what
    for u in got["complex"]:
        np.testing.assert_array_equal(got["complex"][u], want["complex"][u], err_msg=what)


class _FullDisk:
    """``os`` as the journal sees it, with fsync failing as on a full disk."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def fsync(fd):
        raise OSError(28, "No space left on device")


class JournalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ms-journal-machine-"))
        n = SR  # one second: 126 frames at hop 64, two tiles
        self.mix = self.dir / "mix.wav"
        sf.write(str(self.mix), np.stack([harmonic(n, sr=SR), clicks(n, sr=SR)]).T, SR,
                 subtype="FLOAT")
        self.saved_block = operations_module.BLOCK
        operations_module.BLOCK = 40  # whole-file operations run in several blocks
        self.crashes = 0

    def teardown(self):
        operations_module.BLOCK = self.saved_block
        journal_module.os = os
        if getattr(self, "doc", None) is not None:
            self.doc.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- bookkeeping: the live state at every whole record ----------------------------------
    def _watch(self, journal):
        """Snapshot the document each time a record reaches the disk."""
        original = journal._append
        machine = self

        def append(header, payload=b""):
            original(header, payload)
            machine.records.append((journal._end, _state(machine.doc)))
        journal._append = append

    def _start_session(self, doc, base_state, journal, base_kind):
        self.doc, self.base_state, self.base_kind = doc, base_state, base_kind
        self.records = []
        self._watch(journal)

    @initialize(grid=st.sampled_from(GRIDS))
    def open_file(self, grid):
        doc = Document(load_audio(self.mix), grid)
        self.jpath = self.dir / "unsaved.journal"
        self.project = None
        self.doc = doc
        j = Journal.start(doc, self.jpath)
        self._start_session(doc, _state(doc), j, "unsaved")

    # -- helpers ------------------------------------------------------------------------------
    def _attempt(self, fn):
        """Run an edit; if it fails, nothing may have changed (document and undo alike)."""
        before = _state(self.doc)
        undo_label, n_done = self.doc.history.undo_label, len(self.doc.history)
        n_records = len(self.records)
        try:
            fn()
        except (MaskStudioError, Cancelled):
            _assert_same(_state(self.doc), before, f"a failed {fn.__name__} changed the document")
            assert self.doc.history.undo_label == undo_label
            assert len(self.doc.history) == n_done
            assert len(self.records) == n_records, "a failed operation was journaled"
            return False
        return True

    def _layer(self, data):
        return data.draw(st.integers(0, len(self.doc.layers) - 1))

    def _box(self, data):
        d = self.doc
        f0, f1 = sorted(data.draw(st.lists(st.integers(0, d.n_bins), min_size=2, max_size=2)))
        t0, t1 = sorted(data.draw(st.lists(st.integers(0, d.n_frames), min_size=2,
                                           max_size=2)))
        return rectangle(f0, f1, t0, t1, n_bins=d.n_bins, n_frames=d.n_frames)

    # -- edits --------------------------------------------------------------------------------
    @rule(data=st.data())
    def add_layer(self, data):
        def add_layer():
            self.doc.add_layer(data.draw(st.sampled_from(["voice", "drums", "bass", "x"])),
                               label=data.draw(st.sampled_from(["", "speech"])))
        self._attempt(add_layer)

    @precondition(lambda self: len(self.doc.layers) < 4)
    @rule(data=st.data())
    def add_complex_layers(self, data):
        d = self.doc
        rng = np.random.default_rng(data.draw(st.integers(0, 99)))
        shape = (2, d.n_bins, d.n_frames)
        m = (rng.uniform(0, 0.5, shape) * np.exp(1j * rng.uniform(-3, 3, shape))).astype(
            np.complex64)

        def add_complex_layers():
            d.add_layers(["ca", "cb"], m, {"kind": "oracle", "mask": "cirm"}, "oracle cirm")
        self._attempt(add_complex_layers)

    @precondition(lambda self: len(self.doc.layers) < 4)
    @rule(data=st.data(), shared=st.booleans(), mode=st.sampled_from(["add", "replace", "fill"]))
    def load_codes(self, data, shared, mode):
        """Oracle-like layers in compact tiles (codes), as the oracle and the model loads make
        them: shared by the channels (one tile seen on both) or one per channel; cold (in a
        spill file) when the store spills."""
        d = self.doc
        rng = np.random.default_rng(data.draw(st.integers(0, 99)))
        lead = () if shared else d.store.lead
        m = rng.dirichlet(np.ones(3), size=lead + (d.n_bins, d.n_frames)).astype(np.float32)
        m = np.moveaxis(m, -1, 0)[:2]
        m[..., : d.n_frames // 3] = 0  # a tile with nothing stored
        store = TiledMasks(d.n_bins, d.n_frames, tile=d.store.tile, lead=lead)
        for _ in range(2):
            store.add_layer()
        store.write_codes([0, 1], 0, quantize(m))

        def load_codes():
            d.add_layers(["voice", "music"], store, {"kind": "oracle", "mask": "wiener"},
                         "oracle wiener", mode=mode)
        self._attempt(load_codes)

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data())
    def remove_layer(self, data):
        k = self._layer(data)
        self._attempt(lambda: self.doc.remove_layer(k))

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data())
    def stroke(self, data):
        """A stroke of several dabs that overlap each other: its atoms overlap."""
        d = self.doc
        k = self._layer(data)
        n = data.draw(st.integers(1, 4))
        f = data.draw(st.integers(0, d.n_bins - 1))
        t = data.draw(st.integers(0, d.n_frames - 1))

        def stroke():
            d.begin_edit("brush")
            try:
                for i in range(n):
                    box, alpha = brush_stroke([(f + 3 * i, t), (f + 3 * i + 2, t + 4)], 5, 6,
                                              n_bins=d.n_bins, n_frames=d.n_frames)
                    d.apply(k, box, alpha, data.draw(st.sampled_from([0.0, 0.3, 1.0])))
            except ParameterError:
                d.history.abort()  # as the view does when a dab is refused
                raise
            d.end_edit()
        self._attempt(stroke)

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data(), op=st.sampled_from(["fill", "erase", "invert", "binarize",
                                              "threshold", "smooth"]),
          whole=st.booleans(), cancel_after=st.none() | st.integers(1, 3))
    def operation(self, data, op, whole, cancel_after):
        """A whole-file or selection operation, possibly cancelled part-way."""
        d = self.doc
        k = self._layer(data)
        sel = None if whole and op in ("invert", "binarize", "threshold") else self._box(data)
        calls = []

        def progress(done, total):
            calls.append(done)
            if cancel_after is not None and len(calls) >= cancel_after:
                raise Cancelled("cancelled")

        def operation():
            if op == "fill":
                d.fill(k, sel, 0.8)
            elif op == "erase":
                d.erase(k, sel)
            elif op == "invert":
                d.invert(k, sel, progress=progress)
            elif op == "binarize":
                d.binarize(k, sel, progress=progress)
            elif op == "threshold":
                d.threshold(k, -30.0, selection=sel, progress=progress)
            else:
                d.smooth(k, sel, 1.5, 1.5)
        operation.__name__ = op
        self._attempt(operation)

    @rule(view=st.sampled_from(["mid", "side", 0, 1]), linked=st.booleans())
    def channels(self, view, linked):
        """The stereo document's view and link: later edits reach one channel or all (a
        shared tile copied when one channel is edited alone), all journaled as they land."""
        self.doc.set_view_channel(view)
        self.doc.link_channels = linked

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data(), to_residual=st.booleans())
    def move(self, data, to_residual):
        """A selection's share given to another layer or to the residual (one step)."""
        d = self.doc
        src = self._layer(data)
        dst = None if to_residual else self._layer(data)
        sel = self._box(data)
        self._attempt(lambda: selections.move_selection(d, src, dst, sel))

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data(), locked=st.booleans())
    def lock(self, data, locked):
        k = self._layer(data)
        self._attempt(lambda: self.doc.set_layer(k, locked=locked))

    @precondition(lambda self: self.doc.layers)
    @rule(data=st.data())
    def rename(self, data):
        k = self._layer(data)
        name = data.draw(st.sampled_from(["lead", "back-ing", "voice"]))
        self._attempt(lambda: self.doc.set_layer(k, name=name))

    @rule(notes=st.sampled_from(["", "check 0:01", "noisy"]),
          status=st.sampled_from(["to do", "in progress", "done"]))
    def item_fields(self, notes, status):
        self._attempt(lambda: (self.doc.set_notes(notes), self.doc.set_status(status)))

    @rule()
    def undo(self):
        self._attempt(self.doc.history.undo)

    @rule()
    def redo(self):
        self._attempt(self.doc.history.redo)

    @precondition(lambda self: len(self.doc.layers) <= 3)
    @rule(grid=st.sampled_from(GRIDS), cancel=st.booleans())
    def change_grid(self, grid, cancel):
        def progress(done, total):
            if cancel:
                raise Cancelled("cancelled")

        def change_grid():
            self.doc.set_config(grid, progress=progress)
        self._attempt(change_grid)

    @rule(which=st.sampled_from(["stroke", "undo", "layer", "notes", "grid"]))
    def full_disk(self, which):
        """The journal cannot be written: the edit is refused, nothing changes."""
        d = self.doc
        if which == "layer" or not d.layers:
            fn = lambda: d.add_layer("v")  # noqa: E731
        elif which == "undo":
            fn = d.history.undo
        elif which == "notes":
            fn = lambda: d.set_notes(d.notes + "!")  # noqa: E731
        elif which == "grid":
            fn = lambda: d.set_config(GRIDS[1] if d.config == GRIDS[0] else GRIDS[0])  # noqa
        else:
            def fn():
                d.begin_edit("brush")
                box, alpha = brush_stroke([(10, 10)], 6, 6, n_bins=d.n_bins, n_frames=d.n_frames)
                try:
                    d.apply(0, box, alpha, 1.0)
                except ParameterError:
                    d.history.abort()
                    raise
                d.end_edit()
        size = self.doc.journal.path.stat().st_size
        journal_module.os = _FullDisk()
        try:
            self._attempt(fn)
        finally:
            journal_module.os = os
        # a refused record leaves no bytes (a torn tail from an earlier crash is cut off);
        # a step that changes nothing (an empty undo stack, a stroke that moves no value)
        # writes nothing at all
        now = self.doc.journal.path.stat().st_size
        assert now in (size, self.doc.journal._end), "a refused record left bytes"

    @rule(auto=st.booleans())
    def compact(self, auto):
        """The journal is rewritten as one snapshot: by hand, or by the next record passing a
        (tiny) size threshold; replaying it still gives the live state."""
        j, d = self.doc.journal, self.doc
        if auto:
            j.compact_bytes, j.compact_ratio = 0, 0
            try:
                self._attempt(lambda: d.set_notes(d.notes + "."))
            finally:
                del j.compact_bytes, j.compact_ratio
        else:
            j.compact(d)
        assert j.path.stat().st_size == j._end
        self.records = [(j._end, _state(d))]

    @rule()
    def save(self):
        d = self.doc
        path = save_project(d, self.dir / "p.msproj")
        self.project = path
        self._start_session(d, _state(d), d.journal, "project")

    # -- crashes ------------------------------------------------------------------------------
    def _recover_fresh(self):
        """A new session after the crash: the last save (or nothing) plus the journal."""
        if self.base_kind == "project":
            return load_project(self.project, use_journal=True)
        fresh = Document(load_audio(self.mix), self.base_state["config"])
        recover(self.doc.journal.path, fresh)
        return fresh

    @rule(data=st.data(), garbage=st.booleans(), go_on=st.booleans())
    def crash(self, data, garbage, go_on):
        """kill -9 at a random byte of the journal; recovery gives the state at the last whole
        record; with ``go_on`` the recovered session carries on editing."""
        path = self.doc.journal.path
        blob = path.read_bytes()
        header = 8 + struct.unpack_from("<I", blob, 4)[0]
        # the header is written atomically, so a crash never tears it; a project opens even
        # when its journal's header is damaged (there is nothing in it to recover then)
        cut = data.draw(st.integers(header if self.base_kind == "unsaved" else 0, len(blob)))
        torn = blob[:cut] + (data.draw(st.binary(min_size=1, max_size=40)) if garbage else b"")
        self.doc.close()  # the process is gone: so is its lock
        path.write_bytes(torn)
        whole = [state for end, state in self.records if end <= cut]
        fresh = self._recover_fresh()
        want = whole[-1] if whole else self.base_state
        _assert_same(_state(fresh), want, f"recovery after a cut at byte {cut} of {len(blob)}")
        self.crashes += 1
        if go_on:  # the next session edits on: its records must follow the last whole one
            self.doc = fresh
            self.records = [(end, st_) for end, st_ in self.records if end <= cut]
            self._watch(fresh.journal)
        else:
            fresh.close()
            path.write_bytes(blob)
            self.doc = self._recover_fresh()  # the untouched journal: the live state again
            _assert_same(_state(self.doc), self.records[-1][1] if self.records
                         else self.base_state, "recovery of the whole journal")
            self._watch(self.doc.journal)

    @invariant()
    def journal_replays_to_the_live_state(self):
        """At every moment the journal on disk, replayed, is the live document."""
        if not hasattr(self, "doc"):
            return
        want = self.records[-1][1] if self.records else self.base_state
        _assert_same(_state(self.doc), want, "the live state differs from its last record")


JournalMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MS_MACHINE_EXAMPLES", "60")), stateful_step_count=25,
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_journal_state_machine = JournalMachine.TestCase


class ColdJournalMachine(JournalMachine):
    """The same machine with every store keeping its compact tiles cold, in a spill file
    read on demand, as a long file's do (``tiles.SPILL_BINS``): records, replays, saves,
    compaction and recovery must not tell the difference."""

    def __init__(self):
        super().__init__()
        self.saved_spill = tiles_module.SPILL_BINS
        tiles_module.SPILL_BINS = 0

    def teardown(self):
        tiles_module.SPILL_BINS = self.saved_spill
        super().teardown()


ColdJournalMachine.TestCase.settings = settings(
    JournalMachine.TestCase.settings,
    max_examples=int(os.environ.get("MS_MACHINE_EXAMPLES", "60")) // 2)
test_journal_state_machine_with_cold_tiles = ColdJournalMachine.TestCase


def test_replaying_an_undo_of_overlapping_dabs_restores_the_old_masks(tmp_path):
    """The case the hostile tester found: a stroke's dabs overlap, so its undo must be
    journaled last atom first, as the store receives it."""
    path = tmp_path / "mix.wav"
    sf.write(str(path), harmonic(SR, sr=SR), SR, subtype="FLOAT")
    doc = Document(load_audio(path), GRIDS[0])
    Journal.start(doc, tmp_path / "j.journal")
    k = doc.add_layer("voice")
    doc.fill(k, rectangle(0, 60, 0, 60, n_bins=doc.n_bins, n_frames=doc.n_frames), 0.5)
    before = doc.store.dense(k).copy()
    doc.begin_edit("brush")
    for i in range(4):
        box, alpha = brush_stroke([(20 + 2 * i, 20 + 2 * i)], 8, 8, n_bins=doc.n_bins,
                                  n_frames=doc.n_frames)
        doc.apply(k, box, alpha, 1.0 if i % 2 else 0.1)
    doc.end_edit()
    doc.history.undo()
    np.testing.assert_array_equal(doc.store.dense(k), before)
    doc.close()
    fresh = Document(load_audio(path), GRIDS[0])
    base, records, _ = Journal.scan(tmp_path / "j.journal")
    for header, payload in records:
        apply_record(fresh, header, payload)
    np.testing.assert_array_equal(fresh.store.dense(k), before)


def test_a_failed_operation_keeps_the_previous_edit(tmp_path):
    """Invert on a locked layer, or cancelled half-way, must not undo the edit before it."""
    path = tmp_path / "mix.wav"
    sf.write(str(path), harmonic(SR, sr=SR), SR, subtype="FLOAT")
    doc = Document(load_audio(path), GRIDS[0])
    a = doc.add_layer("a")
    b = doc.add_layer("b")
    doc.fill(a, rectangle(0, 50, 0, 50, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    after_fill = doc.store.dense(a).copy()
    doc.set_layer(b, locked=True)
    with pytest.raises(ParameterError, match="locked"):
        doc.invert(b)
    with pytest.raises(ParameterError, match="locked"):
        doc.smooth(b, rectangle(0, 9, 0, 9, n_bins=doc.n_bins, n_frames=doc.n_frames))
    np.testing.assert_array_equal(doc.store.dense(a), after_fill)
    old = operations_module.BLOCK
    operations_module.BLOCK = 16
    try:
        def cancel(done, total):
            if done > 40:
                raise Cancelled("cancelled")
        with pytest.raises(Cancelled):
            doc.invert(a, progress=cancel)
    finally:
        operations_module.BLOCK = old
    np.testing.assert_array_equal(doc.store.dense(a), after_fill)
    assert doc.history.undo_label == "fill"
    doc.history.undo()
    assert not doc.store.dense(a).any()  # the fill was still there to undo


def test_a_full_disk_refuses_the_edit_and_leaves_no_torn_bytes(tmp_path, monkeypatch):
    path = tmp_path / "mix.wav"
    sf.write(str(path), harmonic(SR, sr=SR), SR, subtype="FLOAT")
    doc = Document(load_audio(path), GRIDS[0])
    j = Journal.start(doc, tmp_path / "j.journal")
    k = doc.add_layer("voice")
    size = j.path.stat().st_size
    monkeypatch.setattr(journal_module, "os", _FullDisk())
    with pytest.raises(JournalWriteError, match="free disk space"):
        doc.fill(k, rectangle(0, 9, 0, 9, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    assert not doc.store.dense(k).any() and j.path.stat().st_size == size
    monkeypatch.setattr(journal_module, "os", os)
    doc.fill(k, rectangle(0, 9, 0, 9, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    doc.close()
    fresh = Document(load_audio(path), GRIDS[0])
    recover(j.path, fresh)
    np.testing.assert_array_equal(fresh.store.dense(0), doc.store.dense(k))


def test_compaction_shrinks_the_journal_and_recovers_the_live_state(tmp_path):
    """Many strokes on a saved project, some erasing saved tiles back to zero: the compacted
    journal is a fraction of the size and replays on the save to exactly the live state."""
    path = tmp_path / "mix.wav"
    sf.write(str(path), harmonic(SR * 4, sr=SR), SR, subtype="FLOAT")
    doc = Document(load_audio(path), GRIDS[0])
    k = doc.add_layer("voice")
    doc.add_layer("drums")
    doc.fill(k, rectangle(0, 129, 0, 200, n_bins=doc.n_bins, n_frames=doc.n_frames), 1.0)
    project = save_project(doc, tmp_path / "p.msproj")
    doc.erase(k, rectangle(0, 129, 0, 200, n_bins=doc.n_bins, n_frames=doc.n_frames))
    rng = np.random.default_rng(0)
    for _ in range(600):  # an hour of retouching one passage: the journal outgrows the masks
        box, alpha = brush_stroke([(int(rng.integers(0, 60)), int(rng.integers(0, 60)))],
                                  8, 8, n_bins=doc.n_bins, n_frames=doc.n_frames)
        doc.apply(int(rng.integers(0, 2)), box, alpha, float(rng.choice([0.0, 0.5, 1.0])))
    j = doc.journal
    before = j.path.stat().st_size
    snapshot = sum(t.nbytes for ts in doc.store.layer_tiles() for t in ts.values())
    assert before > 8 * snapshot
    j.compact_bytes = before - 1  # (64 MB in use)
    doc.set_notes("compacted")  # the record that passes the threshold
    after = j.path.stat().st_size
    assert after < snapshot + 4096 and after < before // 8, (before, after, snapshot)
    assert len(Journal.read(j.path)[1]) == 1
    live = _state(doc)
    doc.close()
    _assert_same(_state(load_project(project, use_journal=True)), live, "after compaction")
