"""Batch processing of a dataset, headless and in parallel; and exporting an annotated dataset.

Every item is processed on its own (in a worker process when ``jobs > 1``): masks from the
oracle, a separator, or a folder of mask files; the sources, the residual and ``masks.npz``;
and ``metrics.json`` when stems are known.  An item is finished when its ``.done`` marker is
written, last, so a re-run skips it and an interrupted item is redone.  An item that fails is
reported by name and does not stop the others.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np

from maskstudio.core.audio_io import atomic_write, conform_reference, load_audio
from maskstudio.core.dataset import Dataset, Item
from maskstudio.core.maskfile import load_masks
from maskstudio.core.masks import MaskSet
from maskstudio.core.metrics import bss_eval, si_sdr
from maskstudio.core.oracle import oracle_masks
from maskstudio.core.separation import render, write_outputs
from maskstudio.core.separators import run_separator
from maskstudio.core.stft import STFTConfig, stft
from maskstudio.errors import MaskStudioError

__all__ = ["process_item", "run_batch", "export_dataset", "item_metrics"]

DONE = ".done"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def item_metrics(names, estimates, references: dict) -> dict:
    """SI-SDR and BSS Eval (whole signal) of every estimate that has a stem of its name."""
    pairs = [(n, e) for n, e in zip(names, estimates) if n in references]
    out = {}
    for n, e in pairs:
        out[n] = {"si_sdr": si_sdr(references[n], e)}
    silent = [n for n, _ in pairs if not np.any(references[n])]
    pairs = [(n, e) for n, e in pairs if n not in silent]
    if pairs:
        refs = np.stack([references[n] for n, _ in pairs])
        ests = np.stack([e for _, e in pairs])
        res = bss_eval(refs, ests)
        for i, (n, _) in enumerate(pairs):
            out[n].update(sdr=float(res.sdr[i, 0]), sir=float(res.sir[i, 0]),
                          sar=float(res.sar[i, 0]), isr=float(res.isr[i, 0]))
    return out


def _masks_for(item: Item, mixture, refs, config: STFTConfig, mode: tuple):
    kind, arg = mode
    if kind == "mask":
        if not refs:
            raise MaskStudioError("it has no stems (sources/<name>.<ext>) for an oracle mask")
        return list(refs), oracle_masks(mixture.samples, list(refs.values()), config, arg), config
    if kind == "separator":
        Y = stft(mixture.samples, **config.kwargs())
        names, masks = run_separator(arg, Y, samplerate=mixture.samplerate, config=config)
        return names, masks, config
    folder = Path(arg)
    for cand in (folder / item.name / "masks.npz", folder / f"{item.name}.npz"):
        if cand.exists():
            mf = load_masks(cand, n_channels=mixture.n_channels, n_samples=mixture.n_samples,
                            samplerate=mixture.samplerate)
            return mf.masks.names, mf.masks.data, mf.config
    raise MaskStudioError(f"no mask file for it in '{folder}' (looked for "
                          f"{item.name}/masks.npz and {item.name}.npz)")


def process_item(item: Item, out_dir, *, mode: tuple, config: STFTConfig,
                 phase: str = "mixture", n_iter=None, cutoff_hz: float = 6000.0,
                 fmt: str = "wav") -> dict:
    """Process one item into ``out_dir/<item>``; returns its metrics (empty without stems)."""
    out = Path(out_dir) / item.name
    mixture = load_audio(item.mixture)
    refs = {n: conform_reference(load_audio(p), mixture, name=f"stem '{n}'")
            for n, p in sorted(item.sources.items())}
    names, masks, cfg = _masks_for(item, mixture, refs, config, mode)
    masks = MaskSet(names, masks)
    if phase == "mixture" and masks.is_complex:
        phase = "complex"
    references = [refs[n] for n in names] if phase == "oracle" and all(
        n in refs for n in names) else None
    signals = render(mixture, masks, cfg, phase=phase, references=references, n_iter=n_iter,
                     cutoff_hz=cutoff_hz)
    meta = {"item": item.name, "mixture": str(item.mixture), "mode": list(mode),
            "phase": phase}
    write_outputs(out, mixture, masks, signals, cfg, fmt=fmt, metadata=meta,
                  protect=[item.mixture, *item.sources.values()])
    metrics = item_metrics(names, signals[:-1], refs) if refs else {}
    for target, data in ((out / "metrics.json", metrics), (out / DONE, {"ok": True})):
        if target.name == "metrics.json" and not refs:
            continue
        atomic_write(target, lambda tmp, d=data: Path(tmp).write_text(json.dumps(d, indent=1)))
    return metrics


def _run_one(args):
    item, out_dir, kw = args
    try:
        return item.name, process_item(item, out_dir, **kw), None
    except MaskStudioError as exc:
        return item.name, None, str(exc)
    except MemoryError:
        return item.name, None, "not enough memory"
    except Exception as exc:  # a bug: report it with the item, keep going
        return item.name, None, f"internal error: {exc!r}"


def run_batch(dataset: Dataset, out_dir, *, mode: tuple, config: STFTConfig,
              phase: str = "mixture", n_iter=None, cutoff_hz: float = 6000.0,
              fmt: str = "wav", jobs: int = 1, progress=None) -> dict:
    """Process every unfinished item; returns ``{"done": [...], "skipped": [...],
    "failed": {name: message}}``.  ``progress(finished, total, name)`` after each item."""
    out_dir = Path(out_dir)
    todo = [it for it in dataset.items if not (out_dir / it.name / DONE).exists()]
    skipped = [it.name for it in dataset.items if it not in todo]
    kw = dict(mode=mode, config=config, phase=phase, n_iter=n_iter, cutoff_hz=cutoff_hz,
              fmt=fmt)
    result = {"done": [], "skipped": skipped, "failed": {}}
    work = [(it, out_dir, kw) for it in todo]
    finished = 0

    def collect(name, metrics, error):
        nonlocal finished
        finished += 1
        if error is None:
            result["done"].append(name)
        else:
            result["failed"][name] = error
        if progress:
            progress(finished, len(work), name)

    if jobs <= 1 or len(work) <= 1:
        for w in work:
            collect(*_run_one(w))
    else:
        # One BLAS thread per worker: jobs use the cores, instead of each job's BLAS threads
        # fighting over them (measured: 2 jobs were no faster than 1 before).  Spawned
        # workers read this when numpy loads.
        saved = {v: os.environ.get(v) for v in _THREAD_VARS}
        os.environ.update({v: "1" for v in _THREAD_VARS})
        try:
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                futures = [pool.submit(_run_one, w) for w in work]
                for fut in concurrent.futures.as_completed(futures):
                    collect(*fut.result())
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
    return result


def export_dataset(dataset: Dataset, out_dir, *, phase: str = "mixture", progress=None) -> dict:
    """A MUSDB-like tree of the annotated items: per item the masks, each source, the residual
    and ``metadata.json`` (labels, provenance, status, notes)."""
    from maskstudio.core.project import load_project

    out_dir = Path(out_dir)
    written, missing = [], []
    for i, item in enumerate(dataset.items):
        path = dataset.project_path(item)
        if not path.exists():
            missing.append(item.name)
            continue
        doc = load_project(path, start_journal=False)
        if doc.layers:
            doc.export(out_dir / item.name, phase=phase)
        meta = {"item": item.name, "mixture": str(item.mixture),
                "status": dataset.status(item), "notes": doc.notes,
                "labels": dataset.labels,
                "layers": [{"name": la.name, "label": la.label, "provenance": la.provenance}
                           for la in doc.layers]}
        target = out_dir / item.name / "metadata.json"
        atomic_write(target, lambda tmp, m=meta: Path(tmp).write_text(json.dumps(m, indent=1)))
        written.append(item.name)
        if progress:
            progress(i + 1, len(dataset.items))
    return {"written": written, "not annotated": missing}
