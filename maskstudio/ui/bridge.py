"""Document events delivered on the GUI thread.

The document emits on whichever thread changed it (a worker's during a long operation). A widget
keeps its subscriptions in a :class:`Subscriptions`: connected functions run on the GUI thread, and
``clear()`` disconnects them all when the widget lets the document go; an event already queued for
a document that was let go is dropped, never drawn over the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from maskstudio.editing.events import Emitter

__all__ = ["Subscriptions"]


class Subscriptions(QtCore.QObject):
    """One owner's connections to one document's emitters."""

    _deliver = QtCore.Signal(int, object, object)

    def __init__(self, parent: QtCore.QObject):
        super().__init__(parent)
        self._links: list[tuple[Emitter, Callable[[Any], object]]] = []
        self._generation = 0
        # AutoConnection: a direct call on the GUI thread, queued from any other thread
        self._deliver.connect(self._call)

    def connect(self, emitter: Emitter, slot: Callable[[Any], object]) -> None:
        """Call ``slot(event)`` on the GUI thread each time ``emitter`` emits."""
        generation = self._generation

        def relay(event: object) -> None:
            self._deliver.emit(generation, slot, event)

        emitter.connect(relay)
        self._links.append((emitter, relay))

    def clear(self) -> None:
        """Disconnect everything; events still queued from before are dropped."""
        for emitter, relay in self._links:
            emitter.disconnect(relay)
        self._links.clear()
        self._generation += 1

    def __len__(self) -> int:
        return len(self._links)

    @QtCore.Slot(int, object, object)
    def _call(self, generation: int, slot: Callable[[Any], object], event: object) -> None:
        if generation == self._generation:
            slot(event)
