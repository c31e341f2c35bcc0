"""The ``maskstudio`` command.

``maskstudio [FILE]`` opens the editor; subcommands work headless:

- ``maskstudio oracle MIXTURE --source NAME=PATH ... --mask KIND --out DIR``
- ``maskstudio separate MIXTURE --masks FILE --out DIR``
- ``maskstudio play MIXTURE [--masks FILE] [--layer NAME|residual|mixture] ...``
- ``maskstudio batch DATASET (--mask KIND | --separator NAME | --masks-from DIR) --out DIR``
- ``maskstudio info FILE``
- ``maskstudio devices``
- ``maskstudio demo [--out DIR]`` (the oracle on the demo, headless)

A mistake of the user's (a missing file, a bad option value, a mask that does not fit) prints
one line on stderr, saying what is wrong and what to do, and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from maskstudio import __version__
from maskstudio.errors import MaskStudioError, ParameterError

SUBCOMMANDS = ("oracle", "separate", "play", "batch", "info", "devices", "demo")
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and status 2."""

    def error(self, message):
        raise ParameterError(f"{message} (see '{self.prog} --help')")


def _add_stft_options(p, *, defaults: bool = True):
    g = p.add_argument_group("STFT")
    g.add_argument("--n-fft", type=int, default=None,
                   help=("FFT size in samples (default: a window of about 46 ms at the "
                         "mixture's rate, a power of two: 1024 at 16 and 22.05 kHz, 2048 at "
                         "44.1 and 48 kHz)" if defaults else
                         "FFT size in samples (default: the mask file's; needed for a .npy)"))
    g.add_argument("--hop-length", type=int, default=None,
                   help="hop between frames in samples (default n_fft / 4)")
    g.add_argument("--win-length", type=int, default=None,
                   help="window length (default n_fft)")
    g.add_argument("--window", default="hann", help="scipy window name (default hann)")


def _add_phase_options(p):
    from maskstudio.dsp.phase import PHASE_MODES

    g = p.add_argument_group("phase")
    g.add_argument("--phase", default="mixture", choices=PHASE_MODES, metavar="MODE",
                   help=f"phase of the resynthesis: {', '.join(PHASE_MODES)} (default mixture)")
    g.add_argument("--n-iter", type=int, default=None,
                   help="iterations for misi/hybrid (default 5) and fgla (default 32)")
    g.add_argument("--cutoff-hz", type=float, default=6000.0,
                   help="hybrid: correct the phase below this frequency (default 6000)")
    g.add_argument("--format", default="wav", choices=("wav", "flac"),
                   help="audio format of the outputs (default wav, in the mixture's sample format)")


def build_parser() -> argparse.ArgumentParser:
    from maskstudio.dsp.oracle import MASK_KINDS

    parser = _Parser(prog="maskstudio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"maskstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("oracle", help="oracle masks from reference stems, and their export")
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
    p.add_argument("--per-channel", action="store_true",
                   help="one mask per channel instead of one shared by all channels")
    _add_stft_options(p)
    _add_phase_options(p)
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("separate", help="apply a mask file (a model's output) and export")
    p.add_argument("mixture", help="the mixture's audio file")
    p.add_argument("--masks", required=True, help="mask file (.npz, or .npy with --n-fft)")
    p.add_argument("--normalize", action="store_true",
                   help="scale masks that sum above one in a bin so that they sum to one")
    _add_stft_options(p, defaults=False)
    _add_phase_options(p)
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("play", help="listen to the mixture, a layer or the residual")
    p.add_argument("mixture", help="the mixture's audio file")
    p.add_argument("--masks", help="mask file (.npz); not needed for --layer mixture")
    p.add_argument("--layer", default="mixture", metavar="NAME",
                   help="a layer's name, 'residual' or 'mixture' (default)")
    p.add_argument("--phase", default="mixture", metavar="MODE",
                   help="phase: mixture (default), misi, fgla, hybrid, complex")
    p.add_argument("--n-iter", type=int, default=None, help="iterations of the phase mode")
    p.add_argument("--cutoff-hz", type=float, default=6000.0, help="hybrid cutoff (6000)")
    p.add_argument("--start", type=float, default=0.0, help="start at this second")
    p.add_argument("--duration", type=float, default=None, help="play this many seconds")
    p.add_argument("--device", default=None, help="output device (index or name; "
                   "'maskstudio devices' lists them)")
    p.add_argument("--preroll", type=float, default=0.0,
                   help="seconds to render before the sound starts (for slow machines)")

    p = sub.add_parser("batch", help="process every item of a dataset, in parallel")
    p.add_argument("dataset", help="a folder of items (mixture.<ext>, sources/) or a manifest")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--mask", choices=MASK_KINDS, metavar="KIND",
                     help=f"oracle masks from each item's stems: {', '.join(MASK_KINDS)}")
    how.add_argument("--separator", metavar="NAME",
                     help="a separator: hpss, repet-sim, nmf, or a plugin's name")
    how.add_argument("--masks-from", metavar="DIR",
                     help="mask files DIR/<item>/masks.npz (or DIR/<item>.npz)")
    _add_stft_options(p)
    _add_phase_options(p)
    p.add_argument("--jobs", type=int, default=None,
                   help="items processed at once (default and at most: the number of cores; "
                        "never more than the items left; must be at least 1)")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("info", help="describe an audio or mask file")
    p.add_argument("file")

    sub.add_parser("devices", help="list the audio outputs PortAudio sees")

    p = sub.add_parser("demo", help="run the oracle on the built-in demo, headless")
    p.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    return parser


def _config(args, *, default=None):
    """The STFT the options ask for.  Without ``--n-fft``: None, or the ``default`` grid (the
    one for the mixture's rate, or the dataset's) with the other options given kept."""
    from maskstudio.dsp.stft import STFTConfig

    n_fft = args.n_fft
    if n_fft is None:
        if default is None:
            return None
        if args.hop_length is None and args.win_length is None and args.window == "hann":
            return default
        n_fft = default.n_fft
    return STFTConfig(n_fft=n_fft, hop_length=args.hop_length, win_length=args.win_length,
                      window=args.window)


def _check_phase_args(args) -> None:
    """``--n-iter`` and ``--cutoff-hz``: whole and bounded, finite and not negative."""
    from maskstudio.checks import check_phase_options

    check_phase_options(args.n_iter, args.cutoff_hz, names=("--n-iter", "--cutoff-hz"))


def _parse_sources(specs):
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


def _progress(label):
    """A one-line progress indicator on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def report(done, total):
        pct = 100.0 * done / max(total, 1)
        sys.stderr.write(f"\r{label}: {pct:5.1f}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return report


def cmd_oracle(args) -> int:
    from maskstudio.dsp.masks import MaskSet
    from maskstudio.dsp.oracle import check_oracle_options, oracle_masks
    from maskstudio.io.audiofile import conform_reference, load_audio
    from maskstudio.io.export import render, write_outputs

    sources = _parse_sources(args.source)
    config = _config(args)  # explicit settings are checked before any file is read
    _check_phase_args(args)
    checked = check_oracle_options(lc_db=args.lc_db, p=args.p, beta=args.beta)
    mixture = load_audio(args.mixture)
    if config is None:
        from maskstudio.dsp.stft import STFTConfig

        config = _config(args, default=STFTConfig.for_samplerate(mixture.samplerate))
    refs = [conform_reference(load_audio(p), mixture, name=f"source '{n}'")
            for n, p in sources.items()]
    options = dict(lc_db=checked["lc_db"], p=checked["p"], beta=checked["beta"],
                   truncate=not args.no_truncate)
    data = oracle_masks(mixture.samples, refs, config, args.mask, per_channel=args.per_channel,
                        progress=_progress("oracle masks"), **options)
    masks = MaskSet(list(sources), data)
    report = masks.overlap() if not masks.is_complex else None
    if report is not None and report.overlaps:
        warnings.warn(report.describe(), stacklevel=2)
    phase = args.phase
    if args.mask == "cirm" and phase == "mixture":
        phase = "complex"  # a cIRM carries its own phase: using only |cIRM| would waste it
    signals = render(mixture, masks, config, phase=phase, references=refs, n_iter=args.n_iter,
                     cutoff_hz=args.cutoff_hz, progress=_progress(f"resynthesis ({phase})"))
    metadata = dict(kind=args.mask, options=options, per_channel=args.per_channel,
                    mixture=str(mixture.path), phase=phase,
                    sources={n: str(p) for n, p in sources.items()})
    written = write_outputs(args.out, mixture, masks, signals, config, fmt=args.format,
                            metadata=metadata, protect=list(sources.values()))
    for p in written:
        print(p)
    return 0


def cmd_separate(args) -> int:
    from maskstudio.io.audiofile import load_audio
    from maskstudio.io.export import render, write_outputs
    from maskstudio.io.npz import load_masks

    if args.phase == "oracle":
        raise ParameterError("--phase oracle needs the reference stems: use 'maskstudio oracle' "
                             "with --source NAME=PATH")
    explicit = _config(args)
    _check_phase_args(args)
    mixture = load_audio(args.mixture)
    mf = load_masks(args.masks, n_channels=mixture.n_channels, n_samples=mixture.n_samples,
                    samplerate=mixture.samplerate, config=explicit)
    masks = mf.masks
    if not masks.is_complex:
        report = masks.overlap()
        if report.overlaps and args.normalize:
            masks = masks.normalized()
        elif report.overlaps:
            warnings.warn(report.describe() + " (--normalize)", stacklevel=2)
    signals = render(mixture, masks, mf.config, phase=args.phase, n_iter=args.n_iter,
                     cutoff_hz=args.cutoff_hz, progress=_progress(f"resynthesis ({args.phase})"))
    metadata = dict(mf.metadata, mixture=str(mixture.path), phase=args.phase,
                    mask_file=str(mf.path), normalized=bool(args.normalize))
    written = write_outputs(args.out, mixture, masks, signals, mf.config, fmt=args.format,
                            metadata=metadata, protect=[mf.path],
                            what=f"the mask file '{mf.path.name}' names a source")
    for p in written:
        print(p)
    return 0


def cmd_play(args) -> int:
    import time

    from maskstudio.audio.player import Player
    from maskstudio.audio.sd_backend import SoundDeviceBackend
    from maskstudio.checks import check_number
    from maskstudio.dsp.phase import PHASE_MODES
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.dsp.stream import Heard, StreamRenderer
    from maskstudio.io.audiofile import load_audio
    from maskstudio.io.npz import load_masks

    if args.phase not in PHASE_MODES or args.phase == "oracle":
        raise ParameterError(f"--phase {args.phase!r} cannot be played here: choose one of "
                             f"{', '.join(m for m in PHASE_MODES if m != 'oracle')}")
    _check_phase_args(args)
    start_s = check_number(args.start, "--start", lo=0, hint="seconds from the beginning")
    duration = None if args.duration is None else check_number(
        args.duration, "--duration", lo=0, lo_open=True, hint="seconds to play")
    preroll = check_number(args.preroll, "--preroll", lo=0, hi=600,
                           hint="seconds to render before the sound starts")
    mixture = load_audio(args.mixture)
    masks, config, names = None, STFTConfig(), []
    if args.masks:
        mf = load_masks(args.masks, n_channels=mixture.n_channels,
                        n_samples=mixture.n_samples, samplerate=mixture.samplerate)
        masks, config, names = mf.masks.data, mf.config, mf.masks.names
    elif args.layer != "mixture":
        raise ParameterError(f"playing {args.layer!r} needs its masks: add --masks FILE")
    if args.layer == "mixture":
        heard = Heard("mixture")
    elif args.layer == "residual":
        heard = Heard("residual")
    elif args.layer in names:
        heard = Heard("layer", (names.index(args.layer),))
    else:
        raise ParameterError(f"there is no layer {args.layer!r} in {args.masks}: choose "
                             f"{', '.join(names + ['residual', 'mixture'])}")
    if args.phase == "complex" and (masks is None or not np.iscomplexobj(masks)):
        raise ParameterError("--phase complex needs complex masks (a cIRM)")
    sr = mixture.samplerate
    if start_s >= mixture.duration:
        raise ParameterError(f"--start {args.start} is past the end ({mixture.duration:.1f} s)")
    start = int(round(start_s * sr))
    stop = None if duration is None else \
        start + max(1, int(round(min(duration, mixture.duration - start_s) * sr)))
    renderer = StreamRenderer(mixture.samples, config,
                              None if masks is None else (lambda a, b: masks[..., a:b]),
                              len(names), phase=args.phase, samplerate=sr, n_iter=args.n_iter,
                              cutoff_hz=args.cutoff_hz)
    renderer.heard = heard
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    backend = SoundDeviceBackend(device)
    player = Player(backend)
    end = mixture.n_samples if stop is None else min(stop, mixture.n_samples)
    print(f"playing {args.layer} from {start / sr:.2f} s to {end / sr:.2f} s "
          f"({args.phase} phase); Ctrl+C stops", file=sys.stderr)
    player.play(renderer, sr, start=start, stop=stop, preroll=preroll)
    try:
        while not player.finished:
            if backend.error:
                raise MaskStudioError(f"playback stopped: {backend.error}")
            time.sleep(0.02)
    finally:
        player.stop()
    if player.underruns:
        warnings.warn(f"rendering fell behind {player.underruns} time(s): try --preroll 2 or "
                      f"the mixture phase", stacklevel=2)
    return 0


def cmd_batch(args) -> int:
    from maskstudio.annotation.batch import available_cores, run_batch
    from maskstudio.annotation.dataset import Dataset

    cores = available_cores()
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs {args.jobs} cannot be used: give at least 1 (or leave "
                             f"it out to use the {cores} core(s))")
    jobs = cores if args.jobs is None else args.jobs
    if jobs > cores:
        warnings.warn(f"--jobs {jobs} is more than the {cores} core(s): using {cores}",
                      stacklevel=2)
        jobs = cores
    dataset = Dataset.open(args.dataset)
    if args.mask:
        mode = ("mask", args.mask)
    elif args.separator:
        from maskstudio.dsp.separators import available_separators

        if args.separator not in available_separators():
            raise ParameterError(f"unknown separator {args.separator!r}: choose one of "
                                 f"{', '.join(available_separators())}")
        mode = ("separator", args.separator)
    else:
        if not Path(args.masks_from).is_dir():
            raise ParameterError(f"--masks-from '{args.masks_from}' is not a folder")
        mode = ("masks-from", str(Path(args.masks_from).resolve()))
    tty = sys.stderr.isatty()

    def progress(done, total, name):
        if tty:
            bar = "#" * int(30 * done / max(total, 1))
            sys.stderr.write(f"\r[{bar:<30}] {done}/{total} {name[:30]:<30}")
            if done == total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"{done}/{total} {name}\n")
        sys.stderr.flush()

    config = _config(args, default=dataset.default_config())
    result = run_batch(dataset, args.out, mode=mode, config=config, phase=args.phase,
                       n_iter=args.n_iter, cutoff_hz=args.cutoff_hz, fmt=args.format,
                       jobs=jobs, progress=progress)
    for name, message in sorted(result["failed"].items()):
        sys.stderr.write(f"maskstudio: item '{name}' failed: {message}\n")
    print(f"{len(result['done'])} processed, {len(result['skipped'])} already done, "
          f"{len(result['failed'])} failed; outputs in {args.out}")
    return 1 if result["failed"] else 0


def cmd_info(args) -> int:
    from maskstudio.io.info import describe_file

    print(describe_file(args.file))
    return 0


def cmd_devices(args) -> int:
    from maskstudio.audio.devices import load_sounddevice, output_devices

    sd = load_sounddevice()
    devices = output_devices()
    print(sd.get_portaudio_version()[1])
    if not devices:
        print("no output device: maskstudio edits and exports; playback needs a device")
    for index, name, channels, rate in devices:
        print(f"  {index:3d}  {name}  ({channels} ch, {rate:.0f} Hz)")
    return 0


def cmd_demo(args) -> int:
    from maskstudio.demo import demo_folder, demo_stems
    from maskstudio.dsp.metrics import si_sdr
    from maskstudio.io.audiofile import load_audio

    folder = demo_folder()
    stems = demo_stems()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="maskstudio-demo-"))
    sources = [a for n, p in stems.items() for a in ("--source", f"{n}={p}")]
    ns = build_parser().parse_args(["oracle", str(folder / "mixture.flac"), *sources,
                                    "--mask", "wiener", "--n-fft", "1024", "--out", str(out)])
    print(f"maskstudio demo: Wiener-like oracle masks of {folder / 'mixture.flac'}")
    cmd_oracle(ns)
    for name, path in stems.items():
        ref = load_audio(path).samples
        est = load_audio(out / f"{name}.wav").samples
        print(f"  {name}: SI-SDR {si_sdr(ref, est):.1f} dB")
    print(f"The files are in {out}; 'maskstudio' opens the demo in the editor.")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(f"maskstudio: warning: {message}\n")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    try:
        if argv and argv[0] in SUBCOMMANDS or any(a in ("-h", "--help", "--version")
                                                  for a in argv[:1]):
            parser = build_parser()
            args = parser.parse_args(argv)
            return {"oracle": cmd_oracle, "separate": cmd_separate, "play": cmd_play,
                    "batch": cmd_batch, "info": cmd_info, "devices": cmd_devices,
                    "demo": cmd_demo}[args.command](args)
        return _run_editor(argv)
    except KeyboardInterrupt:
        sys.stderr.write("maskstudio: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        from maskstudio.reporting import describe_failure

        message, bug = describe_failure(exc)  # a bug's traceback goes to a crash log
        if bug:
            sys.stderr.write(f"maskstudio: {_one_line(message)}\n")
            return 1
        sys.stderr.write(f"maskstudio: error: {_one_line(message)}\n")
        return EXIT_USAGE


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _run_editor(argv) -> int:
    """``maskstudio [FILE] [--screenshot PNG]``: the editor window."""
    parser = _Parser(prog="maskstudio", description="Open the editor on FILE (the built-in "
                     "demo when absent). Subcommands: " + ", ".join(SUBCOMMANDS))
    parser.add_argument("file", nargs="?", help="an audio file to open")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="render the window offscreen at 1280x800 into PNG, then exit")
    args = parser.parse_args(argv)
    if args.file and not Path(args.file).exists():
        raise ParameterError(f"'{args.file}' does not exist: check the path, or use one of the "
                             f"commands {', '.join(SUBCOMMANDS)}")
    import os

    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                   or os.environ.get("WAYLAND_DISPLAY")
                                                   or os.environ.get("QT_QPA_PLATFORM")):
        # Qt would abort with a core dump; say what to do instead
        raise ParameterError("no display to open the editor on: run it on a desktop, render "
                             "the window with --screenshot PNG, or use a headless command "
                             "(maskstudio demo, oracle, separate, info)")
    # Start decoding now: libsndfile releases the GIL, so the file is read on the second core
    # while the first imports Qt and pyqtgraph (half a second).
    from concurrent.futures import ThreadPoolExecutor

    from maskstudio.demo import demo_folder
    from maskstudio.io.audiofile import load_audio

    target = Path(args.file) if args.file else demo_folder() / "mixture.flac"
    pool = ThreadPoolExecutor(max_workers=1)
    pending = pool.submit(load_audio, target)
    pool.shutdown(wait=False)
    from maskstudio.ui.app import run

    return run(args.file, screenshot=args.screenshot, preloaded=pending)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

