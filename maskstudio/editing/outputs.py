"""What a document exports: its layers as audio and their masks, as one export set.

Files are written by :mod:`maskstudio.io.export` and :mod:`maskstudio.io.npz`; this module
chooses what goes into them.  No file the document was made from is ever overwritten
(:func:`inputs`; :func:`save_masks` keeps to it too).  The document offers
:func:`export` as a method (``doc.export(out_dir, ...)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstudio.dsp.blockwise import ArrayReader, SampleReader
from maskstudio.dsp.masks import MaskSet
from maskstudio.editing.hearing import complex_data, reference_readers
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import AudioClip, atomic_write
from maskstudio.io.blockexport import export_blocks, like_clip
from maskstudio.io.npz import write_mask_file
from maskstudio.io.stems import parse_mixes

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["mask_set", "inputs", "export", "layers_meta", "write_text", "save_masks"]


def _indices(doc: Document, names: Sequence[str] | None) -> list[int]:
    idx = [doc.index(n) for n in names] if names else list(range(len(doc.layers)))
    if not idx:
        raise ParameterError("there are no layers to export: add or load a layer first")
    return idx


def mask_set(doc: Document, names: Sequence[str] | None = None) -> MaskSet:
    """The masks of the layers ``names`` (all if None), whole, as a :class:`MaskSet`."""
    idx = _indices(doc, names)
    data = np.stack([doc.store.dense(i) for i in idx])
    return MaskSet([doc.layers[i].name for i in idx], data)


def inputs(doc: Document) -> list[Path]:
    """Every file ``doc`` was made from, which an export must never overwrite: the mixture,
    the stems of oracle layers, the mask files of model layers."""
    found = [doc.clip.path]
    for layer in doc.layers:
        prov = layer.provenance if isinstance(layer.provenance, dict) else {}
        stems = prov.get("stems")
        if isinstance(stems, dict):
            found += [Path(p) for p in stems.values() if isinstance(p, (str, Path))]
        if isinstance(prov.get("file"), (str, Path)):
            found.append(Path(prov["file"]))
    return [p for p in found if p is not None]


def layers_meta(doc: Document) -> list[dict]:
    """The layers as the metadata of a mask file describes them."""
    return [dataclasses.asdict(layer) for layer in doc.layers]


def _reader(stem) -> SampleReader:
    """A stem as a reader: an array (or a decoded clip) wrapped, a reader as it is."""
    if isinstance(stem, AudioClip):
        return ArrayReader(stem.samples)
    return ArrayReader(stem) if isinstance(stem, np.ndarray) else stem


def export(doc: Document, out_dir, *, names: Sequence[str] | None = None,
           phase: str = "mixture", fmt: str = "wav", n_iter: int | None = None,
           cutoff_hz: float = 6000.0, progress: Callable[[int, int], None] | None = None,
           extra: dict | None = None, protect: Sequence = (), mixes: Sequence[str] = ()
           ) -> list:
    """Layers (all, or ``names``) and the residual as audio, and their masks, into
    ``out_dir``; with one layer, the residual is its inverted mask.  ``extra`` maps more file
    names to their text (a dataset export's ``metadata.json``).  ``mixes`` are stem subsets,
    ``NAME=TERMS`` specs of the exported layers (:func:`~maskstudio.io.stems.parse_mix`:
    ``rhythm=drums+bass``, ``karaoke=mixture-vocals``), each written as ``NAME.<fmt>``, the
    sum of the rendered signals it names; they are checked before anything is rendered.
    The files appear together (:class:`~maskstudio.io.export.ExportSet`), ``masks.npz`` last.

    Every phase mode renders and writes block by block from the layers' tiles, through the
    command line's renderer (:func:`~maskstudio.io.blockexport.export_blocks`), so an
    hour-long file exports in little memory; the iterative modes run on chunks with context
    (see :mod:`maskstudio.dsp.blockwise`).  No input (:func:`inputs`, and ``protect``) is ever
    overwritten.  Returns the files written."""
    protect = inputs(doc) + list(protect)
    idx = _indices(doc, names)
    names = [doc.layers[i].name for i in idx]
    subsets = parse_mixes(list(mixes), names)
    refs = None
    if phase == "oracle":
        refs = [_reader(r) for r in reference_readers(  # read on demand, as the mixture
            doc, names, remedy="load them with Masks > Oracle from stems")]
    meta = {"phase": phase, "mixture": str(doc.clip.path), "layers": layers_meta(doc)}
    F, T, lead = doc.n_bins, doc.n_frames, doc.store.lead
    dtype: np.dtype = np.dtype(np.float32)
    if phase == "complex":  # a cIRM's complex masks, which the document holds whole
        data = complex_data(doc, idx)

        def masks(t0: int, t1: int) -> np.ndarray:
            return data[..., t0:t1]

        def stored(i: int, f0: int, f1: int) -> np.ndarray:
            return data[i, ..., f0:f1, :]
        shape, dtype = tuple(data.shape), np.dtype(np.complex64)
    else:
        def masks(t0: int, t1: int) -> np.ndarray:
            v = doc.store.read(idx, 0, F, t0, t1)
            return v if lead else v[:, None]

        def stored(i: int, f0: int, f1: int) -> np.ndarray:
            return doc.store.read([idx[i]], f0, f1, 0, T)[0]
        shape = (len(idx),) + tuple(lead) + (F, T)
    clip = doc.clip
    mixture: SampleReader
    if isinstance(clip, AudioClip):
        mixture, like = ArrayReader(clip.samples), clip
    else:  # a mixture read on demand
        mixture, like = clip, like_clip(clip)
    written, _ = export_blocks(out_dir, names, mixture, masks, doc.config,
                               like=like, mask_shape=shape, mask_dtype=dtype,
                               stored=stored, phase=phase, references=refs, n_iter=n_iter,
                               cutoff_hz=cutoff_hz, fmt=fmt, metadata=meta, protect=protect,
                               what="the layer name", extra=extra, progress=progress,
                               mixes=subsets)
    return written


def write_text(path, text: str) -> None:
    """``text`` into the file at ``path``, atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def save_masks(doc: Document, path) -> Path:
    """Every layer's mask to an ``.npz`` (``[N, (C,) F, T]``), written from the tiles a band
    at a time."""
    if not doc.layers:
        raise ParameterError("there are no layers to save: add or load a layer first")
    return write_mask_file(
        path, [la.name for la in doc.layers],
        (len(doc.layers),) + doc.store.lead + (doc.n_bins, doc.n_frames),
        lambda i, f0, f1: doc.store.read([i], f0, f1, 0, doc.n_frames)[0],
        doc.config, doc.samplerate, metadata={"layers": layers_meta(doc)},
        protect=inputs(doc))
