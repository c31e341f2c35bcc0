"""Mask layers of a long file, stored in time tiles allocated on first write.

A dense float32 mask of a 60-minute file at 2048/512 is 1.27 GB, so an editor that held every
layer densely could not open such a file with four layers.  Here each layer is a row of tiles of
``tile`` frames; a tile that was never written reads as zeros and costs nothing, and a tile
written back to all zeros is dropped.

A tile is float32 (what is painted or loaded) or compact: uint8 codes ``c`` meaning ``c / 255``
(:data:`LEVELS`), a quarter of the memory, written by :meth:`TiledMasks.write_codes` (an
oracle's layers: two soft layers of 60 minutes are 636 MB instead of 2.5 GB).  Codes hold 0 and
1 exactly (a binary mask loses nothing) and soft values to within 1/255 (:func:`quantize`),
which puts the change in a separated source at least 48 dB below the mixture in every bin.
Reads give float32 whatever the tile; a write into a compact tile widens it to float32 first,
so edits are never rounded.  A long file's compact tiles are cold (:class:`ColdTile`): kept in
an unnamed temporary file (:class:`Spill`) and read on demand, so a 60-minute stereo oracle's
1.2 GB of codes stay out of the process; a painted tile comes back as float32 as before.
Reads and writes take boxes in ``[freq, time]``; blocks
of frames feed resynthesis and playback (``block``), and display reads are pooled to screen
resolution without assembling the full-resolution image (``pooled``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maskstudio.errors import MaskStudioError, ParameterError

__all__ = ["TiledMasks", "pool_max", "cell_ranges", "quantize", "LEVELS", "shared_tile",
           "held_bytes", "Spill", "ColdTile", "hot", "SPILL_BINS", "cool", "widen_tile",
           "spills", "code_values", "channel_mean", "kept_bytes"]

#: Bins of one layer (all channels) from which a store keeps its compact tiles cold, in a
#: :class:`Spill`: 64 M bins are 64 MB of codes a layer, about 6 minutes of stereo at 44.1 kHz
#: and 2048/512.  Shorter files keep them in memory, where a read costs nothing.
SPILL_BINS = 64 << 20

#: The value of each uint8 code of a compact tile: ``code / 255`` in float32.
LEVELS = np.arange(256, dtype=np.float32) / np.float32(255)


def code_values(codes: np.ndarray) -> np.ndarray:
    """``LEVELS[codes]``, bit for bit, computed as a float32 division: several times faster
    than the lookup on a tile (the overlay converts every tile on screen)."""
    return np.divide(codes, np.float32(255), dtype=np.float32)


def channel_mean(values: np.ndarray, axes: tuple) -> np.ndarray:
    """``values.mean(axis=axes)``, bit for bit; two channels are added and halved, four
    times faster than ``mean``."""
    if axes == (0,) and values.shape[0] == 2:
        return (values[0] + values[1]) * np.float32(0.5)
    return values.mean(axis=axes)


def quantize(values: np.ndarray, *, top: np.ndarray | float = 1.0) -> np.ndarray:
    """Codes of masks ``values [N, ...]`` (in [0, 1], summing to at most one over ``N``), each
    within 1/255 of its value, whose sum stays at most ``top`` (and one): the running sum is
    rounded, not each mask, so the residual (one less the sum) never goes below zero."""
    cum = np.rint(np.cumsum(np.clip(values, 0.0, 1.0), axis=0, dtype=np.float64) * 255.0)
    cap = np.floor(np.clip(np.asarray(top, dtype=np.float64), 0.0, 1.0) * 255.0 + 1e-6)
    cum = np.minimum(cum, cap)
    return np.diff(cum, axis=0, prepend=0.0).astype(np.uint8)


def shared_tile(tile: np.ndarray, lead: tuple) -> np.ndarray:
    """A tile ``[F, tile]`` that every channel of a per-channel store shares, seen as
    ``lead + [F, tile]`` without copies: read-only, so a write copies it first (a layer whose
    channels agree, e.g. a shared oracle's in a stereo document, costs one channel's memory
    until a channel is edited on its own)."""
    return np.broadcast_to(tile, tuple(lead) + tile.shape)


def spills(n_bins: int, n_frames: int, lead: tuple = ()) -> bool:
    """Whether a store of this size keeps its compact tiles cold (:data:`SPILL_BINS`)."""
    return int(np.prod(lead, dtype=np.int64)) * int(n_bins) * int(n_frames) >= SPILL_BINS


class Spill:
    """An unnamed temporary file of cold tiles, written once and read on demand.

    It lives in the per-user cache folder (not ``/tmp``, which may be memory) and has no name
    from the start, so it goes with the process however that ends, ``kill -9`` included.
    Its pages sit in the system's file cache, not in the process.  Space is not reused: a
    tile replaced or painted leaves its old bytes until the spill's last tile is gone.
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        if folder is None:
            import platformdirs

            folder = Path(platformdirs.user_cache_path("maskstudio")) / "spill"
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=str(folder))
        except OSError:
            folder = tempfile.gettempdir()  # the system's temporary folder instead
            self._file = tempfile.TemporaryFile(dir=folder)
        self.folder = Path(folder)
        self._fd = self._file.fileno()
        self._end = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes written so far."""
        return self._end

    def append(self, array: np.ndarray) -> int:
        """Write ``array``'s bytes at the end; returns their offset."""
        flat: Any = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        data = memoryview(flat)
        with self._lock:
            offset = self._end
            self._end += data.nbytes
        done = 0
        try:
            while done < data.nbytes:
                done += os.pwrite(self._fd, data[done:], offset + done)
        except OSError as exc:
            raise MaskStudioError(f"cannot keep the masks in '{self.folder}' "
                                  f"({exc.strerror or exc}): free disk space there") from None
        return offset

    def read(self, offset: int, nbytes: int) -> bytes:
        """``nbytes`` bytes from ``offset``."""
        parts, done = [], 0
        while done < nbytes:
            part = os.pread(self._fd, nbytes - done, offset + done)
            if not part:
                raise MaskStudioError("the masks' cache file was cut short: save the project "
                                      "under another name and reopen it")
            parts.append(part)
            done += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class ColdTile:
    """A compact tile (uint8 codes ``[*lead, F, tile]``) kept in a :class:`Spill`: one
    channel's codes when the channels share it (``shared``).  :func:`hot` reads it."""

    __slots__ = ("spill", "offset", "shape", "shared")
    dtype = np.dtype(np.uint8)

    def __init__(self, spill: Spill, offset: int, shape: tuple, shared: bool):
        self.spill, self.offset, self.shape, self.shared = spill, offset, tuple(shape), shared

    @property
    def nbytes(self) -> int:
        """The bytes of its values as a held tile would give them (a snapshot's cost)."""
        return int(np.prod(self.shape))

    def copy(self) -> ColdTile:
        """Itself: its bytes in the spill are never written again (a copied state keeps it)."""
        return self

    def load(self) -> np.ndarray:
        """The codes, read-only (a shared tile seen on every channel, as :func:`shared_tile`)."""
        one = self.shape[-2:] if self.shared else self.shape
        data = self.spill.read(self.offset, int(np.prod(one)))
        codes = np.frombuffer(data, np.uint8).reshape(one)
        return shared_tile(codes, self.shape[:-2]) if self.shared else codes


def hot(tile):
    """A tile's array: a held tile as it is, a :class:`ColdTile` read from its spill."""
    return tile.load() if isinstance(tile, ColdTile) else tile


def widen_tile(tile, lead: tuple):
    """A tile of masks shared by the channels, seen on each channel of ``lead`` without a
    copy (:func:`shared_tile`; a cold tile stays cold)."""
    if isinstance(tile, ColdTile):
        return ColdTile(tile.spill, tile.offset, tuple(lead) + tile.shape[-2:], True)
    return shared_tile(tile, lead)


def cool(tiles, spill: Spill) -> dict:
    """``tiles`` (a dict, or ``(key, tile)`` pairs read one at a time: a project's rows) with
    their compact ones moved to ``spill`` (:class:`ColdTile`); float32 ones (painted) stay
    held."""
    out = {}
    for k, t in (tiles.items() if isinstance(tiles, dict) else tiles):
        if isinstance(t, np.ndarray) and t.dtype == np.uint8:
            shared = t.ndim > 2 and t.strides[0] == 0
            one = t[(0,) * (t.ndim - 2)] if shared else t
            t = ColdTile(spill, spill.append(one), t.shape, shared)
        out[k] = t
    return out


def held_bytes(tile) -> int:
    """The memory a tile holds: a shared tile (:func:`shared_tile`) counts one channel, a cold
    one (:class:`ColdTile`) nothing."""
    if isinstance(tile, ColdTile):
        return 0
    if tile.ndim > 2 and tile.strides[0] == 0:
        return held_bytes(tile[0])
    return tile.nbytes


def kept_bytes(tile) -> int:
    """What a tile keeps, in memory or in its spill (a shared tile counts one channel): the
    size an undo step that holds it is charged, so the history bounds the disk a long
    file's replaced layers take as it bounds the memory of a short file's."""
    if isinstance(tile, ColdTile):
        return int(np.prod(tile.shape[-2:] if tile.shared else tile.shape))
    return held_bytes(tile)


class TiledMasks:
    """``n_layers`` masks of shape ``lead + (n_bins, n_frames)`` in tiles of ``tile`` frames.

    ``lead`` is ``()`` for masks shared by all channels, or ``(C,)`` for per-channel masks.
    """

    def __init__(self, n_bins: int, n_frames: int, *, tile: int = 128, lead: tuple = (),
                 dtype=np.float32, spill: Spill | bool | None = None):
        if tile < 1 or n_bins < 1 or n_frames < 1:
            raise ParameterError("a mask store needs at least one bin, one frame and one frame "
                                 "per tile")
        self.n_bins, self.n_frames, self.tile = int(n_bins), int(n_frames), int(tile)
        self.lead = tuple(lead)
        self.dtype = np.dtype(dtype)
        self._tiles: list[dict[int, np.ndarray | ColdTile]] = []
        if spill is None:  # long files keep their compact tiles cold
            spill = spills(self.n_bins, self.n_frames, self.lead)
        #: where :meth:`write_codes` puts compact tiles (None: in memory); made on first use
        self._spill: Spill | None = spill if isinstance(spill, Spill) else None
        self._spills = bool(spill)

    # -- layers -------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self._tiles)

    @property
    def shape(self) -> tuple:
        return (self.n_layers,) + self.lead + (self.n_bins, self.n_frames)

    @property
    def n_tiles(self) -> int:
        return -(-self.n_frames // self.tile)

    def add_layer(self, data: np.ndarray | None = None, index: int | None = None) -> int:
        index = self.n_layers if index is None else index
        self._tiles.insert(index, {})
        if data is not None:
            self.set_dense(index, data)
        return index

    def remove_layer(self, index: int) -> dict:
        """Remove a layer; returns its tiles so that it can be put back (undo)."""
        return self._tiles.pop(index)

    def restore_layer(self, index: int, tiles: dict) -> None:
        self._tiles.insert(index, tiles)

    def move_layer(self, src: int, dst: int) -> None:
        self._tiles.insert(dst, self._tiles.pop(src))

    def layer_tiles(self) -> list:
        """The tile dictionaries of every layer (to reorder layers or save them)."""
        return list(self._tiles)

    def set_layer_tiles(self, tiles: list) -> None:
        """Replace every layer's tiles (a project being loaded, a journal replayed); a store
        that spills moves held compact tiles to its spill."""
        if self._spills and any(isinstance(t, np.ndarray) and t.dtype == np.uint8
                                for layer in tiles for t in layer.values()):
            if self._spill is None:
                self._spill = Spill()
            self._tiles = [cool(t, self._spill) for t in tiles]
        else:
            self._tiles = [dict(t) for t in tiles]

    def nbytes(self) -> int:
        """The memory the tiles hold (a tile the channels share counts once, a cold one not)."""
        return sum(held_bytes(t) for layer in self._tiles for t in layer.values())

    def cold_bytes(self) -> int:
        """The bytes of the cold tiles' codes, on disk (:class:`Spill`)."""
        return sum(kept_bytes(t) for layer in self._tiles for t in layer.values()
                   if isinstance(t, ColdTile))

    def _cold(self, codes: np.ndarray, shared: bool) -> ColdTile:
        if self._spill is None:
            self._spill = Spill()
        shape = self.lead + codes.shape[-2:]
        return ColdTile(self._spill, self._spill.append(codes), shape, shared)

    # -- access ---------------------------------------------------------------------------
    def _tile_range(self, t0: int, t1: int):
        k = t0 // self.tile
        pos = 0
        while t0 < t1:
            start = k * self.tile
            a, b = t0 - start, min(t1, start + self.tile) - start
            yield k, a, b, pos
            pos += b - a
            t0 = start + b
            k += 1

    def _check_box(self, f0, f1, t0, t1):
        if not (0 <= f0 <= f1 <= self.n_bins and 0 <= t0 <= t1 <= self.n_frames):
            raise ParameterError(f"box [{f0}:{f1}, {t0}:{t1}] lies outside the "
                                 f"{self.n_bins} x {self.n_frames} grid")

    def read(self, layers: Sequence[int], f0: int, f1: int, t0: int, t1: int) -> np.ndarray:
        """Values ``[len(layers), *lead, f1 - f0, t1 - t0]`` (a copy)."""
        self._check_box(f0, f1, t0, t1)
        out = np.zeros((len(layers),) + self.lead + (f1 - f0, t1 - t0), dtype=self.dtype)
        for i, layer in enumerate(layers):
            tiles = self._tiles[layer]
            for k, a, b, pos in self._tile_range(t0, t1):
                tile = tiles.get(k)
                if tile is not None:
                    part = hot(tile)[..., f0:f1, a:b]
                    out[i, ..., pos:pos + b - a] = code_values(part) if part.dtype == np.uint8 \
                        else part
        return out

    def write(self, layers: Sequence[int], f0: int, t0: int, values: np.ndarray) -> None:
        """Store ``values [len(layers), *lead, h, w]`` at ``[f0:f0 + h, t0:t0 + w]``."""
        values = np.asarray(values)
        h, w = values.shape[-2:]
        self._check_box(f0, f0 + h, t0, t0 + w)
        full = (self.n_bins, self.tile)
        for i, layer in enumerate(layers):
            tiles = self._tiles[layer]
            v = values[i]
            for k, a, b, pos in self._tile_range(t0, t0 + w):
                part = v[..., pos:pos + b - a]
                stored = tiles.get(k)
                if stored is None:
                    if not part.any():
                        continue  # writing zeros where nothing is stored changes nothing
                    tile = np.zeros(self.lead + full, dtype=self.dtype)
                elif stored.dtype == np.uint8:  # an edit is not rounded: the tile widens
                    tile = code_values(hot(stored))
                elif not hot(stored).flags.writeable:  # shared by the channels: copied
                    tile = np.array(stored)
                else:
                    tile = hot(stored)
                tiles[k] = tile
                tile[..., f0:f0 + h, a:b] = part
                if not part.any() and not tile.any():
                    del tiles[k]

    def write_codes(self, layers: Sequence[int], t0: int, codes: np.ndarray) -> None:
        """Store compact tiles: ``codes [len(layers), *lead, n_bins, w]`` (uint8, see
        :func:`quantize`) over frames ``t0..t0 + w``, whole tiles from ``t0`` (a multiple of
        ``tile``) to the end of the block, replacing what was there."""
        codes = np.asarray(codes, dtype=np.uint8)
        w = codes.shape[-1]
        if t0 % self.tile or codes.shape[-2] != self.n_bins:
            raise ParameterError(f"compact tiles are written whole: frame {t0} is not at a "
                                 f"tile's start, or {codes.shape[-2]} bins are not all")
        self._check_box(0, self.n_bins, t0, t0 + w)
        for i, layer in enumerate(layers):
            tiles = self._tiles[layer]
            for k, a, b, pos in self._tile_range(t0, t0 + w):
                part = codes[i, ..., pos:pos + b - a]
                if b - a < self.tile and t0 + w < self.n_frames:
                    raise ParameterError("compact tiles are written whole: end the block at "
                                         "a tile's end or the last frame")
                if not part.any():
                    tiles.pop(k, None)
                    continue
                if self.lead and (part[1:] == part[:1]).all():  # the channels' masks agree
                    tile = np.zeros((self.n_bins, self.tile), np.uint8)
                    tile[:, : b - a] = part[0]
                    tiles[k] = self._cold(tile, True) if self._spills \
                        else shared_tile(tile, self.lead)
                    continue
                tile = np.zeros(self.lead + (self.n_bins, self.tile), np.uint8)
                tile[..., : b - a] = part
                tiles[k] = self._cold(tile, False) if self._spills else tile

    def block(self, t0: int, t1: int, layers: Iterable[int] | None = None) -> np.ndarray:
        """All bins of frames ``[t0, t1)``: ``[L, *lead, F, t1 - t0]`` for resynthesis."""
        layers = range(self.n_layers) if layers is None else list(layers)
        return self.read(list(layers), 0, self.n_bins, t0, t1)

    def dense(self, layer: int) -> np.ndarray:
        return self.read([layer], 0, self.n_bins, 0, self.n_frames)[0]

    def set_dense(self, layer: int, data: np.ndarray) -> None:
        data = np.asarray(data)
        want = self.lead + (self.n_bins, self.n_frames)
        if data.shape != want:
            raise ParameterError(f"a layer of shape {data.shape} does not fit {want}")
        self._tiles[layer] = {}
        for k in range(self.n_tiles):
            part = data[..., k * self.tile:(k + 1) * self.tile]
            if part.any():
                tile = np.zeros(self.lead + (self.n_bins, self.tile), dtype=self.dtype)
                tile[..., : part.shape[-1]] = part
                self._tiles[layer][k] = tile

    def stored_tiles(self, layer: int) -> dict:
        """The tiles of a layer that hold any non-zero value, by tile index (read-only use)."""
        return self._tiles[layer]

    def pooled(self, layer: int, row_edges: np.ndarray, col_edges: np.ndarray, *,
               channel: int | None = None) -> np.ndarray:
        """Display values of a layer: the maximum of |mask| over each display cell.

        Display row ``i`` covers bins ``[row_edges[i], max(row_edges[i + 1], row_edges[i] + 1))``
        and column ``j`` frames likewise from ``col_edges`` (both non-decreasing, one longer
        than the display).  Per-channel masks are averaged over channels, or ``channel``'s
        is taken (an index; None or "mid"/"side": the average).  Only stored tiles
        are visited, so an empty layer costs nothing however long the file.
        """
        row_edges = np.asarray(row_edges, dtype=np.intp)
        col_edges = np.asarray(col_edges, dtype=np.intp)
        out = np.zeros((row_edges.size - 1, col_edges.size - 1), dtype=np.float32)
        starts, stops = cell_ranges(col_edges)
        t0, t1 = int(starts[0]), int(stops[-1])
        # a snapshot: a worker thread may add tiles while the view reads
        for k, tile in list(self._tiles[layer].items()):
            a, b = max(t0, k * self.tile), min(t1, (k + 1) * self.tile)
            if a >= b:
                continue
            vals = hot(tile)[..., a - k * self.tile:b - k * self.tile]
            if self.lead and (isinstance(channel, (int, np.integer)) or vals.strides[0] == 0):
                # one channel, or any channel of a tile they share (their mean is any of them)
                vals = vals[channel if isinstance(channel, (int, np.integer)) else 0]
            vals = code_values(vals) if vals.dtype == np.uint8 else np.abs(vals)
            if vals.ndim > 2:
                vals = channel_mean(vals, tuple(range(len(self.lead))))
            c0 = int(np.searchsorted(stops, a, side="right"))  # first column ending after a
            c1 = int(np.searchsorted(starts, b, side="left"))  # first column starting at b
            cols = np.clip(starts[c0:c1], a, b - 1) - a
            pooled = pool_max(vals, row_edges, cols)
            np.maximum(out[:, c0:c1], pooled, out=out[:, c0:c1])
        return out


def cell_ranges(edges: np.ndarray):
    """Start and stop of each display cell: ``[e_i, max(e_{i+1}, e_i + 1))``."""
    edges = np.asarray(edges, dtype=np.intp)
    starts = edges[:-1]
    return starts, np.maximum(edges[1:], starts + 1)


def pool_max(values: np.ndarray, row_edges: np.ndarray, col_starts: np.ndarray) -> np.ndarray:
    """Max-pool ``values [rows, cols]`` into display cells.

    Rows pool over ``[row_edges[i], max(row_edges[i + 1], row_edges[i] + 1))``; columns start
    at ``col_starts`` (relative to ``values``; the last column runs to the end).  Cells narrower
    than one bin or frame repeat the nearest value, as ``np.maximum.reduceat`` does for equal
    consecutive indices.
    """
    row_edges = np.asarray(row_edges, dtype=np.intp)
    col_starts = np.asarray(col_starts, dtype=np.intp)
    n_rows, n_cols = values.shape
    out = np.zeros((row_edges.size - 1, col_starts.size), dtype=values.dtype)
    row_ok = row_edges[:-1] < n_rows  # cells past the data (above Nyquist, after the end)
    col_ok = (col_starts < n_cols) & (col_starts >= 0)
    if n_rows == 0 or n_cols == 0 or not row_ok.any() or not col_ok.any():
        return out
    rows = np.minimum(row_edges, n_rows)
    last = max(int(rows[-1]), int(rows[-2]) + 1)
    values = values[:last]
    r_starts = np.minimum(rows[:-1], n_rows - 1)
    c_starts = np.clip(col_starts, 0, n_cols - 1)
    if values.shape[1] > c_starts.size:  # many frames per column: shrink time first
        v = np.maximum.reduceat(values, c_starts, axis=1)
        v = np.maximum.reduceat(v, r_starts, axis=0)
    else:
        v = np.maximum.reduceat(values, r_starts, axis=0)
        v = np.maximum.reduceat(v, c_starts, axis=1)
    out[np.ix_(row_ok, col_ok)] = v[np.ix_(row_ok, col_ok)]
    return out
