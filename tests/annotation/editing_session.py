"""An editing session that a test kills with SIGKILL: ``python -m tests.annotation.editing_session
MIXTURE JOURNAL SEED``.

It recovers the journal a killed session left (or starts one), then edits as a user would,
from a seeded random sequence: strokes of overlapping dabs, fills, inversions, thresholds,
layers added and removed, locks, notes, undo and redo.  After each finished edit it prints
``done K``.  :func:`edit` is shared with the test, which does the same edits again to know
what the killed session had finished.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from maskstudio.annotation.journal import Journal, apply_record
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.document import Document
from maskstudio.editing.edits import brush_stroke, rectangle
from maskstudio.errors import MaskStudioError
from maskstudio.io.audiofile import load_audio

CONFIG = STFTConfig(n_fft=512, hop_length=128)
N_EDITS = 400


def edit(doc: Document, rng: np.random.Generator) -> None:
    """One edit, drawn from ``rng`` (a refused one, on a locked layer, changes nothing)."""
    op = rng.choice(["stroke", "stroke", "stroke", "fill", "invert", "threshold", "add",
                     "remove", "lock", "notes", "undo", "undo", "redo"])
    nl = len(doc.layers)
    if op == "add" or nl == 0:
        if nl < 5:
            doc.add_layer(f"s{rng.integers(100)}")
        return
    k = int(rng.integers(nl))
    f, t = int(rng.integers(doc.n_bins)), int(rng.integers(doc.n_frames))
    sel = rectangle(f, f + rng.integers(1, 60), t, t + rng.integers(1, 60), n_bins=doc.n_bins,
                    n_frames=doc.n_frames)
    try:
        if op == "stroke":
            doc.begin_edit("brush")
            try:
                for i in range(int(rng.integers(1, 6))):
                    box, alpha = brush_stroke([(f + 4 * i, t + 2 * i), (f + 4 * i + 3, t + 5)],
                                              6, 8, n_bins=doc.n_bins, n_frames=doc.n_frames)
                    doc.apply(k, box, alpha, float(rng.choice([0.0, 0.4, 1.0])))
            except MaskStudioError:
                doc.history.abort()
                raise
            doc.end_edit()
        elif op == "fill":
            doc.fill(k, sel, float(rng.choice([0.0, 0.5, 1.0])))
        elif op == "invert":
            doc.invert(k, sel if rng.random() < 0.5 else None)
        elif op == "threshold":
            doc.threshold(k, float(rng.uniform(-60, -20)), selection=sel)
        elif op == "remove":
            doc.remove_layer(k)
        elif op == "lock":
            doc.set_layer(k, locked=not doc.layers[k].locked)
        elif op == "notes":
            doc.set_notes(f"note {rng.integers(1000)}")
        elif op == "undo":
            doc.history.undo()
        else:
            doc.history.redo()
    except MaskStudioError as exc:
        if "locked" not in str(exc):
            raise


def replay(mixture, journal) -> Document:
    """The document a journal holds, built without taking its lock."""
    doc = Document(load_audio(mixture), CONFIG)
    try:
        _, records, _ = Journal.scan(journal)
    except (MaskStudioError, FileNotFoundError):
        return doc
    for header, payload in records:
        apply_record(doc, header, payload)
    return doc


def main(mixture, journal, seed) -> None:
    from pathlib import Path

    from maskstudio.annotation.project import recover

    doc = Document(load_audio(mixture), CONFIG)
    if Path(journal).exists():
        recover(journal, doc)
    else:
        Journal.start(doc, journal)
    rng = np.random.default_rng(int(seed))
    print("ready", flush=True)
    for k in range(N_EDITS):
        edit(doc, rng)
        print("done", k, flush=True)
    time.sleep(60)  # the test kills us long before


if __name__ == "__main__":
    main(*sys.argv[1:4])
