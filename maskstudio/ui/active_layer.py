"""The active layer: one model read by the Layers panel, the view, tools and playback.

The layer is kept by its uid, not its row, so it stays the same layer when others appear or go
before it (a redo, a load).  When it goes itself (deleted, or an undo removed it) the layer now
at its row, or the last one, becomes active.  :attr:`ActiveLayer.index` is resolved on every
read, so whatever order the document's events reach the panel and the view, both always see
a layer that exists, and None only when there is no layer at all.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtCore


class ActiveLayer(QtCore.QObject):
    """Which layer the tools act on.  ``changed`` is emitted when the user (or the window)
    chooses another layer; a layer that went is replaced silently on the next read."""

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.doc = None
        self._uid = None
        self._row = 0  #: where the active layer was last seen (its neighbour takes over)

    def set_document(self, doc) -> None:
        """Follow ``doc``; a new document starts on its first layer (the same one keeps its
        active layer: a change of grid is not a new file)."""
        if doc is self.doc:
            return
        self.doc, self._uid, self._row = doc, None, 0
        self.changed.emit()

    @property
    def index(self) -> int | None:
        """The active layer's row in ``doc.layers``, or None when there is no layer."""
        doc = self.doc
        if doc is None or not doc.layers:
            return None
        layers = doc.layers
        if self._row < len(layers) and layers[self._row].uid == self._uid:
            return self._row
        for i, layer in enumerate(layers):
            if layer.uid == self._uid:
                self._row = i
                return i
        self._row = min(self._row, len(layers) - 1)  # it went: its neighbour takes over
        self._uid = layers[self._row].uid
        return self._row

    @property
    def layer(self):
        """The active :class:`~maskstudio.editing.document.Layer`, or None."""
        i = self.index
        return None if i is None else self.doc.layers[i]

    def set(self, index: int) -> None:
        """Make layer ``index`` active (an index out of range picks the nearest layer)."""
        doc = self.doc
        if doc is None or not doc.layers:
            self._uid, self._row = None, 0
            return
        before = self.index
        row = max(0, min(int(index), len(doc.layers) - 1))
        self._row, self._uid = row, doc.layers[row].uid
        if row != before:
            self.changed.emit()
