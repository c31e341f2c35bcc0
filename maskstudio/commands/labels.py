"""Box annotations in and out, headless: ``maskstudio labels export|import``.

- ``maskstudio labels export MASKS --format raven|audacity|svl --out FILE``: each layer's
  regions of a mask file or a project as labelled time-frequency boxes;
- ``maskstudio labels import FILE --format raven|audacity --mixture MIX --out MASKS.npz``:
  boxes as binary layers on the mixture's grid, one per label.

The work is :mod:`maskstudio.annotation.labels`; the files :mod:`maskstudio.io.boxes`.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from maskstudio.commands.options import Parser, Subcommands, add_stft_options, progress_line

__all__ = ["add_labels_parser", "cmd_labels"]

def add_labels_parser(sub: Subcommands) -> None:
    from maskstudio.annotation.labels import MERGE_HZ, MERGE_MS, MIN_CELLS
    from maskstudio.io.boxes import FORMATS, READ_FORMATS

    p = sub.add_parser("labels", help="box annotations in and out (Raven, Audacity, Sonic "
                                      "Visualiser)")
    verbs = p.add_subparsers(dest="verb", parser_class=Parser, required=True, metavar="VERB")
    e = verbs.add_parser("export", help="each layer's regions as labelled boxes")
    e.add_argument("masks", help="a mask file (.npz) or a project (.msproj)")
    e.add_argument("--format", required=True, choices=FORMATS, metavar="FORMAT",
                   help=f"{', '.join(FORMATS)}")
    e.add_argument("--out", required=True, help="the box file to write")
    e.add_argument("--mixture", help="the mixture: needed only for a mask file that does not "
                                     "say its rate (a .npy), or a project's moved mixture")
    e.add_argument("--threshold", type=float, default=0.5,
                   help="a cell is in a region when its mask value is at least this "
                        "(default 0.5)")
    e.add_argument("--merge-ms", type=float, default=MERGE_MS,
                   help=f"join regions at most this far apart in time (default {MERGE_MS:g})")
    e.add_argument("--merge-hz", type=float, default=MERGE_HZ,
                   help=f"... and in frequency (default {MERGE_HZ:g})")
    e.add_argument("--min-cells", type=int, default=MIN_CELLS,
                   help=f"drop regions of fewer cells before joining (default {MIN_CELLS})")
    e.add_argument("--min-ms", type=float, default=0.0,
                   help="drop boxes shorter than this (default 0)")
    e.add_argument("--min-hz", type=float, default=0.0,
                   help="drop boxes narrower than this (default 0)")
    e.add_argument("--mean-channels", action="store_true",
                   help="per-channel masks: boxes of the channels' mean instead of boxes "
                        "per channel (always so for audacity and svl, which have no channel)")
    add_stft_options(e, defaults=False)
    i = verbs.add_parser("import", help="boxes as binary mask layers, one per label")
    i.add_argument("table", help="a Raven selection table or an Audacity label file")
    i.add_argument("--format", required=True, choices=READ_FORMATS, metavar="FORMAT",
                   help=f"{', '.join(READ_FORMATS)}")
    i.add_argument("--mixture", required=True, help="the audio the boxes were drawn on")
    i.add_argument("--out", required=True, help="the mask file to write (.npz)")
    i.add_argument("--label-column", default="Annotation",
                   help="Raven: the column holding the labels (default Annotation)")
    g = i.add_mutually_exclusive_group()
    g.add_argument("--per-channel", dest="per_channel", action="store_true", default=None,
                   help="one mask per channel, each box on its Channel (the default when "
                        "a box names channel 2 or more)")
    g.add_argument("--all-channels", dest="per_channel", action="store_false",
                   help="every box on every channel")
    add_stft_options(i)


def cmd_labels(args: argparse.Namespace) -> int:
    return _export(args) if args.verb == "export" else _import(args)


def _export(args: argparse.Namespace) -> int:
    from maskstudio.annotation.labels import find_boxes, open_layers
    from maskstudio.commands.options import stft_config
    from maskstudio.io.boxes import write_boxes

    config = stft_config(args)
    source = open_layers(args.masks, mixture=args.mixture, config=config)
    try:
        boxes = find_boxes(source, threshold=args.threshold, merge_ms=args.merge_ms,
                           merge_hz=args.merge_hz, min_cells=args.min_cells,
                           min_ms=args.min_ms, min_hz=args.min_hz,
                           mean_channels=args.mean_channels or args.format != "raven",
                           progress=progress_line("finding regions"))
    finally:
        source.close()
    out = write_boxes(args.out, boxes, args.format, samplerate=source.samplerate,
                      protect=[args.masks, args.mixture, *source.inputs])
    counts = {label: sum(b.label == label for b in boxes) for label in source.labels}
    print(f"{out}: {len(boxes)} box(es) " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


def _import(args: argparse.Namespace) -> int:
    from maskstudio.annotation.labels import write_box_masks
    from maskstudio.commands.options import stft_config
    from maskstudio.errors import ParameterError
    from maskstudio.io.boxes import read_boxes

    if Path(args.out).suffix.lower() != ".npz":
        raise ParameterError(f"--out '{args.out}' must end in .npz: masks are written as "
                             f"a mask file")
    config = stft_config(args)
    boxes = read_boxes(args.table, args.format, label_column=args.label_column)
    report = write_box_masks(boxes, args.mixture, args.out, config=config,
                             per_channel=args.per_channel, protect=[args.table],
                             metadata={"table": str(args.table), "format": args.format})
    if report.overlap_cells:
        warnings.warn(f"boxes of different labels overlap in {report.overlap_cells} cell(s): "
                      f"the label listed first keeps them", stacklevel=1)
    per = " per channel" if report.per_channel else ""
    print(f"{report.path}: {len(report.names)} layer(s){per} " + ", ".join(
        f"{n} ({k} box(es))" for n, k in zip(report.names, report.boxes)))
    return 0
