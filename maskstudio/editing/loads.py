"""Masks loaded into a document that already has layers, without breaking the partition.

A second oracle, or a model's masks loaded again, used to be appended beside the first set:
bins summed to 2 and the residual was clipped to 0.  Every load now takes one of three modes,
and after it every bin of the layers sums to at most one (unless locked layers alone already
exceed one there: a lock is never broken):

``"replace"``  the load wins: layers named like a loaded mask take its values (a locked one is
               refused); the loaded masks are scaled only where locked layers leave them too
               little room; the other unlocked layers are scaled down to fit what is left.
``"add"``      new layers (a colliding name gets a suffix, ``voice2``) that share each bin
               with the unlocked layers: where the bin would sum past one, all of them are
               scaled by the same factor (the rule of ``maskstudio separate --normalize``).
``"fill"``     the existing layers win: new layers take only from the residual,
               ``new = m * residual``; nothing that exists changes.

The loaded set is first made to sum to at most one itself (divided by its sum where that
passes one).  It is an array, or compact tiles (:class:`~maskstudio.editing.tiles.TiledMasks`,
an oracle's computed block by block on a worker): those are read a block at a time, the new
layers' values stay compact, and into a document without layers they are taken as they are.
The load is one undoable step: the changed values of the existing layers are its atoms
(block by block, only where they changed) and the new or replacing layers its structural part,
so the crash journal records it like any other step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from maskstudio.editing.history import Atom, Step
from maskstudio.editing.palette import PALETTE
from maskstudio.editing.state import Layer
from maskstudio.editing.tiles import TiledMasks, kept_bytes, quantize, widen_tile
from maskstudio.errors import MaskFileError, ParameterError
from maskstudio.io.export import check_source_name

__all__ = ["LOAD_MODES", "LoadReport", "share_block", "load_layers"]

LOAD_MODES = ("replace", "add", "fill")
_BLOCK = 2048  #: frames per block
#: Room below this is float32 rounding (masks that sum to 0.99999994), not space to fill: it
#: is taken as none, so it leaves no dust of 1e-8 values (and no tiles) in the layers.
_DUST = 1e-6


@dataclasses.dataclass
class LoadReport:
    """What a load did: the indices of the loaded layers, and by name what changed."""

    mode: str
    indices: list
    replaced: list
    added: list
    scaled: list  #: existing layers whose values were scaled down to make room

    def describe(self) -> str:
        parts = []
        if self.replaced:
            parts.append(f"replaced {', '.join(self.replaced)}")
        if self.added:
            how = " from the residual" if self.mode == "fill" else ""
            parts.append(f"added {', '.join(self.added)}{how}")
        if self.scaled:
            parts.append(f"scaled {', '.join(self.scaled)} down so that every bin sums to one "
                         f"at most")
        return "; ".join(parts) or "nothing changed"


def _sum(x: np.ndarray) -> np.ndarray:
    return x.sum(axis=0) if x.shape[0] else np.zeros(x.shape[1:])


def share_block(old: np.ndarray, new: np.ndarray, *, mode: str, locked, replaced
                ) -> tuple:
    """The arithmetic of a load on one block (float64 in, float64 out).

    Parameters
    ----------
    old : ndarray, ``[K, ..., F, T]``
        The existing layers' values.
    new : ndarray, ``[N, ..., F, T]``
        The loaded masks, in [0, 1].
    mode : {"replace", "add", "fill"}
    locked, replaced : sequence of bool, length ``K``
        Which existing layers are locked (never changed) and which are replaced by a loaded
        mask (their old values count for nothing).

    Returns
    -------
    old_out, new_out : ndarray
        The existing layers' values after the load (replaced ones unchanged: they go) and the
        loaded layers' values.
    """
    locked = np.asarray(locked, bool)
    replaced = np.asarray(replaced, bool)
    kept = ~replaced
    free = kept & ~locked  # the existing layers a load may scale
    new = np.clip(new, 0.0, 1.0)
    total = _sum(new)
    new = new / np.maximum(total, 1.0)  # the loaded set alone sums to at most one
    held = np.clip(_sum(old[kept & locked]), 0.0, None)
    room = np.clip(1.0 - held, 0.0, 1.0)
    out = old.copy()
    if mode == "fill":
        residual = np.clip(1.0 - _sum(old[kept]), 0.0, 1.0)
        residual[residual < _DUST] = 0.0
        return out, new * residual
    if mode == "add":
        s = _sum(old[free]) + _sum(new)
        scale = np.where(s > room, room / np.where(s > 0, s, 1.0), 1.0)
        out[free] = old[free] * scale
        return out, new * scale
    if mode == "replace":
        s = _sum(new)
        new = new * np.where(s > room, room / np.where(s > 0, s, 1.0), 1.0)
        left = np.clip(room - _sum(new), 0.0, None)
        left[left < _DUST] = 0.0
        e = _sum(old[free])
        out[free] = old[free] * np.where(e > left, left / np.where(e > 0, e, 1.0), 1.0)
        return out, new
    raise ParameterError(f"unknown load mode {mode!r}: choose {', '.join(LOAD_MODES)}")


def default_mode(doc, names) -> str:
    """``"replace"`` when a loaded name is a layer's already, else ``"add"``."""
    have = {layer.name for layer in doc.layers}
    return "replace" if any(n in have for n in names) else "add"


def load_layers(doc, names, data: np.ndarray | TiledMasks, provenance: dict, label: str, *,
                mode: str = "add") -> LoadReport:
    """Load masks ``data [N, (C,) F, T]`` (an array, or compact tiles) named ``names`` into
    ``doc`` (see the module's description of ``mode``) as one undoable, journaled step.
    Everything is checked and computed before anything changes."""
    if mode not in LOAD_MODES:
        raise ParameterError(f"unknown load mode {mode!r}: choose {', '.join(LOAD_MODES)}")
    names = list(names)
    for name in names:  # every name first: a bad one (from a file) adds nothing
        check_source_name(name, what="the layer name")
    if len(set(names)) != len(names):
        raise MaskFileError(f"the loaded masks name a source twice ({', '.join(names)}): give "
                            f"each mask its own name")
    tiled = data if isinstance(data, TiledMasks) else None  # compact, checked as computed
    array = np.zeros((len(names), 0, 0)) if tiled is not None else np.asarray(data)
    dshape = tiled.shape if tiled is not None else array.shape
    if len(dshape) not in (3, 4) or dshape[0] != len(names):
        raise ParameterError(f"{len(names)} mask(s) need data [N, (C,) F, T], got shape "
                             f"{dshape}")
    complex_masks = tiled is None and np.iscomplexobj(array)
    dense = np.abs(array) if complex_masks else array
    if tiled is None and not np.isfinite(dense).all():
        raise MaskFileError("the loaded masks hold NaN or infinite values: recompute them")
    mags: np.ndarray | TiledMasks = tiled if tiled is not None else dense
    if mags.shape[-2:] != (doc.n_bins, doc.n_frames):  # checked before anything changes
        raise MaskFileError(f"masks of shape {mags.shape[-2:]} do not fit this view's "
                            f"[freq, time] = {(doc.n_bins, doc.n_frames)}")
    if len(mags.shape) == 4 and doc.store.lead != mags.shape[1:2]:
        if doc.layers:
            raise MaskFileError("these masks have one mask per channel, but the open layers "
                                "are shared by all channels: load them into a new window, or "
                                "average the channels")
        doc.load_state(dataclasses.replace(doc.state(), lead=mags.shape[1:2]))
    lead, F, T = doc.store.lead, doc.n_bins, doc.n_frames
    shape = (len(names),) + lead + (F, T)
    widen = len(mags.shape) == 3 and bool(lead)  # shared masks into per-channel layers

    def loaded(t0: int, t1: int) -> np.ndarray:
        block = mags.block(t0, t1) if isinstance(mags, TiledMasks) else mags[..., t0:t1]
        return np.broadcast_to(block[:, None] if widen else block, shape[:-1] + (t1 - t0,))

    K = len(doc.layers)
    have = {layer.name: i for i, layer in enumerate(doc.layers)}
    replace_at = {}  # loaded index -> existing index
    if mode == "replace":
        replace_at = {j: have[n] for j, n in enumerate(names) if n in have}
        for i in replace_at.values():
            if doc.layers[i].locked:
                raise ParameterError(f"layer '{doc.layers[i].name}' is locked: unlock it to "
                                     f"replace it, or load with 'add' or 'fill'")
    locked = [layer.locked for layer in doc.layers]
    replaced = [i in replace_at.values() for i in range(K)]

    # the new layers' values, in tiles (compact if the load is): never a whole array
    new_store = TiledMasks(F, T, tile=doc.store.tile, lead=lead)
    for _ in names:
        new_store.add_layer()
    atoms: list[Atom] = []
    changed: set[int] = set()
    free = [i for i in range(K) if not locked[i] and not replaced[i]]
    # nothing to share with: the loaded tiles are taken as they are (shared ones, widened to
    # the channels as views: a shared oracle in a stereo document costs one channel)
    adopt = tiled is not None and K == 0 and tiled.tile == doc.store.tile
    block_frames = _BLOCK - _BLOCK % doc.store.tile or doc.store.tile  # whole tiles
    for t0 in range(0, 0 if adopt else T, block_frames):
        t1 = min(T, t0 + block_frames)
        old = doc.store.read(list(range(K)), 0, F, t0, t1)
        old_out, new_out = share_block(old.astype(np.float64),
                                       loaded(t0, t1).astype(np.float64), mode=mode,
                                       locked=locked, replaced=replaced)
        if tiled is not None:  # the room left by the layers kept caps the codes' sum
            top = 1.0 - np.clip(_sum(old_out[[not r for r in replaced]]), 0.0, None)
            new_store.write_codes(range(len(names)), t0, quantize(new_out, top=top))
        else:
            new_store.write(range(len(names)), 0, t0, new_out.astype(np.float32))
        if free:
            after = old_out[free].astype(np.float32)
            if not np.array_equal(after, old[free]):
                atoms.append(Atom(tuple(free), 0, t0, old[free], after))
                changed.update(i for j, i in enumerate(free)
                               if not np.array_equal(after[j], old[i]))
    if complex_masks:  # the cIRM scaled as its magnitude was (a cIRM is held whole)
        new_values = new_store.read(range(len(names)), 0, F, 0, T)
        base = np.clip(np.broadcast_to(dense, shape), 0, 1)
        factor = np.divide(new_values, base, out=np.ones(shape, np.float32), where=base > 0)
        cplx = np.broadcast_to(array[:, None] if array.ndim == 3 and lead else array, shape)
        cplx = (cplx * factor).astype(np.complex64)

    # -- from here on, the document changes -------------------------------------------------
    swaps: list[tuple[int, Layer, dict, Layer, dict]] = []  # at, old layer and tiles, new
    appended: list[tuple[int, Layer, dict]] = []
    report = LoadReport(mode, [], [], [], [])
    for j, name in enumerate(names):
        prov = dict(provenance)
        if complex_masks:
            prov["complex"] = True  # the view edits |M|; export may use the complex mask
        tiles = new_store.stored_tiles(j)
        if adopt and tiled is not None:
            tiles = tiled.stored_tiles(j)
            if widen:
                tiles = {k: widen_tile(t, lead) for k, t in tiles.items()}
        if j in replace_at:
            i = replace_at[j]
            old_layer = doc.layers[i]
            layer = dataclasses.replace(old_layer, provenance=prov, uid=doc.new_uid())
            swaps.append((i, old_layer, doc.store.stored_tiles(i), layer, tiles))
            report.replaced.append(name)
        else:
            name = doc.unique_name(name)
            layer = Layer(name, tuple(PALETTE[(K + len(appended)) % len(PALETTE)]),
                          provenance=prov, uid=doc.new_uid())
            i = K + len(appended)
            appended.append((i, layer, tiles))
            report.added.append(name)
        report.indices.append(i)
        if complex_masks:
            doc.complex_masks[layer.uid] = cplx[j]
    report.scaled = [doc.layers[i].name for i in sorted(changed)]
    # a scaled model's or oracle's layer is marked edited when the step commits; undo unmarks it
    provenance = {i: doc.layers[i].provenance for i in changed}

    def swap_in():
        for i, _, _, layer, tiles in swaps:
            doc.layers[i] = layer
            doc.store.remove_layer(i)
            doc.store.restore_layer(i, tiles)

    def swap_out():
        for i, layer, tiles, _, _ in swaps:
            doc.layers[i] = layer
            doc.store.remove_layer(i)
            doc.store.restore_layer(i, tiles)

    def redo():
        swap_in()
        for i, layer, tiles in appended:
            doc._attach(i, layer, tiles)

    def undo():
        for i, _, _ in reversed(appended):
            doc._detach(i)
        swap_out()
        for i, prov in provenance.items():
            doc.layers[i].provenance = prov

    for atom in atoms:
        doc.store.write(list(atom.layers), atom.f0, atom.t0, atom.new)
    redo()
    # a step keeps its tiles alive, in memory or in a spill: both are charged to the history
    nbytes = sum(kept_bytes(t) for _, _, ts in appended for t in ts.values()) + sum(
        kept_bytes(t) for s in swaps for t in list(s[2].values()) + list(s[4].values()))
    doc.history.push(Step(label, atoms, undo_fn=undo, redo_fn=redo, extra_bytes=nbytes))
    doc.modified = True
    doc.events.whole(F, T)
    return report
