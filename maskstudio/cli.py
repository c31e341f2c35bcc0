"""The ``maskstudio`` command.

``maskstudio [FILE]`` opens the editor; subcommands work headless:

- ``maskstudio oracle MIXTURE --source NAME=PATH ... --mask KIND --out DIR``
- ``maskstudio separate MIXTURE --masks FILE --out DIR``
- ``maskstudio play MIXTURE [--masks FILE] [--layer NAME|residual|mixture] ...``
- ``maskstudio batch DATASET (--mask KIND | --separator NAME | --masks-from DIR) --out DIR``
- ``maskstudio labels export MASKS --format raven|audacity|svl --out FILE``
- ``maskstudio labels import FILE --format raven|audacity --mixture MIX --out MASKS.npz``
- ``maskstudio info FILE``
- ``maskstudio devices``
- ``maskstudio demo [--out DIR]`` (the oracle on the demo, headless)

A mistake of the user's (a missing file, a bad option value, a mask that does not fit) prints
one line on stderr, saying what is wrong and what to do, and exits with status 2.

This module parses the command line, dispatches and turns failures into that one line and an
exit status; the subcommands are in :mod:`maskstudio.commands` (the small ``info`` is here).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from maskstudio import __version__
from maskstudio.commands.labels import add_labels_parser, cmd_labels
from maskstudio.commands.listening import (
    add_devices_parser,
    add_play_parser,
    cmd_devices,
    cmd_play,
)
from maskstudio.commands.options import Parser
from maskstudio.commands.separation import (
    add_batch_parser,
    add_demo_parser,
    add_oracle_parser,
    add_separate_parser,
    cmd_batch,
    cmd_demo,
    cmd_oracle,
    cmd_separate,
)
from maskstudio.errors import ParameterError

__all__ = ["main", "build_parser", "SUBCOMMANDS", "EXIT_USAGE"]

SUBCOMMANDS = ("oracle", "separate", "play", "batch", "labels", "info", "devices", "demo")
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The subcommands' parser, in the order ``--help`` lists them."""
    parser = Parser(prog="maskstudio", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"maskstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_oracle_parser(sub)
    add_separate_parser(sub)
    add_play_parser(sub)
    add_batch_parser(sub)
    add_labels_parser(sub)
    p = sub.add_parser("info", help="describe an audio or mask file, or a dataset")
    p.add_argument("file", help="an audio or mask file; a dataset folder or manifest (.csv, "
                                ".json): its layout, subsets, items and sources")
    add_devices_parser(sub)
    add_demo_parser(sub)
    return parser


def cmd_info(args: argparse.Namespace) -> int:
    from maskstudio.io.info import describe_file

    path = Path(args.file)
    if path.is_dir() or path.suffix.lower() in (".csv", ".json"):
        from maskstudio.annotation.dataset import Dataset
        from maskstudio.annotation.layouts import describe_dataset

        print(describe_dataset(Dataset.open(path)))
        return 0
    print(describe_file(args.file))
    return 0


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    sys.stderr.write(f"maskstudio: warning: {message}\n")


@contextlib.contextmanager
def _stop_on_sigterm(wanted: bool) -> Iterator[None]:
    """While a command exports: SIGTERM (a cluster's or a service manager's stop) unwinds as
    Ctrl+C does, so the export removes its staging folder instead of leaving it in --out."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    try:
        if argv and argv[0] in SUBCOMMANDS or any(a in ("-h", "--help", "--version")
                                                  for a in argv[:1]):
            parser = build_parser()
            args = parser.parse_args(argv)
            with _stop_on_sigterm(args.command in ("oracle", "separate", "demo", "batch",
                                                   "labels")):
                return {"oracle": cmd_oracle, "separate": cmd_separate, "play": cmd_play,
                        "batch": cmd_batch, "labels": cmd_labels, "info": cmd_info,
                        "devices": cmd_devices, "demo": cmd_demo}[args.command](args)
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


def _run_editor(argv: list[str]) -> int:
    """``maskstudio [FILE] [--screenshot PNG]``: the editor window."""
    parser = Parser(prog="maskstudio", description="Open the editor on FILE (the built-in "
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
    # Open the file now (its header checked; the window reads it on demand, never whole) while
    # Qt and pyqtgraph are imported (half a second).
    from concurrent.futures import ThreadPoolExecutor

    from maskstudio.demo import demo_mixture
    from maskstudio.io.ondemand import open_audio

    target = Path(args.file) if args.file else demo_mixture()
    pool = ThreadPoolExecutor(max_workers=1)
    pending = pool.submit(open_audio, target)
    pool.shutdown(wait=False)
    from maskstudio.ui.app import run

    return run(args.file, screenshot=args.screenshot, preloaded=pending)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

