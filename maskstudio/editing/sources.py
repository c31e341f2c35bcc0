"""Masks from elsewhere: oracles of stems, separators, model mask files, and the stems kept
as references.

Each ``compute_*`` / ``read_*`` function changes nothing (so it can run on a worker thread)
and returns what :meth:`Document.load_layers <maskstudio.editing.document.Document.load_layers>`
takes; the others load the result into the document as one undoable step.  The document
offers them as methods too (``doc.compute_oracle(...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskstudio.dsp.oracle import check_oracle_options, oracle_from_stfts
from maskstudio.dsp.stft import STFTConfig, stft_with
from maskstudio.dsp.validation import check_mask
from maskstudio.editing.edits import Box
from maskstudio.editing.events import HistoryChanged, MasksChanged
from maskstudio.editing.history import Atom, Step
from maskstudio.editing.tiles import TiledMasks, quantize, spills
from maskstudio.errors import MaskFileError, MaskStudioError, ParameterError
from maskstudio.io.export import check_source_name
from maskstudio.io.npy_header import StoredArray
from maskstudio.io.npz import is_untruncated_psm, load_masks, read_for_mixture
from maskstudio.io.ondemand import open_reference, read_whole, stft_frames_of

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["GridMismatchError", "compute_oracle", "oracle_tiles", "add_oracle_layers",
           "restore_references", "compute_separator", "replace_values", "read_model_masks",
           "load_model_masks"]

Progress = Callable[[int, int], None] | None
#: Frames of the oracle computed at a time: the STFTs of the mixture and two stems of stereo
#: are 25 MB of complex64 per 512 frames, the oracle's temporaries a few times that.
ORACLE_BLOCK = 512


class GridMismatchError(MaskFileError):
    """A mask file fits the mixture on another STFT grid, ``config``: switching the view to
    it (:meth:`Document.set_config`) lets the file load."""

    def __init__(self, message: str, config: STFTConfig):
        super().__init__(message)
        self.config = config


def compute_oracle(doc: Document, kind: str, stems: dict, *, progress: Progress = None,
                   shared: bool = False, **options: Any) -> tuple:
    """Oracle masks of ``stems {name: path}`` on ``doc``'s mixture and grid, block by block,
    one per channel on a multichannel mixture (``shared``: one mask for all the channels,
    from their pooled power; the document's layers give it to each channel):
    the mixture and the stems are read on demand (each block of frames: their STFT frames,
    :func:`~maskstudio.dsp.oracle.oracle_from_stfts`), and the masks go into compact tiles
    (:func:`~maskstudio.editing.tiles.quantize`: within 1/255, sum kept at most one), so
    nothing is held whole however long the file.  A cIRM is complex: it is held whole.

    Returns
    -------
    tuple
        ``(names, data, provenance, label, references)``: the first four for
        :meth:`Document.load_layers` (``data`` a :class:`TiledMasks`, or the cIRM's array),
        and the stems by name, conformed to the mixture and read on demand.
    """
    refs = {}
    for name, path in stems.items():
        check_source_name(name)
        refs[name] = open_reference(path, doc.clip, name=f"stem '{name}'")
    per_channel = options.pop("per_channel", None)
    per_channel = (not shared) if per_channel is None else bool(per_channel)
    per_channel = per_channel and doc.clip.n_channels > 1
    data = oracle_tiles(doc, kind, list(refs.values()), progress=progress,
                        per_channel=per_channel, **options)
    prov = {"kind": "oracle", "mask": kind, "options": options, "per_channel": per_channel,
            "stems": {n: str(p) for n, p in stems.items()}}
    return list(refs), data, prov, f"oracle {kind}", refs


def oracle_tiles(doc: Document, kind: str, references: Sequence, *,
                 per_channel: bool | None = None, progress: Progress = None,
                 **options: Any) -> TiledMasks | np.ndarray:
    """Oracle masks of ``references`` (readers conformed to the mixture) on ``doc``'s grid,
    a block of frames at a time, into compact tiles whose masks sum to at most one (a cIRM:
    a complex array).  ``per_channel``: one mask per channel (None: when the mixture has
    several), else one shared mask from the channels' pooled power.  Reads through readers
    of its own, so it can run on a worker."""
    check_oracle_options(**{k: v for k, v in options.items()
                            if k in ("lc_db", "p", "beta", "compress")})
    cfg, F, T = doc.config, doc.n_bins, doc.n_frames
    mixture = doc.clip.reader()
    refs = [r.reader() if hasattr(r, "reader") else r for r in references]
    if per_channel is None:
        per_channel = doc.clip.n_channels > 1
    lead = (doc.clip.n_channels,) if per_channel else ()
    N = len(refs)
    cplx = np.zeros((N,) + lead + (F, T), np.complex64) if kind == "cirm" else None
    store = TiledMasks(F, T, tile=doc.store.tile, lead=lead)
    for _ in refs:
        store.add_layer()
    step = max(1, ORACLE_BLOCK // store.tile) * store.tile
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        Y = stft_frames_of(mixture, t0, t1, cfg)
        S = [stft_frames_of(r, t0, t1, cfg) for r in refs]
        m = oracle_from_stfts(Y, S, kind, per_channel=per_channel, **options)
        if cplx is not None:
            cplx[..., t0:t1] = m
        else:  # the load's own first step: the loaded set sums to at most one
            m = np.clip(m, 0.0, 1.0)
            m /= np.maximum(m.sum(axis=0), np.float32(1.0))
            store.write_codes(range(N), t0, quantize(m))
        if progress is not None:
            progress(t1, T)
    return cplx if cplx is not None else store


def add_oracle_layers(doc: Document, kind: str, stems: dict, *, progress: Progress = None,
                      mode: str = "add", shared: bool = False, **options: Any) -> list:
    """Layers from oracle masks of ``stems {name: path}`` (per channel unless ``shared``):
    one undoable step, loaded by ``mode`` (see :meth:`Document.load_layers`); the stems
    become references.  Returns the loaded layers' indices."""
    names, data, prov, label, refs = compute_oracle(doc, kind, stems, progress=progress,
                                                    shared=shared, **options)
    doc.references.update(refs)
    return doc.add_layers(names, data, prov, label, mode=mode)


def restore_references(doc: Document) -> list:
    """Load again the stems the oracle layers were computed from (a reopened project keeps
    their paths in its provenance), for playback with the oracle phase and for the live
    scores.  Returns the stems that could not be loaded (moved, changed length)."""
    missing: list = []
    for layer in doc.layers:
        stems = layer.provenance.get("stems") if isinstance(layer.provenance, dict) else None
        for name, path in (stems.items() if isinstance(stems, dict) else ()):
            if name in doc.references or name in missing:
                continue
            if not isinstance(name, str) or not isinstance(path, str):
                continue  # a damaged provenance names nothing that can be loaded
            try:
                doc.references[name] = open_reference(path, doc.clip, name=f"stem '{name}'")
            except MaskStudioError:
                missing.append(name)
    return missing


def compute_separator(doc: Document, name: str, *, use_hints: bool = False,
                      **params: Any) -> tuple:
    """Masks from a separator: ``(names, masks, provenance)``; changes nothing.  With
    ``use_hints`` the layers are its hints (NMF: paint, separate, correct, re-run)."""
    from maskstudio.dsp.separators import run_separator

    hints = None
    if use_hints:
        if len(doc.layers) < 2:
            raise ParameterError("guided separation needs hints: paint at least two layers")
        hints = {la.name: np.abs(doc.store.dense(i)) if doc.store.lead == () else
                 np.abs(doc.store.dense(i)).mean(axis=0)
                 for i, la in enumerate(doc.layers)}
    Y = stft_with(read_whole(doc.clip), doc.config)  # a separator sees the whole file
    names, masks = run_separator(name, Y, samplerate=doc.samplerate, config=doc.config,
                                 hints=hints, **params)
    return names, masks, {"kind": "separator", "name": name, "params": params}


def replace_values(doc: Document, names: Sequence[str], masks: np.ndarray,
                   label: str) -> None:
    """Set the named layers to ``masks`` as one undoable step (a re-run separation)."""
    idx = [doc.index(n) for n in names]
    for i in idx:  # a lock forbids a re-run as much as a brush
        doc.check_editable(i)
    old = doc.store.read(idx, 0, doc.n_bins, 0, doc.n_frames)
    new = np.broadcast_to(masks[:, None] if old.ndim == 4 else masks, old.shape)
    new = np.ascontiguousarray(new, dtype=np.float32)
    doc.store.write(idx, 0, 0, new)
    doc.history.push(Step(label, [Atom(tuple(idx), 0, 0, old, new)]))
    doc.modified = True
    doc.events.masks.emit(MasksChanged(Box(0, doc.n_bins, 0, doc.n_frames)))
    doc.events.history.emit(HistoryChanged())


def read_model_masks(doc: Document, path) -> tuple:
    """``(names, data, provenance, label)`` of a model's mask file, ready for
    :meth:`Document.load_layers`; changes nothing.  A bare ``.npy`` is read on the document's
    grid (a transposed one is explained); an ``.npz`` made on another grid that fits the
    mixture raises :class:`GridMismatchError`, any other misfit a :class:`MaskFileError`."""
    bare = Path(path).suffix.lower() == ".npy"
    prov, label = {"kind": "model", "file": str(path)}, f"load {Path(path).name}"
    if spills(doc.n_bins, doc.n_frames, doc.store.lead):  # a long file: never whole
        tiled = _model_tiles(doc, path, bare)
        if tiled is not None:
            return tiled[0], tiled[1], prov, label
    mf = load_masks(path, n_channels=doc.clip.n_channels, n_samples=doc.clip.n_samples,
                    samplerate=doc.samplerate, config=doc.config if bare else None)
    _check_grid(doc, path, mf.config)
    return mf.masks.names, mf.masks.data, prov, label


def _check_grid(doc: Document, path, config: STFTConfig) -> None:
    if config != doc.config:
        raise GridMismatchError(
            f"'{Path(path).name}' was made with {config.describe()}, but this view uses "
            f"{doc.config.describe()}: switch the STFT settings to the file's to load it",
            config)


def _model_tiles(doc: Document, path, bare: bool) -> tuple | None:
    """``(names, compact tiles)`` of a long file's model masks, read and checked a block of
    frames at a time (as :func:`~maskstudio.io.npz.load_masks` checks them whole) and kept
    as codes, within 1/255, as an oracle's are; None for a file that must be read whole
    (compressed, complex, or an untruncated PSM)."""
    mf, cfg, n_frames = read_for_mixture(path, n_channels=doc.clip.n_channels,
                                         n_samples=doc.clip.n_samples,
                                         samplerate=doc.samplerate,
                                         config=doc.config if bare else None, mapped=True)
    _check_grid(doc, path, cfg)
    raw = mf.data
    if not isinstance(raw, StoredArray) or raw.dtype.kind == "c" \
            or is_untruncated_psm(mf.metadata):
        return None
    names, F = list(mf.names), cfg.n_bins
    store: TiledMasks | None = None
    step = max(1, ORACLE_BLOCK // doc.store.tile) * doc.store.tile
    for t0 in range(0, n_frames, step):
        t1 = min(n_frames, t0 + step)
        block = raw[..., t0:t1]
        m = np.stack([check_mask(block[i], n_bins=F, n_frames=t1 - t0,
                                 n_channels=doc.clip.n_channels, allow_complex=False,
                                 name=f"mask '{names[i]}' in '{Path(path).name}' (frames "
                                      f"{t0}..{t1})")
                      for i in range(len(names))])
        if store is None:
            store = TiledMasks(F, n_frames, tile=doc.store.tile, lead=m.shape[1:-2])
            for _ in names:
                store.add_layer()
        m /= np.maximum(m.sum(axis=0), np.float32(1.0))  # the set sums to one at most
        store.write_codes(range(len(names)), t0, quantize(m))
    return (names, store) if store is not None else None


def load_model_masks(doc: Document, path, *, mode: str = "add",
                     progress: Progress = None) -> list:
    """Layers from a model's mask file, loaded by ``mode`` (see :meth:`Document.load_layers`);
    a file that does not fit raises a :class:`MaskFileError` that says what differs and what
    to do.  Returns the loaded layers' indices."""
    del progress  # reading a mask file reports nothing
    return doc.add_layers(*read_model_masks(doc, path), mode=mode)
