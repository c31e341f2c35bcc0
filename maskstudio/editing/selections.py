"""Selections made from the sound, and energy moved between layers, on a document.

The editing power tools of the window (issue 15) on top of the array functions of
:mod:`maskstudio.dsp.harmonics` and :mod:`maskstudio.dsp.selection`:

- :func:`harmonic_selection`: a click (or a drag's time span) on a partial gives the tracked
  harmonics as a selection ``(Box, alpha)``, or their inverse over the tracked frames;
  magnitudes are those the view shows, frame range by frame range (:func:`shown_magnitudes`),
  never the whole file;
- :func:`wand_selection`: the connected region around a bin whose level, as the spectrogram
  image shows it, is within a tolerance of the seed's, optionally within a layer's share;
- :func:`local_threshold` / :func:`local_threshold_preview` / :func:`learn_local_offset`: a
  layer set where the mixture is louder than its local level by an offset;
- :func:`move_selection` / :func:`cast_layer`: a selection's share given from one layer to
  another or to the residual, or one layer cast over another.  Each is one undo step (so
  journaled), changes the channel edits change (:attr:`Document.edit_channel`) and refuses a
  locked layer before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from maskstudio.dsp.harmonics import select_harmonics
from maskstudio.dsp.selection import cast_over, learn_offset, magic_wand, move_share
from maskstudio.dsp.selection import local_threshold as local_threshold_of
from maskstudio.editing.edits import Box
from maskstudio.editing.events import MasksChanged
from maskstudio.editing.history import Atom
from maskstudio.editing.operations import BLOCK, apply_whole, mixture_db
from maskstudio.editing.spectrogram import DB_STEP, db_of
from maskstudio.errors import ParameterError

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["shown_magnitudes", "harmonic_selection", "wand_selection", "local_threshold",
           "local_threshold_preview", "learn_local_offset", "move_selection", "cast_layer",
           "bounds_selection", "check_movable", "share_of", "snap_to_peaks"]

Selection = tuple | None  #: (Box, alpha), or None: no selection
Progress = Callable[[int, int], None] | None


# -- selections from the sound ------------------------------------------------------------------
#: the magnitude (relative to the image's reference) of each of the image's 256 levels
_MAGNITUDE = (10.0 ** (db_of(np.arange(256)) / 20.0)).astype(np.float32)


def shown_magnitudes(doc: Document, t0: int, t1: int) -> np.ndarray:
    """Magnitudes ``[F, t1 - t0]`` of frames ``t0..t1`` as the view shows them: read from the
    spectrogram image (its channel, mid or side; 0.5 dB steps), whose blocks not computed yet
    are computed first from only their samples.  The frames on screen cost no transform."""
    t1 = min(max(t0, t1), doc.n_frames)
    spec = doc.spectrogram
    if spec.missing(t0, t1):
        spec.compute_range(t0, t1)
    return _MAGNITUDE[spec.levels[:, t0:t1]] * np.float32(spec.reference)


def harmonic_selection(doc: Document, frame: float, hz: float, *,
                       span: tuple[int, int] | None = None, width_cents: float = 50.0,
                       falloff_db: float = 0.0, inverse: bool = False) -> Selection | None:
    """The harmonics of the partial clicked at ``(frame, hz)`` (tracked to the note's ends,
    or over ``span`` = the frames a drag went along): ``(Box, alpha)``, alpha the harmonic
    mask; ``inverse``: everything else in the frames where the fundamental was found.  None
    when nothing was found there."""
    seed = int(np.clip(round(frame), 0, doc.n_frames - 1))
    if span is not None:
        span = (max(0, int(span[0])), min(doc.n_frames, int(span[1])))
        if span[1] - span[0] < 1:
            span = None
    first, f0, mask = select_harmonics(
        lambda a, b: shown_magnitudes(doc, a, b), doc.n_frames, seed, float(hz),
        samplerate=doc.samplerate, n_fft=doc.config.n_fft, span=span,
        width_cents=width_cents, falloff_db=falloff_db)
    voiced = np.nonzero(np.isfinite(f0) & (f0 > 0))[0]
    if not voiced.size:
        return None
    a, b = int(voiced[0]), int(voiced[-1]) + 1
    if inverse:
        alpha = 1.0 - mask[:, a:b]
        alpha[:, ~np.isin(np.arange(a, b), voiced)] = 0.0
        box = Box(0, doc.n_bins, first + a, first + b)
        return box, np.ascontiguousarray(alpha, dtype=np.float32)
    rows = np.nonzero(mask[:, a:b].any(axis=1))[0]
    if not rows.size:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    return Box(r0, r1, first + a, first + b), np.ascontiguousarray(mask[r0:r1, a:b])


def share_of(doc: Document, k: int, box: Box) -> np.ndarray:
    """Layer ``k``'s values ``[h, w]`` in ``box`` as the overlay shows them (the channel on
    view, or the channels' mean)."""
    from maskstudio.editing.channels import channel_plane

    values = doc.store.read([k], box.f0, box.f1, box.t0, box.t1)[0]
    return channel_plane(values, doc.store.lead, doc.view_channel)


def wand_selection(doc: Document, box: Box, seed: tuple[int, int], *,
                   tolerance_db: float = 6.0, within: int | None = None) -> Selection | None:
    """The magic wand in ``box`` (the view's, in bins and frames) from ``seed = (bin, frame)``:
    the connected bins whose level, as the spectrogram image shows it, is within
    ``tolerance_db`` of the seed's; ``within``: only where that layer holds a share (above
    1 %).  ``(Box, alpha)`` tight around the region, or None if it is empty."""
    box = box.clip(doc.n_bins, doc.n_frames)
    f, t = int(seed[0]), int(seed[1])
    if box.empty or not (box.f0 <= f < box.f1 and box.t0 <= t < box.t1):
        return None
    spec = doc.spectrogram
    spec.compute_range(box.t0, box.t1)  # what is on screen is done already
    level = db_of(spec.levels[box.f0:box.f1, box.t0:box.t1])
    allowed = None if within is None else share_of(doc, within, box) > 0.01
    region = magic_wand(level, (f - box.f0, t - box.t0), tolerance_db=tolerance_db,
                        within=allowed)
    rows, cols = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
    if not rows.size:
        return None
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return (Box(box.f0 + r0, box.f0 + r1, box.t0 + c0, box.t0 + c1),
            region[r0:r1, c0:c1].astype(np.float32))


def bounds_selection(doc: Document, start_s: float, end_s: float, low_hz: float,
                     high_hz: float) -> Selection:
    """The rectangle from ``start_s`` to ``end_s`` seconds and ``low_hz`` to ``high_hz``
    (typed in): every frame whose centre and every bin whose frequency lies inside."""
    if not (end_s > start_s and high_hz > low_hz):
        raise ParameterError("the end must come after the start and the high frequency be "
                             "above the low one")
    fs, bh = doc.frame_seconds, doc.bin_hz
    box = Box(int(np.ceil(low_hz / bh)), int(np.floor(high_hz / bh)) + 1,
              int(np.ceil(start_s / fs)), int(np.floor(end_s / fs)) + 1
              ).clip(doc.n_bins, doc.n_frames)
    if box.empty:
        raise ParameterError(f"nothing of the file lies there: it lasts "
                             f"{doc.n_frames * fs:.2f} s and reaches {doc.samplerate / 2:.0f} Hz")
    return box, np.ones(box.shape, np.float32)


def snap_to_peaks(doc: Document, box: Box, *, frames: tuple[int, int] | None = None,
                  drop_db: float = 6.0) -> Box:
    """``box`` with its frequency edges snapped to spectral peaks' edges (as Audacity's
    spectral selection snaps): the low edge to the lower edge of the peak nearest it, the
    high edge to the upper edge of the peak nearest it, a peak's edges being where the mean
    level over ``frames`` (default: the box's) falls ``drop_db`` below the peak.  The box as
    it was where no peak stands out by ``drop_db``."""
    import scipy.signal

    t0, t1 = frames if frames is not None else (box.t0, box.t1)
    t0, t1 = max(0, int(t0)), min(doc.n_frames, int(t1))
    if t1 <= t0 or box.empty:
        return box
    spec = doc.spectrogram
    if spec.missing(t0, t1):
        spec.compute_range(t0, t1)
    level = spec.levels[:, t0:t1].mean(axis=1, dtype=np.float32) * np.float32(DB_STEP)
    peaks, _ = scipy.signal.find_peaks(level, prominence=drop_db)
    if not peaks.size:
        return box

    def edge(p: int, step: int) -> int:
        floor = level[p] - drop_db
        q = p
        while 0 <= q + step < level.size and level[q + step] > floor \
                and level[q + step] <= level[q] + 0.5:  # down the slope, not up the next
            q += step
        return q

    lo = edge(int(peaks[np.argmin(np.abs(peaks - box.f0))]), -1)
    hi = edge(int(peaks[np.argmin(np.abs(peaks - (box.f1 - 1)))]), +1) + 1
    return Box(lo, hi, box.t0, box.t1) if hi > lo else box


# -- local threshold ----------------------------------------------------------------------------
def _window(bins: int, frames: int) -> tuple[int, int]:
    return max(1, int(bins)), max(1, int(frames))


def local_threshold_preview(doc: Document, box: Box, *, offset_db: float = 6.0,
                            bins: int = 31, frames: int = 31,
                            reference: str = "mean") -> np.ndarray:
    """What :func:`local_threshold` gives in ``box`` (float32 0/1), the neighbourhood read
    around it so that its edges are judged as its middle."""
    bins, frames = _window(bins, frames)
    box = box.clip(doc.n_bins, doc.n_frames)
    grown = box.grow(bins // 2 + 1, frames // 2 + 1).clip(doc.n_bins, doc.n_frames)
    level = mixture_db(doc, grown)
    keep = local_threshold_of(level, offset_db=offset_db, bins=bins, frames=frames,
                              reference=reference)
    return keep[box.f0 - grown.f0:box.f1 - grown.f0,
                box.t0 - grown.t0:box.t1 - grown.t0].astype(np.float32)


def local_threshold(doc: Document, k: int, *, offset_db: float = 6.0, bins: int = 31,
                    frames: int = 31, reference: str = "mean", selection: Selection = None,
                    progress: Progress = None) -> None:
    """Set layer ``k`` to 1 where the mixture is ``offset_db`` louder than its local
    ``reference`` level (a window of ``bins`` x ``frames``), 0 elsewhere: inside
    ``selection``, or over the whole file block by block.  One undo step."""
    apply_whole(doc, k, "local threshold",
                lambda box, cur: local_threshold_preview(
                    doc, box, offset_db=offset_db, bins=bins, frames=frames,
                    reference=reference),
                selection=selection, progress=progress)


def learn_local_offset(doc: Document, selection: Selection, *, bins: int = 31,
                       frames: int = 31, reference: str = "mean") -> float:
    """The offset (dB) that keeps the selected example (RX's Learn): its bins' level above
    their local level, less a margin (:func:`maskstudio.dsp.selection.learn_offset`)."""
    if selection is None:
        raise ParameterError("select an example of what to keep first (R, L or the wand)")
    bins, frames = _window(bins, frames)
    box, alpha = selection
    grown = box.grow(bins // 2 + 1, frames // 2 + 1).clip(doc.n_bins, doc.n_frames)
    example = np.zeros(grown.shape, bool)
    example[box.f0 - grown.f0:box.f1 - grown.f0,
            box.t0 - grown.t0:box.t1 - grown.t0] = np.asarray(alpha) >= 0.5
    return learn_offset(mixture_db(doc, grown), example, bins=bins, frames=frames,
                        reference=reference)


# -- energy moved between layers ------------------------------------------------------------
def check_movable(doc: Document, *layers: int | None) -> None:
    """Raise, before anything changes, if one of ``layers`` (None: the residual) is missing
    or locked: a locked layer neither gives nor takes."""
    for k in layers:
        if k is None:
            continue
        if not 0 <= k < len(doc.layers):
            raise ParameterError(f"there is no layer {k + 1}: choose a layer in the Layers "
                                 f"panel")
        if doc.layers[k].locked:
            raise ParameterError(f"layer '{doc.layers[k].name}' is locked: a locked layer "
                                 f"neither gives nor takes (unlock it first)")


def _rewrite(doc: Document, box: Box, change: Callable[[np.ndarray, np.ndarray], np.ndarray],
             alpha: np.ndarray) -> None:
    """Replace every layer's values in ``box`` by ``change(old [L, ..., h, w], alpha)``, in
    the channel edits change, recorded in the open step."""
    box = box.clip(doc.n_bins, doc.n_frames)
    if box.empty:
        return
    layers = list(range(len(doc.layers)))
    old = doc.store.read(layers, box.f0, box.f1, box.t0, box.t1)
    channel = doc.edit_channel
    if channel is None:
        new = change(old, alpha)
    else:
        new = np.array(old, dtype=np.float32, copy=True)
        new[:, channel] = change(old[:, channel], alpha)
    new = new.astype(old.dtype, copy=False)
    if np.array_equal(new, old):
        return
    doc.store.write(layers, box.f0, box.t0, new)
    doc.history.record(Atom(tuple(layers), box.f0, box.t0, old, new))
    doc.modified = True
    changed = tuple(i for i in layers if not np.array_equal(new[i], old[i]))
    doc.events.masks.emit(MasksChanged(box, changed))


def _as_step(doc: Document, label: str, body: Callable[[], None]) -> None:
    """``body()`` as one undo step; a failure part-way puts back what it changed."""
    doc.begin_edit(label)
    try:
        body()
    except BaseException:
        step = doc.history.open_step
        box = Box(0, 0, 0, 0)
        for atom in (step.atoms if step is not None else ()):
            h, w = atom.old.shape[-2:]
            box = box.union(Box(atom.f0, atom.f0 + h, atom.t0, atom.t0 + w))
        doc.history.abort()
        if not box.empty:
            doc.events.masks.emit(MasksChanged(box))
        raise
    doc.end_edit()


def move_selection(doc: Document, src: int | None, dst: int | None,
                   selection: Selection) -> None:
    """Give ``selection``'s share of layer ``src`` to layer ``dst`` (None: the residual, at
    either end), every bin still summing to one.  One undo step."""
    if selection is None:
        raise ParameterError("select a region first (R, Y, U, L, the wand or the harmonics)")
    if src is None and dst is None:
        raise ParameterError("move between two layers, or between a layer and the residual")
    if src == dst:
        raise ParameterError("the layer would give to itself: choose another layer")
    check_movable(doc, src, dst)
    box, alpha = selection
    label = "give to the residual" if dst is None else \
        "take from the residual" if src is None else "move"
    _as_step(doc, label, lambda: _rewrite(
        doc, box, lambda old, a: move_share(old, src, dst, a), alpha))


def cast_layer(doc: Document, over: int, under: int, *, selection: Selection = None,
               present: float = 0.5, progress: Progress = None) -> None:
    """Layer ``over`` takes layer ``under``'s share wherever ``over`` is present (at least
    ``present``): inside ``selection``, or over the whole file block by block.  One undo
    step."""
    if over == under:
        raise ParameterError("a layer cannot be cast over itself: choose another layer")
    check_movable(doc, over, under)

    def change(old: np.ndarray, a: np.ndarray) -> np.ndarray:
        return cast_over(old, over, under, amount=a, present=present)

    def body() -> None:
        if selection is not None:
            _rewrite(doc, selection[0], change, selection[1])
            return
        for t0 in range(0, doc.n_frames, BLOCK):
            box = Box(0, doc.n_bins, t0, min(doc.n_frames, t0 + BLOCK))
            _rewrite(doc, box, change, np.float32(1.0))
            if progress:
                progress(box.t1, doc.n_frames)
    _as_step(doc, "cast", body)
