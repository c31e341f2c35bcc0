"""Typed document events: one emitter per kind, each with connect and disconnect.

A view subscribes itself to the kinds it draws (``doc.events.masks.connect(self.on_masks)``) and
disconnects when it lets the document go; nothing forwards events by hand. Events are emitted on
the thread that changed the document (a worker's, for long operations): a GUI subscriber hands them
to its own thread (:mod:`maskstudio.ui.bridge`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from maskstudio.editing.edits import Box

__all__ = ["Emitter", "DocumentEvents", "MasksChanged", "LayersChanged", "HistoryChanged",
           "SpectrogramChanged", "ItemChanged"]

E = TypeVar("E")


class Emitter(Generic[E]):
    """Calls each connected function with the event, in the order they connected."""

    def __init__(self, kind: str):
        self.kind = kind
        self._lock = threading.Lock()
        self._listeners: list[Callable[[E], object]] = []

    def connect(self, listener: Callable[[E], object]) -> Callable[[E], object]:
        """Call ``listener(event)`` on every emit (once, however often it connects)."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)
        return listener

    def disconnect(self, listener: Callable[[E], object]) -> bool:
        """Stop calling ``listener``; False if it was not connected."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
                return True
        return False

    def emit(self, event: E) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    def __len__(self) -> int:
        return len(self._listeners)


@dataclass(frozen=True)
class MasksChanged:
    """Mask values changed inside ``box`` (bins x frames) of the layers ``layers`` (their
    rows; None: of any layer)."""

    box: Box
    layers: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LayersChanged:
    """Layers were added, removed, reordered, renamed or had a property changed."""


@dataclass(frozen=True)
class HistoryChanged:
    """A step was done, undone or redone, or the history was reset."""


@dataclass(frozen=True)
class SpectrogramChanged:
    """The displayed spectrogram was recomputed (a new grid, or another channel shown)."""


@dataclass(frozen=True)
class ItemChanged:
    """The item's notes or status changed; ``field`` says which."""

    field: str


class DocumentEvents:
    """The document's emitters, one per kind of change."""

    def __init__(self) -> None:
        self.masks: Emitter[MasksChanged] = Emitter("masks")
        self.layers: Emitter[LayersChanged] = Emitter("layers")
        self.history: Emitter[HistoryChanged] = Emitter("history")
        self.spectrogram: Emitter[SpectrogramChanged] = Emitter("spectrogram")
        self.item: Emitter[ItemChanged] = Emitter("item")

    def all(self) -> tuple[Emitter, ...]:
        return (self.masks, self.layers, self.history, self.spectrogram, self.item)

    def whole(self, n_bins: int, n_frames: int) -> None:
        """Everything may have changed: layers, every mask value, the history."""
        self.layers.emit(LayersChanged())
        self.masks.emit(MasksChanged(Box(0, n_bins, 0, n_frames)))
        self.history.emit(HistoryChanged())
