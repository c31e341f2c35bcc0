"""Batch processing of a dataset, headless and in parallel; and exporting an annotated dataset.

Every item is processed on its own (in a worker process when ``jobs > 1``): masks from the
oracle, a separator, or a folder of mask files; the sources, the residual and ``masks.npz``;
and ``metrics.json`` when stems are known.  An item is finished when its ``.done`` marker is
moved into place, last (an item's files appear together, see
:class:`~maskstudio.io.export.ExportSet`), so a re-run skips it and an interrupted item
is redone.  An item that fails is reported by name and does not stop the others.  Ctrl+C
stops the workers, without a traceback from any of them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import re
import signal
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskstudio.annotation.dataset import Dataset, Item
from maskstudio.annotation.evaluation import finished_with, item_metrics, options_record
from maskstudio.annotation.layouts import layout_outputs, out_parts, prepare
from maskstudio.dsp.bsseval import CollinearWarning
from maskstudio.dsp.masks import MaskSet
from maskstudio.dsp.oracle import oracle_masks
from maskstudio.dsp.separators import run_separator
from maskstudio.dsp.stft import STFTConfig, stft
from maskstudio.editing.outputs import write_text
from maskstudio.errors import MaskStudioError, ParameterError
from maskstudio.io.audiofile import conform_reference, load_audio
from maskstudio.io.export import MASKS, ExportSet, render, write_outputs
from maskstudio.io.names import check_inside, safe_file_name
from maskstudio.io.npz import load_masks
from maskstudio.io.stems import parse_mixes

__all__ = ["process_item", "run_batch", "check_mixes", "export_dataset", "item_metrics",
           "partition", "available_cores", "item_folder"]

DONE = ".done"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _masks_for(item: Item, mixture, refs, config: STFTConfig, mode: tuple):
    """``(names, masks, config, what, inputs)``: ``what`` says where the names came from,
    ``inputs`` the files read besides the item's (never to be overwritten).  An oracle
    (``("mask", kind[, "per-channel" | "shared"])``) is one mask per channel of a multichannel
    item unless "shared"."""
    kind, arg = mode[:2]
    if kind == "mask":
        if not refs:
            raise MaskStudioError("it has no stems (sources/<name>.<ext>) for an oracle mask")
        per_channel = "shared" not in mode[2:] and mixture.n_channels > 1
        return (list(refs), oracle_masks(mixture.samples, list(refs.values()), config, arg,
                                         per_channel=per_channel),
                config, f"the item '{item.name}' names a stem", [])
    if kind == "separator":
        Y = stft(mixture.samples, **config.kwargs())
        names, masks = run_separator(arg, Y, samplerate=mixture.samplerate, config=config)
        return names, masks, config, f"the separator {arg!r} names a mask", []
    folder = Path(arg)
    for cand in (folder.joinpath(*out_parts(item), "masks.npz"), folder / item.name /
                 "masks.npz", folder / f"{item.name}.npz"):
        if cand.exists():
            mf = load_masks(cand, n_channels=mixture.n_channels, n_samples=mixture.n_samples,
                            samplerate=mixture.samplerate)
            return (mf.masks.names, mf.masks.data, mf.config,
                    f"the mask file '{cand}' names a source", [cand])
    raise MaskStudioError(f"no mask file for it in '{folder}' (looked for "
                          f"{item.name}/masks.npz and {item.name}.npz)")


def item_folder(out_dir, item: Item) -> Path:
    """``out_dir/<item>``, or the item's place in its dataset's structure
    (``out_dir/<subset>/<track>`` for MUSDB, ``out_dir/<split>/<type>/<id>`` for LibriMix:
    :func:`~maskstudio.annotation.layouts.out_parts`), checked to land there."""
    safe_file_name(item.name, what="the item name")
    return check_inside(out_dir, Path(out_dir).joinpath(*out_parts(item)))


def _record(mixes: Sequence[str] = (), **options) -> dict:
    """What an item's ``.done`` keeps: :func:`options_record`, and the stem subsets when
    there are any (so a batch without ``--mix`` keeps what it kept before)."""
    from maskstudio.dsp.phase import DEFAULT_ITERATIONS

    # the same work whatever the spelling: the iterations a phase takes by default said, none
    # for a phase that does not iterate, and the subsets in the order of their names
    phase = options.get("phase", "mixture")
    n_iter = options.get("n_iter")
    options["n_iter"] = (DEFAULT_ITERATIONS[phase] if n_iter is None else int(n_iter)) \
        if phase in DEFAULT_ITERATIONS else None
    record = options_record(**options)
    if mixes:
        record["mix"] = sorted(("".join(str(m).split()) for m in mixes),
                               key=lambda m: m.partition("=")[0].casefold())
    return record


def check_mixes(mixes: Sequence[str], dataset: Dataset, mode: tuple) -> None:
    """Refuse bad ``--mix`` specs before any item is processed: their form and names, and
    with oracle masks, their terms against the stems the items have (with other masks, the
    layers are known per item, and an item whose layers a subset misses fails alone)."""
    if not mixes:
        return
    names = sorted({n for it in dataset.items for n in it.sources}) if mode[0] == "mask" \
        else []
    if not names:  # every term a name, to check the form alone
        words = {w.strip() for spec in mixes for w in re.split(r"[+-]", spec.partition("=")[2])}
        names = sorted(w for w in words if w and w.lower() not in ("residual", "mixture"))
    parse_mixes(list(mixes), names)


def process_item(item: Item, out_dir, *, mode: tuple, config: STFTConfig,
                 phase: str = "mixture", n_iter=None, cutoff_hz: float = 6000.0,
                 fmt: str = "wav", mixes: Sequence[str] = ()) -> dict:
    """Process one item into ``out_dir/<item>``; returns its metrics (empty without stems).

    ``mixes`` are stem subsets (``NAME=a+b``, :func:`~maskstudio.io.stems.parse_mix`), each
    written beside the sources as the sum of the rendered signals it names.  The item's files
    appear together, ``masks.npz`` and then the ``.done`` marker last; the marker keeps the
    options (:func:`~maskstudio.annotation.evaluation.options_record`, and the subsets), so
    a resumed batch redoes the item if they change."""
    out = item_folder(out_dir, item)
    record = _record(mixes, mode=mode, config=config, phase=phase, n_iter=n_iter,
                     cutoff_hz=cutoff_hz, fmt=fmt)
    item = prepare(item)  # a MUSDB18 .stem.mp4 decoded on first use
    mixture = load_audio(item.mixture)
    refs = {n: conform_reference(load_audio(p), mixture, name=f"stem '{n}'")
            for n, p in sorted(item.sources.items())}
    names, masks, cfg, what, read = _masks_for(item, mixture, refs, config, mode)
    subsets = parse_mixes(list(mixes), names)  # before rendering: a misfit fails at once
    masks = MaskSet(names, masks)
    if phase == "mixture" and masks.is_complex:
        phase = "complex"
    references = [refs[n] for n in names] if phase == "oracle" and all(
        n in refs for n in names) else None
    signals = render(mixture, masks, cfg, phase=phase, references=references, n_iter=n_iter,
                     cutoff_hz=cutoff_hz)
    metrics: dict = {}
    form: dict | None = None
    if refs:
        with warnings.catch_warnings():  # run_batch says it once for the batch
            warnings.simplefilter("ignore", CollinearWarning)
            metrics, form = item_metrics(names, signals[:-1], refs,
                                         samplerate=mixture.samplerate, track=item.name)
    extra = {"metrics.json": json.dumps(metrics, indent=1)} if refs else {}
    if form is not None:
        extra["museval.json"] = json.dumps(form, indent=1)
    extra[DONE] = json.dumps({"ok": True, "options": record}, indent=1)
    meta = {"item": item.name, "mixture": str(item.mixture), "mode": list(mode),
            "phase": phase}
    outputs = layout_outputs(item, names, signals, fmt)
    if subsets:
        audio = dict(outputs.get("audio") or {})
        for m in subsets:
            if m.name in audio:
                raise ParameterError(f"--mix {m.name!r} is the name of the dataset's own "
                                     f"output: name the subset differently")
            audio[m.name] = m.apply(signals, mixture.samples)
        outputs["audio"] = audio
    write_outputs(out, mixture, masks, signals, cfg, fmt=fmt, metadata=meta,
                  protect=[item.mixture, *item.sources.values(), *read], what=what,
                  extra=extra,
                  markers=(MASKS, DONE), **outputs)
    return metrics


def _run_one(args):
    item, out_dir, kw = args
    try:
        return item.name, process_item(item, out_dir, **kw), None
    except SystemExit:
        # stopped (SIGTERM, see _quiet_worker): the item's export has unwound and removed its
        # staging folder; the worker goes now, not on to an item already queued to it
        os._exit(143)
    except MaskStudioError as exc:
        return item.name, None, str(exc)
    except MemoryError:
        return item.name, None, "not enough memory"
    except Exception as exc:  # a bug: report it with the item, keep going
        return item.name, None, f"internal error: {exc!r}"


def _quiet_worker() -> None:
    """In a worker: Ctrl+C is the parent's to handle (it stops the workers), so a worker
    never prints a KeyboardInterrupt traceback of its own.  SIGTERM (the parent stopping
    it) unwinds the item under way, so its export removes its staging folder, and ends the
    worker (:func:`_run_one`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


@contextlib.contextmanager
def _sigint_deferred():
    """Workers started in here inherit a blocked Ctrl+C from their first instruction (before
    Python or numpy load in them).  A Ctrl+C meanwhile is only noted (it may reach any
    thread, BLAS's included, so blocking it here is not enough) and raised as soon as the
    workers are started: deferred, never lost, never inside a half-started worker.  (Where
    signals cannot be blocked, the workers' initializer ignores Ctrl+C.)"""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    old_handler = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    old_mask = block(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if old_handler is None else old_handler)
        block(signal.SIG_SETMASK, old_mask)
    if noted:
        raise KeyboardInterrupt


def _stop_workers(pool) -> None:
    """Stop a pool now: running workers terminated, pending items cancelled.  The workers
    are taken before ``shutdown``, which forgets them."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    for proc in procs:
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        try:
            proc.join(5)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass
    if manager is not None:  # let it close its pipes now: at exit, Python 3.11 and older
        manager.join(5)      # may write to them while it does (a traceback on Ctrl+C)


def partition(items, out_dir, options: dict | None = None) -> tuple:
    """``(todo, skipped, refused, rerun)``: the items to process, the names of those already
    done (their ``.done`` is there, and with ``options``, records these very options), and
    ``{name: message}`` for names that cannot be folders; ``rerun`` names the items in
    ``todo`` that were done with other options (or unrecorded ones).  One pass, no comparison
    between items: linear in the number of items."""
    out_dir = Path(out_dir)
    todo, skipped, refused, rerun = [], [], {}, []
    for it in items:
        try:
            safe_file_name(it.name, what="the item name")
            done = out_dir.joinpath(*out_parts(it)) / DONE
        except MaskStudioError as exc:
            refused[it.name] = str(exc)
            continue
        state = ("same" if done.exists() else "absent") if options is None else \
            finished_with(done, options)
        if state == "same":
            skipped.append(it.name)
        else:
            todo.append(it)
            if state == "changed":
                rerun.append(it.name)
    return todo, skipped, refused, rerun


def _said(result: dict) -> dict:
    """``result``, once the items whose stems have collinear channels are said, in one line."""
    names = result["collinear"]
    if names:
        shown = ", ".join(f"'{n}'" for n in names[:3]) + (", ..." if len(names) > 3 else "")
        warnings.warn(f"{len(names)} item(s) ({shown}) have stems with collinear (panned) "
                      "channels: their ISR/SIR/SAR use least-squares filters as museval's "
                      "and are sensitive to rounding (\"collinear\" in metrics.json)",
                      CollinearWarning, stacklevel=3)
    return result


def run_batch(dataset: Dataset, out_dir, *, mode: tuple, config: STFTConfig,
              phase: str = "mixture", n_iter=None, cutoff_hz: float = 6000.0,
              fmt: str = "wav", jobs: int = 1, progress=None,
              scheduler: str | None = None, mixes: Sequence[str] = ()) -> dict:
    """Process every unfinished item; returns ``{"done": [...], "skipped": [...],
    "failed": {name: message}, "rerun": [...], "collinear": [...]}``.
    ``progress(finished, total, name)`` after each item.

    An item is skipped when it was finished with these options; one finished with others is
    processed again (``rerun``, said in one line).  Items with panned stems (``collinear``)
    are said in one line at the end.

    ``jobs`` is bounded by the items left and the cores (:func:`available_cores`); with a
    ``scheduler`` address the items run on that Dask cluster instead
    (:mod:`maskstudio.annotation.cluster`), ``jobs`` unused."""
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ParameterError(f"jobs must be a whole number of at least 1, not {jobs!r}")
    out_dir = Path(out_dir)
    check_mixes(mixes, dataset, mode)
    kw = dict(mode=mode, config=config, phase=phase, n_iter=n_iter, cutoff_hz=cutoff_hz,
              fmt=fmt, mixes=list(mixes))
    todo, skipped, refused, rerun = partition(dataset.items, out_dir, _record(**kw))
    if rerun:
        warnings.warn(f"{len(rerun)} finished item(s) were made with other options (or "
                      f"unrecorded ones): processing them again with these", stacklevel=2)
    result = {"done": [], "skipped": skipped, "failed": dict(refused), "rerun": rerun,
              "collinear": []}
    work = [(it, out_dir, kw) for it in todo]
    jobs = max(1, min(int(jobs), len(work), available_cores()))
    finished = 0

    def collect(name, metrics, error):
        nonlocal finished
        finished += 1
        if error is None:
            result["done"].append(name)
            if any(isinstance(m, dict) and m.get("collinear") for m in (metrics or {}).values()):
                result["collinear"].append(name)
        else:
            result["failed"][name] = error
        if progress:
            progress(finished, len(work), name)

    if scheduler is not None:
        from maskstudio.annotation.cluster import run_on_cluster

        run_on_cluster(scheduler, _run_one, work, [it.name for it in todo], collect)
        return _said(result)
    if jobs <= 1:
        for w in work:
            collect(*_run_one(w))
        return _said(result)
    # One BLAS thread per worker: jobs use the cores, instead of each job's BLAS threads
    # fighting over them (measured: 2 jobs were no faster than 1 before).  Spawned
    # workers read this when numpy loads.
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    os.environ.update({v: "1" for v in _THREAD_VARS})
    pool = None
    try:
        ctx = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                                      initializer=_quiet_worker)
        with _sigint_deferred():
            futures = [pool.submit(_run_one, w) for w in work]
        for fut in concurrent.futures.as_completed(futures):
            collect(*fut.result())
    except BaseException:
        if pool is not None:
            _stop_workers(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    return _said(result)


def _copy_mixture(item: Item, folder: Path) -> None:
    """``folder/mixture.<ext>``: the item's mixture as it is, where musdb looks for it."""
    import shutil

    from maskstudio.io.atomic import write_error

    name = f"mixture{Path(item.mixture).suffix.lower()}"
    with ExportSet(folder, [name], protect=[item.mixture], markers=()) as files:
        try:
            shutil.copyfile(item.mixture, files.path(name))
        except OSError as exc:
            raise write_error(folder / name, exc) from None


def export_dataset(dataset: Dataset, out_dir, *, phase: str = "mixture", progress=None) -> dict:
    """A MUSDB-like tree of the annotated items: per item (under its subset, as
    :func:`item_folder` places it) the masks, each source, the residual and ``metadata.json``
    (labels, provenance, status, notes), appearing together; then a copy of its mixture, as
    ``mixture.<ext>``, so ``musdb.DB(root=out, is_wav=True)`` reads the tree."""
    from maskstudio.annotation.project import load_project

    out_dir = Path(out_dir)
    written, missing = [], []
    for i, item in enumerate(dataset.items):
        path = dataset.project_path(item)
        folder = item_folder(out_dir, item)
        if not path.exists():
            missing.append(item.name)
            continue
        doc = load_project(path, start_journal=False)
        meta = {"item": item.name, "mixture": str(item.mixture),
                "status": dataset.status(item), "notes": doc.notes,
                "labels": dataset.labels,
                "layers": [{"name": la.name, "label": la.label, "provenance": la.provenance}
                           for la in doc.layers]}
        text = json.dumps(meta, indent=1)
        if doc.layers:
            doc.export(folder, phase=phase, extra={"metadata.json": text},
                       protect=[item.mixture, *item.sources.values()])
        else:
            with ExportSet(folder, ["metadata.json"], protect=[item.mixture]) as files:
                write_text(files.path("metadata.json"), text)
        _copy_mixture(item, folder)
        written.append(item.name)
        if progress:
            progress(i + 1, len(dataset.items))
    return {"written": written, "not annotated": missing}
