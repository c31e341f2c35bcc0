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


class _Relay(QtCore.QObject):
    """Carries an event to the GUI thread (it lives there, a child of the subscriber)."""

    deliver = QtCore.Signal(int, object, object)

    def __init__(self, parent: QtCore.QObject):
        super().__init__(parent)
        self.generation = 0  #: events of an older generation were let go: dropped
        # AutoConnection: a direct call on the GUI thread, queued from any other thread
        self.deliver.connect(self._call)

    @QtCore.Slot(int, object, object)
    def _call(self, generation: int, slot: Callable[[Any], object], event: object) -> None:
        if generation == self.generation:
            slot(event)


class Subscriptions:
    """One owner's connections to one document's emitters (``parent``: the owner, on the
    GUI thread; the subscriptions go with it)."""

    def __init__(self, parent: QtCore.QObject):
        self._relay = _Relay(parent)
        self._links: list[tuple[Emitter, Callable[[Any], object]]] = []

    def connect(self, emitter: Emitter, slot: Callable[[Any], object]) -> None:
        """Call ``slot(event)`` on the GUI thread each time ``emitter`` emits."""
        relay, generation = self._relay, self._relay.generation

        def forward(event: object) -> None:
            relay.deliver.emit(generation, slot, event)

        emitter.connect(forward)
        self._links.append((emitter, forward))

    def clear(self) -> None:
        """Disconnect everything; events still queued from before are dropped."""
        for emitter, forward in self._links:
            emitter.disconnect(forward)
        self._links.clear()
        self._relay.generation += 1

    def __len__(self) -> int:
        return len(self._links)
