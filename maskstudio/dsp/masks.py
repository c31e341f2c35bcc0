"""Mask layers: one ``[freq, time]`` matrix per named source, and the residual ``1 - sum``.

A mask is float32 with values in [0, 1] (binary or soft), or complex64 (a complex ratio mask,
whose magnitude may exceed one).  A mask of shape ``[F, T]`` applies to every channel; one of
shape ``[C, F, T]`` carries a mask per channel.  Masks that sum to more than one in some bins
are kept as given (:func:`overlap_report` says by how much, :func:`normalize` fixes it on
request), and the residual is clipped at zero there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import MaskFileError, ParameterError

__all__ = [
    "MaskSet",
    "regrid_mask",
    "OverlapReport",
    "residual",
    "invert",
    "binarize",
    "magnitude_db",
    "threshold_mask",
    "overlap_report",
    "normalize",
    "check_mask",
    "check_mask_shape",
]

_EPS = 1e-6

#: The largest complex-mask magnitude accepted: far above any cIRM (``|S| / |Y|`` with
#: ``|Y| > 1e-6``), and low enough that ``mask * STFT`` cannot overflow float32.
MAX_COMPLEX_GAIN = 1e20


def residual(masks: np.ndarray) -> np.ndarray:
    """The residual ("inverted") mask ``1 - sum(masks)``, over axis 0.

    For real masks the result is clipped at zero (where masks overlap); complex masks keep the
    exact complement, so that sources and residual still sum to the mixture.
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
    """``1 - mask`` for a real mask in [0, 1]."""
    mask = np.asarray(mask)
    if np.iscomplexobj(mask):
        raise ParameterError("inverting a complex mask is not defined: use its magnitude first")
    return np.clip(1 - mask, 0, 1).astype(np.float32)


def binarize(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """1 where ``|mask| > threshold``, else 0 (float32)."""
    threshold = check_number(threshold, "threshold", lo=0, hi=1)
    return (np.abs(mask) > threshold).astype(np.float32)


def magnitude_db(S: np.ndarray, *, amin: float = 1e-10, channel_axis: int | None = None
                 ) -> np.ndarray:
    """``20 log10 |S|`` in dB (float32), floored at ``amin``.

    With ``channel_axis`` the channels are pooled first (root-mean-square over that axis), which
    is the level a mask shared by all channels is judged by.
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
    """How far masks exceed a partition of unity."""

    max_sum: float
    overlap_fraction: float  #: share of bins where the sum exceeds one
    mean_excess: float  #: mean of ``sum - 1`` over those bins

    @property
    def overlaps(self) -> bool:
        return self.overlap_fraction > 0

    def describe(self) -> str:
        if not self.overlaps:
            return "the masks sum to at most one in every bin"
        share = 100 * self.overlap_fraction
        return (f"the masks overlap: they sum to more than one in {share:.1f}% "
                f"of the bins (at most {self.max_sum:.3f}, on average {self.mean_excess:.3f} too "
                f"much there); the residual is clipped at zero, and normalising fixes it")


def overlap_report(masks: np.ndarray, *, tol: float = 1e-4) -> OverlapReport:
    """Measure where ``sum(|masks|)`` exceeds one (beyond ``tol``)."""
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
    """Scale every bin where real masks sum above one so that they sum to exactly one."""
    masks = np.asarray(masks)
    if np.iscomplexobj(masks):
        raise ParameterError("complex masks are kept as given: they may legitimately exceed one")
    total = masks.sum(axis=0, dtype=np.float32)
    scale = np.where(total > 1, 1 / np.maximum(total, _EPS), 1).astype(np.float32)
    return (masks * scale).astype(np.float32)


def check_mask_shape(shape: tuple, *, n_bins: int, n_frames: int, n_channels: int,
                     name: str = "mask") -> None:
    """Raise :class:`MaskFileError` unless a mask of ``shape`` fits a ``[C, F, T]`` mixture
    STFT: ``[F, T]`` or ``[C, F, T]``.  A transposed ``[T, F]`` shape is explained.

    Checking the shape alone lets a file's declared shape be judged before its data is read.
    """
    shape = tuple(int(k) for k in shape)
    want = (n_bins, n_frames)
    if shape[-2:] == want and len(shape) in (2, 3) and (len(shape) == 2
                                                         or shape[0] == n_channels):
        return
    if shape[-2:] == want[::-1]:
        raise MaskFileError(
            f"{name} has shape {shape}, which is [time, freq]; maskstudio expects "
            f"[freq, time] = {want}: transpose it (mask.T) before loading"
        )
    raise MaskFileError(
        f"{name} has shape {shape} but this mixture's STFT needs [freq, time] = {want}"
        f" (or [channel, freq, time] with {n_channels} channel(s)): compute it with the same "
        f"n_fft and hop_length as the mixture"
    )


def check_mask(mask: np.ndarray, *, n_bins: int, n_frames: int, n_channels: int,
               name: str = "mask", allow_complex: bool = True) -> np.ndarray:
    """Validate a mask for a ``[C, F, T]`` mixture STFT; return it as float32 or complex64.

    A transposed ``[T, F]`` mask is recognised and explained, never applied.  NaN and
    infinite values are refused (with their count), real values outside [0, 1] beyond a
    rounding tolerance too, and complex values only where ``allow_complex``.
    """
    m = np.asarray(mask)
    if np.iscomplexobj(m):
        if not allow_complex:
            raise MaskFileError(f"{name} is complex (a cIRM), but real masks in [0, 1] are "
                                f"needed here: save its magnitude (np.abs) instead")
        m = m.astype(np.complex64)
    elif np.issubdtype(m.dtype, np.number) or m.dtype == bool:
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused
            m = m.astype(np.float32)
    else:
        raise MaskFileError(f"{name} has values of type {m.dtype}: a mask holds numbers")
    check_mask_shape(m.shape, n_bins=n_bins, n_frames=n_frames, n_channels=n_channels,
                     name=name)
    finite = np.isfinite(m)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise MaskFileError(f"{name} contains {bad} NaN or infinite value(s) out of "
                            f"{m.size}: fix the model's output (e.g. np.nan_to_num) and save "
                            f"it again")
    del finite
    if not np.iscomplexobj(m):
        lo, hi = float(m.min(initial=0)), float(m.max(initial=0))
        if lo < -_EPS or hi > 1 + _EPS:
            raise MaskFileError(
                f"{name} has values from {lo:.3g} to {hi:.3g}; a real mask lies in [0, 1] "
                f"(save a complex mask as complex64 if it may exceed one)"
            )
        np.clip(m, 0, 1, out=m)
    else:
        peak = float(np.abs(m).max(initial=0))
        if peak > MAX_COMPLEX_GAIN:
            raise MaskFileError(f"{name} has complex values up to {peak:.3g} in magnitude, "
                                f"which would overflow the spectrum: compress the cIRM or "
                                f"clip it")
    return m


class MaskSet:
    """The source layers of one mixture: named masks of one shape, plus the residual.

    ``data`` is ``[S, F, T]`` or ``[S, C, F, T]``, float32 or complex64.  Layers share one
    array so that sums over sources, the residual and partition-preserving edits are single
    vectorised operations.
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
        names = list(names)
        return cls(names, np.zeros((len(names), n_bins, n_frames), np.float32))

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.data)

    @property
    def shape(self) -> tuple:
        """Shape of one layer: ``(F, T)`` or ``(C, F, T)``."""
        return self.data.shape[1:]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
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
        return residual(self.data)

    def with_residual(self) -> np.ndarray:
        """All layers and the residual last: ``[S + 1, ...]``."""
        return np.concatenate([self.data, self.residual()[None]], axis=0)

    def overlap(self) -> OverlapReport:
        return overlap_report(self.data)

    def normalized(self) -> MaskSet:
        return MaskSet(self.names, normalize(self.data))


def regrid_mask(mask: np.ndarray, n_bins: int, n_frames: int, old, new,
                samplerate: int) -> np.ndarray:
    """Resample a mask ``[..., F, T]`` from STFT grid ``old`` to ``new`` (``STFTConfig``s)
    by linear interpolation in Hz and seconds."""
    from scipy.interpolate import RegularGridInterpolator

    f_old = old.frequencies(samplerate)
    t_old = np.arange(mask.shape[-1]) * old.hop_length
    f_new = new.frequencies(samplerate)
    t_new = np.arange(n_frames) * new.hop_length
    lead = mask.shape[:-2]
    flat = mask.reshape((-1,) + mask.shape[-2:])
    out = np.empty((flat.shape[0], n_bins, n_frames), np.float32)
    for i, m in enumerate(flat):
        interp = RegularGridInterpolator((f_old, t_old), m, bounds_error=False, fill_value=None)
        ff, tt = np.meshgrid(np.clip(f_new, f_old[0], f_old[-1]),
                             np.clip(t_new, t_old[0], t_old[-1]), indexing="ij")
        out[i] = np.clip(interp((ff, tt)), 0, 1)
    return out.reshape(lead + (n_bins, n_frames))
