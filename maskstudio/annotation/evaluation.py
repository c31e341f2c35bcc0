"""What a batch item's ``metrics.json`` and ``museval.json`` say, and the options it was made
with (``.done``), so that a resumed batch redoes an item whose options changed.

``metrics.json``, per source with a stem of its name::

    {"sdr", "isr", "sir", "sar"}   BSS Eval v4 as museval publishes it: the median of 1 s windows
    "si_sdr"                       SI-SDR, the mean of the channels' (silent ones left out)
    "si_sdr_channels"              SI-SDR of each channel
    "whole_signal"                 {"sdr", "isr", "sir", "sar", "si_sdr"}: one window over the
                                   whole signal (SI-SDR of the channels flattened)
    "definitions"                  these definitions, in words
    "collinear"                    (when so) the stem's channels are collinear: see
                                   :mod:`maskstudio.dsp.bsseval`

``museval.json`` holds the same BSS Eval frames in museval's own JSON form (its ``TrackStore``),
which museval's ``json2df``/``EvalStore``/``MethodStore`` read.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from maskstudio.dsp.bsseval import (
    V4_DEFINITION,
    WHOLE_DEFINITION,
    CollinearWarning,
    bss_eval_v4,
    museval_frames,
)
from maskstudio.dsp.metrics import si_sdr, si_sdr_channels

__all__ = ["item_metrics", "DEFINITIONS", "options_record", "finished_with"]

#: What each figure of ``metrics.json`` is, written beside them.
DEFINITIONS = {
    "sdr/isr/sir/sar": V4_DEFINITION,
    "si_sdr": "SI-SDR, mean over channels of each channel's (silent channels left out)",
    "si_sdr_channels": "SI-SDR of each channel on its own",
    "whole_signal": WHOLE_DEFINITION + "; its si_sdr flattens the channels into one signal",
}


def _number(v) -> float:
    return float(v)


def item_metrics(names, estimates, references: dict, *, samplerate: float,
                 track: str = "") -> tuple[dict, dict | None]:
    """``(metrics, museval_form)`` of every estimate that has a stem of its name.

    ``metrics`` is ``metrics.json``'s content (the module's docstring); ``museval_form`` the
    BSS Eval frames in museval's JSON form (None when no stem is loud enough to evaluate).
    BSS Eval takes the loud stems together (each one's interference is the others')."""
    pairs = [(n, e) for n, e in zip(names, estimates) if n in references]
    out: dict = {}
    for n, e in pairs:
        chans = si_sdr_channels(references[n], e)
        finite = chans[~np.isnan(chans)]
        out[n] = {"si_sdr": _number(np.mean(finite)) if finite.size else float("nan"),
                  "si_sdr_channels": [_number(c) for c in chans],
                  "whole_signal": {"si_sdr": _number(si_sdr(references[n], e))},
                  "definitions": DEFINITIONS}
    loud = [(n, e) for n, e in pairs if np.any(references[n])]
    if not loud:
        return out, None
    refs = np.stack([references[n] for n, _ in loud])
    ests = np.stack([e for _, e in loud])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollinearWarning)
        res = bss_eval_v4(refs, ests, samplerate=samplerate)
    for w in caught:  # said once, naming the stems rather than their positions
        if not issubclass(w.category, CollinearWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    med = res.median()
    for i, (n, _) in enumerate(loud):
        out[n].update({k: _number(med[k][i]) for k in ("sdr", "isr", "sir", "sar")})
        assert res.whole is not None
        out[n]["whole_signal"].update({k: _number(res.whole[k][i])
                                       for k in ("sdr", "isr", "sir", "sar")})
        if i in res.collinear:
            out[n]["collinear"] = True
    if res.collinear:
        which = ", ".join(f"'{loud[i][0]}'" for i in res.collinear)
        warnings.warn(f"{track + ': ' if track else ''}stem(s) {which} have collinear "
                      "(panned) channels: their ISR/SIR/SAR use least-squares filters, as "
                      "museval's, and are sensitive to rounding; SDR is not",
                      CollinearWarning, stacklevel=2)
    form = museval_frames(res, [n for n, _ in loud])
    return out, form


def options_record(*, mode, config, phase, n_iter, cutoff_hz, fmt) -> dict:
    """The options an item's outputs depend on, as JSON reads them back (tuples as lists):
    what ``.done`` keeps, and what a resumed batch compares."""
    grid = {"n_fft": config.n_fft, "hop_length": config.hop_length,
            "win_length": config.win_length, "window": config.window, "center": config.center}
    record = {"mode": list(mode), "stft": grid, "phase": phase, "n_iter": n_iter,
              "cutoff_hz": cutoff_hz, "format": fmt, "metrics": V4_DEFINITION}
    return json.loads(json.dumps(record))


def finished_with(done: Path, record: dict) -> str:
    """``"same"``, ``"changed"`` (made with other options, or with options not recorded) or
    ``"absent"`` (not finished): what the ``.done`` marker at ``done`` says."""
    try:
        text = Path(done).read_text(encoding="utf-8")
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "changed"  # unreadable: redo it rather than trust it
    try:
        kept = json.loads(text).get("options")
    except (ValueError, AttributeError):
        return "changed"
    return "same" if kept == record else "changed"
