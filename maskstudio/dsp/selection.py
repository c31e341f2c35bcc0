"""Selections made from the sound itself, and energy moved between layers.

- :func:`magic_wand`: the connected region around a clicked bin whose level is within a
  tolerance of the seed's (napari's contiguous fill, RX's magic wand), optionally only where
  a layer already holds some of the bin;
- :func:`local_threshold`: bins louder than the local average (or peak) level in a time x
  frequency window by an offset (SpectraLayers' "Unmix Levels"), and
  :func:`learn_offset`, the offset that a selected example sets (RX's "Learn");
- :func:`move_share`: a selection's share given from one layer to another, or to the
  residual, so that every bin still sums to one; :func:`cast_over`, taking from a layer only
  where another is present.

Levels are in dB (``20 log10 |X|``, as the display shows them).  Everything works on the box
it is given (a view, a selection's bounding box), never the whole file.
"""

from __future__ import annotations

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = ["magic_wand", "local_threshold", "learn_offset", "move_share", "cast_over"]


def _levels(level_db) -> np.ndarray:
    level = np.asarray(level_db, dtype=np.float32)
    if level.ndim != 2 or 0 in level.shape:
        raise ParameterError(f"levels must be [bins, frames], got shape {level.shape}")
    if np.isnan(level).any():
        raise ParameterError("the levels hold NaN")
    return level


def magic_wand(level_db, seed: tuple[int, int], *, tolerance_db: float = 6.0,
               within: np.ndarray | None = None, connectivity: int = 8) -> np.ndarray:
    """The connected region around ``seed`` whose level is within ``tolerance_db`` of it.

    Parameters
    ----------
    level_db : np.ndarray [shape=(F, T)]
        Levels in dB of the box searched.
    seed : (int, int)
        The clicked ``(bin, frame)`` in the box.
    tolerance_db : float
        Bins whose level differs from the seed's by at most this much join the region.
    within : np.ndarray [shape=(F, T)], bool, optional
        Only these bins may join (e.g. where the active layer holds a share); the seed must
        be one of them.
    connectivity : {4, 8}
        Neighbours across sides only, or across corners too.

    Returns
    -------
    np.ndarray [shape=(F, T)], bool

    Raises
    ------
    ParameterError
        A seed outside the box, a tolerance or connectivity that cannot be used.
    """
    import scipy.ndimage  # imported on first use, not at start-up

    level = _levels(level_db)
    tol = check_number(tolerance_db, "tolerance_db", lo=0.0)
    if connectivity not in (4, 8):
        raise ParameterError(f"connectivity must be 4 or 8, not {connectivity!r}")
    f, t = (int(v) for v in seed)
    if not (0 <= f < level.shape[0] and 0 <= t < level.shape[1]):
        raise ParameterError(f"the seed ({f}, {t}) is outside the {level.shape} box")
    ok = np.abs(level - level[f, t]) <= tol
    if within is not None:
        within = np.asarray(within, dtype=bool)
        if within.shape != level.shape:
            raise ParameterError(f"'within' must be {level.shape}, not {within.shape}")
        if not within[f, t]:
            return np.zeros(level.shape, bool)
        ok &= within
    structure = scipy.ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, _ = scipy.ndimage.label(ok, structure=structure)
    return labels == labels[f, t]


def local_threshold(level_db, *, offset_db: float = 6.0, bins: int = 31, frames: int = 31,
                    reference: str = "mean") -> np.ndarray:
    """Bins louder than their neighbourhood's level by ``offset_db``.

    Parameters
    ----------
    level_db : np.ndarray [shape=(F, T)]
    offset_db : float
        How far above the local level a bin must be (negative: below it still passes).
    bins, frames : int
        The neighbourhood's size (odd sizes centre it), in bins and frames.
    reference : {'mean', 'peak'}
        The local level: the mean of the dB levels, or their maximum.

    Returns
    -------
    np.ndarray [shape=(F, T)], bool

    Raises
    ------
    ParameterError
        A size or reference that cannot be used.
    """
    level = _levels(level_db)
    offset = check_number(offset_db, "offset_db", lo=-200.0, hi=200.0)
    return level >= _local_level(level, bins, frames, reference) + offset


def _local_level(level: np.ndarray, bins, frames, reference: str) -> np.ndarray:
    """The mean (or peak) dB level over each bin's ``bins`` x ``frames`` neighbourhood."""
    import scipy.ndimage  # imported on first use, not at start-up

    size = (check_number(bins, "bins", lo=1, integer=True),
            check_number(frames, "frames", lo=1, integer=True))
    if reference == "mean":
        return scipy.ndimage.uniform_filter(level, size=size, mode="nearest")
    if reference == "peak":
        return scipy.ndimage.maximum_filter(level, size=size, mode="nearest")
    raise ParameterError(f"reference must be 'mean' or 'peak', not {reference!r}")


def learn_offset(level_db, example: np.ndarray, *, bins: int = 31, frames: int = 31,
                 reference: str = "mean", keep: float = 0.9, margin_db: float = 1.0) -> float:
    """The offset for :func:`local_threshold` that keeps ``keep`` of a selected example.

    Parameters
    ----------
    level_db : np.ndarray [shape=(F, T)]
    example : np.ndarray [shape=(F, T)], bool
        The bins the user selected as an example of what to keep.
    bins, frames, reference
        As for :func:`local_threshold`.
    keep : float
        The share of the example the offset keeps (0.9: all but its quietest tenth).
    margin_db : float
        Taken off the offset, so that material like the example elsewhere, whose level
        above its surroundings varies by a fraction of a dB, passes too.

    Returns
    -------
    float
        The offset in dB.

    Raises
    ------
    ParameterError
        An empty example, or options that cannot be used.
    """
    level = _levels(level_db)
    example = np.asarray(example, dtype=bool)
    if example.shape != level.shape or not example.any():
        raise ParameterError("select an example first: some bins of the same box")
    keep = check_number(keep, "keep", lo=0.0, hi=1.0, lo_open=True)
    margin = check_number(margin_db, "margin_db", lo=0.0)
    above = (level - _local_level(level, bins, frames, reference))[example]
    return float(np.quantile(above, 1.0 - keep)) - margin


def _check_layers(masks, src, dst) -> np.ndarray:
    masks = np.asarray(masks, dtype=np.float32)
    if masks.ndim < 3:
        raise ParameterError(f"layers must be [L, ..., F, T], got shape {masks.shape}")
    for k, what in ((src, "source"), (dst, "target")):
        if k is not None and not 0 <= int(k) < masks.shape[0]:
            raise ParameterError(f"there is no {what} layer {k}: there are {masks.shape[0]}")
    if src is not None and src == dst:
        raise ParameterError("the source and the target layer are the same")
    return masks


def move_share(masks, src: int | None, dst: int | None, amount) -> np.ndarray:
    """Give ``amount`` (0..1 per bin) of layer ``src``'s share to layer ``dst``.

    Parameters
    ----------
    masks : np.ndarray [shape=(L, ..., F, T)]
        The layers of a box (they and the residual sum to one).
    src, dst : int or None
        Layer indices; None is the residual (give a layer's share back to it, or take from
        it into a layer).
    amount : float or np.ndarray [shape=(..., F, T)]
        The part of ``src``'s share that moves: the selection's strength (1 moves all).

    Returns
    -------
    np.ndarray [shape=(L, ..., F, T)], float32
        New layers; their sum and the residual are unchanged wherever neither end is the
        residual, and still sum to one everywhere.

    Raises
    ------
    ParameterError
        Layers or indices that cannot be used.
    """
    masks = _check_layers(masks, src, dst)
    if src is None and dst is None:
        raise ParameterError("move between two layers, or between a layer and the residual")
    amount = np.clip(np.asarray(amount, dtype=np.float32), 0.0, 1.0)
    out = masks.copy()
    if src is None:
        free = np.clip(1.0 - masks.sum(axis=0), 0.0, 1.0)
        out[dst] = masks[dst] + amount * free
        return out
    moved = amount * masks[src]
    out[src] = masks[src] - moved
    if dst is not None:
        out[dst] = np.minimum(masks[dst] + moved, 1.0)
    return out


def cast_over(masks, over: int, under: int, *, amount=1.0, present: float = 0.5) -> np.ndarray:
    """Layer ``over`` takes layer ``under``'s share, only where ``over`` is present.

    Parameters
    ----------
    masks : np.ndarray [shape=(L, ..., F, T)]
    over, under : int
        Layer indices.
    amount : float or np.ndarray
        As for :func:`move_share`.
    present : float
        Where ``over`` is at least this, it counts as present.

    Returns
    -------
    np.ndarray [shape=(L, ..., F, T)], float32

    Raises
    ------
    ParameterError
        Layers or indices that cannot be used.
    """
    masks = _check_layers(masks, under, over)
    where = (masks[int(over)] >= check_number(present, "present", lo=0.0, hi=1.0))
    return move_share(masks, under, over, np.asarray(amount, np.float32) * where)
