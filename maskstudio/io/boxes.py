"""Box annotation files: Raven selection tables, Audacity labels, Sonic Visualiser box layers.

Each holds labelled time-frequency boxes (:class:`~maskstudio.dsp.regions.LabelBox`):

``raven``
    Raven Pro's selection table: tab-separated text with a header line, one selection a
    row: ``Selection``, ``View`` (``Spectrogram 1``), ``Channel`` (1-based), ``Begin Time
    (s)``, ``End Time (s)``, ``Low Freq (Hz)``, ``High Freq (Hz)`` and an ``Annotation``
    column with the label.  Read back: the four time and frequency columns are needed; the
    label comes from ``Annotation`` (or another column named), the channel from ``Channel``
    (1 when absent); other columns are ignored, and of a selection Raven lists once per view
    (``Waveform 1`` and ``Spectrogram 1``) the spectrogram's row is kept.
``audacity``
    Audacity's label track as text (File > Export > Labels): a line ``start<TAB>end<TAB>
    label`` per label, followed, for a label with a frequency range, by ``\\<TAB>low<TAB>
    high`` (a backslash first, so older versions skip it).  Numbers have six decimals, as
    Audacity writes them; a frequency of -1 means "not set" (0, or the Nyquist frequency).
``svl``
    A Sonic Visualiser layer file (File > Import Annotation Layer): an XML ``<sv>`` document
    with, per label, a sparse two-dimensional model of subtype ``box`` whose points carry the
    start ``frame`` and ``duration`` in samples, the low frequency as ``value`` and the height
    as ``extent``, and a ``boxes`` layer showing it.  Written only.

Files are written atomically and never over one of the user's inputs.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from maskstudio.checks import check_input_file
from maskstudio.dsp.regions import LabelBox
from maskstudio.errors import MaskStudioError
from maskstudio.io.atomic import atomic_write
from maskstudio.io.audiofile import check_not_input

__all__ = ["FORMATS", "READ_FORMATS", "BoxFileError", "RAVEN_COLUMNS", "format_boxes",
           "parse_boxes", "write_boxes", "read_boxes"]

#: The formats :func:`write_boxes` writes, and those :func:`read_boxes` reads.
FORMATS = ("raven", "audacity", "svl")
READ_FORMATS = ("raven", "audacity")

#: Raven's columns, in the order it writes them; the annotation column follows.
RAVEN_COLUMNS = ("Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)")
_NEEDED = RAVEN_COLUMNS[3:]

#: Largest table read: a million boxes is far more than anyone annotates.
_MAX_BYTES = 256 << 20

#: Sonic Visualiser's colours, one per layer in turn (its ColourDatabase's first ones).
_SV_COLOURS = (("Orange", "#ff9632"), ("Red", "#c00000"), ("Green", "#008000"),
               ("Blue", "#0000ff"), ("Purple", "#c000c0"), ("Black", "#000000"))


class BoxFileError(MaskStudioError):
    """A box annotation file is missing, malformed, or cannot be used."""


def _check_format(fmt: str, formats: Sequence[str]) -> str:
    if fmt not in formats:
        raise BoxFileError(f"there is no box format {fmt!r}: choose one of "
                           f"{', '.join(formats)}")
    return fmt


def _number(x: float) -> str:
    return f"{x:.6f}"


def format_boxes(boxes: Sequence[LabelBox], fmt: str, *, samplerate: int | None = None
                 ) -> str:
    """The text of a box file.

    Parameters
    ----------
    boxes : sequence of LabelBox
    fmt : {"raven", "audacity", "svl"}
    samplerate : int, optional
        Needed for ``svl`` (its times are sample frames).

    Returns
    -------
    str

    Raises
    ------
    BoxFileError
        An unknown format, or ``svl`` without a sample rate.
    """
    _check_format(fmt, FORMATS)
    if fmt == "raven":
        lines = ["\t".join(RAVEN_COLUMNS + ("Annotation",))]
        lines += ["\t".join([str(k), "Spectrogram 1", str(b.channel), _number(b.begin),
                             _number(b.end), _number(b.low), _number(b.high),
                             _one_line(b.label)]) for k, b in enumerate(boxes, 1)]
    elif fmt == "audacity":
        lines = []
        for b in boxes:
            lines.append(f"{_number(b.begin)}\t{_number(b.end)}\t{_one_line(b.label)}")
            lines.append(f"\\\t{_number(b.low)}\t{_number(b.high)}")
    else:
        if samplerate is None:
            raise BoxFileError("a Sonic Visualiser layer needs the sample rate of its audio")
        return _svl(boxes, int(samplerate))
    return "\n".join(lines) + "\n"


def _one_line(label: str) -> str:
    """A label fit for one tab-separated cell."""
    return " ".join(str(label).split())


def _svl(boxes: Sequence[LabelBox], sr: int) -> str:
    labels = list(dict.fromkeys(b.label for b in boxes))
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE sonic-visualiser>", "<sv>",
           "  <data>"]
    for k, label in enumerate(labels):
        mine = [b for b in boxes if b.label == label]
        frames = [(round(b.begin * sr), round(b.end * sr)) for b in mine]
        lo, hi = min(b.low for b in mine), max(b.high for b in mine)
        out.append(f'    <model id="{2 * k + 1}" name={quoteattr(label)} sampleRate="{sr}" '
                   f'start="{min(a for a, _ in frames)}" end="{max(e for _, e in frames)}" '
                   f'type="sparse" dimensions="2" resolution="1" notifyOnAdd="true" '
                   f'dataset="{2 * k}" subtype="box" minimum="{lo:g}" maximum="{hi:g}" '
                   f'units="Hz" />')
        out.append(f'    <dataset id="{2 * k}" dimensions="2">')
        for b, (a, e) in zip(mine, frames):
            out.append(f'      <point frame="{a}" value="{b.low:.6g}" duration="{e - a}" '
                       f'extent="{b.high - b.low:.6g}" label={quoteattr(label)} />')
        out.append("    </dataset>")
    out += ["  </data>", "  <display>"]
    for k, label in enumerate(labels):
        name, colour = _SV_COLOURS[k % len(_SV_COLOURS)]
        out.append(f'    <layer id="{2 * k + 2}" type="boxes" name={quoteattr(label)} '
                   f'model="{2 * k + 1}" verticalScale="0" colourName="{name}" '
                   f'colour="{colour}" darkBackground="false" />')
    out += ["  </display>", "</sv>"]
    return "\n".join(out) + "\n"


def write_boxes(path: str | os.PathLike, boxes: Sequence[LabelBox], fmt: str, *,
                samplerate: int | None = None, protect: Iterable = ()) -> Path:
    """Write a box file atomically.

    Parameters
    ----------
    path : path
    boxes : sequence of LabelBox
    fmt : {"raven", "audacity", "svl"}
    samplerate : int, optional
        Needed for ``svl``.
    protect : iterable of paths
        Inputs never to overwrite.

    Returns
    -------
    Path

    Raises
    ------
    MaskStudioError
        An unknown format (``BoxFileError``), an input in the way (``OverwriteError``), or
        a failed write (``WriteError``).
    """
    path = Path(path)
    text = format_boxes(boxes, fmt, samplerate=samplerate)
    check_not_input(path, protect)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    atomic_write(path, write, suffix=path.suffix or ".txt")
    return path


def read_boxes(path: str | os.PathLike, fmt: str, *, label_column: str = "Annotation"
               ) -> list[LabelBox]:
    """Read a Raven selection table or an Audacity label file.

    Parameters
    ----------
    path : path
    fmt : {"raven", "audacity"}
    label_column : str
        Raven: the column holding the labels (a table without it gives every box the
        label ``"box"``).

    Returns
    -------
    list of LabelBox
        In the file's order.

    Raises
    ------
    BoxFileError
        The file is missing, too large, not text, or malformed (a missing column, a time
        that is not a number); the message names the line.
    """
    _check_format(fmt, READ_FORMATS)
    path = Path(path)
    st = check_input_file(path, BoxFileError, "a box annotation file")
    if st.st_size > _MAX_BYTES:
        raise BoxFileError(f"'{path}' is {st.st_size >> 20} MB, too large for a box table: "
                           f"split it")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BoxFileError(f"'{path}' is not UTF-8 text: save the table as UTF-8 text") \
            from None
    except OSError as exc:
        raise BoxFileError(f"cannot read '{path}' ({exc.strerror or exc}): check the "
                           f"file") from None
    return parse_boxes(text, fmt, where=f"'{path.name}'", label_column=label_column)


def parse_boxes(text: str, fmt: str, *, where: str = "the table",
                label_column: str = "Annotation") -> list[LabelBox]:
    """Boxes from the text of a Raven selection table or an Audacity label file.

    Parameters
    ----------
    text : str
    fmt : {"raven", "audacity"}
    where : str
        How messages name the file.
    label_column : str
        Raven: the column holding the labels.

    Returns
    -------
    list of LabelBox

    Raises
    ------
    BoxFileError
        An unknown format, or malformed text (the message names the line).
    """
    _check_format(fmt, READ_FORMATS)
    if "\x00" in text:
        raise BoxFileError(f"{where} is not a text file: choose the exported table")
    if fmt == "raven":
        return _parse_raven(text, where, label_column)
    return _parse_audacity(text, where)


def _float(value: str, what: str, line: int, where: str) -> float:
    try:
        x = float(value.strip())
    except ValueError:
        raise BoxFileError(f"{where} line {line}: {what} {value.strip()[:40]!r} is not a "
                           f"number: fix that line") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise BoxFileError(f"{where} line {line}: {what} is {value.strip()!r}, not a finite "
                           f"number: fix that line")
    return x


def _parse_raven(text: str, where: str, label_column: str) -> list[LabelBox]:
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise BoxFileError(f"{where} is empty: export the selection table from Raven again")
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in _NEEDED if c not in header]
    if missing:
        raise BoxFileError(f"{where} has no column {', '.join(repr(m) for m in missing)} "
                           f"(its header is {'|'.join(header)[:120]!r}): is it a Raven "
                           f"selection table, tab-separated?")
    col = {name: header.index(name) for name in header}
    boxes: list[tuple[str, str, LabelBox]] = []
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header) and len(row) <= max(col[c] for c in _NEEDED):
            raise BoxFileError(f"{where} line {line} has {len(row)} cells for "
                               f"{len(header)} columns: fix that line")

        def cell(name: str, default: str = "", row: list = row) -> str:
            k = col.get(name)
            return row[k].strip() if k is not None and k < len(row) else default

        begin, end, low, high = (_float(cell(c), c, line, where) for c in _NEEDED)
        channel_text = cell("Channel", "1")
        try:
            channel = int(channel_text)
        except ValueError:
            channel = 0
        if channel < 1:
            raise BoxFileError(f"{where} line {line}: Channel {channel_text!r} is not a "
                               f"channel number (1, 2, ...): fix that line")
        label = cell(label_column, "box") if label_column in col else "box"
        boxes.append((cell("Selection", str(line)), cell("View"),
                      LabelBox(begin, end, low, high, label or "box", channel)))
    # Raven lists a selection once per view: keep its spectrogram row
    spectro = {sel for sel, view, _ in boxes if view.lower().startswith("spectrogram")}
    return [b for sel, view, b in boxes
            if sel not in spectro or view.lower().startswith("spectrogram")
            or not view]


def _parse_audacity(text: str, where: str) -> list[LabelBox]:
    lines = text.splitlines()
    boxes: list[LabelBox] = []
    for k, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        cells = raw.split("\t")
        if cells[0] == "\\":
            if not boxes or len(cells) < 3:
                raise BoxFileError(f"{where} line {k}: a frequency line must follow a label "
                                   f"and hold '\\<TAB>low<TAB>high': fix that line")
            low = _float(cells[1], "the low frequency", k, where)
            high = _float(cells[2], "the high frequency", k, where)
            b = boxes[-1]
            boxes[-1] = LabelBox(b.begin, b.end, low if low >= 0 else 0.0,
                                 high if high >= 0 else float("inf"), b.label, b.channel)
            continue
        if len(cells) < 2:
            raise BoxFileError(f"{where} line {k}: a label line is 'start<TAB>end<TAB>label',"
                               f" not {raw[:60]!r}: is it an Audacity label file?")
        begin = _float(cells[0], "the start time", k, where)
        end = _float(cells[1], "the end time", k, where)
        label = "\t".join(cells[2:]).strip()
        boxes.append(LabelBox(begin, end, 0.0, float("inf"), label or "box"))
    return boxes
