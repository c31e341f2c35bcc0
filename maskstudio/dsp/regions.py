"""Regions of a mask and time-frequency boxes: masks to labelled boxes and back.

A *region* is a box of whole cells of the STFT grid (:class:`Region`: bins ``f0..f1`` and
frames ``t0..t1``, half-open), found as a connected component of a binarised mask
(8-connectivity, :func:`scipy.ndimage.label`) by :class:`RegionFinder`, which takes the mask a
block of frames at a time and joins the pieces of a component that a block boundary cut, so a
long mask is never whole.  :func:`merge_regions` joins regions that lie close together and
:func:`keep_regions` drops small ones.

A *box* (:class:`LabelBox`) is what annotation tools store: seconds and hertz, a label and a
channel.  The two meet on the grid's cells (:func:`region_to_box`, :func:`box_to_region`):

- frame ``t`` is centred at ``(t * hop_length + offset) / sr`` seconds, ``offset`` 0 with
  ``center=True`` and ``n_fft // 2`` without (:meth:`~maskstudio.dsp.grid.STFTConfig.times`),
  and its cell reaches half a hop either side of its centre; bin ``k`` is centred at
  ``k * sr / n_fft`` Hz and its cell reaches half a bin either side;
- a region becomes the box from the first cell's lower edge to the last cell's upper edge,
  clipped to the file (0 to its duration, 0 to the Nyquist frequency);
- a box covers the frames and bins whose *centres* lie inside it (at least the one nearest
  its middle), so a region written as a box and read back gives the same cells, whatever the
  rounding of the numbers in between (it would take half a hop of error to move an edge).

:class:`BoxPainter` draws boxes back onto the grid a band of bins at a time, one binary layer
per label; where boxes of different labels overlap, the label met first keeps the cell, so
the layers stay binary and never sum past one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.csgraph

from maskstudio.dsp.grid import STFTConfig
from maskstudio.errors import ParameterError

__all__ = ["Region", "LabelBox", "RegionFinder", "find_regions", "merge_regions",
           "keep_regions", "region_to_box", "box_to_region", "BoxPainter"]

_EIGHT = np.ones((3, 3), dtype=bool)
_SLACK = 0.01


@dataclasses.dataclass(frozen=True)
class Region:
    """Whole cells of the grid: bins ``f0 <= f < f1``, frames ``t0 <= t < t1``.

    Parameters
    ----------
    f0, f1, t0, t1 : int
        The bounding box, half-open.
    cells : int
        How many cells of the box the region holds (its area as a component).
    """

    f0: int
    f1: int
    t0: int
    t1: int
    cells: int


@dataclasses.dataclass(frozen=True)
class LabelBox:
    """A labelled time-frequency box, as annotation tools store one.

    Parameters
    ----------
    begin, end : float
        Seconds from the start of the file.
    low, high : float
        Hz.
    label : str
        What the box is (a layer's label or name).
    channel : int
        1-based, as Raven counts them.
    """

    begin: float
    end: float
    low: float
    high: float
    label: str
    channel: int = 1


class RegionFinder:
    """Connected regions (8-connectivity) of a binary mask fed a block of frames at a time.

    A component that crosses a block boundary is joined across it, so the regions are those
    of the whole mask; a component wholly inside a block with fewer than ``min_cells`` cells
    is dropped at once, so noise never accumulates.

    Parameters
    ----------
    n_bins : int
        Rows of every block.
    min_cells : int
        Regions with fewer cells are dropped (0 keeps all).
    """

    def __init__(self, n_bins: int, *, min_cells: int = 0) -> None:
        self.n_bins = int(n_bins)
        self.min_cells = int(min_cells)
        self._parts: list[np.ndarray] = []  # [k, 5]: f0, f1, t0, t1, cells per component
        self._count = 0  # components kept so far
        self._links: list[np.ndarray] = []  # [k, 2] pairs of components joined at a boundary
        self._edge: np.ndarray | None = None  # ids + 1 of the last fed column (0: empty)
        self._t = 0

    def feed(self, binary: np.ndarray) -> None:
        """Add the next frames.

        Parameters
        ----------
        binary : np.ndarray [shape=(n_bins, B)], bool
            The mask's next ``B`` frames, binarised.

        Raises
        ------
        ParameterError
            The block has another number of bins.
        """
        binary = np.asarray(binary, dtype=bool)
        if binary.ndim != 2 or binary.shape[0] != self.n_bins:
            raise ParameterError(f"a block of shape {binary.shape} does not have "
                                 f"{self.n_bins} bins")
        width = binary.shape[1]
        if width == 0:
            return
        labels, n = scipy.ndimage.label(binary, structure=_EIGHT)
        if n == 0:
            self._edge, self._t = None, self._t + width
            return
        slices = scipy.ndimage.find_objects(labels)
        cells = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        table = np.array([(s[0].start, s[0].stop, s[1].start + self._t, s[1].stop + self._t,
                           c) for s, c in zip(slices, cells)], dtype=np.int64).reshape(n, 5)
        # a component touching neither end of the block is complete: judge it now
        whole = (table[:, 2] > self._t) & (table[:, 3] < self._t + width)
        keep = ~(whole & (table[:, 4] < self.min_cells))
        ids = np.zeros(n + 1, np.int64)  # block label -> global id + 1 (0: dropped)
        ids[1:][keep] = self._count + 1 + np.arange(int(keep.sum()))
        self._parts.append(table[keep])
        first, last = ids[labels[:, 0]], ids[labels[:, -1]]
        if self._edge is not None:
            self._link(self._edge, first)
        self._edge = last
        self._count += int(keep.sum())
        self._t += width

    def _link(self, prev: np.ndarray, first: np.ndarray) -> None:
        """Join the components of the previous block's last column and this block's first
        that touch (the same bin or a neighbour)."""
        F = self.n_bins
        for d in (-1, 0, 1):
            a = prev[max(0, -d):F - max(0, d)]
            b = first[max(0, d):F - max(0, -d)]
            both = (a > 0) & (b > 0)
            if both.any():
                self._links.append(np.unique(np.stack([a[both], b[both]], 1) - 1, axis=0))

    def regions(self) -> list[Region]:
        """The regions of everything fed, in order of their first frame.

        Returns
        -------
        list of Region
        """
        if not self._count:
            return []
        table = np.concatenate(self._parts)
        if self._links:
            pairs = np.concatenate(self._links)
            graph = scipy.sparse.coo_matrix(
                (np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])),
                shape=(self._count, self._count))
            _, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
            order = np.argsort(comp, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(comp[order]) != 0])
            t = table[order]
            table = np.stack([np.minimum.reduceat(t[:, 0], starts),
                              np.maximum.reduceat(t[:, 1], starts),
                              np.minimum.reduceat(t[:, 2], starts),
                              np.maximum.reduceat(t[:, 3], starts),
                              np.add.reduceat(t[:, 4], starts)], 1)
        table = table[table[:, 4] >= self.min_cells]
        table = table[np.lexsort((table[:, 0], table[:, 2]))]
        return [Region(*map(int, row)) for row in table]


def find_regions(binary: np.ndarray, *, min_cells: int = 0, block: int = 1024
                 ) -> list[Region]:
    """The connected regions (8-connectivity) of a binary ``[freq, time]`` mask.

    Parameters
    ----------
    binary : np.ndarray [shape=(F, T)], bool
    min_cells : int
        Regions with fewer cells are dropped.
    block : int
        Frames labelled at a time (the result does not depend on it).

    Returns
    -------
    list of Region
        In order of their first frame.
    """
    finder = RegionFinder(binary.shape[0], min_cells=min_cells)
    for t0 in range(0, binary.shape[1], max(1, int(block))):
        finder.feed(binary[:, t0:t0 + block])
    return finder.regions()


def merge_regions(regions: Iterable[Region], *, gap_frames: int = 0, gap_bins: int = 0
                  ) -> list[Region]:
    """Join regions that at most ``gap_frames`` empty frames and ``gap_bins`` empty bins
    separate (touching or overlapping boxes always join), until no two are that close.

    Parameters
    ----------
    regions : iterable of Region
    gap_frames, gap_bins : int
        The most empty frames and bins between two regions that still join (0 or more).

    Returns
    -------
    list of Region
        The joined boxes (their cells summed), in order of their first frame.
    """
    boxes = np.array([(r.f0, r.f1, r.t0, r.t1, r.cells) for r in regions],
                     dtype=np.int64).reshape(-1, 5)
    while len(boxes) > 1:
        boxes = boxes[np.argsort(boxes[:, 2], kind="stable")]
        owner = np.arange(len(boxes))
        reach = boxes[:, 3] + gap_frames  # a later box starting past this cannot join it
        active: list[int] = []
        for i in range(len(boxes)):
            active = [j for j in active if reach[j] >= boxes[i, 2]]
            if active:
                a = boxes[active]
                gap_t = np.maximum(a[:, 2], boxes[i, 2]) - np.minimum(a[:, 3], boxes[i, 3])
                gap_f = np.maximum(a[:, 0], boxes[i, 0]) - np.minimum(a[:, 1], boxes[i, 1])
                for j in np.asarray(active)[(gap_t <= gap_frames) & (gap_f <= gap_bins)]:
                    _union(owner, int(j), i)
            active.append(i)
        roots = np.array([_find(owner, i) for i in range(len(boxes))])
        if len(np.unique(roots)) == len(boxes):
            break
        order = np.argsort(roots, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(roots[order]) != 0])
        b = boxes[order]
        boxes = np.stack([np.minimum.reduceat(b[:, 0], starts),
                          np.maximum.reduceat(b[:, 1], starts),
                          np.minimum.reduceat(b[:, 2], starts),
                          np.maximum.reduceat(b[:, 3], starts),
                          np.add.reduceat(b[:, 4], starts)], 1)
    boxes = boxes[np.lexsort((boxes[:, 0], boxes[:, 2]))]
    return [Region(*map(int, row)) for row in boxes]


def _find(owner: np.ndarray, i: int) -> int:
    while owner[i] != i:
        owner[i] = owner[owner[i]]
        i = int(owner[i])
    return i


def _union(owner: np.ndarray, a: int, b: int) -> None:
    ra, rb = _find(owner, a), _find(owner, b)
    if ra != rb:
        owner[max(ra, rb)] = min(ra, rb)


def keep_regions(regions: Iterable[Region], *, min_frames: int = 1, min_bins: int = 1
                 ) -> list[Region]:
    """The regions at least ``min_frames`` frames long and ``min_bins`` bins tall.

    Parameters
    ----------
    regions : iterable of Region
    min_frames, min_bins : int

    Returns
    -------
    list of Region
    """
    return [r for r in regions if r.t1 - r.t0 >= min_frames and r.f1 - r.f0 >= min_bins]


def _offset(config: STFTConfig) -> int:
    return 0 if config.center else config.n_fft // 2


def region_to_box(region: Region, config: STFTConfig, samplerate: int, n_samples: int, *,
                  label: str, channel: int = 1) -> LabelBox:
    """The box a region's cells cover, in seconds and Hz, clipped to the file.

    Parameters
    ----------
    region : Region
    config : STFTConfig
        The grid of the mask.
    samplerate, n_samples : int
        The mixture's.
    label : str
    channel : int
        1-based.

    Returns
    -------
    LabelBox
    """
    hop, sr = config.hop_length, float(samplerate)
    bin_hz = sr / config.n_fft
    begin = (region.t0 * hop + _offset(config) - hop / 2) / sr
    end = ((region.t1 - 1) * hop + _offset(config) + hop / 2) / sr
    low, high = (region.f0 - 0.5) * bin_hz, (region.f1 - 0.5) * bin_hz
    return LabelBox(max(0.0, begin), min(n_samples / sr, end), max(0.0, low),
                    min(sr / 2, high), label, channel)


def box_to_region(box: LabelBox, config: STFTConfig, samplerate: int, n_frames: int, *,
                  what: str = "a box") -> Region:
    """The cells whose centres lie inside a box (at least the one nearest its middle).

    Parameters
    ----------
    box : LabelBox
        A ``high`` of ``math.inf`` reaches the Nyquist frequency.
    config : STFTConfig
        The grid to draw on.
    samplerate, n_frames : int
        The mixture's rate and its number of frames on ``config``.
    what : str
        How a message names the box.

    Returns
    -------
    Region

    Raises
    ------
    ParameterError
        A time or frequency is not finite, the box is upside down, or it lies wholly
        outside the file's time or frequency range.
    """
    hop, sr = config.hop_length, float(samplerate)
    if box.high == math.inf:  # a box with no frequency range (an Audacity time label)
        box = dataclasses.replace(box, high=sr / 2)
    values = (box.begin, box.end, box.low, box.high)
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(f"{what} has a time or frequency that is not a finite number: "
                             f"fix it in the table")
    if box.end < box.begin or box.high < box.low:
        raise ParameterError(f"{what} ends before it begins ({box.begin:g}-{box.end:g} s, "
                             f"{box.low:g}-{box.high:g} Hz): swap its edges")
    bin_hz = sr / config.n_fft
    duration = ((n_frames - 1) * hop + _offset(config)) / sr + hop / (2 * sr)
    if box.begin > duration or box.end < 0 or box.low > sr / 2 or box.high < 0:
        raise ParameterError(f"{what} ({box.begin:g}-{box.end:g} s, {box.low:g}-"
                             f"{box.high:g} Hz) lies outside the file (0-{duration:.3f} s, "
                             f"0-{sr / 2:g} Hz): is it for another recording?")
    t0, t1 = _centres_inside(box.begin * sr - _offset(config), box.end * sr - _offset(config),
                             hop, n_frames)
    f0, f1 = _centres_inside(box.low, box.high, bin_hz, config.n_bins)
    return Region(f0, f1, t0, t1, (f1 - f0) * (t1 - t0))


def _centres_inside(lo: float, hi: float, step: float, count: int) -> tuple[int, int]:
    """The cells ``k`` (half-open range) with ``lo <= k * step <= hi``, at least one.  An
    edge within 1 % of a step of a centre counts it in: an edge clipped to the file's end
    lies on the last frame's centre, and six decimals may put it a hair below."""
    a = max(0, math.ceil(lo / step - _SLACK))
    b = min(count - 1, math.floor(hi / step + _SLACK))
    if a > b:
        a = b = min(count - 1, max(0, round((lo + hi) / 2 / step)))
    return a, b + 1


class BoxPainter:
    """Binary layers drawn from regions a band of bins at a time (for
    :func:`~maskstudio.io.savez.write_mask_file`).  Where regions of different layers
    overlap, the earlier layer keeps the cell.

    Parameters
    ----------
    layers : sequence of sequence of (int or None, Region)
        For each layer, its regions with the channel (0-based) each is drawn on, or None
        for every channel.
    n_frames : int
    n_channels : int or None
        The channels of per-channel layers; None for layers shared by all channels.
    """

    def __init__(self, layers: Sequence[Sequence[tuple[int | None, Region]]], n_frames: int,
                 n_channels: int | None = None) -> None:
        self.layers = [list(layer) for layer in layers]
        self.n_frames = int(n_frames)
        self.n_channels = n_channels
        #: cells a layer's boxes cover that an earlier layer keeps (counted once per band)
        self.overlap_cells = 0
        self._key: tuple[int, int, int] | None = None
        self._rows: np.ndarray = np.zeros((0, 0, 0), np.float32)

    def _cover(self, i: int, f0: int, f1: int, out: np.ndarray) -> None:
        """Set ``out [C, f1 - f0, T]`` where layer ``i``'s regions lie."""
        for channel, r in self.layers[i]:
            a, b = max(f0, r.f0) - f0, min(f1, r.f1) - f0
            if a < b:
                rows = slice(None) if channel is None or self.n_channels is None \
                    else slice(channel, channel + 1)
                out[rows, a:b, r.t0:r.t1] = True

    def rows(self, i: int, f0: int, f1: int) -> np.ndarray:
        """Layer ``i``'s bins ``f0..f1`` over every frame.

        Parameters
        ----------
        i : int
            The layer.
        f0, f1 : int
            The band of bins.

        Returns
        -------
        np.ndarray [shape=((C,) f1 - f0, n_frames)], float32
            1 where the layer holds the cell, 0 elsewhere.
        """
        if self._key != (i, f0, f1):  # a writer asks once per channel: drawn once
            shape = (self.n_channels or 1, f1 - f0, self.n_frames)
            mine, earlier = np.zeros(shape, bool), np.zeros(shape, bool)
            self._cover(i, f0, f1, mine)
            for j in range(i):
                self._cover(j, f0, f1, earlier)
            self.overlap_cells += int(np.count_nonzero(mine & earlier))
            np.logical_and(mine, ~earlier, out=mine)
            self._key, self._rows = (i, f0, f1), mine.astype(np.float32)
        return self._rows if self.n_channels is not None else self._rows[0]
