"""Following a partial's fundamental over time, by harmonic summation on the spectrogram.

The user clicks a partial (or drags along one).  :func:`track_partial` finds the fundamental
the click belongs to and follows it frame by frame by *harmonic summation* (Klapuri 2006;
Hess 1983): a candidate f0 scores the mean compressed magnitude at its first harmonics, read
between bins by linear interpolation, and each frame searches only near the previous
frame's f0, so another source's louder pitch elsewhere does not capture the track.  A click
on the third harmonic follows its fundamental: of the candidates ``f_click / k`` the lowest
that scores within ``OCTAVE_TOLERANCE`` of the best is taken (candidates are judged on one
band, so a sub-octave's odd harmonics, falling between the partials, count against it).
Without a drag the track runs until the partial ends (its score drops under ``stop_ratio``
of the recent frames' for ``stop_frames`` frames) or ``max_frames`` are done.  Frames are
read a chunk at a time as the track goes: on an hour-long file a click costs what the note
costs.  :mod:`maskstudio.dsp.harmonics` turns a track into a selection.
"""

from __future__ import annotations

import numpy as np

from maskstudio.checks import check_number
from maskstudio.errors import ParameterError

__all__ = ["track_partial", "salience", "OCTAVE_TOLERANCE", "RECENT_FRAMES", "CHUNK"]


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


#: the lowest seed candidate scoring at least this share of the best is the fundamental
OCTAVE_TOLERANCE = 0.8
#: the tracked frames whose median score a frame is compared with to find the note's end
RECENT_FRAMES = 8
#: frames read and scored at a time while tracking
CHUNK = 48
#: candidates each side of the fundamental reached, per chunk, in steps (600 cents at 5)
OCTAVE_CHUNK = 120
_COMPRESS = 1.0 / 3.0  # magnitude ** (1/3): loud low partials do not outvote the rest


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


def _grid_scores(C: np.ndarray, grid: np.ndarray, *, bin_hz: float,
                 n_harmonics: int) -> np.ndarray:
    """``[n, K]``: :func:`salience` of every candidate of ``grid`` in every frame of ``C``."""
    n_bins = C.shape[0]
    pos = np.arange(1, n_harmonics + 1)[None, :] * (grid[:, None] / bin_hz)   # [K, H]
    inside = pos < n_bins - 1
    pos = np.where(inside, pos, 0.0)
    lo = pos.astype(np.intp)
    frac = (pos - lo).astype(np.float32)[..., None]
    vals = C[lo] * (1 - frac) + C[lo + 1] * frac                              # [K, H, n]
    return (vals * inside[..., None]).sum(axis=1).T / n_harmonics


def track_partial(S, seed_frame: int, seed_hz: float, *, samplerate: float, n_fft: int,
                  n_frames: int | None = None, span: tuple[int, int] | None = None,
                  fmin: float = 40.0, fmax: float = 2000.0, n_harmonics: int = 8,
                  search_cents: float = 80.0, step_cents: float = 5.0,
                  stop_ratio: float = 0.6, stop_frames: int = 3,
                  max_frames: int = 2000) -> tuple[int, np.ndarray]:
    """Follow the fundamental of the partial clicked at ``(seed_frame, seed_hz)``.

    Parameters
    ----------
    S : np.ndarray [shape=(F, T)] or callable(t0, t1) -> np.ndarray [shape=(F, t1 - t0)]
        Magnitude spectrogram (complex is taken as its magnitude), or a function giving its
        frames ``t0..t1`` (with ``n_frames``), so that only the frames the note spans are
        read: a selection on an hour-long file costs what the note costs.
    seed_frame : int
        The clicked frame.
    seed_hz : float
        The clicked frequency: a partial of the sound (its fundamental or a harmonic).
    samplerate : float
    n_fft : int
        ``F == n_fft // 2 + 1``.
    n_frames : int, optional
        The number of frames, needed when ``S`` is a function.
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
    if callable(S):
        if n_frames is None or int(n_frames) < 1:
            raise ParameterError("n_frames is needed when the frames come from a function")
        T = int(n_frames)

        def read(t0: int, t1: int) -> np.ndarray:
            got = _check_spectrogram(S(t0, t1))
            if got.shape != (n_fft // 2 + 1, t1 - t0):
                raise ParameterError(f"the frames {t0}..{t1} came as {got.shape}, not "
                                     f"{(n_fft // 2 + 1, t1 - t0)}")
            return got
    else:
        whole = _check_spectrogram(S)
        T = whole.shape[1]
        if n_fft // 2 + 1 != whole.shape[0]:
            raise ParameterError(f"the spectrogram has {whole.shape[0]} bins, n_fft {n_fft} "
                                 f"gives {n_fft // 2 + 1}")

        def read(t0: int, t1: int) -> np.ndarray:
            return whole[:, t0:t1]
    samplerate = check_number(samplerate, "samplerate", lo=1.0)
    fmin = check_number(fmin, "fmin", lo=1.0)
    fmax = check_number(fmax, "fmax", lo=fmin)
    seed_frame = int(seed_frame)
    if not 0 <= seed_frame < T:
        raise ParameterError(f"the seed frame {seed_frame} is outside the {T} frames given")
    if not 0 < float(seed_hz) < samplerate / 2:
        raise ParameterError(f"the seed frequency {seed_hz} Hz is not between 0 and Nyquist")
    a, b = 0, T
    if span is not None:
        a, b = int(span[0]), int(span[1])
        if not 0 <= a <= seed_frame < b <= T:
            raise ParameterError(f"the span {span} must hold the seed frame {seed_frame} "
                                 f"and lie within the {T} frames")
    bin_hz = samplerate / n_fft
    kw = dict(bin_hz=bin_hz, n_harmonics=n_harmonics, fmin=fmin, fmax=fmax)

    # the fundamental of the clicked partial: f / k, refined, lowest of the near-best
    seed_hz = float(seed_hz)
    cands = [seed_hz / k for k in range(1, 13) if fmin <= seed_hz / k <= fmax]
    if not cands:
        raise ParameterError(f"no fundamental between {fmin:g} and {fmax:g} Hz has a partial "
                             f"at {seed_hz:.0f} Hz")
    col = read(seed_frame, seed_frame + 1)[:, 0] ** _COMPRESS
    ceiling = n_harmonics * max(cands)  # every candidate judged on the same band
    refined = [_best_near(col, f, search_cents=40.0, step_cents=step_cents, ceiling_hz=ceiling,
                          **kw) for f in cands]
    best = max(sc for _, sc in refined)
    if best <= 0:
        raise ParameterError("there is no partial at the clicked point: click on a line of "
                             "the spectrogram")
    f_seed, s_seed = next((f, sc) for f, sc in sorted(refined) if sc >= OCTAVE_TOLERANCE * best)
    reach = int(np.ceil(search_cents / step_cents))
    offsets = np.arange(-OCTAVE_CHUNK, OCTAVE_CHUNK + 1) * step_cents

    def walk(step: int) -> list[float]:
        """Frame by frame away from the seed, a chunk of frames read and scored at a time on
        a grid of candidates centred on the fundamental reached."""
        out: list[float] = []
        recent = [s_seed]  # the scores of the last accepted frames: a fade is a sharp drop
        f, quiet = f_seed, 0
        t = seed_frame + step
        limit = b if step > 0 else a - 1
        if span is None:
            limit = (min(T, t + max_frames) if step > 0 else max(-1, t - max_frames))
        while t != limit:
            t1 = min(t + CHUNK, limit) if step > 0 else max(t - CHUNK, limit)
            lo_t, hi_t = (t, t1) if step > 0 else (t1 + 1, t + 1)
            C = read(lo_t, hi_t) ** _COMPRESS
            grid = f * 2.0 ** (offsets / 1200.0)
            usable = (grid >= fmin) & (grid <= fmax)
            scores = np.where(usable[None, :], _grid_scores(C, grid, bin_hz=bin_hz,
                                                            n_harmonics=n_harmonics), -np.inf)
            k = OCTAVE_CHUNK
            for j in (range(scores.shape[0]) if step > 0 else range(scores.shape[0] - 1, -1, -1)):
                lo_k, hi_k = max(0, k - reach), min(grid.size, k + reach + 1)
                k = lo_k + int(np.argmax(scores[j, lo_k:hi_k]))
                sc = float(scores[j, k])
                f = float(grid[k])
                if 0 < k < grid.size - 1 and np.isfinite(scores[j, k - 1:k + 2]).all():
                    p, q, r = scores[j, k - 1], sc, scores[j, k + 1]
                    den = p - 2 * q + r
                    if den < 0:  # parabolic refinement between candidates
                        f *= 2.0 ** (0.5 * (p - r) / den * step_cents / 1200.0)
                out.append(f)
                if span is None:
                    ranked = sorted(recent)  # a few numbers: faster than np.median
                    if sc < stop_ratio * 0.5 * (ranked[(len(ranked) - 1) // 2]
                                                + ranked[len(ranked) // 2]):
                        quiet += 1
                        if quiet >= stop_frames:
                            del out[-quiet:]
                            return out
                    else:
                        quiet = 0
                        recent = (recent + [sc])[-RECENT_FRAMES:]
            t = t1
        return out

    back, ahead = walk(-1), walk(+1)
    f0 = np.array(back[::-1] + [f_seed] + ahead, dtype=np.float64)
    return seed_frame - len(back), f0
