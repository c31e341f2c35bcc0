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

from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.stft import STFTConfig, stft_with
from maskstudio.editing.edits import Box
from maskstudio.editing.events import HistoryChanged, MasksChanged
from maskstudio.editing.history import Atom, Step
from maskstudio.errors import MaskFileError, MaskStudioError, ParameterError
from maskstudio.io.audiofile import conform_reference, load_audio
from maskstudio.io.export import check_source_name
from maskstudio.io.npz import load_masks

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["GridMismatchError", "compute_oracle", "add_oracle_layers", "restore_references",
           "compute_separator", "replace_values", "read_model_masks", "load_model_masks"]

Progress = Callable[[int, int], None] | None


class GridMismatchError(MaskFileError):
    """A mask file fits the mixture on another STFT grid, ``config``: switching the view to
    it (:meth:`Document.set_config`) lets the file load."""

    def __init__(self, message: str, config: STFTConfig):
        super().__init__(message)
        self.config = config


def compute_oracle(doc: Document, kind: str, stems: dict, *, progress: Progress = None,
                   **options: Any) -> tuple:
    """Oracle masks of ``stems {name: path}`` on ``doc``'s mixture and grid.

    Returns
    -------
    tuple
        ``(names, data, provenance, label, references)``: the first four for
        :meth:`Document.load_layers`, and the stems conformed to the mixture by name.
    """
    refs = {}
    for name, path in stems.items():
        check_source_name(name)
        refs[name] = conform_reference(load_audio(path), doc.clip, name=f"stem '{name}'")
    data = oracle_masks(doc.clip.samples, list(refs.values()), doc.config, kind,
                        progress=progress, **options)
    prov = {"kind": "oracle", "mask": kind, "options": options,
            "stems": {n: str(p) for n, p in stems.items()}}
    return list(refs), data, prov, f"oracle {kind}", refs


def add_oracle_layers(doc: Document, kind: str, stems: dict, *, progress: Progress = None,
                      mode: str = "add", **options: Any) -> list:
    """Layers from oracle masks of ``stems {name: path}``: one undoable step, loaded by
    ``mode`` (see :meth:`Document.load_layers`); the stems become references.  Returns the
    loaded layers' indices."""
    names, data, prov, label, refs = compute_oracle(doc, kind, stems, progress=progress,
                                                    **options)
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
                doc.references[name] = conform_reference(load_audio(path), doc.clip,
                                                         name=f"stem '{name}'")
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
    Y = stft_with(doc.clip.samples, doc.config)
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
    mf = load_masks(path, n_channels=doc.clip.n_channels, n_samples=doc.clip.n_samples,
                    samplerate=doc.samplerate, config=doc.config if bare else None)
    if mf.config != doc.config:
        raise GridMismatchError(
            f"'{Path(path).name}' was made with {mf.config.describe()}, but this view uses "
            f"{doc.config.describe()}: switch the STFT settings to the file's to load it",
            mf.config)
    return (mf.masks.names, mf.masks.data, {"kind": "model", "file": str(path)},
            f"load {Path(path).name}")


def load_model_masks(doc: Document, path, *, mode: str = "add",
                     progress: Progress = None) -> list:
    """Layers from a model's mask file, loaded by ``mode`` (see :meth:`Document.load_layers`);
    a file that does not fit raises a :class:`MaskFileError` that says what differs and what
    to do.  Returns the loaded layers' indices."""
    del progress  # reading a mask file reports nothing
    return doc.add_layers(*read_model_masks(doc, path), mode=mode)
