"""How good the masks being edited are, when the stems are known; the oracle's figures beside.

A :class:`MaskScorer` holds a mixture, its reference stems and an STFT grid.  It computes, once,
the oracle masks of the stems and the oracle's scores; then, for the current masks, each
source's SI-SDR and the mask's IoU/F1 against the oracle (fast: one inverse STFT per source),
and BSS Eval's SDR/SIR/SAR (slow: a few seconds a minute of audio).  The editor calls
:meth:`MaskScorer.score` on a worker thread after each edit, from a snapshot of the masks;
``progress`` may raise :class:`~maskstudio.errors.Cancelled` when a newer edit arrives.

Layers are matched to stems by name, or by label when no layer has the stem's name
(:func:`match_layers`).  BSS Eval's SIR counts the interference of the matched sources only.
"""

from __future__ import annotations

import numpy as np

from maskstudio.dsp.blockwise import FrameReader, render_stream
from maskstudio.dsp.metrics import bss_eval, mask_f1, mask_iou, si_sdr_channels
from maskstudio.dsp.oracle import MASK_KINDS, oracle_from_stfts, oracle_masks
from maskstudio.dsp.phase import resynthesize
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.tiles import LEVELS, TiledMasks, quantize
from maskstudio.errors import ParameterError

__all__ = ["MaskScorer", "match_layers", "SCORE_KEYS", "stream_scores", "channel_si_sdr"]

#: What :meth:`MaskScorer.score` reports per source (BSS Eval's three only with ``bss``).
SCORE_KEYS = ("si_sdr", "sdr", "sir", "sar", "iou", "f1")
_KEEP = 2  #: masks remembered per stem with their BSS Eval (the oracle's, the last edit's)


def match_layers(layers, stems) -> dict:
    """``{stem: layer index}``: the layer named like the stem, else the first labelled so.

    ``layers`` are objects with ``name`` and ``label`` (the document's layers)."""
    out = {}
    for stem in stems:
        by_name = [i for i, la in enumerate(layers) if la.name == stem]
        by_label = [i for i, la in enumerate(layers) if getattr(la, "label", "") == stem]
        if by_name or by_label:
            out[stem] = (by_name or by_label)[0]
    return out


def channel_si_sdr(reference: np.ndarray, estimate: np.ndarray) -> dict:
    """``{"si_sdr": mean over channels, "si_sdr_channels": [one per channel]}`` in dB: each
    channel scored on its own (a loud channel does not outweigh a quiet one), the mean taken
    over the channels that are not silent (NaN if all are)."""
    per = si_sdr_channels(reference, estimate)
    return {"si_sdr": _mean_db(per), "si_sdr_channels": [float(v) for v in per]}


def _mean_db(values) -> float:
    """The mean of the channels' figures, silent channels (NaN) left out, as metrics.json's
    ``si_sdr`` is."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan")
    with np.errstate(invalid="ignore"):  # +inf and -inf together: NaN, undecided
        return float(values.mean())


class MaskScorer:
    """Scores of masks against reference stems, and of the stems' oracle masks.

    Parameters
    ----------
    mixture : np.ndarray [shape=(C, n)]
    references : dict of str to np.ndarray [shape=(C, n)]
        The stems, conformed to the mixture (:func:`maskstudio.io.audiofile.conform_reference`).
    config : STFTConfig
        The grid of the masks.
    oracle_kind : {'ibm', 'irm', 'wiener', 'psm'}
        The oracle masks compare with.
    per_channel : bool
        Whether the masks have one plane per channel ``[C, F, T]``.
    """

    def __init__(self, mixture: np.ndarray, references: dict, config: STFTConfig, *,
                 oracle_kind: str = "irm", per_channel: bool = False):
        mixture = np.asarray(mixture, dtype=np.float32)
        if mixture.ndim != 2:
            raise ParameterError(f"mixture must be [channels, samples], not {mixture.shape}")
        if not references:
            raise ParameterError("scoring needs at least one stem")
        kind = str(oracle_kind).lower()
        if kind not in MASK_KINDS or kind == "cirm":
            raise ParameterError(f"unknown oracle {oracle_kind!r}: choose ibm, irm, wiener or psm")
        for name, ref in references.items():
            if np.shape(ref) != mixture.shape:
                raise ParameterError(f"stem '{name}' is {np.shape(ref)}, the mixture "
                                     f"{mixture.shape}: conform it first")
        self.mixture = mixture
        self.references = {n: np.asarray(r, dtype=np.float32) for n, r in references.items()}
        self.names = list(self.references)
        self.config = config
        self.oracle_kind = kind
        self.per_channel = bool(per_channel)
        self._oracle: np.ndarray | None = None
        self._oracle_scores: dict[bool, dict] = {}  #: by whether BSS Eval is included
        #: {stems: {stem: [(mask, its BSS Eval), ...]}}, newest first
        self._seen: dict[tuple, dict[str, list]] = {}
        self._ref_side: dict[tuple, dict] = {}  #: {stems: bss_eval's cache of the references}
        #: (masks, key, data, estimates, scores) of the last call
        self._last: tuple | None = None

    # -- the oracle -------------------------------------------------------------------------
    def oracle_masks(self, progress=None) -> np.ndarray:
        """The oracle masks of the stems ``[J, (C,) F, T]``, in :attr:`names` order, as the
        window stores an oracle's layers (summing to one at most, in compact tiles' codes:
        :func:`~maskstudio.editing.tiles.quantize`), so an untouched oracle layer scores and
        compares exactly as the oracle."""
        if self._oracle is None:
            m = oracle_masks(self.mixture, list(self.references.values()), self.config,
                             self.oracle_kind, per_channel=self.per_channel, progress=progress)
            m = np.clip(m, 0.0, 1.0)
            m /= np.maximum(m.sum(axis=0), np.float32(1.0))
            self._oracle = LEVELS[quantize(m)]
        return self._oracle

    def oracle_store(self) -> TiledMasks:
        """The oracle masks as tiles (channels averaged), for the difference view."""
        om = self.oracle_masks()
        store = TiledMasks(om.shape[-2], om.shape[-1])
        for m in om:
            store.add_layer(m.mean(axis=0) if m.ndim == 3 else m)
        return store

    @property
    def has_oracle_bss(self) -> bool:
        """Whether the oracle's BSS Eval is known (the slow part, computed once)."""
        return True in self._oracle_scores

    def oracle_scores(self, *, bss: bool = True, progress=None) -> dict:
        """The oracle's scores (cached): what the best mask of this kind reaches."""
        key = bool(bss)
        if key not in self._oracle_scores:
            om = self.oracle_masks()
            self._oracle_scores[key] = self.score(dict(zip(self.names, om)), bss=bss,
                                                  progress=progress, _vs_oracle=False)
        return self._oracle_scores[key]

    # -- scoring ----------------------------------------------------------------------------
    def score(self, masks: dict, *, bss: bool = True, progress=None, _vs_oracle: bool = True
              ) -> dict:
        """Scores of ``masks {stem: mask [(C,) F, T]}`` (stems without a mask are left out).

        Returns ``{stem: {"si_sdr", "si_sdr_channels", "iou", "f1"[, "sdr", "sir", "sar"]}}``
        in dB and [0, 1]: SI-SDR per channel and their mean (:func:`channel_si_sdr`); BSS
        Eval's figures (images, one window over the whole signal: fast enough to follow
        edits; ``maskstudio batch`` writes museval's medians of 1 s windows) only with
        ``bss`` (and NaN for a silent stem).  Called again with
        the very same ``masks`` dict (the editor's BSS Eval stage after its fast one), the
        estimates and fast scores of the last call are reused: pass a new dict for new masks.
        """
        names = [n for n in self.names if n in masks]
        unknown = set(masks) - set(self.names)
        if unknown:
            raise ParameterError(f"no stem for {', '.join(sorted(unknown))}")
        if not names:
            return {}
        steps = len(names) + (len(names) if bss else 0)
        done = len(names)
        last = self._last
        if last is not None and last[0] is masks and last[1] == (names, _vs_oracle):
            data, estimates = last[2], last[3]  # the editor's next stage on the same snapshot
            out = {n: dict(v) for n, v in last[4].items()}
        else:
            data = np.stack([np.asarray(masks[n], dtype=np.float32) for n in names])
            expect = ((self.mixture.shape[0],) if self.per_channel else ()) + (
                self.config.n_bins, self.config.n_frames(self.mixture.shape[-1]))
            if data.shape[1:] != expect:
                raise ParameterError(f"masks are {data.shape[1:]}, the grid is {expect}")
            estimates, out = self._fast(names, data, _vs_oracle, progress, steps)
            self._last = (masks, (names, _vs_oracle), data, estimates,
                          {n: dict(v) for n, v in out.items()})
        if bss:
            self._bss(names, data, estimates, out, lambda: progress and progress(done, steps))
            for _j, n in enumerate(names):
                for key in ("sdr", "sir", "sar"):
                    out[n].setdefault(key, float("nan"))
            if progress is not None:
                progress(steps, steps)
        return out

    def _fast(self, names, data, vs_oracle, progress, steps):
        """The estimates by the mixture's phase, their SI-SDR, and IoU/F1 against the oracle."""
        estimates = resynthesize(self.mixture, data, self.config, phase="mixture",
                                 include_residual=False)
        out = {}
        oracle = self.oracle_masks() if vs_oracle else None
        for j, n in enumerate(names):
            s = channel_si_sdr(self.references[n], estimates[j])
            if oracle is not None:
                ref_mask = oracle[self.names.index(n)]
                s["iou"] = float(mask_iou(data[j], ref_mask))
                s["f1"] = float(mask_f1(data[j], ref_mask))
            out[n] = s
            if progress is not None:
                progress(j + 1, steps)
        return estimates, out

    def _bss(self, names, masks, estimates, out, check) -> None:
        """BSS Eval of the loud stems' estimates into ``out``.  A source's figures depend on
        its own estimate and the references only, so a mask seen before (unchanged since the
        last edit, or still the oracle's) is not evaluated again, and the references' part is
        computed once per set of stems."""
        loud = [j for j, n in enumerate(names) if np.any(self.references[n])]
        if not loud:
            return
        subset = tuple(names[j] for j in loud)
        seen = self._seen.setdefault(subset, {})
        todo = []
        for k, j in enumerate(loud):
            hit = next((r for m, r in seen.get(names[j], []) if np.array_equal(m, masks[j])),
                       None)
            if hit is not None:
                out[names[j]].update(hit)
            else:
                todo.append(k)
        if todo:
            refs = np.stack([self.references[n] for n in subset])
            res = bss_eval(refs, estimates[loud], only=todo,
                           cache=self._ref_side.setdefault(subset, {}),
                           progress=lambda d, t: check())
            for k in todo:
                j = loud[k]
                r = {"sdr": float(res.sdr[k, 0]), "sir": float(res.sir[k, 0]),
                     "sar": float(res.sar[k, 0])}
                out[names[j]].update(r)
                kept = seen.setdefault(names[j], [])
                kept.insert(0, (masks[j].copy(), r))
                del kept[_KEEP:]


def stream_scores(mixture, references: dict, masks, config: STFTConfig, *,
                  oracle_kind: str = "irm", per_channel: bool = False, progress=None) -> dict:
    """SI-SDR and IoU/F1 of a long file's masks, block by block: nothing is held whole.

    ``mixture`` and ``references {stem: reader}`` are read on demand; ``masks(t0, t1)`` gives
    the stems' masks ``[J, (C,) F, t1 - t0]`` (in ``references``' order), read from the tiles
    as the blocks are rendered with the mixture's phase.  SI-SDR is formed from running sums
    (the same figure :func:`~maskstudio.dsp.metrics.si_sdr` gives on whole signals); IoU/F1
    compare with the oracle of ``oracle_kind`` as the window stores it, block by block.  BSS
    Eval needs whole signals: it is left out.  Returns ``{stem: {"si_sdr", "si_sdr_channels",
    "iou", "f1"}}``: SI-SDR per channel and their mean (:func:`channel_si_sdr`).
    """
    names = list(references)
    J = len(names)
    mix = FrameReader(mixture, config)
    refs = [FrameReader(references[n], config) for n in names]
    C = mixture.n_channels
    sums = np.zeros((J, C, 6))  # per channel: sum s, sum e, sum s^2, sum e^2, sum s e, count
    bins = np.zeros((J, 3))  # |A & B|, |A|, |B|
    pos = 0

    def blocks(t0: int, t1: int) -> np.ndarray:
        m = np.asarray(masks(t0, t1), dtype=np.float32)
        o = oracle_from_stfts(mix.frames(t0, t1), [r.frames(t0, t1) for r in refs],
                              oracle_kind, per_channel=per_channel)
        o = np.clip(o, 0.0, 1.0)
        o = LEVELS[quantize(o / np.maximum(o.sum(axis=0), np.float32(1.0)))]
        a = m > 0.5
        b = o > 0.5
        bins[:, 0] += np.count_nonzero(a & b, axis=tuple(range(1, a.ndim)))
        bins[:, 1] += np.count_nonzero(a, axis=tuple(range(1, a.ndim)))
        bins[:, 2] += np.count_nonzero(b, axis=tuple(range(1, b.ndim)))
        return m

    for block in render_stream(mix, blocks, J, config, phase="mixture", include_residual=False,
                               chunk_frames=128, progress=progress):  # 128: little at a time
        k = block.shape[-1]
        for j, name in enumerate(names):
            s = references[name].read(pos, pos + k).astype(np.float64)
            e = block[j].astype(np.float64)
            sums[j] += np.stack([s.sum(1), e.sum(1), (s * s).sum(1), (e * e).sum(1),
                                 (s * e).sum(1), np.full(C, s.shape[1])], axis=1)
        pos += k
    out = {}
    for j, name in enumerate(names):
        per = [_si_sdr_from_sums(*sums[j, c]) for c in range(C)]
        inter, na, nb = bins[j]
        union = na + nb - inter
        out[name] = {"si_sdr": _mean_db(per), "si_sdr_channels": per,
                     "iou": 1.0 if union == 0 else float(inter / union),
                     "f1": 1.0 if na + nb == 0 else float(2 * inter / (na + nb))}
    return out


def _si_sdr_from_sums(ts, te, ss, ee, se, n) -> float:
    """One channel's SI-SDR from its running sums (zero-mean, as :func:`si_sdr`)."""
    ss, ee, se = ss - ts * ts / n, ee - te * te / n, se - ts * te / n
    if ss <= 0:
        return float("nan")
    tt = se * se / ss  # |a s|^2 with a = <e, s> / <s, s>
    nn = max(ee - tt, 0.0)  # |a s - e|^2
    return float("inf") if nn == 0 else float("-inf") if tt == 0 else \
        float(10 * np.log10(tt / nn))
