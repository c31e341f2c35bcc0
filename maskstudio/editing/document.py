"""One open mixture and its mask layers: the model the editor window binds to.

No Qt here (napari's split): views subscribe to the typed events of ``doc.events``
(:mod:`maskstudio.editing.events`: masks with the changed box, layers, history, spectrogram,
item) and disconnect when they let the document go. Every change goes through this object, so
undo, the partition of unity and the locks hold whatever the view.  Long operations take a
``progress(done, total)`` callback that may raise :class:`~maskstudio.errors.Cancelled`; they
change nothing until they have finished.

This module is the document itself: its grid, layers, history, item notes and status, the
brush's edits, and its state (:mod:`maskstudio.editing.state`).  The rest is done *with* a
document by the modules beside it, whose functions take it as their first argument and which
the document offers as methods for its callers: whole-file operations
(:mod:`~maskstudio.editing.operations`), loads that keep the partition
(:mod:`~maskstudio.editing.loads`), masks from elsewhere (:mod:`~maskstudio.editing.sources`),
what is heard (:mod:`~maskstudio.editing.hearing`) and exports
(:mod:`~maskstudio.editing.outputs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing import channels, operations, outputs, sources
from maskstudio.editing.edits import Box
from maskstudio.editing.events import (
    DocumentEvents,
    HistoryChanged,
    ItemChanged,
    LayersChanged,
    MasksChanged,
    SpectrogramChanged,
)
from maskstudio.editing.history import Atom, History, Step
from maskstudio.editing.loads import LoadReport, load_layers
from maskstudio.editing.palette import PALETTE, next_color
from maskstudio.editing.sources import GridMismatchError
from maskstudio.editing.spectrogram import SpectrogramImage
from maskstudio.editing.state import (
    RESIDUAL_COLOR,
    STATUSES,
    DocumentState,
    Layer,
    residual_layer,
)
from maskstudio.editing.tiles import TiledMasks, kept_bytes
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import AudioClip
from maskstudio.io.export import check_source_name
from maskstudio.io.ondemand import Mixture

__all__ = ["Layer", "Document", "DocumentState", "PALETTE", "STATUSES", "RESIDUAL_COLOR",
           "GridMismatchError"]


class Document:
    """A mixture, its STFT grid, its source layers and their history."""

    def __init__(self, clip: Mixture, config: STFTConfig | None = None, *,
                 view_channel="mid"):
        #: decoded whole (an AudioClip) or read on demand (an AudioReader: what the window
        #: opens); ``clip.read(start, stop)``, and ``clip.reader()`` for another thread
        self.clip = clip
        self.config = config or STFTConfig.for_samplerate(clip.samplerate)
        self.layers: list[Layer] = []
        self.residual = residual_layer()
        self.references: dict = {}  #: name -> stem conformed to the mixture, read on demand
        #: one emitter per kind of change (masks, layers, history, spectrogram, item)
        self.events = DocumentEvents()
        self.view_channel = channels.check_channel(view_channel, clip.n_channels)
        #: an edit in a channel view changes every channel (True) or only the one on view
        self.link_channels = True
        #: layer uid -> complex mask, for layers loaded as cIRM (saved in projects, journaled)
        self.complex_masks: dict = {}
        self.notes = ""
        self.status = "to do"
        self.project_path = None
        self.save_token = None  #: identifies the last save, so a journal is replayed on it only
        self.journal = None  #: an annotation.journal.Journal recording each finished step
        self._next_uid = 0
        self.make_grid(channels.lead_for(clip.n_channels))
        self.modified = False

    def make_grid(self, lead: tuple = ()) -> None:
        """A new empty store of ``lead`` masks for the layers, on the current grid."""
        self.n_bins = self.config.n_bins
        self.n_frames = self.config.n_frames(self.clip.n_samples)
        self.store = TiledMasks(self.n_bins, self.n_frames, lead=lead)
        for _ in self.layers:
            self.store.add_layer()
        self._make_history()
        self.spectrogram = self._spectrogram()

    def _spectrogram(self) -> SpectrogramImage:
        """The display spectrogram, with a reader of its own (it fills on its own thread)."""
        clip = self.clip
        return SpectrogramImage(clip.samples if isinstance(clip, AudioClip) else clip.reader(),
                                self.config, self.view_channel)

    # -- state ----------------------------------------------------------------------------
    def state(self) -> DocumentState:
        """A snapshot of everything a project keeps of this document (see
        :class:`~maskstudio.editing.state.DocumentState`): the layers are copies, the tile
        arrays this document's own (:meth:`DocumentState.copy` to keep them as they are)."""
        return DocumentState(
            config=self.config, layers=[layer.copy() for layer in self.layers],
            tiles=[dict(t) for t in self.store.layer_tiles()], residual=self.residual.copy(),
            complex_masks=dict(self.complex_masks), lead=self.store.lead, tile=self.store.tile,
            notes=self.notes, status=self.status, next_uid=self._next_uid)

    @classmethod
    def from_state(cls, clip: Mixture, state: DocumentState, *,
                   view_channel="mid") -> Document:
        """A document of ``clip`` in ``state`` (a project being opened), with no history."""
        doc = cls(clip, state.config, view_channel=view_channel)
        doc.load_state(state)
        doc.modified = False
        return doc

    def load_state(self, state: DocumentState) -> None:
        """Become ``state`` (a journal replayed, a project loaded): the grid is rebuilt if it
        differs, the history starts afresh, and views are told everything changed.  The tile
        arrays become this document's own; the session (file, journal, stems) stays.  Masks
        shared by the channels of a multichannel mixture are widened to one per channel."""
        state = channels.widen_state(state, self.clip.n_channels)
        regrid = state.config != self.config
        if regrid:
            self.config = state.config
            self.n_bins = self.config.n_bins
            self.n_frames = self.config.n_frames(self.clip.n_samples)
            self.spectrogram = self._spectrogram()
        self.store = TiledMasks(self.n_bins, self.n_frames, tile=state.tile, lead=state.lead)
        self.store.set_layer_tiles(state.tiles)
        self.layers = [layer.copy() for layer in state.layers]
        self.residual = state.residual.copy()
        self.complex_masks = dict(state.complex_masks)
        self.notes, self.status = state.notes, state.status
        self._next_uid = max([state.next_uid] + [layer.uid + 1 for layer in self.layers])
        self._make_history()
        if regrid:
            self.events.spectrogram.emit(SpectrogramChanged())
        self.events.whole(self.n_bins, self.n_frames)

    def close(self) -> None:
        """Stop journaling (the journal stays on disk for recovery; its lock is released)."""
        if self.journal is not None:
            self.journal.close()

    def _make_history(self) -> None:
        self.history = History(self.store, on_apply=self._history_applied,
                               on_commit=self._commit)

    def _commit(self, step: Step, values: str) -> None:
        """A step was done, undone or redone: mark the layers it edited (a model's or an
        oracle's layer painted over is no longer what it computed; undo unmarks them), then
        record what the store now holds.  If the journal refuses the record, the marks go
        back too."""
        marks = step.marks
        if marks is None:  # the first time the step is done: which layers it marks
            marks = step.marks = {}
            for atom in step.atoms:
                for j, index in enumerate(atom.layers):
                    layer = self.layers[index] if index < len(self.layers) else None
                    if (layer is not None and layer.uid not in marks
                            and layer.provenance.get("kind") != "painted"
                            and not layer.provenance.get("edited")
                            and not np.array_equal(atom.new[j], atom.old[j])):
                        marks[layer.uid] = (layer.provenance,
                                            dict(layer.provenance, edited=True))
        by_uid = {layer.uid: layer for layer in self.layers}

        def put(which: int) -> None:
            for uid, provs in marks.items():
                if uid in by_uid:
                    by_uid[uid].provenance = provs[which]
        put(1 if values == "new" else 0)
        try:
            if self.journal is not None:
                self.journal.record_step(self, step, values)
        except BaseException:
            put(0 if values == "new" else 1)
            raise

    def new_uid(self) -> int:
        uid = self._next_uid
        self._next_uid += 1
        return uid

    def _history_applied(self, step: Step, undone: bool) -> None:
        box = Box(0, 0, 0, 0)
        for atom in step.atoms:
            h, w = atom.old.shape[-2:]
            box = box.union(Box(atom.f0, atom.f0 + h, atom.t0, atom.t0 + w))
        self.modified = True
        if step.undo_fn is not None:
            self.events.layers.emit(LayersChanged())
        if not box.empty:
            self.events.masks.emit(MasksChanged(box))
        self.events.history.emit(HistoryChanged())

    # -- grid -----------------------------------------------------------------------------
    @property
    def samplerate(self) -> int:
        return self.clip.samplerate

    @property
    def bin_hz(self) -> float:
        return self.samplerate / self.config.n_fft

    @property
    def frame_seconds(self) -> float:
        return self.config.hop_length / self.samplerate

    def check_channel(self, channel):
        """``channel`` if the view can show it ("mid", "side" or a channel index)."""
        return channels.check_channel(channel, self.clip.n_channels)

    def set_view_channel(self, channel) -> None:
        """Show ``channel``: "mid", "side" (stereo) or a channel index (see
        :mod:`maskstudio.editing.channels`)."""
        channel = self.check_channel(channel)
        if channel == self.view_channel:
            return
        self.view_channel = channel
        self.spectrogram = self._spectrogram()
        self.events.spectrogram.emit(SpectrogramChanged())

    def set_config(self, config: STFTConfig, *, progress=None) -> None:
        """:func:`maskstudio.editing.operations.regrid`: every layer resampled to ``config``."""
        operations.regrid(self, config, progress=progress)

    # -- layers ---------------------------------------------------------------------------
    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise ParameterError(f"there is no layer named {name!r}")

    def unique_name(self, base: str) -> str:
        names = {layer.name for layer in self.layers}
        if base not in names:
            return base
        k = 2
        while f"{base}{k}" in names:
            k += 1
        return f"{base}{k}"

    def add_layer(self, name: str | None = None, data: np.ndarray | None = None, *,
                  color=None, provenance: dict | None = None, label: str = "",
                  record: bool = True) -> int:
        """Add a layer (empty, or with ``data`` [F, T]); undoable.  Returns its index."""
        name = check_source_name(self.unique_name(name or f"source{len(self.layers) + 1}"),
                                 what="the layer name")
        color = tuple(color or next_color([la.color for la in self.layers]))
        layer = Layer(name, color, provenance=dict(provenance or {"kind": "painted"}),
                      label=str(label), uid=self.new_uid())
        index = len(self.layers)
        self.layers.append(layer)
        self.store.add_layer()
        if data is not None:  # [F, T] is given to every channel
            data = np.asarray(data, dtype=np.float32)
            self.store.set_dense(index, np.broadcast_to(
                data, self.store.lead + data.shape[-2:]) if data.ndim == 2 else data)
        tiles = self.store.stored_tiles(index)
        if record:
            self.history.push(Step(
                f"add layer {name}",
                undo_fn=lambda: self._detach(index),
                redo_fn=lambda: self._attach(index, layer, tiles),
                extra_bytes=sum(kept_bytes(t) for t in tiles.values())))
        self.modified = True
        self.events.layers.emit(LayersChanged())
        if data is not None:
            self.events.masks.emit(MasksChanged(Box(0, self.n_bins, 0, self.n_frames)))
        self.events.history.emit(HistoryChanged())
        return index

    def _detach(self, index: int):
        layer = self.layers.pop(index)
        tiles = self.store.remove_layer(index)
        return layer, tiles

    def _attach(self, index: int, layer: Layer, tiles: dict) -> None:
        if any(la.name == layer.name for la in self.layers):  # the name was taken meanwhile
            layer.name = self.unique_name(layer.name)  # (renamed while it was undone)
        self.layers.insert(index, layer)
        self.store.restore_layer(index, tiles)

    def remove_layer(self, index: int) -> None:
        layer, tiles = self._detach(index)
        self.history.push(Step(
            f"remove layer {layer.name}",
            undo_fn=lambda: self._attach(index, layer, tiles),
            redo_fn=lambda: self._detach(index),
            extra_bytes=sum(kept_bytes(t) for t in tiles.values())))
        self.modified = True
        self.events.whole(self.n_bins, self.n_frames)

    def set_layer(self, index: int, **props) -> None:
        """Change how a layer looks or behaves (name, colour, opacity, visible, solo, locked)."""
        layer = self.residual if index == -1 else self.layers[index]
        if "name" in props and index != -1:
            new = props["name"]
            if new != layer.name:
                props["name"] = check_source_name(self.unique_name(new), what="the layer name")
        for key in props:
            if not hasattr(layer, key) or key == "uid":
                raise ParameterError(f"layers have no property {key!r}")
        before = {key: getattr(layer, key) for key in props}
        for key, value in props.items():
            setattr(layer, key, value)
        try:
            if self.journal is not None:
                self.journal.record_layers(self)
        except BaseException:
            for key, value in before.items():  # not journaled: not done
                setattr(layer, key, value)
            raise
        self.modified = True
        self.events.layers.emit(LayersChanged())

    def set_notes(self, notes: str) -> None:
        """The item's notes (saved in the project, journaled like any edit)."""
        self._set_item_field("notes", str(notes))

    def set_status(self, status: str) -> None:
        """The item's annotation status: one of :data:`STATUSES`."""
        if status not in STATUSES:
            raise ParameterError(f"unknown status {status!r}: choose {', '.join(STATUSES)}")
        self._set_item_field("status", status)

    def _set_item_field(self, key: str, value: str) -> None:
        before = getattr(self, key)
        if before == value:
            return
        setattr(self, key, value)
        try:
            if self.journal is not None:
                self.journal.record_layers(self)
        except BaseException:
            setattr(self, key, before)  # not journaled: not done
            raise
        self.modified = True
        self.events.item.emit(ItemChanged(key))

    def locks(self) -> list:
        return [layer.locked for layer in self.layers]

    # -- values ---------------------------------------------------------------------------
    def values_at(self, f: int, t: int) -> dict:
        """Every layer's mask value (and the residual's) at bin ``f``, frame ``t``: the
        channel on view's, or the mean of the channels in the mid or side view."""
        if not (0 <= f < self.n_bins and 0 <= t < self.n_frames) or not self.layers:
            return {}
        v = np.abs(self.store.read(range(len(self.layers)), f, f + 1, t, t + 1))
        v = np.stack([channels.channel_plane(x, self.store.lead, self.view_channel)
                      for x in v]).reshape(len(self.layers), -1).mean(axis=1)
        out = {layer.name: float(x) for layer, x in zip(self.layers, v)}
        out["residual"] = max(0.0, 1.0 - float(v.sum()))
        return out

    # -- edits ----------------------------------------------------------------------------
    def begin_edit(self, label: str) -> None:
        self.history.begin(label)

    def end_edit(self) -> None:
        if self.history.end() is not None:
            self.events.history.emit(HistoryChanged())

    @property
    def edit_channel(self) -> int | None:
        """The one channel edits change (a channel on view, the link off), None for all."""
        return channels.edit_channel(self.view_channel, self.store.lead, self.link_channels)

    def apply(self, k: int, box: Box, alpha: np.ndarray, target) -> Box:
        """Move layer ``k`` toward ``target`` by ``alpha`` inside ``box``, keeping the
        partition, in :attr:`edit_channel` (or every channel); recorded in the open history
        step (or as a step of its own)."""
        box = box.clip(self.n_bins, self.n_frames)
        if box.empty or not 0 <= k < len(self.layers):
            return Box(0, 0, 0, 0)
        self.check_editable(k)
        layers = list(range(len(self.layers)))
        old = self.store.read(layers, box.f0, box.f1, box.t0, box.t1)
        new = channels.edit_channels(old, k, target, alpha, self.locks(), self.edit_channel)
        changed = tuple(i for i in layers if not np.array_equal(new[i], old[i]))
        if not changed:
            return Box(0, 0, 0, 0)
        if len(changed) < len(layers):  # only what changed is written, kept and journaled
            old, new = old[list(changed)], new[list(changed)]
        self.store.write(changed, box.f0, box.t0, new)
        self.history.record(Atom(changed, box.f0, box.t0, old, new))
        self.modified = True
        self.events.masks.emit(MasksChanged(box, changed))  # a view redraws only those
        if not self.history.recording:
            self.events.history.emit(HistoryChanged())
        return box

    def check_editable(self, k: int) -> None:
        """Raise, before anything changes, if layer ``k`` cannot be edited: it does not
        exist, or it is locked (a lock forbids every tool and operation on the layer; the
        other layers' share can still move, except into or out of locked layers)."""
        if not 0 <= k < len(self.layers):
            raise ParameterError(f"there is no layer {k + 1}: choose a layer in the Layers panel")
        if self.layers[k].locked:
            raise ParameterError(f"layer '{self.layers[k].name}' is locked: unlock it to edit")

    # -- operations: maskstudio.editing.operations --------------------------------------------
    def fill(self, k: int, selection, value: float = 1.0) -> None:
        operations.fill(self, k, selection, value)

    def erase(self, k: int, selection) -> None:
        operations.erase(self, k, selection)

    def invert(self, k: int, selection=None, progress=None) -> None:
        operations.invert(self, k, selection, progress=progress)

    def binarize(self, k: int, selection=None, threshold: float = 0.5, progress=None) -> None:
        operations.binarize(self, k, selection, threshold, progress=progress)

    def smooth(self, k: int, selection, sigma_bins: float = 2.0, sigma_frames: float = 2.0
               ) -> None:
        operations.smooth(self, k, selection, sigma_bins, sigma_frames)

    def threshold(self, k: int, threshold_db: float, *, width_db: float = 0.0,
                  selection=None, progress=None) -> None:
        operations.threshold(self, k, threshold_db, width_db=width_db, selection=selection,
                             progress=progress)

    def threshold_preview(self, box: Box, threshold_db: float, width_db: float = 0.0
                          ) -> np.ndarray:
        return operations.threshold_preview(self, box, threshold_db, width_db)

    # -- masks from elsewhere: maskstudio.editing.sources -------------------------------------
    def load_layers(self, names, data: np.ndarray, provenance: dict, label: str, *,
                    mode: str = "add") -> LoadReport:
        """Load masks ``data [N, (C,) F, T]`` as one undoable step that keeps every bin's
        sum at one at most: ``mode`` "replace" (the load wins over layers of the same name
        and the rest), "add" (new layers share each bin with the unlocked ones) or "fill"
        (new layers take only from the residual).  See :mod:`maskstudio.editing.loads`."""
        return load_layers(self, names, data, provenance, label, mode=mode)

    def add_layers(self, names, data: np.ndarray, provenance: dict, label: str, *,
                   mode: str = "add") -> list:
        """:meth:`load_layers`, returning the loaded layers' indices."""
        return self.load_layers(names, data, provenance, label, mode=mode).indices

    def compute_oracle(self, kind: str, stems: dict, *, progress=None, shared: bool = False,
                       **options) -> tuple:
        """:func:`maskstudio.editing.sources.compute_oracle` (changes nothing): per channel
        on a multichannel mixture, unless ``shared``."""
        return sources.compute_oracle(self, kind, stems, progress=progress, shared=shared,
                                      **options)

    def compute_separator(self, name: str, *, use_hints: bool = False, **params) -> tuple:
        """:func:`maskstudio.editing.sources.compute_separator` (changes nothing)."""
        return sources.compute_separator(self, name, use_hints=use_hints, **params)

    def read_model_masks(self, path) -> tuple:
        """:func:`maskstudio.editing.sources.read_model_masks` (changes nothing)."""
        return sources.read_model_masks(self, path)

    def load_model_masks(self, path, *, mode: str = "add", progress=None) -> list:
        """:func:`maskstudio.editing.sources.load_model_masks`."""
        return sources.load_model_masks(self, path, mode=mode, progress=progress)

    def replace_values(self, names, masks: np.ndarray, label: str) -> None:
        """:func:`maskstudio.editing.sources.replace_values`."""
        sources.replace_values(self, names, masks, label)

    def restore_references(self) -> list:
        """:func:`maskstudio.editing.sources.restore_references`."""
        return sources.restore_references(self)

    # -- files: maskstudio.editing.outputs -------------------------------------------------
    def export(self, out_dir, *, names=None, phase: str = "mixture", fmt: str = "wav",
               n_iter: int | None = None, cutoff_hz: float = 6000.0, progress=None,
               extra: dict | None = None, protect=()) -> list:
        """:func:`maskstudio.editing.outputs.export`."""
        return outputs.export(self, out_dir, names=names, phase=phase, fmt=fmt, n_iter=n_iter,
                              cutoff_hz=cutoff_hz, progress=progress, extra=extra,
                              protect=protect)

    def save_masks(self, path) -> Path:
        """:func:`maskstudio.editing.outputs.save_masks`."""
        return outputs.save_masks(self, path)
