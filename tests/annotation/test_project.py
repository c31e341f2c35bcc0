"""Projects: a bit-for-bit round trip, a moved mixture, and a journal that survives kill -9."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from maskstudio.annotation.project import (
    Journal,
    JournalInUseError,
    MixtureMovedError,
    journal_for,
    load_project,
    pending_recovery,
    recover,
    save_project,
)
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke, rectangle
from maskstudio.editing.sources import add_oracle_layers
from maskstudio.io.audiofile import load_audio
from maskstudio.io.ondemand import read_whole

from ..conftest import SR, clicks, harmonic

CFG = STFTConfig(n_fft=512, hop_length=128)


@pytest.fixture
def mixture(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    n = SR * 2
    path = tmp_path / "audio" / "mix.wav"
    path.parent.mkdir()
    sf.write(str(path), np.stack([harmonic(n), clicks(n)]).T, SR, subtype="FLOAT")
    return path


def _edit(doc, k, i):
    box, alpha = brush_stroke([(20 + 10 * i, 10), (40 + 10 * i, 200)], 4, 6, n_bins=doc.n_bins,
                              n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(k, box, alpha, 0.5 + 0.1 * i)
    doc.end_edit()


def _state(doc):
    return ([(la.name, la.label, la.color, la.locked, la.provenance, la.uid) for la in doc.layers],
            [doc.store.dense(i) for i in range(len(doc.layers))], doc.config, doc.notes,
            doc.status)


def _same(a, b):
    assert a[0] == b[0] and a[2:] == b[2:]
    assert len(a[1]) == len(b[1])
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)


def test_a_project_reopens_bit_for_bit(mixture, tmp_path):
    doc = Document(load_audio(mixture), CFG)
    a = doc.add_layer("voice")
    doc.add_layer("drums")
    _edit(doc, a, 0)
    doc.threshold(1, -40.0)
    doc.set_layer(a, label="singing", color=(1, 2, 3), locked=True)
    doc.notes, doc.status = "check 0:01", "in progress"
    path = save_project(doc, tmp_path / "projects" / "take1")
    assert path.suffix == ".msproj" and not doc.modified
    with pytest.raises(JournalInUseError, match="open in another"):
        load_project(path)  # a second editor of the same project is told, not let in
    assert load_project(path, start_journal=False).layers[0].name == "voice"  # read-only
    doc.close()
    again = load_project(path)
    _same(_state(doc), _state(again))
    assert again.layers[1].provenance == {"kind": "painted"}
    assert again.residual == doc.residual


def test_a_moved_or_changed_mixture_is_detected(mixture, tmp_path):
    doc = Document(load_audio(mixture), CFG)
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "p.msproj")
    doc.close()
    moved = tmp_path / "elsewhere.wav"
    shutil.move(str(mixture), moved)
    with pytest.raises(MixtureMovedError, match="not found") as err:
        load_project(path)
    assert err.value.expected.name == "mix.wav"
    assert load_project(path, mixture=moved, start_journal=False).layers[0].name == "voice"
    x = load_audio(moved).samples
    sf.write(str(moved), (x * 0.5).T, SR, subtype="FLOAT")
    with pytest.raises(MixtureMovedError, match="changed"):
        load_project(path, mixture=moved)


def test_the_journal_replays_every_finished_step(mixture, tmp_path):
    doc = Document(load_audio(mixture), CFG)
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "p.msproj")
    _edit(doc, 0, 0)
    doc.add_layer("drums")
    doc.fill(1, rectangle(5, 60, 10, 100, n_bins=doc.n_bins, n_frames=doc.n_frames))
    _edit(doc, 0, 1)
    doc.history.undo()
    doc.history.undo()
    doc.history.redo()
    extra = doc.add_layer("gone")
    _edit(doc, extra, 2)
    doc.remove_layer(extra)
    doc.set_layer(1, label="percussion")
    doc.set_notes("halfway")
    doc.set_layer(0, opacity=0.3)
    doc.set_status("done")
    assert pending_recovery(journal_for(doc), doc.save_token) == 0  # its session is running
    # the program dies here: no save.  Reopening with the journal restores it exactly.
    doc.close()
    assert pending_recovery(journal_for(doc), doc.save_token) > 5
    again = load_project(path, use_journal=True)
    _same(_state(doc), _state(again))
    assert again.modified and again.notes == "halfway" and again.status == "done"
    plain = load_project(path, start_journal=False)  # without the journal: the last save
    assert [la.name for la in plain.layers] == ["voice"] and not plain.store.dense(0).any()


def test_a_torn_last_record_is_ignored(mixture, tmp_path):
    doc = Document(load_audio(mixture), CFG)
    doc.add_layer("voice")
    path = save_project(doc, tmp_path / "p.msproj")
    _edit(doc, 0, 0)
    after_one = doc.store.dense(0).copy()
    _edit(doc, 0, 1)
    jp = journal_for(doc)
    jp.write_bytes(jp.read_bytes()[:-7])  # a crash in the middle of writing the last record
    doc.close()
    again = load_project(path, use_journal=True)
    np.testing.assert_array_equal(again.store.dense(0), after_one)


SCRIPT = """
import sys, numpy as np
from maskstudio.io.audiofile import load_audio
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke
from maskstudio.annotation.project import Journal
from maskstudio.dsp.stft import STFTConfig
doc = Document(load_audio(sys.argv[1]), STFTConfig(n_fft=512, hop_length=128))
Journal.start(doc)
k = doc.add_layer("voice")
for i in range(1000):
    box, alpha = brush_stroke([(20 + i % 50, 10 + i), (40 + i % 50, 30 + i)], 4, 6,
                              n_bins=doc.n_bins, n_frames=doc.n_frames)
    doc.begin_edit("brush")
    doc.apply(k, box, alpha, 0.3 + (i % 7) / 10)
    doc.end_edit()
    print("done", i, flush=True)
    sys.stdin.readline()  # wait, so the parent can kill us between steps or inside one
"""


def test_kill_9_loses_no_finished_edit(mixture, tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT), str(mixture)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    finished = -1
    for _ in range(6):
        line = proc.stdout.readline()
        assert line.startswith("done"), line
        finished = int(line.split()[1])
        proc.stdin.write("\n")
        proc.stdin.flush()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # what the killed session had finished, done again here
    expected = Document(load_audio(mixture), CFG)
    k = expected.add_layer("voice")
    for i in range(finished + 1):
        box, alpha = brush_stroke([(20 + i % 50, 10 + i), (40 + i % 50, 30 + i)], 4, 6,
                                  n_bins=expected.n_bins, n_frames=expected.n_frames)
        expected.apply(k, box, alpha, 0.3 + (i % 7) / 10)
    os.environ["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
    fresh = Document(load_audio(mixture), CFG)
    jp = journal_for(fresh)
    assert pending_recovery(jp) >= finished + 2  # the layer, and every finished stroke
    n = recover(jp, fresh)
    assert n >= finished + 2
    got = fresh.store.dense(0)
    want = expected.store.dense(0)
    # the step in flight when killed may or may not have reached the disk; none before it lost
    if not np.array_equal(got, want):
        box, alpha = brush_stroke([(20 + (finished + 1) % 50, 11 + finished),
                                   (40 + (finished + 1) % 50, 31 + finished)], 4, 6,
                                  n_bins=expected.n_bins, n_frames=expected.n_frames)
        expected.apply(k, box, alpha, 0.3 + ((finished + 1) % 7) / 10)
        want = expected.store.dense(0)
    np.testing.assert_array_equal(got, want)
    assert isinstance(fresh.journal, Journal)


def test_a_reopened_project_finds_its_oracle_stems_again(mixture, tmp_path):
    n = SR * 2
    stems = {"voice": mixture.parent / "voice.wav", "drums": mixture.parent / "drums.wav"}
    sf.write(str(stems["voice"]), np.stack([harmonic(n), np.zeros(n)]).T, SR, subtype="FLOAT")
    sf.write(str(stems["drums"]), np.stack([np.zeros(n), clicks(n)]).T, SR, subtype="FLOAT")
    doc = Document(load_audio(mixture), CFG)
    add_oracle_layers(doc, "irm", stems)
    path = save_project(doc, tmp_path / "p.msproj")
    again = load_project(path, start_journal=False)
    assert again.references == {}
    assert again.restore_references() == []
    for name in stems:
        np.testing.assert_array_equal(read_whole(again.references[name]),
                                      read_whole(doc.references[name]))
    stems["drums"].unlink()
    third = load_project(path, start_journal=False)
    assert third.restore_references() == ["drums"] and list(third.references) == ["voice"]
