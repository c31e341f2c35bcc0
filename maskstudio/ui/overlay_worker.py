"""The overlay of a wide view, composed beside the GUI thread.

Composing the overlay pools every shown layer over every frame on screen.  On a view of a few
seconds that is a few milliseconds, but with an hour-long oracle (two layers, one mask per
channel) Ctrl+0 pools 1.2 GB of masks: seconds on the GUI thread, and a frozen window.  So a
view whose stored masks exceed :data:`INLINE_BINS` is composed on a thread of its own: the
spectrogram is drawn at once, the previous overlay stays where it was drawn, and the new one
replaces it when it is ready.  Only the newest request is kept while one runs (scrolling
queues nothing).  A dab made while it composes is drawn on the overlay shown, and noted: when
the new one arrives the view redraws the dabs' boxes on it (:meth:`OverlayComposer.update`),
so a stroke shows as it is painted and none of it is lost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.editing.edits import Box
from maskstudio.editing.tiles import cell_ranges
from maskstudio.ui import overlay
from maskstudio.ui.overlay import OverlayComposer
from maskstudio.ui.view_parts import pool_box

__all__ = ["INLINE_BINS", "overlay_cost", "OverlayWorker", "view_scene", "PendingNote",
           "view_cost"]

#: Stored bins (frames x bins x channels, over the shown layers) composed on the GUI thread;
#: more go to the worker.  About 30 ms on this project's reference machine.
INLINE_BINS = 2 << 20
MAX_EDITS = 256  #: edits noted while a composition runs before they are joined into one box


def view_scene(doc, rows, cols, *, preview, active, difference, outline, channel) -> tuple:
    """What a view's overlay shows, as :meth:`OverlayComposer.compose` takes it: the scene,
    the grid, where the values and the oracle's come from (bound to the masks, preview and
    channel of now, so a worker reads what was asked however the view changes meanwhile), and
    what else they depend on (the cache's key).  ``preview`` is ``(box, values)`` drawn for
    the ``active`` layer; ``difference`` maps layers to their oracle ``(store, j)``."""
    shown, active = active, active or 0  # a preview is drawn for the active layer only
    oracle = None
    if difference and doc.layers:
        store, j = difference.get(active, (None, None))
        if store is not None and store.shape[-2:] == (doc.n_bins, doc.n_frames):
            oracle = (store, j)  # else no stem, or a grid the oracle has not caught up with
    scene = overlay.Scene.of(doc, outline=outline, difference=None if oracle is None else active)
    oracle_of = None
    if oracle is not None:
        def oracle_of(r, c, store=oracle[0], j=oracle[1]):
            return overlay.pooled_area(store, j, r, c, channel)
    store, n_bins = doc.store, doc.n_bins

    def values_of(i: int, r, c) -> np.ndarray:
        if preview is not None and i == shown:
            return pool_box(preview[1], preview[0], r, c, n_bins)
        return overlay.pooled_area(store, i, r, c, channel)
    watched = preview is not None or oracle is not None
    key = (doc.n_bins, doc.n_frames, doc.view_channel, tuple(layer.uid for layer in doc.layers),
           id(preview), None if oracle is None else id(oracle[0]), active if watched else None)
    return scene, rows, cols, values_of, oracle_of, key


def overlay_cost(store, layers, rows, cols) -> int:
    """Bins of stored tiles that composing ``layers`` over ``rows`` x ``cols`` reads."""
    rows = np.asarray(rows)
    starts, stops = cell_ranges(np.asarray(cols))
    t0, t1 = int(starts[0]), int(min(stops[-1], store.n_frames))
    f0, f1 = int(min(rows[0], store.n_bins)), int(min(rows[-1], store.n_bins))
    if t1 <= t0:
        return 0
    k0, k1 = t0 // store.tile, (t1 - 1) // store.tile
    per_tile = store.tile * max(1, f1 - f0) * int(np.prod(store.lead, dtype=np.int64))
    n = 0
    for i in layers:
        if 0 <= i < store.n_layers:
            tiles = store.stored_tiles(i)
            n += len(tiles) if len(tiles) <= k1 - k0 + 1 \
                else sum(1 for k in range(k0, k1 + 1) if k in tiles)
    return n * per_tile


def view_cost(store, scene, difference, rows, cols) -> int:
    """:func:`overlay_cost` of a view's ``scene``: its layers, and in difference mode the
    oracle it pools too (``difference``: ``{layer: (store, j)}``)."""
    cost = overlay_cost(store, scene.needs(), rows, cols)
    if scene.difference is not None and difference:
        oracle, j = difference.get(scene.difference, (None, None))
        cost += 0 if oracle is None else overlay_cost(oracle, [j], rows, cols)
    return cost


class OverlayWorker(QtCore.QObject):
    """Composes overlays on one thread of its own; :attr:`ready` gives each result on the GUI
    thread, with what was asked alongside it."""

    #: (OverlayComposer, the request's ``context``, [(box, layers)] edits noted since it)
    ready = QtCore.Signal(object, object, object)
    failed = QtCore.Signal(object)  #: the exception
    busyChanged = QtCore.Signal(bool)  #: a composition started, or none is left
    _finished = QtCore.Signal(int, object, object)  # token, composer or exception, context

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="maskstudio-overlay")
        self._token = 0
        self._running = False
        self._next: tuple | None = None
        self._edits: list = []  # (box, layers) changed since the newest request
        self._finished.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        """A composition is running or waiting."""
        return self._running or self._next is not None

    def request(self, args: tuple, context=None) -> None:
        """Compose ``OverlayComposer().compose(*args)``; a request made while another runs
        replaces any that was waiting, and the running one's result is dropped."""
        self._token += 1
        self._next = (self._token, args, context)
        self._edits = []
        if not self._running:
            self._start()
            self.busyChanged.emit(True)

    def note_edit(self, box, layers=None) -> None:
        """The masks changed in ``box`` (of ``layers``; None: any) while the newest request is
        composed: :attr:`ready` passes it on, for the view to redraw on the result.  Past
        :data:`MAX_EDITS` they are joined into one box."""
        self._edits.append((box, None if layers is None else tuple(layers)))
        if len(self._edits) > MAX_EDITS:
            boxes = [b for b, _ in self._edits]
            sets = [ls for _, ls in self._edits]
            joined = Box(min(b.f0 for b in boxes), max(b.f1 for b in boxes),
                         min(b.t0 for b in boxes), max(b.t1 for b in boxes))
            self._edits = [(joined, None if any(ls is None for ls in sets)
                            else tuple(sorted({i for ls in sets for i in ls})))]

    def cancel(self) -> None:
        """Drop what is waiting and the result of what runs (a view composed inline since)."""
        self._token += 1
        self._next = None
        self._edits = []
        if not self._running:
            self.busyChanged.emit(False)

    def shutdown(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> None:
        assert self._next is not None
        token, args, context = self._next
        self._next = None
        self._running = True

        def work():
            try:
                composer = OverlayComposer()
                composer.compose(*args)
                result: object = composer
            except Exception as exc:  # noqa: BLE001 - reported on the GUI thread
                result = exc
            self._finished.emit(token, result, context)

        self._pool.submit(work)

    @QtCore.Slot(int, object, object)
    def _deliver(self, token: int, result, context) -> None:
        self._running = False
        if self._next is not None:
            self._start()
        else:
            self.busyChanged.emit(False)
        if token != self._token:
            return  # superseded: a newer request or an inline composition
        edits, self._edits = self._edits, []
        if isinstance(result, Exception):
            self.failed.emit(result)
        else:
            self.ready.emit(result, context, edits)


class PendingNote(QtWidgets.QLabel):
    """"drawing the masks…" in the view's top right corner while its overlay is composed
    beside: the spectrogram without its masks for a few seconds (Ctrl+0 on an hour) must
    not look like masks that are gone."""

    def __init__(self, view: QtWidgets.QWidget, worker: OverlayWorker):
        super().__init__("drawing the masks…", view)
        self.setObjectName("pendingNote")
        self.setStyleSheet("#pendingNote { background: rgba(27, 27, 31, 210); color: #e0e0e8; "
                           "padding: 3px 8px; border-radius: 4px; }")
        self.hide()
        worker.busyChanged.connect(self._busy)

    def _busy(self, busy: bool) -> None:
        if busy:
            self.adjustSize()
            parent = self.parentWidget()
            self.move(parent.width() - self.width() - 90, 100)  # clear of the colour bar
            self.raise_()
        self.setVisible(busy)
