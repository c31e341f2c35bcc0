"""Masks to audio files, headless: ``oracle``, ``separate``, ``batch`` and ``demo``.

- ``maskstudio oracle MIXTURE --source NAME=PATH ... --mask KIND --out DIR``: oracle masks
  from reference stems, and the sources and residual they give;
- ``maskstudio separate MIXTURE --masks FILE --out DIR``: a model's mask file applied;
- ``maskstudio batch DATASET (--mask KIND | --separator NAME | --masks-from DIR) --out DIR``:
  every item of a dataset, in parallel;
- ``maskstudio demo [--out DIR]``: the oracle on the built-in demo.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import warnings
from pathlib import Path

from maskstudio.commands.options import (
    Parser,
    Subcommands,
    add_mix_option,
    add_phase_options,
    add_stft_options,
    check_phase_args,
    progress_line,
    stft_config,
)
from maskstudio.errors import ParameterError

__all__ = ["add_oracle_parser", "add_separate_parser", "add_batch_parser", "add_demo_parser",
           "cmd_oracle", "cmd_separate", "cmd_batch", "cmd_demo", "parse_sources",
           "check_separator"]


# -- oracle ---------------------------------------------------------------------------------
def add_oracle_parser(sub: Subcommands) -> None:
    _oracle_arguments(sub.add_parser(
        "oracle", help="oracle masks from reference stems, and their export"))


def _oracle_arguments(p: argparse.ArgumentParser) -> None:
    from maskstudio.dsp.oracle import MASK_KINDS

    p.add_argument("mixture", help="the mixture's audio file")
    p.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="a reference stem (repeat for each source)")
    p.add_argument("--mask", required=True, choices=MASK_KINDS, metavar="KIND",
                   help=f"mask kind: {', '.join(MASK_KINDS)}")
    p.add_argument("--lc-db", type=float, default=0.0, help="IBM local criterion in dB")
    p.add_argument("--p", type=float, default=2.0, help="IRM power (default 2)")
    p.add_argument("--beta", type=float, default=0.5, help="IRM exponent (default 0.5)")
    p.add_argument("--no-truncate", action="store_true",
                   help="PSM: keep values outside [0, 1]")
    channels = p.add_mutually_exclusive_group()
    channels.add_argument("--shared", action="store_true",
                          help="one mask shared by all channels, from their pooled power "
                               "(default: each channel's own mask on a multichannel file)")
    channels.add_argument("--per-channel", action="store_true",
                          help="the default (accepted so that older scripts still run)")
    add_stft_options(p)
    add_phase_options(p)
    add_mix_option(p)
    p.add_argument("--out", required=True, help="output folder")


def parse_sources(specs: list[str]) -> dict[str, Path]:
    """``--source NAME=PATH`` options as ``{name: path}``: names that can become file
    names, each given once."""
    from maskstudio.io.export import check_source_name
    from maskstudio.io.names import name_key

    if not specs:
        raise ParameterError("give at least one reference stem with --source NAME=PATH")
    out, keys = {}, set()
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not path:
            raise ParameterError(f"--source {spec!r} must look like NAME=PATH, "
                                 f"for example --source voice=stems/voice.wav")
        name = check_source_name(name.strip(), what="--source")
        if name_key(name) in keys:
            raise ParameterError(f"source '{name}' is given twice (names differing only in "
                                 f"case are one file on many systems): give each name once")
        keys.add(name_key(name))
        out[name] = Path(path)
    return out


def cmd_oracle(args: argparse.Namespace) -> int:
    """Oracle masks and their export, block by block: the mixture and the stems are read a
    block of frames at a time and transformed once per block, for the masks and the
    synthesis alike, so memory does not grow with the files' length."""
    import numpy as np

    from maskstudio.dsp.blockwise import FrameReader, OracleBlocks
    from maskstudio.dsp.oracle import check_oracle_options
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.io.blockexport import export_blocks, like_clip
    from maskstudio.io.ondemand import open_audio, open_reference
    from maskstudio.io.stems import parse_mixes

    sources = parse_sources(args.source)
    mixes = parse_mixes(args.mix, list(sources))
    config = stft_config(args)  # explicit settings are checked before any file is read
    check_phase_args(args)
    checked = check_oracle_options(lc_db=args.lc_db, p=args.p, beta=args.beta)
    with contextlib.ExitStack() as files:
        mixture = open_audio(args.mixture)
        files.callback(mixture.close)
        if config is None:
            config = stft_config(args, default=STFTConfig.for_samplerate(mixture.samplerate))
        stems = [open_reference(p, mixture, name=f"source '{n}'")
                 for n, p in sources.items()]
        for stem in stems:
            files.callback(getattr(stem, "close", lambda: None))
        options = dict(lc_db=checked["lc_db"], p=checked["p"], beta=checked["beta"],
                       truncate=not args.no_truncate)
        phase = args.phase
        if args.mask == "cirm" and phase == "mixture":
            phase = "complex"  # a cIRM carries its own phase: using only |cIRM| would waste it
        mix = FrameReader(mixture, config)
        refs = [FrameReader(s, config) for s in stems]
        per_channel = not args.shared and mixture.n_channels > 1
        masks = OracleBlocks(mix, refs, args.mask, per_channel=per_channel, **options)
        metadata = dict(kind=args.mask, options=options, per_channel=per_channel,
                        mixture=str(mixture.path), phase=phase,
                        sources={n: str(p) for n, p in sources.items()})
        lead = (mixture.n_channels,) if per_channel else ()
        written, report = export_blocks(
            args.out, list(sources), mix, masks, config, like=like_clip(mixture),
            mask_shape=(len(sources),) + lead + (config.n_bins, mix.n_frames),
            mask_dtype=np.complex64 if args.mask == "cirm" else np.float32,
            phase=phase, references=refs, n_iter=args.n_iter, cutoff_hz=args.cutoff_hz,
            fmt=args.format, metadata=metadata, protect=list(sources.values()),
            scan=args.mask != "cirm", mixes=mixes,
            progress=progress_line(f"oracle masks and resynthesis ({phase})"))
    return _written(written, report)


def _written(written, report, *, remedy: str = "") -> int:
    """The end of an export: the masks' overlap said (a warning), then each file written."""
    if report is not None and report.overlaps:
        warnings.warn(report.describe() + remedy, stacklevel=3)
    for p in written:
        print(p)
    return 0


# -- separate -------------------------------------------------------------------------------
def add_separate_parser(sub: Subcommands) -> None:
    p = sub.add_parser("separate", help="apply a mask file (a model's output) or a separator, "
                                        "and export")
    p.add_argument("mixture", help="the mixture's audio file")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--masks", help="mask file (.npz, or .npy with --n-fft)")
    how.add_argument("--separator", metavar="NAME",
                     help="masks from a separator run on the mixture: a built-in one (hpss, "
                          "repet-sim, nmf, rnnoise) or a plugin")
    p.add_argument("--normalize", action="store_true",
                   help="scale masks that sum above one in a bin so that they sum to one")
    add_stft_options(p, defaults=False)
    add_phase_options(p)
    add_mix_option(p)
    p.add_argument("--out", required=True, help="output folder")


def cmd_separate(args: argparse.Namespace) -> int:
    """A mask file applied, block by block: the mixture and the masks are read a block of
    frames at a time (the mask file may be larger than memory); overlap is measured, and
    ``--normalize`` applied, on the blocks as they pass."""
    from maskstudio.io.blockexport import export_blocks, like_clip
    from maskstudio.io.ondemand import open_audio, open_masks
    from maskstudio.io.stems import parse_mixes

    if args.phase == "oracle":
        raise ParameterError("--phase oracle needs the reference stems: use 'maskstudio oracle' "
                             "with --source NAME=PATH")
    if args.separator is not None:
        return _separate_with(args)
    explicit = stft_config(args)
    if explicit is None and (args.hop_length is not None or args.win_length is not None
                             or args.window != "hann"):
        # without --n-fft the grid is the mask file's own: these would be ignored silently
        raise ParameterError("--hop-length, --win-length and --window check the mask file's "
                             "grid only with --n-fft: give --n-fft too, or leave them out")
    check_phase_args(args)
    with contextlib.ExitStack() as files:
        mixture = open_audio(args.mixture)
        files.callback(mixture.close)
        mf = open_masks(args.masks, n_channels=mixture.n_channels,
                        n_samples=mixture.n_samples, samplerate=mixture.samplerate,
                        config=explicit)
        if args.phase == "complex" and not mf.is_complex:
            raise ParameterError("the 'complex' phase mode needs complex masks (cIRM); these "
                                 "are real: use the 'mixture' phase")
        mixes = parse_mixes(args.mix, mf.names)
        metadata = dict(mf.metadata, mixture=str(mixture.path), phase=args.phase,
                        mask_file=str(mf.path), normalized=bool(args.normalize))
        real = not mf.is_complex
        written, report = export_blocks(
            args.out, mf.names, mixture, mf.frames, mf.config, like=like_clip(mixture),
            mask_shape=tuple(mf.data.shape), mask_dtype=mf.data.dtype, phase=args.phase,
            n_iter=args.n_iter, cutoff_hz=args.cutoff_hz, fmt=args.format, metadata=metadata,
            protect=[mf.path], what=f"the mask file '{mf.path.name}' names a source",
            normalize=real and args.normalize, scan=real and not args.normalize, mixes=mixes,
            progress=progress_line(f"resynthesis ({args.phase})"))
    return _written(written, report, remedy=" (--normalize)")



def check_separator(name: str) -> str:
    """``name`` if a built-in separator or an installed plugin has it (plugins are not loaded
    to find out), else a one-line error listing them."""
    from maskstudio.dsp.separators import available_separators

    known = available_separators()
    if name not in known:
        raise ParameterError(f"unknown separator {name!r}: choose one of {', '.join(known)}")
    return name


def _separate_with(args: argparse.Namespace) -> int:
    """``separate --separator NAME``: the separator's masks on the mixture's STFT (on the
    grid the options give, else the default one for the mixture's rate), then the same
    block-wise export as a mask file gets.  A separator sees the whole STFT (the plugin
    interface: NMF and REPET look across the whole file), so the mixture is read whole."""
    from maskstudio.dsp.blockwise import ArrayReader, FrameReader
    from maskstudio.dsp.separators import run_separator
    from maskstudio.dsp.stft import STFTConfig, stft_with
    from maskstudio.io.blockexport import export_blocks, like_clip
    from maskstudio.io.ondemand import open_audio
    from maskstudio.io.stems import parse_mixes

    check_separator(args.separator)
    if args.phase == "complex":
        raise ParameterError("the 'complex' phase mode needs complex masks (cIRM); a "
                             "separator's masks are real: use the 'mixture' phase")
    config = stft_config(args)  # explicit settings are checked before the file is read
    check_phase_args(args)
    mixture = open_audio(args.mixture)
    try:
        if config is None:
            config = stft_config(args, default=STFTConfig.for_samplerate(mixture.samplerate))
        samples = mixture.read(0, mixture.n_samples)
        like = like_clip(mixture)
    finally:
        mixture.close()
    if sys.stderr.isatty():
        sys.stderr.write(f"separating with {args.separator}...\n")
    names, masks = run_separator(args.separator, stft_with(samples, config),
                                 samplerate=like.samplerate, config=config)
    mixes = parse_mixes(args.mix, names)
    frames = FrameReader(ArrayReader(samples), config)
    metadata = dict(separator=args.separator, mixture=str(args.mixture), phase=args.phase,
                    normalized=bool(args.normalize))
    written, report = export_blocks(
        args.out, list(names), frames, lambda t0, t1: masks[..., t0:t1], config, like=like,
        mask_shape=tuple(masks.shape), phase=args.phase, n_iter=args.n_iter,
        cutoff_hz=args.cutoff_hz, fmt=args.format, metadata=metadata,
        protect=[Path(args.mixture)], what=f"the separator {args.separator!r} names a mask",
        normalize=args.normalize, scan=not args.normalize, mixes=mixes,
        progress=progress_line(f"resynthesis ({args.phase})"))
    return _written(written, report, remedy=" (--normalize)")


# -- batch ----------------------------------------------------------------------------------
def add_batch_parser(sub: Subcommands) -> None:
    from maskstudio.dsp.oracle import MASK_KINDS

    p = sub.add_parser("batch", help="process every item of a dataset, in parallel")
    p.add_argument("dataset", help="a folder of items (<item>/mixture.<ext>, sources/), a "
                                   "MUSDB18(-HQ) root or subset, a LibriMix/WHAM! folder, a "
                                   "LibriMix metadata CSV or a manifest (maskstudio info "
                                   "DATASET says which); outputs keep its structure")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--mask", choices=MASK_KINDS, metavar="KIND",
                     help=f"oracle masks from each item's stems: {', '.join(MASK_KINDS)}")
    how.add_argument("--separator", metavar="NAME",
                     help="a separator: hpss, repet-sim, nmf, or a plugin's name")
    how.add_argument("--masks-from", metavar="DIR",
                     help="mask files DIR/<item>/masks.npz (or DIR/<item>.npz)")
    p.add_argument("--shared", action="store_true",
                   help="with --mask: one mask shared by all channels, from their pooled "
                        "power (default: each channel's own on multichannel items)")
    add_stft_options(p)
    add_phase_options(p)
    add_mix_option(p)
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the items on a Dask cluster: its scheduler's address (e.g. "
                        "tcp://10.0.0.5:8786); workers need maskstudio and the files at the "
                        "same paths (README: Batch on a cluster)")
    p.add_argument("--jobs", type=int, default=None,
                   help="items processed at once (default and at most: the number of cores; "
                        "never more than the items left; must be at least 1)")
    p.add_argument("--out", required=True, help="output folder")


def cmd_batch(args: argparse.Namespace) -> int:
    from maskstudio.annotation.batch import available_cores, run_batch
    from maskstudio.annotation.dataset import Dataset

    cores = available_cores()
    if args.scheduler is not None and args.jobs is not None:
        raise ParameterError("--jobs is for this machine's cores, --scheduler for a cluster's "
                             "workers: give one of them")
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs {args.jobs} cannot be used: give at least 1 (or leave "
                             f"it out to use the {cores} core(s))")
    jobs = cores if args.jobs is None else args.jobs
    if jobs > cores:
        warnings.warn(f"--jobs {jobs} is more than the {cores} core(s): using {cores}",
                      stacklevel=2)
        jobs = cores
    dataset = Dataset.open(args.dataset)
    if args.shared and not args.mask:
        raise ParameterError("--shared is an option of the oracle: use it with --mask KIND")
    if args.mask:  # per channel, or "shared": recorded in each item's .done
        mode = ("mask", args.mask, "shared") if args.shared else ("mask", args.mask)
    elif args.separator:
        mode = ("separator", check_separator(args.separator))
    else:
        if not Path(args.masks_from).is_dir():
            raise ParameterError(f"--masks-from '{args.masks_from}' is not a folder")
        if Path(args.masks_from).resolve() == Path(args.out).resolve():
            raise ParameterError(f"--out '{args.out}' is the --masks-from folder: each item's "
                                 f"masks.npz would be written over the mask file it reads; "
                                 f"choose another output folder")
        mode = ("masks-from", str(Path(args.masks_from).resolve()))
    tty = sys.stderr.isatty()

    def progress(done: int, total: int, name: str) -> None:
        if tty:
            bar = "#" * int(30 * done / max(total, 1))
            sys.stderr.write(f"\r[{bar:<30}] {done}/{total} {name[:30]:<30}")
            if done == total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"{done}/{total} {name}\n")
        sys.stderr.flush()

    config = stft_config(args, default=dataset.default_config())
    result = run_batch(dataset, args.out, mode=mode, config=config, phase=args.phase,
                       n_iter=args.n_iter, cutoff_hz=args.cutoff_hz, fmt=args.format,
                       jobs=jobs, progress=progress, scheduler=args.scheduler,
                       mixes=args.mix)
    for name, message in sorted(result["failed"].items()):
        sys.stderr.write(f"maskstudio: item '{name}' failed: {message}\n")
    print(f"{len(result['done'])} processed, {len(result['skipped'])} already done, "
          f"{len(result['failed'])} failed; outputs in {args.out}")
    return 1 if result["failed"] else 0


# -- demo -----------------------------------------------------------------------------------
def add_demo_parser(sub: Subcommands) -> None:
    p = sub.add_parser("demo", help="run the oracle on the built-in demo, headless")
    p.add_argument("--out", default=None, help="output folder (default: a temporary folder)")


def cmd_demo(args: argparse.Namespace) -> int:
    from maskstudio.demo import demo_mixture, demo_stems
    from maskstudio.dsp.metrics import si_sdr
    from maskstudio.io.audiofile import load_audio

    mixture = demo_mixture()
    stems = demo_stems()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="maskstudio-demo-"))
    sources = [a for n, p in stems.items() for a in ("--source", f"{n}={p}")]
    oracle = Parser(prog="maskstudio oracle")
    _oracle_arguments(oracle)
    ns = oracle.parse_args([str(mixture), *sources, "--mask", "wiener", "--n-fft", "1024",
                            "--out", str(out)])
    print(f"maskstudio demo: Wiener-like oracle masks of {mixture}")
    cmd_oracle(ns)
    for name, path in stems.items():
        ref = load_audio(path).samples
        est = load_audio(out / f"{name}.wav").samples
        print(f"  {name}: SI-SDR {si_sdr(ref, est):.1f} dB")
    print(f"The files are in {out}; 'maskstudio' opens the demo in the editor.")
    return 0
