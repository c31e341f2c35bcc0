"""Harmonic selection: follow a clicked partial's fundamental over time and select its harmonics.

The user clicks a partial (or drags along one) in the spectrogram.  :func:`track_partial`
finds the fundamental the click belongs to and follows it frame by frame by *harmonic
summation* on the magnitude spectrogram (Klapuri 2006; Hess 1983): a candidate f0 scores the
mean compressed magnitude at its first harmonics, read between bins by linear interpolation,
and each frame searches only near the previous frame's f0, so another source's louder pitch
elsewhere does not capture the track.  A click on the third harmonic selects the series from
its fundamental: of the candidates ``f_click / k`` the lowest that scores within
``OCTAVE_TOLERANCE`` of the best is taken (a sub-octave scores about half: its odd harmonics
fall between the partials; candidates are judged on one band, so its harmonics count too).
Without a drag the track runs until the partial ends (its score drops under ``stop_ratio``
of the recent frames' for ``stop_frames`` frames) or ``max_frames`` are done.

:func:`harmonic_mask` turns the track into a selection: for each harmonic ``h`` the bins
within ``width_cents`` around ``h * f0`` (and never fewer than the window's main lobe, which
holds a steady partial's energy), with a strength falling by ``falloff_db`` per harmonic.
``1 - harmonic_mask`` over the tracked frames is the "non-harmonic" selection.

Everything works on a span of frames, never the whole file: a selection on an hour-long file
costs what the selected note costs.
"""

from __future__ import annotations

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = ["track_partial", "harmonic_mask", "salience", "OCTAVE_TOLERANCE", "RECENT_FRAMES"]

#: the lowest seed candidate scoring at least this share of the best is the fundamental
OCTAVE_TOLERANCE = 0.8
#: the tracked frames whose median score a frame is compared with to find the note's end
RECENT_FRAMES = 8
_COMPRESS = 1.0 / 3.0  # magnitude ** (1/3): loud low partials do not outvote the rest


def _check_spectrogram(S) -> np.ndarray:
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] < 2 or S.shape[1] < 1:
        raise ParameterError(f"a magnitude spectrogram [bins, frames] is needed, got shape "
                             f"{S.shape}")
    if np.iscomplexobj(S):
        S = np.abs(S)
    S = S.astype(np.float32, copy=False)
    if not np.isfinite(S).all():
        raise ParameterError("the spectrogram holds NaN or infinite values")
    return S


def salience(frame: np.ndarray, f0: np.ndarray, *, bin_hz: float, n_harmonics: int = 8,
             ceiling_hz: float | None = None) -> np.ndarray:
    """Harmonic-sum score of candidate fundamentals in one compressed magnitude frame.

    Parameters
    ----------
    frame : np.ndarray [shape=(F,)]
        Compressed magnitudes of one frame.
    f0 : np.ndarray [shape=(K,)]
        Candidate fundamentals in Hz.
    bin_hz : float
        The spacing of the bins in Hz (``samplerate / n_fft``).
    n_harmonics : int
        Harmonics summed (those above the last bin count as silent).
    ceiling_hz : float, optional
        Instead: every harmonic up to this frequency, so that candidates an octave apart are
        judged on the same band (a sub-octave's odd harmonics, between the partials, count).

    Returns
    -------
    np.ndarray [shape=(K,)]
        The mean magnitude at the harmonics, read between bins linearly.
    """
    n_bins = frame.shape[0]
    f0 = np.asarray(f0, dtype=np.float64)
    if ceiling_hz is None:
        count = np.full(f0.shape, n_harmonics)
    else:
        count = np.maximum(np.floor(ceiling_hz / f0), 1).astype(np.intp)
    h = np.arange(1, int(count.max()) + 1)[None, :]
    pos = h * (f0[:, None] / bin_hz)
    inside = (pos < n_bins - 1) & (h <= count[:, None])
    pos = np.where(inside, pos, 0.0)
    lo = pos.astype(np.intp)
    frac = pos - lo
    vals = frame[lo] * (1 - frac) + frame[lo + 1] * frac
    return (vals * inside).sum(axis=1) / count


def _best_near(frame, f_prev, *, bin_hz, search_cents, step_cents, n_harmonics, fmin, fmax,
               ceiling_hz=None):
    cents = np.arange(-search_cents, search_cents + step_cents / 2, step_cents)
    cand = f_prev * 2.0 ** (cents / 1200.0)
    cand = cand[(cand >= fmin) & (cand <= fmax)]
    if cand.size == 0:
        return f_prev, 0.0
    sc = salience(frame, cand, bin_hz=bin_hz, n_harmonics=n_harmonics, ceiling_hz=ceiling_hz)
    i = int(np.argmax(sc))
    f = cand[i]
    if 0 < i < cand.size - 1:  # parabolic refinement on the cents grid
        a, b, c = sc[i - 1], sc[i], sc[i + 1]
        den = a - 2 * b + c
        if den < 0:
            f = f * 2.0 ** (0.5 * (a - c) / den * step_cents / 1200.0)
    return float(f), float(sc[i])


def track_partial(S, seed_frame: int, seed_hz: float, *, samplerate: float, n_fft: int,
                  span: tuple[int, int] | None = None, fmin: float = 40.0,
                  fmax: float = 2000.0, n_harmonics: int = 8, search_cents: float = 80.0,
                  step_cents: float = 5.0, stop_ratio: float = 0.6, stop_frames: int = 3,
                  max_frames: int = 2000) -> tuple[int, np.ndarray]:
    """Follow the fundamental of the partial clicked at ``(seed_frame, seed_hz)``.

    Parameters
    ----------
    S : np.ndarray [shape=(F, T)]
        Magnitude spectrogram of a span of frames (complex is taken as its magnitude).
    seed_frame : int
        The clicked frame, an index into ``S``.
    seed_hz : float
        The clicked frequency: a partial of the sound (its fundamental or a harmonic).
    samplerate : float
    n_fft : int
        ``F == n_fft // 2 + 1``.
    span : (int, int), optional
        Frames ``[a, b)`` to track over whatever the score (a drag); None tracks from the
        seed both ways until the partial fades.
    fmin, fmax : float
        The range of fundamentals considered, in Hz.
    n_harmonics : int
        Harmonics in the score.
    search_cents : float
        How far the fundamental may move from one frame to the next (80 cents follows a
        vibrato of +-1 semitone at 7 Hz with a hop of 12 ms).
    step_cents : float
        The candidates' spacing (refined between candidates).
    stop_ratio, stop_frames : float, int
        Without ``span``: stop after ``stop_frames`` frames scoring under ``stop_ratio`` of
        the median of the last ``RECENT_FRAMES`` tracked ones (those frames are not part of
        the track): a note's end is a sharp drop, its slow decay is followed.
    max_frames : int
        Without ``span``: the longest track each way.

    Returns
    -------
    tuple of (int, np.ndarray [shape=(n,)])
        The first tracked frame, and the fundamental in Hz of each tracked frame.

    Raises
    ------
    ParameterError
        A spectrogram or an option that cannot be used.
    """
    S = _check_spectrogram(S)
    F, T = S.shape
    if n_fft // 2 + 1 != F:
        raise ParameterError(f"the spectrogram has {F} bins, n_fft {n_fft} gives "
                             f"{n_fft // 2 + 1}")
    samplerate = check_number(samplerate, "samplerate", lo=1.0)
    fmin = check_number(fmin, "fmin", lo=1.0)
    fmax = check_number(fmax, "fmax", lo=fmin)
    if not 0 <= int(seed_frame) < T:
        raise ParameterError(f"the seed frame {seed_frame} is outside the {T} frames given")
    if not 0 < float(seed_hz) < samplerate / 2:
        raise ParameterError(f"the seed frequency {seed_hz} Hz is not between 0 and Nyquist")
    if span is not None:
        a, b = int(span[0]), int(span[1])
        if not 0 <= a <= int(seed_frame) < b <= T:
            raise ParameterError(f"the span {span} must hold the seed frame {seed_frame} "
                                 f"and lie within the {T} frames")
    bin_hz = samplerate / n_fft
    C = S ** _COMPRESS
    kw = dict(bin_hz=bin_hz, n_harmonics=n_harmonics, fmin=fmin, fmax=fmax)

    # the fundamental of the clicked partial: f / k, refined, lowest of the near-best
    seed_hz = float(seed_hz)
    cands = [seed_hz / k for k in range(1, 13) if fmin <= seed_hz / k <= fmax]
    if not cands:
        raise ParameterError(f"no fundamental between {fmin:g} and {fmax:g} Hz has a partial "
                             f"at {seed_hz:.0f} Hz")
    col = C[:, int(seed_frame)]
    ceiling = n_harmonics * max(cands)  # every candidate judged on the same band
    refined = [_best_near(col, f, search_cents=40.0, step_cents=step_cents, ceiling_hz=ceiling,
                          **kw) for f in cands]
    best = max(s for _, s in refined)
    if best <= 0:
        raise ParameterError("there is no partial at the clicked point: click on a line of "
                             "the spectrogram")
    f_seed, s_seed = next((f, s) for f, s in sorted(refined) if s >= OCTAVE_TOLERANCE * best)

    def walk(step: int) -> list[float]:
        out: list[float] = []
        recent = [s_seed]  # the scores of the last accepted frames: a fade is a sharp drop
        f, quiet = f_seed, 0
        t = int(seed_frame) + step
        stop = (b if step > 0 else a - 1) if span is not None else None
        while 0 <= t < T and t != stop and (span is not None or len(out) < max_frames):
            f, s = _best_near(C[:, t], f, search_cents=search_cents, step_cents=step_cents,
                              **kw)
            out.append(f)
            if span is None:
                if s < stop_ratio * float(np.median(recent)):
                    quiet += 1
                    if quiet >= stop_frames:
                        del out[-quiet:]
                        break
                else:
                    quiet = 0
                    recent = (recent + [s])[-RECENT_FRAMES:]
            t += step
        return out

    back, ahead = walk(-1), walk(+1)
    f0 = np.array(back[::-1] + [f_seed] + ahead, dtype=np.float64)
    return int(seed_frame) - len(back), f0


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
    step = f0[cols] / bin_hz                                  # harmonic spacing in bins
    bins = np.arange(int(n_bins), dtype=np.float64)[:, None]  # [F, 1]
    nearest = np.rint(bins / step[None, :])                   # [F, n]: the closest harmonics
    top = np.floor((n_bins - 1 + main_lobe_bins) / step)      # the last that reaches a bin
    if n_harmonics is not None:
        top = np.minimum(top, int(n_harmonics))
    ratio = 2.0 ** (width_cents / 2400.0) - 1.0
    sel = np.zeros((int(n_bins), cols.size), np.float32)
    present = None
    if S is not None:
        S = np.asarray(S)
        if S.shape != (int(n_bins), f0.size):
            raise ParameterError(f"the magnitudes must be [{int(n_bins)}, {f0.size}] like the "
                                 f"selection, not {S.shape}")
        present = _present(S[:, cols], int(np.nanmax(top)), step, present_db)
    colidx = np.arange(cols.size)[None, :]
    for shift in (-1.0, 0.0, 1.0):  # a neighbour's band may reach past the midpoint (low f0)
        h = nearest + shift
        centre = h * step[None, :]
        half = np.maximum(centre * ratio, main_lobe_bins)
        inside = (h >= 1) & (h <= top[None, :]) & (np.abs(bins - centre) <= half)
        strength = 10.0 ** (-falloff_db * (h - 1) / 20.0)
        if present is not None:
            inside &= present[np.clip(h, 0, present.shape[0] - 1).astype(np.intp), colidx]
        np.maximum(sel, np.where(inside, strength, 0.0).astype(np.float32), out=sel)
    out[:, cols] = sel
    return out


def _present(S: np.ndarray, top: int, step: np.ndarray, present_db: float) -> np.ndarray:
    """``[top + 2, n]``: whether harmonic ``h`` (row ``h``; rows 0 and ``top + 1`` are False)
    stands ``present_db`` above the floor between harmonics in at least 3 of the 5 frames
    around each frame.  The floor is the median level from 0.3 to 0.7 of the way to each
    neighbour, robust to noise, whose peaks stand only a few dB above its median."""
    F, n = S.shape
    top = max(top, 1)
    db = 20 * np.log10(np.abs(S) + 1e-9)
    centre = np.arange(1, top + 1, dtype=np.float64)[:, None, None] * step[None, :, None]
    col = np.arange(n)[None, :, None]

    def at(pos):  # reflected at Nyquist: the floor of the last harmonics is read below it
        pos = np.where(pos > F - 1, 2 * (F - 1) - pos, pos)
        return db[np.clip(np.rint(pos), 0, F - 1).astype(np.intp), col]

    peak = at(centre + np.arange(-2, 3)[None, None, :]).max(axis=-1)   # [H, n]
    away = np.concatenate([-np.linspace(0.3, 0.7, 5), np.linspace(0.3, 0.7, 5)])
    floor = np.median(at(centre + away[None, None, :] * step[None, :, None]), axis=-1)
    ok = np.zeros((top + 2, n), bool)
    # a partial lasts: present in most of the 5 frames around (noise peaks come and go)
    votes = np.cumsum(np.pad((peak - floor >= present_db).astype(np.int32), ((0, 0), (3, 2)),
                             mode="edge"), axis=1)
    ok[1:top + 1] = (votes[:, 5:] - votes[:, :-5]) >= 3
    return ok
