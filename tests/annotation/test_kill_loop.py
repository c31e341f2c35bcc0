"""``kill -9`` loops: no finished edit is ever lost, session after session.

A real editing subprocess (:mod:`tests.annotation.editing_session`) recovers what the previous one
left, edits from a seeded random sequence, and is killed with SIGKILL at a random moment: between
edits, inside a stroke, inside a journal write.  After every kill the journal, replayed, must
equal what the killed session had finished, done again here from the same sequence; the next
session then recovers and goes on, so records appended after a recovery are checked too.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.editing.document import Document

from ..conftest import SR, clicks, harmonic
from .editing_session import edit, replay

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("MS_KILLS", "32"))


def _state(doc: Document):
    return ([(la.name, la.locked, la.uid) for la in doc.layers],
            [doc.store.dense(i) for i in range(len(doc.layers))], doc.notes)


def _equal(a, b) -> bool:
    return (a[0] == b[0] and a[2] == b[2] and len(a[1]) == len(b[1])
            and all(np.array_equal(x, y) for x, y in zip(a[1], b[1])))


def _session(mixture, journal, seed, env):
    """Start a session; returns the process and a list its finished edits are added to."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.annotation.editing_session", str(mixture),
                             str(journal), str(seed)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read():
        for line in proc.stdout:
            if line.endswith("\n"):  # a line torn by the kill says nothing
                lines.append(line.split())
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, lines, reader


def test_kill_9_in_a_loop_never_loses_a_finished_edit(tmp_path):
    n = SR * 2
    mixture = tmp_path / "mix.wav"
    sf.write(str(mixture), np.stack([harmonic(n), clicks(n)]).T, SR, subtype="FLOAT")
    journal = tmp_path / "session.journal"
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rnd = random.Random(1234)
    survived, edits_checked, in_flight_reached_disk = 0, 0, 0
    deadline = time.monotonic() + 600  # a bound, not a speed test (about 45 s here)
    for seed in range(KILLS):
        assert time.monotonic() < deadline, f"only {survived} kills in the time allowed"
        start = replay(mixture, journal)  # what the next session recovers
        proc, lines, reader = _session(mixture, journal, seed, env)
        t0 = time.monotonic()
        while not lines and proc.poll() is None and time.monotonic() - t0 < 30:
            time.sleep(0.005)
        assert lines and lines[0] == ["ready"], proc.stderr.read()
        time.sleep(rnd.uniform(0.0, 0.12))  # kill anywhere: between edits or inside one
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        err = proc.stderr.read()
        assert proc.returncode == -signal.SIGKILL, err
        finished = max([int(w[1]) for w in lines if w[0] == "done"], default=-1)
        got = _state(replay(mixture, journal))
        # the same edits again, from the state the killed session started on
        rng = np.random.default_rng(seed)
        for _ in range(finished + 1):
            edit(start, rng)
        if not _equal(got, _state(start)):
            # the edit in flight may have reached the disk whole before the kill; then it
            # counts as finished, and nothing before it may be missing
            edit(start, rng)
            in_flight_reached_disk += 1
            assert _equal(got, _state(start)), (
                f"session {seed}: recovery differs from the {finished + 1} finished edits")
        survived += 1
        edits_checked += finished + 1
    print(f"{survived} kills survived, {edits_checked} finished edits checked, "
          f"{in_flight_reached_disk} in-flight edits found whole on disk")
    assert survived >= 30 and edits_checked > survived  # the kills landed after real work
