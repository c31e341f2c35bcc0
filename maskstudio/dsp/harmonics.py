"""Harmonic selection: a tracked fundamental's harmonics selected, where they sound.

:func:`harmonic_mask` turns a track (:func:`maskstudio.dsp.pitch.track_partial`) into a
selection: for each harmonic ``h`` the bins within ``width_cents`` around ``h * f0`` (and never
fewer than the window's main lobe, which holds a steady partial's energy), with a strength
falling by ``falloff_db`` per harmonic, and, given the magnitudes, only in the frames where
the harmonic stands out of the floor between its neighbours.  ``1 - harmonic_mask`` over the
tracked frames is the "non-harmonic" selection.  :func:`select_harmonics` does a click's
whole selection, reading each frame once.
"""

from __future__ import annotations

import numpy as np

from maskstudio.checks import check_number
from maskstudio.dsp.pitch import track_partial
from maskstudio.errors import ParameterError

__all__ = ["harmonic_mask", "select_harmonics", "PRESENT_GROUP"]

#: harmonics judged at a time for presence (see harmonic_mask's ``S``)
PRESENT_GROUP = 8


class _Remembered:
    """A frame source that keeps what it read, so that the span a track covers is not read
    and transformed twice (once to follow the note, once to see which harmonics sound)."""

    def __init__(self, read) -> None:
        self._read = read
        self._parts: dict[int, np.ndarray] = {}

    def __call__(self, t0: int, t1: int) -> np.ndarray:
        got = self._read(t0, t1)
        self._parts[t0] = got
        return got

    def span(self, a: int, b: int) -> np.ndarray:
        """Frames ``a..b``, from what was read where it covers them."""
        cols: dict[int, np.ndarray] = {}
        for t0, part in self._parts.items():
            for t in range(max(a, t0), min(b, t0 + part.shape[1])):
                cols.setdefault(t, part[:, t - t0])
        if len(cols) < b - a:
            return self._read(a, b)
        return np.stack([cols[t] for t in range(a, b)], axis=1)


def select_harmonics(read, n_frames: int, seed_frame: int, seed_hz: float, *,
                     samplerate: float, n_fft: int, span: tuple[int, int] | None = None,
                     width_cents: float = 50.0, falloff_db: float = 0.0,
                     present_db: float = 12.0, **track) -> tuple[int, np.ndarray, np.ndarray]:
    """A click's harmonic selection: :func:`track_partial` then :func:`harmonic_mask`,
    reading each frame once.

    Parameters
    ----------
    read : callable(t0, t1) -> np.ndarray [shape=(F, t1 - t0)]
        Magnitudes of frames ``t0..t1`` (a long file's frames read on demand).
    n_frames : int
    seed_frame, seed_hz, samplerate, n_fft, span
        As for :func:`track_partial`.
    width_cents, falloff_db, present_db
        As for :func:`harmonic_mask` (harmonics selected only where they sound).
    **track
        More options of :func:`track_partial`.

    Returns
    -------
    tuple of (int, np.ndarray [shape=(n,)], np.ndarray [shape=(F, n)])
        The first frame, the fundamental per frame, and the selection.

    Raises
    ------
    ParameterError
        As :func:`track_partial` and :func:`harmonic_mask`.
    """
    frames = _Remembered(read)
    first, f0 = track_partial(frames, seed_frame, seed_hz, samplerate=samplerate, n_fft=n_fft,
                              n_frames=n_frames, span=span, **track)
    S = frames.span(first, first + f0.size)
    mask = harmonic_mask(f0, n_bins=n_fft // 2 + 1, samplerate=samplerate, n_fft=n_fft,
                         width_cents=width_cents, falloff_db=falloff_db, S=S,
                         present_db=present_db)
    return first, f0, mask


def harmonic_mask(f0, *, n_bins: int, samplerate: float, n_fft: int,
                  width_cents: float = 50.0, falloff_db: float = 0.0,
                  n_harmonics: int | None = None, main_lobe_bins: float = 2.0,
                  S: np.ndarray | None = None, present_db: float = 12.0) -> np.ndarray:
    """The selection of a tracked fundamental's harmonics, frame by frame.

    Parameters
    ----------
    f0 : np.ndarray [shape=(n,)]
        Fundamental in Hz per frame; NaN or 0 selects nothing in that frame.
    n_bins : int
    samplerate : float
    n_fft : int
    width_cents : float
        Width of each harmonic's band (centred on ``h * f0``).
    falloff_db : float
        The strength drops by this much per harmonic (0: every harmonic fully).
    n_harmonics : int, optional
        How many harmonics (default: all below Nyquist).
    main_lobe_bins : float
        The least half-width in bins (2 for a Hann window's main lobe), so that a low
        harmonic, narrower in cents than a bin, is still selected with its leakage.
    S : np.ndarray [shape=(n_bins, n)], optional
        The magnitudes of the tracked frames: with them a harmonic is selected only in the
        frames where it is there, its peak ``present_db`` above the floor between its
        neighbours (a voice's harmonics stop well below Nyquist; above them a band would
        select only what else sounds there).
    present_db : float
        See ``S``.

    Returns
    -------
    np.ndarray [shape=(n_bins, n)], float32 in [0, 1]

    Raises
    ------
    ParameterError
        A width, fall-off or count that cannot be used.
    """
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    width_cents = check_number(width_cents, "width_cents", lo=0.0)
    falloff_db = check_number(falloff_db, "falloff_db", lo=0.0)
    main_lobe_bins = check_number(main_lobe_bins, "main_lobe_bins", lo=0.0)
    if n_harmonics is not None and int(n_harmonics) < 1:
        raise ParameterError("n_harmonics must be at least 1")
    bin_hz = samplerate / n_fft
    out = np.zeros((int(n_bins), f0.size), np.float32)
    ok = np.isfinite(f0) & (f0 > 0)
    if not ok.any():
        return out
    cols = np.nonzero(ok)[0]
    step = (f0[cols] / bin_hz).astype(np.float32)             # harmonic spacing in bins
    top = np.floor((n_bins - 1 + main_lobe_bins) / step)      # the last that reaches a bin
    if n_harmonics is not None:
        top = np.minimum(top, int(n_harmonics))
    H = int(np.nanmax(top))
    present = None
    if S is not None:
        S = np.asarray(S)
        if S.shape != (int(n_bins), f0.size):
            raise ParameterError(f"the magnitudes must be [{int(n_bins)}, {f0.size}] like the "
                                 f"selection, not {S.shape}")
        present = _present(S[:, cols], H, step, present_db)
        sounding = np.nonzero(present.any(axis=1))[0]
        H = int(sounding[-1]) if sounding.size else 0
        if H == 0:
            return out
    ratio = np.float32(2.0 ** (width_cents / 2400.0) - 1.0)
    # only the rows the highest band reaches: a voice's harmonics stop far below Nyquist
    rows = min(int(n_bins), int(np.ceil((H + 1) * float(step.max()) * (1 + ratio)
                                        + main_lobe_bins)) + 1)
    bins = np.arange(rows, dtype=np.float32)[:, None]         # [rows, 1]
    nearest = np.rint(bins / step[None, :])                   # [rows, n]: the closest harmonic
    table = (10.0 ** (-falloff_db * np.arange(-1, H + 2) / 20.0)).astype(np.float32)
    table[0] = 0.0                                            # h = 0 is no harmonic
    keep = np.ones((H + 3, cols.size), bool) if present is None else np.zeros(
        (H + 3, cols.size), bool)
    if present is not None:
        keep[:min(H + 2, present.shape[0])] = present[:H + 2]
    keep[1:H + 1] &= np.arange(1, H + 1)[:, None] <= top[None, :]
    keep[0] = keep[H + 1:] = False
    colidx = np.arange(cols.size)[None, :]
    sel = np.zeros((rows, cols.size), np.float32)
    for shift in (-1.0, 0.0, 1.0):  # a neighbour's band may reach past the midpoint (low f0)
        h = np.clip(nearest + shift, 0, H + 2).astype(np.intp)
        centre = h * step[None, :]
        half = np.maximum(centre * ratio, main_lobe_bins)
        inside = (np.abs(bins - centre) <= half) & keep[h, colidx]
        np.maximum(sel, np.where(inside, table[h], 0.0), out=sel)
    out[:rows, cols] = sel
    return out


def _present(S: np.ndarray, top: int, step: np.ndarray, present_db: float) -> np.ndarray:
    """``[top + 2, n]``: whether harmonic ``h`` (row ``h``; rows 0 and ``top + 1`` are False)
    stands ``present_db`` above the floor between harmonics in at least 3 of the 5 frames
    around each frame.  The floor is the median level from 0.3 to 0.7 of the way to each
    neighbour, robust to noise, whose peaks stand only a few dB above its median.  Harmonics
    are looked at in groups of ``PRESENT_GROUP`` from the lowest; after a group where none
    sounds the rest are taken as silent (a voice's harmonics stop, they do not come back)."""
    F, n = S.shape
    top = max(top, 1)
    mag = np.abs(S).astype(np.float32, copy=False)
    ratio = np.float32(10.0 ** (present_db / 20.0))
    col = np.arange(n)[None, :, None]
    step = step.astype(np.float32)[None, :, None]
    near = np.arange(-2, 3, dtype=np.float32)[None, None, :]
    away = np.concatenate([-np.linspace(0.3, 0.7, 5), np.linspace(0.3, 0.7, 5)]
                          ).astype(np.float32)[None, None, :]

    def at(pos):  # reflected at Nyquist: the floor of the last harmonics is read below it
        pos = np.where(pos > F - 1, 2 * (F - 1) - pos, pos)
        return mag[np.clip(np.rint(pos), 0, F - 1).astype(np.intp), col]

    ok = np.zeros((top + 2, n), bool)
    for h0 in range(1, top + 1, PRESENT_GROUP):
        hs = np.arange(h0, min(h0 + PRESENT_GROUP, top + 1), dtype=np.float32)
        centre = hs[:, None, None] * step                                  # [h, n, 1]
        peak = at(centre + near).max(axis=-1)                              # [h, n]
        floor = np.median(at(centre + away * step), axis=-1)
        # a partial lasts: present in most of the 5 frames around (noise peaks come and go)
        votes = np.cumsum(np.pad((peak >= ratio * floor).astype(np.int32), ((0, 0), (3, 2)),
                                 mode="edge"), axis=1)
        got = (votes[:, 5:] - votes[:, :-5]) >= 3
        ok[h0:h0 + hs.size] = got
        if not got.any():
            break
    return ok
