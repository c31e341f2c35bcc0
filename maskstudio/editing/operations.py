"""Operations on a layer over the whole file or a selection, each one undoable step.

Fill, erase, invert, binarise, smooth and threshold all go through :func:`apply_whole`, which
works block by block with :meth:`Document.apply <maskstudio.editing.document.Document.apply>`
(so the partition of unity and the locks hold, and a long file costs one block of memory) and
leaves nothing half-done: a locked or missing layer is refused before anything changes, and
an operation that fails or is cancelled part-way puts back what it changed, and only that.
The document offers each as a method (``doc.invert(k)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from maskstudio.dsp.masks import (
    magnitude_db,
    regrid_frames_needed,
    regrid_mask,
    threshold_mask,
)
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.edits import Box, smooth_values
from maskstudio.editing.events import MasksChanged, SpectrogramChanged
from maskstudio.editing.tiles import quantize, spills
from maskstudio.io.ondemand import stft_frames_of

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["apply_whole", "fill", "erase", "invert", "binarize", "smooth", "threshold",
           "threshold_preview", "mixture_db", "regrid"]

#: Frames per block of a whole-file operation (its memory; tests make it small to cross seams)
BLOCK = 2048

Progress = Callable[[int, int], None] | None
#: ``(box, alpha)``: a region and how much of each of its bins an operation takes
Selection = tuple | None


def apply_whole(doc: Document, k: int, label: str,
                target_fn: Callable[[Box, np.ndarray], object], *, progress: Progress = None,
                selection: Selection = None) -> None:
    """Apply ``target_fn(box, current_k) -> target`` block by block over the whole file (or
    over ``selection = (box, alpha)``) as one undoable step.

    A locked or missing layer is refused before anything changes; an operation that fails
    or is cancelled part-way puts back what it changed, and only that (earlier steps stay)."""
    doc.check_editable(k)
    doc.begin_edit(label)
    try:
        if selection is not None:
            box, alpha = selection
            cur = doc.store.read([k], box.f0, box.f1, box.t0, box.t1)[0]
            doc.apply(k, box, alpha, target_fn(box, cur))
        else:
            for t0 in range(0, doc.n_frames, BLOCK):
                box = Box(0, doc.n_bins, t0, min(doc.n_frames, t0 + BLOCK))
                cur = doc.store.read([k], 0, doc.n_bins, box.t0, box.t1)[0]
                doc.apply(k, box, np.ones(box.shape, np.float32), target_fn(box, cur))
                if progress:
                    progress(box.t1, doc.n_frames)
    except BaseException:
        box = _open_box(doc)
        doc.history.abort()  # leave nothing half-done, touch no earlier step
        if not box.empty:
            doc.events.masks.emit(MasksChanged(box))
        raise
    doc.end_edit()


def _open_box(doc: Document) -> Box:
    """The box the step being recorded has changed so far."""
    step = doc.history.open_step
    box = Box(0, 0, 0, 0)
    for atom in (step.atoms if step is not None else ()):
        h, w = atom.old.shape[-2:]
        box = box.union(Box(atom.f0, atom.f0 + h, atom.t0, atom.t0 + w))
    return box


def fill(doc: Document, k: int, selection: Selection, value: float = 1.0) -> None:
    """Set layer ``k`` to ``value`` inside ``selection``."""
    apply_whole(doc, k, "fill", lambda box, cur: value, selection=selection)


def erase(doc: Document, k: int, selection: Selection) -> None:
    """Clear layer ``k`` inside ``selection``."""
    apply_whole(doc, k, "erase", lambda box, cur: 0.0, selection=selection)


def invert(doc: Document, k: int, selection: Selection = None, *,
           progress: Progress = None) -> None:
    """Layer ``k`` becomes one minus itself, over the whole file or inside ``selection``."""
    apply_whole(doc, k, "invert", lambda box, cur: 1 - cur, selection=selection,
                progress=progress)


def binarize(doc: Document, k: int, selection: Selection = None, threshold: float = 0.5, *,
             progress: Progress = None) -> None:
    """Layer ``k`` becomes 1 where it passes ``threshold`` and 0 elsewhere."""
    apply_whole(doc, k, "binarise", lambda box, cur: (cur > threshold).astype(np.float32),
                selection=selection, progress=progress)


def smooth(doc: Document, k: int, selection: tuple, sigma_bins: float = 2.0,
           sigma_frames: float = 2.0) -> None:
    """Blur layer ``k`` inside ``selection`` (a Gaussian of ``sigma_bins`` x
    ``sigma_frames``, reading the values around it so its edge does not fade)."""
    doc.check_editable(k)
    box, alpha = selection
    grown = box.grow(int(3 * sigma_bins) + 1, int(3 * sigma_frames) + 1).clip(
        doc.n_bins, doc.n_frames)
    cur = doc.store.read([k], grown.f0, grown.f1, grown.t0, grown.t1)[0]
    sm = smooth_values(cur, sigma_bins, sigma_frames)
    inner = sm[..., box.f0 - grown.f0:box.f1 - grown.f0, box.t0 - grown.t0:box.t1 - grown.t0]
    apply_whole(doc, k, "smooth", lambda b, c: inner, selection=selection)


def threshold(doc: Document, k: int, threshold_db: float, *, width_db: float = 0.0,
              selection: Selection = None, progress: Progress = None) -> None:
    """Set layer ``k`` from the mixture's level: 1 above ``threshold_db`` (or a sigmoid of
    ``width_db``), over the whole file or inside ``selection``."""
    apply_whole(
        doc, k, "threshold",
        lambda box, cur: threshold_mask(mixture_db(doc, box), threshold_db, width_db=width_db),
        selection=selection, progress=progress)


def threshold_preview(doc: Document, box: Box, threshold_db: float,
                      width_db: float = 0.0) -> np.ndarray:
    """What :func:`threshold` would give inside ``box``, without changing anything."""
    return threshold_mask(mixture_db(doc, box.clip(doc.n_bins, doc.n_frames)),
                          threshold_db, width_db=width_db)


def mixture_db(doc: Document, box: Box) -> np.ndarray:
    """Level of the mixture in dB full scale over a box: the channel edits change
    (:attr:`Document.edit_channel`) when it is one, else the channels pooled by power."""
    S = stft_frames_of(doc.clip, box.t0, box.t1, doc.config)  # only the box's samples read
    S = S[:, box.f0:box.f1] / np.float32(doc.spectrogram.reference)
    channel = doc.edit_channel
    if channel is not None:
        S = S[channel:channel + 1]
    return magnitude_db(S, channel_axis=0)


def regrid(doc: Document, config: STFTConfig, *, progress: Progress = None) -> None:
    """Move ``doc`` to another STFT grid, resampling every layer to it (history is cleared;
    a failure or Cancel leaves the old grid as it was)."""
    if config == doc.config:
        return
    old_cfg, old_store = doc.config, doc.store
    saved = {k: getattr(doc, k) for k in ("config", "store", "history", "spectrogram",
                                          "n_bins", "n_frames")}
    saved_complex = dict(doc.complex_masks)
    try:
        doc.config = config
        doc.make_grid(old_store.lead)
        doc.complex_masks.clear()  # a cIRM lives on the grid it was computed on
        layers, store = list(range(old_store.n_layers)), doc.store
        # a block of new frames at a time, from the old frames around them: never a layer
        # whole; a long file's layers (whose tiles spill) stay compact, within 1/255
        compact = spills(store.n_bins, store.n_frames, store.lead)
        step = max(1, BLOCK // store.tile) * store.tile
        for t0 in range(0, doc.n_frames if layers else 0, step):
            t1 = min(doc.n_frames, t0 + step)
            a, b = regrid_frames_needed((t0, t1), old_store.n_frames, old_cfg, config)
            new = regrid_mask(old_store.read(layers, 0, old_store.n_bins, a, b), doc.n_bins,
                              doc.n_frames, old_cfg, config, doc.samplerate, frames=(t0, t1),
                              start=a, total=old_store.n_frames)
            if compact:
                store.write_codes(layers, t0, quantize(new))
            else:
                store.write(layers, 0, t0, new)
            if progress:
                progress(t1, doc.n_frames)
        if doc.journal is not None:
            doc.journal.record_snapshot(doc)
    except BaseException:  # cancelled, or not journaled: the old grid, as it was
        for k, v in saved.items():
            setattr(doc, k, v)
        doc.complex_masks = saved_complex
        raise
    doc.modified = True
    doc.events.spectrogram.emit(SpectrogramChanged())
    doc.events.whole(doc.n_bins, doc.n_frames)
