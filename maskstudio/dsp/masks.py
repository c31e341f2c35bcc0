"""Mask layers: one ``[freq, time]`` matrix per named source, and the residual ``1 - sum``.

A mask is float32 with values in [0, 1] (binary or soft), or complex64 (a complex ratio mask,
whose magnitude may exceed one).  A mask of shape ``[F, T]`` applies to every channel; one of
shape ``[C, F, T]`` carries a mask per channel.  Masks that sum to more than one in some bins
are kept as given (:func:`overlap_report` says by how much, :func:`normalize` fixes it on
request), and the residual is clipped at zero there.  Masks that come from elsewhere are
checked by :mod:`maskstudio.dsp.validation` before they are used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from maskstudio.checks import check_number
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.validation import MAX_COMPLEX_GAIN, check_mask, check_mask_shape
from maskstudio.errors import ParameterError

__all__ = [
    "MaskSet",
    "regrid_mask",
    "regrid_frames_needed",
    "OverlapReport",
    "residual",
    "invert",
    "binarize",
    "magnitude_db",
    "threshold_mask",
    "overlap_report",
    "normalize",
    # validation's, imported here where callers have always found them
    "check_mask",
    "check_mask_shape",
    "MAX_COMPLEX_GAIN",
]

_EPS = 1e-6



def residual(masks: np.ndarray) -> np.ndarray:
    """The residual ("inverted") mask ``1 - sum(masks)``, over axis 0.

    For real masks the result is clipped at zero (where masks overlap); complex masks keep the
    exact complement, so that sources and residual still sum to the mixture.

    Parameters
    ----------
    masks : np.ndarray [shape=(S, ...)], real or complex

    Returns
    -------
    np.ndarray [shape=(...)], float32 or complex64

    Raises
    ------
    ParameterError
        There are no masks.
    """
    masks = np.asarray(masks)
    if masks.shape[0] == 0:
        raise ParameterError("there are no masks to take the residual of")
    total = masks.sum(axis=0, dtype=masks.dtype)
    if np.iscomplexobj(total):
        return (1 - total).astype(np.complex64)
    out = np.subtract(np.float32(1), total, dtype=np.float32)
    np.maximum(out, 0, out=out)
    return out


def invert(mask: np.ndarray) -> np.ndarray:
    """``1 - mask`` for a real mask in [0, 1].

    Parameters
    ----------
    mask : np.ndarray, real

    Returns
    -------
    np.ndarray, float32
        Clipped to [0, 1].

    Raises
    ------
    ParameterError
        The mask is complex.
    """
    mask = np.asarray(mask)
    if np.iscomplexobj(mask):
        raise ParameterError("inverting a complex mask is not defined: use its magnitude first")
    return np.clip(1 - mask, 0, 1).astype(np.float32)


def binarize(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """1 where ``|mask| > threshold``, else 0.

    Parameters
    ----------
    mask : np.ndarray
    threshold : float
        In [0, 1].

    Returns
    -------
    np.ndarray, float32
    """
    threshold = check_number(threshold, "threshold", lo=0, hi=1)
    return (np.abs(mask) > threshold).astype(np.float32)


def magnitude_db(S: np.ndarray, *, amin: float = 1e-10, channel_axis: int | None = None
                 ) -> np.ndarray:
    """``20 log10 |S|`` in dB (float32), floored at ``amin``.

    With ``channel_axis`` the channels are pooled first (root-mean-square over that axis), which
    is the level a mask shared by all channels is judged by.

    Parameters
    ----------
    S : np.ndarray, complex or real
        A spectrogram.
    amin : float
        The floor (> 0), so silence gives a finite level.
    channel_axis : int, optional
        The axis of channels, to pool.

    Returns
    -------
    np.ndarray, float32
        ``S``'s shape, without ``channel_axis`` if one is given.
    """
    amin = check_number(amin, "amin", lo=0, lo_open=True)
    S = np.asarray(S)
    if channel_axis is not None:
        power = np.mean(np.abs(S) ** 2, axis=channel_axis, dtype=np.float32)
        return (10 * np.log10(np.maximum(power, amin ** 2))).astype(np.float32)
    return (20 * np.log10(np.maximum(np.abs(S), amin))).astype(np.float32)


def threshold_mask(level_db: np.ndarray, threshold_db: float, *, width_db: float = 0.0
                   ) -> np.ndarray:
    """A mask from a dB image: binary above ``threshold_db``, or soft with ``width_db``.

    The soft mask is a sigmoid centred on the threshold that rises from 0.12 to 0.88 over
    ``width_db`` decibels (its slope at the threshold is ``1 / width_db`` per dB).

    Parameters
    ----------
    level_db : np.ndarray
        Levels in dB (:func:`magnitude_db`).
    threshold_db : float
        The level where the mask is (or crosses) one half.
    width_db : float
        0 for a binary mask.

    Returns
    -------
    np.ndarray, float32
        Values in [0, 1], ``level_db``'s shape.
    """
    threshold_db = check_number(threshold_db, "threshold_db", lo=-1000, hi=1000,
                                hint="a level in dB")
    width_db = check_number(width_db, "width_db", lo=0, hi=1000, hint="a width in dB")
    level_db = np.asarray(level_db, dtype=np.float32)
    if width_db == 0:
        return (level_db > threshold_db).astype(np.float32)
    z = (level_db - np.float32(threshold_db)) * np.float32(4.0 / width_db)
    return (0.5 * (1 + np.tanh(0.5 * z))).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class OverlapReport:
    """How far masks exceed a partition of unity (:func:`overlap_report`).

    Parameters
    ----------
    max_sum : float
        The largest sum of the masks' magnitudes in a bin.
    overlap_fraction : float
        Share of bins where the sum exceeds one.
    mean_excess : float
        Mean of ``sum - 1`` over those bins.
    """

    max_sum: float
    overlap_fraction: float  #: share of bins where the sum exceeds one
    mean_excess: float  #: mean of ``sum - 1`` over those bins

    @property
    def overlaps(self) -> bool:
        """Whether the masks sum to more than one anywhere."""
        return self.overlap_fraction > 0

    def describe(self) -> str:
        """The report in a sentence, for the user.

        Returns
        -------
        str
        """
        if not self.overlaps:
            return "the masks sum to at most one in every bin"
        share = 100 * self.overlap_fraction
        return (f"the masks overlap: they sum to more than one in {share:.1f}% "
                f"of the bins (at most {self.max_sum:.3f}, on average {self.mean_excess:.3f} too "
                f"much there); the residual is clipped at zero, and normalising fixes it")


def overlap_report(masks: np.ndarray, *, tol: float = 1e-4) -> OverlapReport:
    """Measure where ``sum(|masks|)`` exceeds one (beyond ``tol``).

    Parameters
    ----------
    masks : np.ndarray [shape=(S, ...)]
    tol : float
        Sums up to ``1 + tol`` are rounding, not overlap.

    Returns
    -------
    OverlapReport
    """
    total = np.abs(np.asarray(masks)).sum(axis=0, dtype=np.float32)
    excess = total - 1
    over = excess > tol
    n_over = int(over.sum())
    return OverlapReport(
        max_sum=float(total.max(initial=0.0)),
        overlap_fraction=n_over / max(total.size, 1),
        mean_excess=float(excess[over].mean()) if n_over else 0.0,
    )


def normalize(masks: np.ndarray) -> np.ndarray:
    """Scale every bin where real masks sum above one so that they sum to exactly one.

    Parameters
    ----------
    masks : np.ndarray [shape=(S, ...)], real

    Returns
    -------
    np.ndarray [shape=(S, ...)], float32

    Raises
    ------
    ParameterError
        The masks are complex (they may legitimately exceed one).
    """
    masks = np.asarray(masks)
    if np.iscomplexobj(masks):
        raise ParameterError("complex masks are kept as given: they may legitimately exceed one")
    total = masks.sum(axis=0, dtype=np.float32)
    scale = np.where(total > 1, 1 / np.maximum(total, _EPS), 1).astype(np.float32)
    return (masks * scale).astype(np.float32)


class MaskSet:
    """The source layers of one mixture: named masks of one shape, plus the residual.

    Layers share one array so that sums over sources, the residual and partition-preserving
    edits are single vectorised operations.

    Parameters
    ----------
    names : sequence of str
        One unique name per source (not "residual" or "mixture").
    data : np.ndarray [shape=(S, F, T) or (S, C, F, T)]
        Stored contiguous as float32, or complex64 if complex.

    Raises
    ------
    ParameterError
        The names and the data do not match, or a name is repeated or reserved.
    """

    def __init__(self, names: Sequence[str], data: np.ndarray):
        names = [str(n) for n in names]
        data = np.asarray(data)
        if data.ndim not in (3, 4) or data.shape[0] != len(names):
            raise ParameterError(
                f"{len(names)} names need masks [source, freq, time], got shape {data.shape}"
            )
        if len(set(names)) != len(names) or "residual" in names or "mixture" in names:
            raise ParameterError(
                f"source names must be unique and not 'residual' or 'mixture': {names}"
            )
        dtype = np.complex64 if np.iscomplexobj(data) else np.float32
        self.names = names
        self.data = np.ascontiguousarray(data, dtype=dtype)

    @classmethod
    def empty(cls, names: Iterable[str], n_bins: int, n_frames: int) -> MaskSet:
        """Zero masks for ``names``.

        Parameters
        ----------
        names : iterable of str
        n_bins, n_frames : int

        Returns
        -------
        MaskSet
        """
        names = list(names)
        return cls(names, np.zeros((len(names), n_bins, n_frames), np.float32))

    @property
    def is_complex(self) -> bool:
        """Whether the masks are complex (cIRM)."""
        return np.iscomplexobj(self.data)

    @property
    def shape(self) -> tuple:
        """Shape of one layer: ``(F, T)`` or ``(C, F, T)``."""
        return self.data.shape[1:]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of the layer ``name``.

        Parameters
        ----------
        name : str

        Returns
        -------
        int

        Raises
        ------
        ParameterError
            There is no such layer.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise ParameterError(
                f"there is no layer named {name!r}; layers are {', '.join(self.names)}"
            ) from None

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "residual":
            return self.residual()
        return self.data[self.index(name)]

    def residual(self) -> np.ndarray:
        """The residual mask (:func:`residual`).

        Returns
        -------
        np.ndarray [shape=self.shape]
        """
        return residual(self.data)

    def with_residual(self) -> np.ndarray:
        """All layers and the residual last.

        Returns
        -------
        np.ndarray [shape=(S + 1, ...)]
        """
        return np.concatenate([self.data, self.residual()[None]], axis=0)

    def overlap(self) -> OverlapReport:
        """Where the layers sum to more than one (:func:`overlap_report`).

        Returns
        -------
        OverlapReport
        """
        return overlap_report(self.data)

    def normalized(self) -> MaskSet:
        """The layers scaled to sum to at most one (:func:`normalize`).

        Returns
        -------
        MaskSet
        """
        return MaskSet(self.names, normalize(self.data))


def regrid_mask(mask: np.ndarray, n_bins: int, n_frames: int, old: STFTConfig,
                new: STFTConfig, samplerate: int, *, frames: tuple[int, int] | None = None,
                start: int = 0, total: int | None = None) -> np.ndarray:
    """Resample a mask from the STFT grid ``old`` to ``new``, by linear interpolation in Hz
    and seconds.

    Parameters
    ----------
    mask : np.ndarray [shape=(..., F, T)], real
        The mask on the old grid, or its frames ``start .. start + T`` of ``total``.
    n_bins, n_frames : int
        The size of the new grid.
    old, new : STFTConfig
    samplerate : int
    frames : (int, int), optional
        Only the new grid's frames ``[t0, t1)`` (default: all).  Each new frame reads the two
        old frames around it, so a block of old frames covering them
        (:func:`regrid_frames_needed`) gives the values the whole mask gives, bit for bit.
    start : int
        The first old frame ``mask`` holds.
    total : int, optional
        The old grid's frames (default: ``start`` + those ``mask`` holds).

    Returns
    -------
    np.ndarray [shape=(..., n_bins, t1 - t0)], float32
        Values clipped to [0, 1].

    Raises
    ------
    ParameterError
        ``frames`` outside the new grid, or old frames that do not cover them.
    """
    from scipy.interpolate import RegularGridInterpolator

    t0, t1 = (0, n_frames) if frames is None else (int(frames[0]), int(frames[1]))
    total = start + mask.shape[-1] if total is None else int(total)
    if not 0 <= t0 <= t1 <= n_frames:
        raise ParameterError(f"frames {t0}..{t1} lie outside the new grid's {n_frames}")
    f_old = old.frequencies(samplerate)
    t_old = (start + np.arange(mask.shape[-1])) * old.hop_length
    f_new = new.frequencies(samplerate)
    # new frames past the old grid's ends take its first or last frame, wherever the block is
    t_new = np.clip(np.arange(t0, t1) * new.hop_length, 0, (total - 1) * old.hop_length)
    if t1 > t0 and (t_new[0] < t_old[0] or t_new[-1] > t_old[-1]):
        raise ParameterError(f"old frames {start}..{start + mask.shape[-1]} do not cover the "
                             f"new frames {t0}..{t1}")
    lead = mask.shape[:-2]
    flat = mask.reshape((-1, mask.shape[-2], mask.shape[-1]))
    out = np.empty((len(flat), n_bins, t1 - t0), np.float32)
    if t1 == t0:
        return out.reshape(lead + (n_bins, 0))
    if mask.shape[-1] == 1:  # one old frame: every new frame is it
        flat = np.concatenate([flat, flat], axis=-1)
        t_old = np.array([t_old[0], t_old[0] + 1])
    ff, tt = np.meshgrid(np.clip(f_new, f_old[0], f_old[-1]), t_new, indexing="ij")
    for i, m in enumerate(flat):
        interp = RegularGridInterpolator((f_old, t_old), m, bounds_error=False, fill_value=None)
        out[i] = np.clip(interp((ff, tt)), 0, 1)
    return out.reshape(lead + (n_bins, t1 - t0))


def regrid_frames_needed(frames: tuple[int, int], total: int, old: STFTConfig,
                         new: STFTConfig) -> tuple[int, int]:
    """The old grid's frames ``[a, b)`` that :func:`regrid_mask` reads for the new frames
    ``frames = (t0, t1)`` (a non-empty range) of a mask of ``total`` old frames.

    Parameters
    ----------
    frames : (int, int)
    total : int
    old, new : STFTConfig

    Returns
    -------
    (int, int)
    """
    t0, t1 = frames
    lo = min(t0 * new.hop_length, (total - 1) * old.hop_length)
    hi = min((t1 - 1) * new.hop_length, (total - 1) * old.hop_length)
    a = lo // old.hop_length
    b = min(total, -(-hi // old.hop_length) + 1)
    return int(a), int(max(b, a + 1))
