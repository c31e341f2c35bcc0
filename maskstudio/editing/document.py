"""One open mixture and its mask layers: the model the editor window binds to.

No Qt here (napari's split): views subscribe to the typed events of ``doc.events``
(:mod:`maskstudio.editing.events`: masks with the changed box, layers, history, spectrogram,
item) and disconnect when they let the document go. Every change goes through this object, so
undo, the partition of unity and the locks hold whatever the view.  Long operations take a
``progress(done, total)`` callback that may raise :class:`~maskstudio.errors.Cancelled`; they
change nothing until they have finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskstudio.dsp.masks import MaskSet, magnitude_db, regrid_mask, threshold_mask
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.phase import render_blocks
from maskstudio.dsp.stft import STFTConfig, stft_frames
from maskstudio.editing.edits import Box, edit_layer, smooth_values
from maskstudio.editing.events import (
    DocumentEvents,
    HistoryChanged,
    ItemChanged,
    LayersChanged,
    MasksChanged,
    SpectrogramChanged,
)
from maskstudio.editing.history import Atom, History, Step
from maskstudio.editing.palette import PALETTE, next_color
from maskstudio.editing.spectrogram import SpectrogramImage
from maskstudio.editing.state import (
    RESIDUAL_COLOR,
    STATUSES,
    DocumentState,
    Layer,
    residual_layer,
)
from maskstudio.editing.tiles import TiledMasks
from maskstudio.errors import MaskFileError, MaskStudioError, ParameterError
from maskstudio.io.audiofile import (
    AudioClip,
    AudioWriter,
    atomic_write,
    conform_reference,
    load_audio,
)
from maskstudio.io.export import ExportSet, check_source_name, output_targets, render, write_outputs
from maskstudio.io.npz import load_masks, write_mask_file

__all__ = ["Layer", "Document", "DocumentState", "PALETTE", "STATUSES", "RESIDUAL_COLOR",
           "GridMismatchError"]

_BLOCK = 2048  #: frames per block for whole-file operations


class GridMismatchError(MaskFileError):
    """A mask file fits the mixture on another STFT grid, ``config``: switching the view to
    it (:meth:`Document.set_config`) lets the file load."""

    def __init__(self, message: str, config: STFTConfig):
        super().__init__(message)
        self.config = config


class Document:
    """A mixture, its STFT grid, its source layers and their history."""

    def __init__(self, clip: AudioClip, config: STFTConfig | None = None, *,
                 view_channel="mid"):
        self.clip = clip
        self.config = config or STFTConfig.for_samplerate(clip.samplerate)
        self.layers: list[Layer] = []
        self.residual = residual_layer()
        self.references: dict = {}  # name -> conformed stem [C, n], when stems were loaded
        #: one emitter per kind of change (masks, layers, history, spectrogram, item)
        self.events = DocumentEvents()
        self.view_channel = view_channel
        #: layer uid -> complex mask, for layers loaded as cIRM (saved in projects, journaled)
        self.complex_masks: dict = {}
        self.notes = ""
        self.status = "to do"
        self.project_path = None
        self.save_token = None  #: identifies the last save, so a journal is replayed on it only
        self.journal = None  #: an annotation.journal.Journal recording each finished step
        self._next_uid = 0
        self._make_grid()
        self.modified = False

    def _make_grid(self, lead: tuple = ()):
        self.n_bins = self.config.n_bins
        self.n_frames = self.config.n_frames(self.clip.n_samples)
        self.store = TiledMasks(self.n_bins, self.n_frames, lead=lead)
        for _ in self.layers:
            self.store.add_layer()
        self._make_history()
        self.spectrogram = SpectrogramImage(self.clip.samples, self.config, self.view_channel)

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
    def from_state(cls, clip: AudioClip, state: DocumentState, *,
                   view_channel="mid") -> Document:
        """A document of ``clip`` in ``state`` (a project being opened), with no history."""
        doc = cls(clip, state.config, view_channel=view_channel)
        doc.load_state(state)
        doc.modified = False
        return doc

    def load_state(self, state: DocumentState) -> None:
        """Become ``state`` (a journal replayed, a project loaded): the grid is rebuilt if it
        differs, the history starts afresh, and views are told everything changed.  The tile
        arrays become this document's own; the session (file, journal, stems) stays."""
        regrid = state.config != self.config
        if regrid:
            self.config = state.config
            self.n_bins = self.config.n_bins
            self.n_frames = self.config.n_frames(self.clip.n_samples)
            self.spectrogram = SpectrogramImage(self.clip.samples, self.config,
                                                self.view_channel)
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
        if step.marks is None:  # the first time the step is done: which layers it marks
            step.marks = {}
            for atom in step.atoms:
                for j, index in enumerate(atom.layers):
                    layer = self.layers[index] if index < len(self.layers) else None
                    if (layer is not None and layer.uid not in step.marks
                            and layer.provenance.get("kind") != "painted"
                            and not layer.provenance.get("edited")
                            and not np.array_equal(atom.new[j], atom.old[j])):
                        step.marks[layer.uid] = (layer.provenance,
                                                 dict(layer.provenance, edited=True))
        by_uid = {layer.uid: layer for layer in self.layers}

        def put(which: int) -> None:
            for uid, provs in step.marks.items():
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
        if channel != "mid" and not 0 <= int(channel) < self.clip.n_channels:
            raise ParameterError(f"there is no channel {int(channel) + 1}: the file has "
                                 f"{self.clip.n_channels}")
        return channel

    def set_view_channel(self, channel) -> None:
        if channel == self.view_channel:
            return
        self.view_channel = self.check_channel(channel)
        self.spectrogram = SpectrogramImage(self.clip.samples, self.config, self.view_channel)
        self.events.spectrogram.emit(SpectrogramChanged())

    def set_config(self, config: STFTConfig, *, progress=None) -> None:
        """Move to another STFT grid, resampling every layer to it (history is cleared)."""
        if config == self.config:
            return
        old_cfg, old_store = self.config, self.store
        saved = {k: getattr(self, k) for k in ("config", "store", "history", "spectrogram",
                                               "n_bins", "n_frames")}
        saved_complex = dict(self.complex_masks)
        try:
            dense = [old_store.dense(i) for i in range(old_store.n_layers)]
            self.config = config
            self._make_grid(old_store.lead)
            self.complex_masks.clear()  # a cIRM lives on the grid it was computed on
            for i, d in enumerate(dense):
                self.store.set_dense(i, regrid_mask(d, self.n_bins, self.n_frames, old_cfg,
                                                    config, self.samplerate))
                if progress:
                    progress(i + 1, len(dense))
            if self.journal is not None:
                self.journal.record_snapshot(self)
        except BaseException:  # cancelled, or not journaled: the old grid, as it was
            for k, v in saved.items():
                setattr(self, k, v)
            self.complex_masks = saved_complex
            raise
        self.modified = True
        self.events.spectrogram.emit(SpectrogramChanged())
        self.events.whole(self.n_bins, self.n_frames)

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
        if data is not None:
            self.store.set_dense(index, np.asarray(data, dtype=np.float32))
        tiles = self.store.stored_tiles(index)
        if record:
            self.history.push(Step(
                f"add layer {name}",
                undo_fn=lambda: self._detach(index),
                redo_fn=lambda: self._attach(index, layer, tiles),
                extra_bytes=sum(t.nbytes for t in tiles.values())))
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
        self.layers.insert(index, layer)
        self.store.restore_layer(index, tiles)

    def remove_layer(self, index: int) -> None:
        layer, tiles = self._detach(index)
        self.history.push(Step(
            f"remove layer {layer.name}",
            undo_fn=lambda: self._attach(index, layer, tiles),
            redo_fn=lambda: self._detach(index),
            extra_bytes=sum(t.nbytes for t in tiles.values())))
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
        """Every layer's mask value (and the residual's) at bin ``f``, frame ``t``."""
        if not (0 <= f < self.n_bins and 0 <= t < self.n_frames) or not self.layers:
            return {}
        v = self.store.read(range(len(self.layers)), f, f + 1, t, t + 1)
        v = np.abs(v).reshape(len(self.layers), -1).mean(axis=1)
        out = {layer.name: float(x) for layer, x in zip(self.layers, v)}
        out["residual"] = max(0.0, 1.0 - float(v.sum()))
        return out

    def mixture_db(self, box: Box) -> np.ndarray:
        """Level of the mixture in dB full scale over a box, channels pooled by power."""
        S = stft_frames(self.clip.samples, box.t0, box.t1, **self.config.kwargs())
        S = S[:, box.f0:box.f1] / np.float32(self.spectrogram.reference)
        return magnitude_db(S, channel_axis=0)

    # -- edits ----------------------------------------------------------------------------
    def begin_edit(self, label: str) -> None:
        self.history.begin(label)

    def end_edit(self) -> None:
        if self.history.end() is not None:
            self.events.history.emit(HistoryChanged())

    def apply(self, k: int, box: Box, alpha: np.ndarray, target) -> Box:
        """Move layer ``k`` toward ``target`` by ``alpha`` inside ``box``, keeping the
        partition; recorded in the open history step (or as a step of its own)."""
        box = box.clip(self.n_bins, self.n_frames)
        if box.empty or not 0 <= k < len(self.layers):
            return Box(0, 0, 0, 0)
        self.check_editable(k)
        layers = list(range(len(self.layers)))
        old = self.store.read(layers, box.f0, box.f1, box.t0, box.t1)
        new = edit_layer(old, k, target, alpha, self.locks())
        if np.array_equal(new, old):
            return Box(0, 0, 0, 0)
        self.store.write(layers, box.f0, box.t0, new)
        self.history.record(Atom(tuple(layers), box.f0, box.t0, old, new))
        self.modified = True
        self.events.masks.emit(MasksChanged(box))
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

    def apply_whole(self, k: int, label: str, target_fn, *, progress=None,
                    selection: tuple | None = None) -> None:
        """Apply ``target_fn(box, current_k) -> target`` block by block over the whole file (or
        over ``selection = (box, alpha)``) as one undoable step.

        A locked or missing layer is refused before anything changes; an operation that fails
        or is cancelled part-way puts back what it changed, and only that (earlier steps stay)."""
        self.check_editable(k)
        self.begin_edit(label)
        try:
            if selection is not None:
                box, alpha = selection
                cur = self.store.read([k], box.f0, box.f1, box.t0, box.t1)[0]
                self.apply(k, box, alpha, target_fn(box, cur))
            else:
                for t0 in range(0, self.n_frames, _BLOCK):
                    box = Box(0, self.n_bins, t0, min(self.n_frames, t0 + _BLOCK))
                    cur = self.store.read([k], 0, self.n_bins, box.t0, box.t1)[0]
                    self.apply(k, box, np.ones(box.shape, np.float32), target_fn(box, cur))
                    if progress:
                        progress(box.t1, self.n_frames)
        except BaseException:
            box = self._open_box()
            self.history.abort()  # leave nothing half-done, touch no earlier step
            if not box.empty:
                self.events.masks.emit(MasksChanged(box))
            raise
        self.end_edit()

    def _open_box(self) -> Box:
        step = self.history.open_step
        box = Box(0, 0, 0, 0)
        for atom in (step.atoms if step is not None else ()):
            h, w = atom.old.shape[-2:]
            box = box.union(Box(atom.f0, atom.f0 + h, atom.t0, atom.t0 + w))
        return box

    def fill(self, k: int, selection, value: float = 1.0) -> None:
        self.apply_whole(k, "fill", lambda box, cur: value, selection=selection)

    def erase(self, k: int, selection) -> None:
        self.apply_whole(k, "erase", lambda box, cur: 0.0, selection=selection)

    def invert(self, k: int, selection=None, progress=None) -> None:
        self.apply_whole(k, "invert", lambda box, cur: 1 - cur, selection=selection,
                         progress=progress)

    def binarize(self, k: int, selection=None, threshold: float = 0.5, progress=None) -> None:
        self.apply_whole(k, "binarise", lambda box, cur: (cur > threshold).astype(np.float32),
                         selection=selection, progress=progress)

    def smooth(self, k: int, selection, sigma_bins: float = 2.0, sigma_frames: float = 2.0
               ) -> None:
        self.check_editable(k)
        box, alpha = selection
        grown = box.grow(int(3 * sigma_bins) + 1, int(3 * sigma_frames) + 1).clip(
            self.n_bins, self.n_frames)
        cur = self.store.read([k], grown.f0, grown.f1, grown.t0, grown.t1)[0]
        sm = smooth_values(cur, sigma_bins, sigma_frames)
        inner = sm[..., box.f0 - grown.f0:box.f1 - grown.f0, box.t0 - grown.t0:box.t1 - grown.t0]
        self.apply_whole(k, "smooth", lambda b, c: inner, selection=selection)

    def threshold(self, k: int, threshold_db: float, *, width_db: float = 0.0,
                  selection=None, progress=None) -> None:
        """Set layer ``k`` from the mixture's level: 1 above ``threshold_db`` (or a sigmoid of
        ``width_db``), over the whole file or inside ``selection``."""
        self.apply_whole(
            k, "threshold",
            lambda box, cur: threshold_mask(self.mixture_db(box), threshold_db, width_db=width_db),
            selection=selection, progress=progress)

    def threshold_preview(self, box: Box, threshold_db: float, width_db: float = 0.0
                          ) -> np.ndarray:
        """What :meth:`threshold` would give inside ``box``, without changing anything."""
        return threshold_mask(self.mixture_db(box.clip(self.n_bins, self.n_frames)),
                              threshold_db, width_db=width_db)

    # -- masks from elsewhere -----------------------------------------------------------------
    def compute_oracle(self, kind: str, stems: dict, *, progress=None, **options) -> tuple:
        """Oracle masks of ``stems {name: path}``, ready for :meth:`add_layers`; changes nothing
        (so it can run on a worker thread)."""
        refs = {}
        for name, path in stems.items():
            check_source_name(name)
            refs[name] = conform_reference(load_audio(path), self.clip, name=f"stem '{name}'")
        data = oracle_masks(self.clip.samples, list(refs.values()), self.config, kind,
                            progress=progress, **options)
        prov = {"kind": "oracle", "mask": kind, "options": options,
                "stems": {n: str(p) for n, p in stems.items()}}
        return list(refs), data, prov, f"oracle {kind}", refs

    def add_oracle_layers(self, kind: str, stems: dict, *, progress=None, mode: str = "add",
                          **options) -> list:
        """Layers from oracle masks of ``stems {name: path}``: one undoable step, loaded by
        ``mode`` (see :meth:`load_layers`)."""
        names, data, prov, label, refs = self.compute_oracle(kind, stems, progress=progress,
                                                             **options)
        self.references.update(refs)
        return self.add_layers(names, data, prov, label, mode=mode)

    def restore_references(self) -> list:
        """Load again the stems the oracle layers were computed from (a reopened project
        keeps their paths in its provenance), for playback with the oracle phase and for the
        live scores.  Returns the stems that could not be loaded (moved, changed length)."""
        missing = []
        for layer in self.layers:
            stems = layer.provenance.get("stems") if isinstance(layer.provenance, dict) else None
            for name, path in (stems.items() if isinstance(stems, dict) else ()):
                if name in self.references or name in missing:
                    continue
                if not isinstance(name, str) or not isinstance(path, str):
                    continue  # a damaged provenance names nothing that can be loaded
                try:
                    self.references[name] = conform_reference(load_audio(path), self.clip,
                                                              name=f"stem '{name}'")
                except MaskStudioError:
                    missing.append(name)
        return missing

    def compute_separator(self, name: str, *, use_hints: bool = False, **params) -> tuple:
        """Masks from a separator (changes nothing; may run on a worker thread).  With
        ``use_hints`` the layers are its hints (NMF: paint, separate, correct, re-run)."""
        from maskstudio.dsp.separators import run_separator
        from maskstudio.dsp.stft import stft

        hints = None
        if use_hints:
            if len(self.layers) < 2:
                raise ParameterError("guided separation needs hints: paint at least two layers")
            hints = {la.name: np.abs(self.store.dense(i)) if self.store.lead == () else
                     np.abs(self.store.dense(i)).mean(axis=0)
                     for i, la in enumerate(self.layers)}
        Y = stft(self.clip.samples, **self.config.kwargs())
        names, masks = run_separator(name, Y, samplerate=self.samplerate, config=self.config,
                                     hints=hints, **params)
        return names, masks, {"kind": "separator", "name": name, "params": params}

    def replace_values(self, names, masks: np.ndarray, label: str) -> None:
        """Set the named layers to ``masks`` as one undoable step (a re-run separation)."""
        idx = [self.index(n) for n in names]
        for i in idx:  # a lock forbids a re-run as much as a brush
            self.check_editable(i)
        old = self.store.read(idx, 0, self.n_bins, 0, self.n_frames)
        new = np.broadcast_to(masks[:, None] if old.ndim == 4 else masks, old.shape)
        new = np.ascontiguousarray(new, dtype=np.float32)
        self.store.write(idx, 0, 0, new)
        self.history.push(Step(label, [Atom(tuple(idx), 0, 0, old, new)]))
        self.modified = True
        self.events.masks.emit(MasksChanged(Box(0, self.n_bins, 0, self.n_frames)))
        self.events.history.emit(HistoryChanged())

    def read_model_masks(self, path) -> tuple:
        """``(names, data, provenance, label)`` of a model's mask file, ready for
        :meth:`load_layers`; changes nothing.  A bare ``.npy`` is read on this view's grid (a
        transposed one is explained); an ``.npz`` made on another grid that fits the mixture
        raises :class:`GridMismatchError`, any other misfit a :class:`MaskFileError`."""
        bare = Path(path).suffix.lower() == ".npy"
        mf = load_masks(path, n_channels=self.clip.n_channels, n_samples=self.clip.n_samples,
                        samplerate=self.samplerate, config=self.config if bare else None)
        if mf.config != self.config:
            raise GridMismatchError(
                f"'{Path(path).name}' was made with {mf.config.describe()}, but this view uses "
                f"{self.config.describe()}: switch the STFT settings to the file's to load it",
                mf.config)
        return (mf.masks.names, mf.masks.data, {"kind": "model", "file": str(path)},
                f"load {Path(path).name}")

    def load_model_masks(self, path, *, mode: str = "add", progress=None) -> list:
        """Layers from a model's mask file, loaded by ``mode`` (see :meth:`load_layers`); a
        file that does not fit raises a :class:`MaskFileError` that says what differs and
        what to do."""
        return self.add_layers(*self.read_model_masks(path), mode=mode)

    def load_layers(self, names, data: np.ndarray, provenance: dict, label: str, *,
                    mode: str = "add"):
        """Load masks ``data [N, (C,) F, T]`` as one undoable step that keeps every bin's
        sum at one at most: ``mode`` "replace" (the load wins over layers of the same name
        and the rest), "add" (new layers share each bin with the unlocked ones) or "fill"
        (new layers take only from the residual).  Returns a
        :class:`~maskstudio.editing.loads.LoadReport`."""
        from maskstudio.editing.loads import load_layers

        return load_layers(self, names, data, provenance, label, mode=mode)

    def add_layers(self, names, data: np.ndarray, provenance: dict, label: str, *,
                   mode: str = "add") -> list:
        """:meth:`load_layers`, returning the loaded layers' indices."""
        return self.load_layers(names, data, provenance, label, mode=mode).indices

    def complex_data(self, indices) -> np.ndarray:
        """The complex (cIRM) masks of the layers at ``indices``, ``[N, (C,) F, T]``; they
        follow the layer through renames, saves and recovery, and lapse once it is edited."""
        layers = [self.layers[i] for i in indices]
        if not layers or not all(la.uid in self.complex_masks and not la.provenance.get("edited")
                                 for la in layers):
            raise ParameterError("the complex phase needs unedited complex (cIRM) layers: "
                                 "choose another phase")
        return np.stack([self.complex_masks[la.uid] for la in layers])

    # -- export ---------------------------------------------------------------------------
    def mask_set(self, names: Sequence[str] | None = None) -> MaskSet:
        idx = [self.index(n) for n in names] if names else list(range(len(self.layers)))
        if not idx:
            raise ParameterError("there are no layers to export: add or load a layer first")
        data = np.stack([self.store.dense(i) for i in idx])
        return MaskSet([self.layers[i].name for i in idx], data)

    def inputs(self) -> list:
        """Every file this document was made from, which an export must never overwrite: the
        mixture, the stems of oracle layers, the mask files of model layers."""
        found = [self.clip.path]
        for layer in self.layers:
            prov = layer.provenance if isinstance(layer.provenance, dict) else {}
            stems = prov.get("stems")
            if isinstance(stems, dict):
                found += [Path(p) for p in stems.values() if isinstance(p, (str, Path))]
            if isinstance(prov.get("file"), (str, Path)):
                found.append(Path(prov["file"]))
        return [p for p in found if p is not None]

    def export(self, out_dir, *, names: Sequence[str] | None = None, phase: str = "mixture",
               fmt: str = "wav", n_iter=None, cutoff_hz: float = 6000.0, progress=None,
               extra: dict | None = None, protect: Sequence = ()) -> list:
        """Layers (all, or ``names``) and the residual as audio, and their masks, into
        ``out_dir``; with one layer, the residual is its inverted mask.  ``extra`` maps more
        file names to their text (a dataset export's ``metadata.json``).  The files appear
        together (:class:`~maskstudio.io.export.ExportSet`), ``masks.npz`` last.

        With the mixture's or the oracle's phase the files are rendered and written block by
        block from the layers' tiles, so an hour-long file exports in little memory; the other
        phase modes work on the whole file.  No input (:meth:`inputs`, and ``protect``) is
        ever overwritten."""
        protect = self.inputs() + list(protect)
        idx = [self.index(n) for n in names] if names else list(range(len(self.layers)))
        if not idx:
            raise ParameterError("there are no layers to export: add or load a layer first")
        names = [self.layers[i].name for i in idx]
        refs = None
        if phase == "oracle":
            missing = [n for n in names if n not in self.references]
            if missing:
                raise ParameterError(f"the oracle phase needs the stems of {', '.join(missing)}: "
                                     f"load them with Masks > Oracle from stems")
            refs = [self.references[n] for n in names]
        meta = {"phase": phase, "mixture": str(self.clip.path),
                "layers": [dataclasses.asdict(layer) for layer in self.layers]}
        if phase in ("mixture", "oracle"):
            return self._export_streaming(out_dir, idx, phase, fmt, refs, meta, progress,
                                          extra, protect)
        masks = self.mask_set(names)
        if phase == "complex":
            masks = MaskSet(masks.names, self.complex_data([self.index(n) for n in masks.names]))
        signals = render(self.clip, masks, self.config, phase=phase, references=refs,
                         n_iter=n_iter, cutoff_hz=cutoff_hz, progress=progress)
        return write_outputs(out_dir, self.clip, masks, signals, self.config, fmt=fmt,
                             metadata=meta, what="the layer name", extra=extra,
                             protect=protect)

    def _export_streaming(self, out_dir, idx, phase, fmt, refs, meta, progress, extra=None,
                          protect=()) -> list:
        """Render block by block from the tiles into files that appear only when all are
        complete (an error or Cancel leaves the folder as it was)."""
        names = [self.layers[i].name for i in idx]
        protect = list(protect) or self.inputs()
        targets = output_targets(out_dir, names, fmt, protect, what="the layer name")
        extra = dict(extra or {})
        F, T, lead = self.n_bins, self.n_frames, self.store.lead

        def mask_block(t0, t1):
            v = self.store.read(idx, 0, F, t0, t1)
            return v if lead else v[:, None]

        with ExportSet(out_dir, [t.name for t in targets] + list(extra),
                       protect=protect) as staged:
            with contextlib.ExitStack() as files:
                writers = [files.enter_context(AudioWriter(
                    staged.path(t.name), self.samplerate, self.clip.n_channels, like=self.clip))
                    for t in targets[:-1]]
                for block in render_blocks(self.clip.samples, mask_block, len(idx), self.config,
                                           phase=phase, references=refs, progress=progress):
                    for writer, signal in zip(writers, block):
                        writer.write(signal)
            write_mask_file(staged.path(targets[-1].name), names, (len(idx),) + lead + (F, T),
                            lambda i, f0, f1: self.store.read([idx[i]], f0, f1, 0, T)[0],
                            self.config, self.samplerate, metadata=meta)
            for name, text in extra.items():
                atomic_write(staged.path(name), lambda tmp, t=text: Path(tmp).write_text(t))
        return targets

    def save_masks(self, path) -> Path:
        """Every layer's mask to an ``.npz``, written from the tiles a band at a time."""
        if not self.layers:
            raise ParameterError("there are no layers to save: add or load a layer first")
        meta = {"layers": [dataclasses.asdict(layer) for layer in self.layers]}
        return write_mask_file(
            path, [la.name for la in self.layers],
            (len(self.layers),) + self.store.lead + (self.n_bins, self.n_frames),
            lambda i, f0, f1: self.store.read([i], f0, f1, 0, self.n_frames)[0],
            self.config, self.samplerate, metadata=meta, protect=self.inputs())
