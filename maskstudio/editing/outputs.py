"""What a document exports: its layers as audio and their masks, as one export set.

Files are written by :mod:`maskstudio.io.export` and :mod:`maskstudio.io.npz`; this module
chooses what goes into them.  No file the document was made from is ever overwritten
(:func:`inputs`; :meth:`Document.save_masks` keeps to it too).  The document offers
:func:`export` as a method (``doc.export(out_dir, ...)``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.phase import render_blocks
from maskstudio.editing.hearing import complex_data, oracle_references
from maskstudio.errors import ParameterError
from maskstudio.io.audiofile import AudioWriter, atomic_write
from maskstudio.io.export import ExportSet, output_targets, render, write_outputs
from maskstudio.io.npz import write_mask_file

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["mask_set", "inputs", "export", "layers_meta", "write_text"]


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


def export(doc: Document, out_dir, *, names: Sequence[str] | None = None,
           phase: str = "mixture", fmt: str = "wav", n_iter: int | None = None,
           cutoff_hz: float = 6000.0, progress: Callable[[int, int], None] | None = None,
           extra: dict | None = None, protect: Sequence = ()) -> list:
    """Layers (all, or ``names``) and the residual as audio, and their masks, into
    ``out_dir``; with one layer, the residual is its inverted mask.  ``extra`` maps more file
    names to their text (a dataset export's ``metadata.json``).  The files appear together
    (:class:`~maskstudio.io.export.ExportSet`), ``masks.npz`` last.

    With the mixture's or the oracle's phase the files are rendered and written block by
    block from the layers' tiles, so an hour-long file exports in little memory; the other
    phase modes work on the whole file.  No input (:func:`inputs`, and ``protect``) is ever
    overwritten.  Returns the files written."""
    protect = inputs(doc) + list(protect)
    idx = _indices(doc, names)
    names = [doc.layers[i].name for i in idx]
    refs = None
    if phase == "oracle":
        refs = oracle_references(doc, names, remedy="load them with Masks > Oracle from stems")
    meta = {"phase": phase, "mixture": str(doc.clip.path), "layers": layers_meta(doc)}
    if phase in ("mixture", "oracle"):
        return _export_streaming(doc, out_dir, idx, phase, fmt, refs, meta, progress, extra,
                                 protect)
    masks = mask_set(doc, names)
    if phase == "complex":
        masks = MaskSet(masks.names, complex_data(doc, [doc.index(n) for n in masks.names]))
    signals = render(doc.clip, masks, doc.config, phase=phase, references=refs,
                     n_iter=n_iter, cutoff_hz=cutoff_hz, progress=progress)
    return write_outputs(out_dir, doc.clip, masks, signals, doc.config, fmt=fmt,
                         metadata=meta, what="the layer name", extra=extra, protect=protect)


def _export_streaming(doc: Document, out_dir, idx: list[int], phase: str, fmt: str, refs,
                      meta: dict, progress, extra: dict | None, protect: Sequence) -> list:
    """Render block by block from the tiles into files that appear only when all are
    complete (an error or Cancel leaves the folder as it was)."""
    names = [doc.layers[i].name for i in idx]
    protect = list(protect) or inputs(doc)
    targets = output_targets(out_dir, names, fmt, protect, what="the layer name")
    extra = dict(extra or {})
    F, T, lead = doc.n_bins, doc.n_frames, doc.store.lead

    def mask_block(t0: int, t1: int) -> np.ndarray:
        v = doc.store.read(idx, 0, F, t0, t1)
        return v if lead else v[:, None]

    with ExportSet(out_dir, [t.name for t in targets] + list(extra),
                   protect=protect) as staged:
        with contextlib.ExitStack() as files:
            writers = [files.enter_context(AudioWriter(
                staged.path(t.name), doc.samplerate, doc.clip.n_channels, like=doc.clip))
                for t in targets[:-1]]
            for block in render_blocks(doc.clip.samples, mask_block, len(idx), doc.config,
                                       phase=phase, references=refs, progress=progress):
                for writer, signal in zip(writers, block):
                    writer.write(signal)
        write_mask_file(staged.path(targets[-1].name), names, (len(idx),) + lead + (F, T),
                        lambda i, f0, f1: doc.store.read([idx[i]], f0, f1, 0, T)[0],
                        doc.config, doc.samplerate, metadata=meta)
        for name, text in extra.items():
            write_text(staged.path(name), text)
    return targets


def write_text(path, text: str) -> None:
    """``text`` into the file at ``path``, atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
