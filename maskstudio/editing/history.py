"""Undo and redo of edits, as atoms of (layers, box, old values, new values).

One stroke or one operation is one step: the atoms recorded between :meth:`History.begin` and
:meth:`History.end` undo together, in reverse order, restoring the old values bit for bit.
An operation that fails or is cancelled calls :meth:`History.abort`, which restores what its
own open step changed and touches no earlier step.  Memory stays bounded: only changed boxes
are kept, and the oldest steps are dropped once the total passes ``max_bytes``.  Structural
changes (adding or removing a layer) are steps with their own undo and redo functions.

Every step that is done, undone or redone is handed to ``on_commit`` (the crash journal).  If
that raises (a full disk), the store is put back as it was before, so the document never runs
ahead of its journal, and the error goes on to the caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = ["Atom", "Step", "History"]


@dataclasses.dataclass
class Atom:
    """Values of ``layers`` in the box at ``(f0, t0)`` before and after an edit."""

    layers: tuple
    f0: int
    t0: int
    old: np.ndarray
    new: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.old.nbytes + self.new.nbytes


@dataclasses.dataclass
class Step:
    label: str
    atoms: list = dataclasses.field(default_factory=list)
    undo_fn: Callable | None = None
    redo_fn: Callable | None = None
    extra_bytes: int = 0
    #: layer uid -> (properties before, after) that the step changed besides the masks (the
    #: "edited" mark of a model's layer); undo puts back the first, redo the second
    marks: dict | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.atoms) + self.extra_bytes


class History:
    """Undo/redo over a mask store with ``write(layers, f0, t0, values)``.

    ``on_apply(step, undone)`` is called after an undo or redo so views can refresh.
    """

    def __init__(self, store, *, max_bytes: int = 512 * 2 ** 20, on_apply=None,
                 on_commit=None):
        self.store = store
        self.max_bytes = int(max_bytes)
        self.on_apply = on_apply
        #: ``on_commit(step, values)`` after a step is done, undone or redone; ``values`` is
        #: "new" or "old": which values of its atoms are now in the store (for the journal)
        self.on_commit = on_commit
        self._done: list[Step] = []
        self._undone: list[Step] = []
        self._open: Step | None = None

    # -- recording ------------------------------------------------------------------------
    def begin(self, label: str) -> None:
        if self._open is not None:
            self.end()
        self._open = Step(label)

    def record(self, atom: Atom) -> None:
        if self._open is None:
            self.push(Step("edit", [atom]))
        else:
            self._open.atoms.append(atom)

    def end(self) -> Step | None:
        step, self._open = self._open, None
        if step is not None and step.atoms:
            self.push(step)
            return step
        return None

    def abort(self) -> Step | None:
        """Discard the open step: restore the values its atoms changed (last first) and
        record nothing.  Earlier steps, done or undone, stay as they are."""
        step, self._open = self._open, None
        if step is None:
            return None
        self._revert(step)
        return step

    def push(self, step: Step) -> None:
        """Add a finished step (its changes are already in the store).  If the journal
        refuses it, the step's changes are reverted and the error propagates.  A stroke
        still open is finished first (a layer added or removed mid-stroke would otherwise mix
        two numberings of the layers in one step)."""
        if self._open is not None and self._open is not step:
            self.end()
        self._commit(step, "new", self._revert)
        self._done.append(step)
        self._undone.clear()
        self._trim()

    def _commit(self, step: Step, values: str, put_back) -> None:
        """Hand the step to ``on_commit``; if that refuses it, ``put_back(step)`` undoes
        what was just done to the store, and the error propagates."""
        if self.on_commit:
            try:
                self.on_commit(step, values)
            except BaseException:
                put_back(step)
                raise

    def _backward(self, step: Step) -> None:
        for atom in reversed(step.atoms):
            self.store.write(list(atom.layers), atom.f0, atom.t0, atom.old)
        if step.undo_fn is not None:
            step.undo_fn()

    def _forward(self, step: Step) -> None:
        for atom in step.atoms:
            self.store.write(list(atom.layers), atom.f0, atom.t0, atom.new)
        if step.redo_fn is not None:
            step.redo_fn()

    def _revert(self, step: Step) -> None:
        """Put back what ``step`` changed, as an undo does, without recording anything (the
        views were told of its changes as they were made, so they are told again)."""
        self._backward(step)
        if self.on_apply and (step.atoms or step.undo_fn is not None):
            self.on_apply(step, True)

    def _trim(self) -> None:
        total = sum(s.nbytes for s in self._done)
        while len(self._done) > 1 and total > self.max_bytes:
            total -= self._done.pop(0).nbytes

    @property
    def recording(self) -> bool:
        return self._open is not None

    @property
    def open_step(self) -> Step | None:
        """The step being recorded (between :meth:`begin` and :meth:`end`), if any."""
        return self._open

    # -- undo / redo ------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    @property
    def redo_label(self) -> str:
        return self._undone[-1].label if self._undone else ""

    def __len__(self) -> int:
        return len(self._done)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._done) + sum(s.nbytes for s in self._undone)

    def undo(self) -> Step | None:
        self.end()
        if not self._done:
            return None
        step = self._done[-1]
        self._backward(step)
        self._commit(step, "old", self._forward)
        self._undone.append(self._done.pop())
        if self.on_apply:
            self.on_apply(step, True)
        return step

    def redo(self) -> Step | None:
        self.end()
        if not self._undone:
            return None
        step = self._undone[-1]
        self._forward(step)
        self._commit(step, "new", self._backward)
        self._done.append(self._undone.pop())
        if self.on_apply:
            self.on_apply(step, False)
        return step

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._open = None
