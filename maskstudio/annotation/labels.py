"""Mask layers to labelled boxes and back: what ``maskstudio labels export|import`` does.

**Export** (:func:`find_boxes`): each layer of a mask file (``.npz``, as ``oracle`` and
``separate`` write it) or of a project (``.msproj``) is read a block of frames at a time
(:func:`open_layers`: a mask file on demand, a project from its tiles), binarised (a cell is
in when its value, or a complex mask's magnitude, is at least ``threshold``), split into
connected components (8-connectivity) joined across block boundaries, and then:

1. components with fewer than ``min_cells`` cells are dropped (specks of noise never grow a
   box);
2. boxes at most ``merge_ms`` of empty frames and ``merge_hz`` of empty bins apart are
   joined (rounded down to whole frames and bins).  The defaults, 25 ms and 50 Hz, are two
   frames and two bins of the 44.1 kHz default grid (2048/512) and one frame and three bins
   of the 16 kHz one (1024/256): they mend a note or call that dips below the threshold for a
   frame or two, or a partial that wobbles by a bin, and keep apart syllables and harmonics
   (a low voice's harmonics are 100 Hz apart);
3. boxes shorter than ``min_ms`` or narrower than ``min_hz`` are dropped;
4. cells become seconds and hertz as :mod:`maskstudio.dsp.regions` says (a box reaches the
   outer edges of its first and last cells, clipped to the file).

Each box is labelled with its layer's label (a project's) or name.  Masks kept per channel
give boxes per channel (Raven's Channel column), unless ``mean_channels`` asks for boxes of
the channels' mean; masks shared by the channels give boxes on channel 1.

**Import** (:func:`write_box_masks`): one binary layer per distinct label, in the order the
labels first appear, on the mixture's grid, written a band of bins at a time as a mask file
the rest of maskstudio reads.  Where boxes of different labels overlap, the label that
appears first keeps the cell (the layers stay binary and never sum past one), and the report
counts such cells.  A table whose boxes all lie on channel 1 gives masks shared by every
channel; one that names channel 2 or more gives one mask per channel (``per_channel``
decides otherwise).
"""

from __future__ import annotations

import dataclasses
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from maskstudio.checks import check_number
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.regions import (
    BoxPainter,
    LabelBox,
    RegionFinder,
    box_to_region,
    keep_regions,
    merge_regions,
    region_to_box,
)
from maskstudio.errors import MaskFileError, ParameterError
from maskstudio.io.boxes import BoxFileError
from maskstudio.io.export import check_source_name
from maskstudio.io.names import name_key
from maskstudio.io.npy_header import member_number, read_header
from maskstudio.io.npz import read_mask_file
from maskstudio.io.ondemand import open_audio, open_masks
from maskstudio.io.savez import write_mask_file

__all__ = ["LayerSource", "open_layers", "layers_of_document", "find_boxes",
           "write_box_masks", "ImportReport", "MERGE_MS", "MERGE_HZ", "MIN_CELLS"]

#: Defaults of the export (see the module's notes).
MERGE_MS = 25.0
MERGE_HZ = 50.0
MIN_CELLS = 4

#: Frames read and labelled at a time.
_BLOCK = 1024


@dataclasses.dataclass
class LayerSource:
    """Mask layers to read a block of frames at a time.

    Parameters
    ----------
    labels : list of str
        Each layer's label (or name).
    config : STFTConfig
    samplerate, n_samples, n_frames : int
        The mixture's rate and length, and its frames on ``config``.
    n_channels : int
        Channels of the masks: 1 when they are shared by the mixture's channels.
    read : callable(t0, t1) -> np.ndarray [shape=(S, n_channels, F, t1 - t0)]
        Real values (a complex mask's magnitude).
    close : callable
        Releases the files.
    """

    labels: list
    config: STFTConfig
    samplerate: int
    n_samples: int
    n_frames: int
    n_channels: int
    read: Callable[[int, int], np.ndarray]
    close: Callable[[], None] = lambda: None
    #: the files the layers came through (a project's mixture): never to be overwritten
    inputs: tuple = ()


def layers_of_document(doc) -> LayerSource:
    """The layers of an open editor document (for File > Export annotations).

    Parameters
    ----------
    doc : maskstudio.editing.document.Document

    Returns
    -------
    LayerSource
    """
    store, lead = doc.store, tuple(doc.store.lead)
    n_layers = len(doc.layers)

    def read(t0: int, t1: int) -> np.ndarray:
        block = store.read(list(range(n_layers)), 0, store.n_bins, t0, t1)
        return block if lead else block[:, None]

    return LayerSource([layer.label or layer.name for layer in doc.layers], doc.config,
                       int(doc.samplerate), int(doc.clip.n_samples), int(store.n_frames),
                       lead[0] if lead else 1, read)


def open_layers(path: str | os.PathLike, *, mixture: str | os.PathLike | None = None,
                config: STFTConfig | None = None) -> LayerSource:
    """Open the layers of a mask file or a project to read them block by block.

    A mask file needs no mixture when it says its grid and sample rate (maskstudio's do);
    ``mixture`` gives the rate and length otherwise (with ``config`` for a bare ``.npy``),
    and locates a project's mixture that has moved.
    """
    path = Path(path)
    if path.suffix.lower() == ".msproj":
        from maskstudio.annotation.project import load_project

        doc = load_project(path, mixture=mixture, start_journal=False)
        source = layers_of_document(doc)
        source.inputs = tuple(p for p in (getattr(doc.clip, "path", None),) if p is not None)

        def close() -> None:
            doc.close()
            getattr(doc.clip, "close", lambda: None)()
        source.close = close
        return source
    if mixture is not None:
        mix = open_audio(mixture)
        mix.close()
        rate, n_samples, n_channels = mix.samplerate, mix.n_samples, mix.n_channels
    else:
        rate, n_samples, n_channels = _declared(path)
    masks = open_masks(path, n_channels=n_channels, n_samples=n_samples, samplerate=rate,
                       config=config)
    per_channel = masks.data.ndim == 4

    def read(t0: int, t1: int) -> np.ndarray:
        block = np.abs(masks.frames(t0, t1)).astype(np.float32, copy=False)
        return block if per_channel else block[:, None]

    return LayerSource(list(masks.names), masks.config, rate, n_samples, masks.n_frames,
                       n_channels if per_channel else 1, read)


def _declared(path: Path) -> tuple[int, int, int]:
    """The rate, a length and channels of a mask file's mixture, from what the file says
    (its header, its grid, its rate), without reading the masks."""
    where = f"'{path}': its masks"
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open("masks.npy") as m:
                shape, _ = read_header(m, MaskFileError, where)
            rate_text = np.load(zf.open("samplerate.npy"), allow_pickle=False) \
                if "samplerate.npy" in zf.namelist() else None
            small = {k: np.load(zf.open(f"{k}.npy"), allow_pickle=False)
                     for k in ("n_fft", "hop_length", "center") if f"{k}.npy" in zf.namelist()}
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError):
        read_mask_file(path)  # says precisely what is wrong with the file
        raise MaskFileError(f"'{path}' is not a mask file maskstudio can read: give "
                            f"--mixture") from None
    if rate_text is None or "n_fft" not in small:
        raise MaskFileError(f"'{path}' does not say its sample rate and STFT: give the "
                            f"mixture (--mixture) and, for a .npy, --n-fft")
    def number(value: np.ndarray, key: str, hi: int) -> int:
        return int(member_number(value, key, f"'{path}'", MaskFileError, lo=0, hi=hi,
                                 integer=True))

    rate = number(rate_text, "samplerate", 10_000_000)
    n_fft = number(small["n_fft"], "n_fft", 1 << 20)
    hop = number(small["hop_length"], "hop_length", 1 << 20) if "hop_length" in small \
        else n_fft // 4
    center = bool(number(small["center"], "center", 1)) if "center" in small else True
    n_frames = max(1, int(shape[-1]))
    # the shortest signal with that many frames (librosa's count, n_frames_for, inverted)
    n_samples = (n_frames - 1) * hop + (n_fft - 2 * (n_fft // 2) if center else n_fft)
    return rate, max(1, n_samples), int(shape[1]) if len(shape) == 4 else 1


def find_boxes(source: LayerSource, *, threshold: float = 0.5, merge_ms: float = MERGE_MS,
               merge_hz: float = MERGE_HZ, min_cells: int = MIN_CELLS, min_ms: float = 0.0,
               min_hz: float = 0.0, mean_channels: bool = False,
               progress: Callable[[int, int], None] | None = None) -> list[LabelBox]:
    """The labelled boxes of every layer's regions, sorted by time (see the module's notes).

    ``progress(done, total)`` is called after each block of frames.
    """
    threshold = check_number(threshold, "--threshold", lo=0, lo_open=True,
                             hint="0.5 is usual")
    merge_ms = check_number(merge_ms, "--merge-ms", lo=0, hint="25 is the default")
    merge_hz = check_number(merge_hz, "--merge-hz", lo=0, hint="50 is the default")
    min_cells = check_number(min_cells, "--min-cells", lo=0, hi=1 << 40, integer=True)
    min_ms = check_number(min_ms, "--min-ms", lo=0)
    min_hz = check_number(min_hz, "--min-hz", lo=0)
    cfg, sr = source.config, float(source.samplerate)
    frame_ms, bin_hz = 1000 * cfg.hop_length / sr, sr / cfg.n_fft
    channels = 1 if mean_channels else source.n_channels
    finders = [[RegionFinder(cfg.n_bins, min_cells=min_cells) for _ in range(channels)]
               for _ in source.labels]
    T = source.n_frames
    for t0 in range(0, T, _BLOCK):
        block = source.read(t0, min(T, t0 + _BLOCK))
        if mean_channels and block.shape[1] > 1:
            block = block.mean(axis=1, keepdims=True)
        for s, row in enumerate(finders):
            for c, finder in enumerate(row):
                finder.feed(block[s, c] >= threshold)
        if progress is not None:
            progress(min(T, t0 + _BLOCK), T)
    boxes = []
    for label, row in zip(source.labels, finders):
        for c, finder in enumerate(row):
            regions = merge_regions(finder.regions(),
                                    gap_frames=int(merge_ms / frame_ms + 1e-9),
                                    gap_bins=int(merge_hz / bin_hz + 1e-9))
            regions = keep_regions(regions, min_frames=math.ceil(min_ms / frame_ms - 1e-9),
                                   min_bins=math.ceil(min_hz / bin_hz - 1e-9))
            boxes += [region_to_box(r, cfg, source.samplerate, source.n_samples,
                                    label=label, channel=c + 1) for r in regions]
    boxes.sort(key=lambda b: (b.begin, b.channel, b.low, b.label))
    return boxes


@dataclasses.dataclass
class ImportReport:
    """What :func:`write_box_masks` wrote.

    Parameters
    ----------
    path : Path
    names : list of str
        The layers, one per label.
    boxes : list of int
        Boxes per layer.
    overlap_cells : int
        Cells that boxes of two labels claimed (the first label kept them).
    per_channel : bool
    """

    path: Path
    names: list
    boxes: list
    overlap_cells: int
    per_channel: bool


def write_box_masks(boxes: Sequence[LabelBox], mixture: str | os.PathLike,
                    out: str | os.PathLike, *, config: STFTConfig | None = None,
                    per_channel: bool | None = None, protect: Sequence = (),
                    metadata: dict | None = None) -> ImportReport:
    """Draw boxes as binary layers on the mixture's grid and write them as a mask file,
    atomically, a band of bins at a time (see the module's notes)."""
    if not boxes:
        raise BoxFileError("the table holds no boxes: nothing to turn into masks")
    mix = open_audio(mixture)
    mix.close()
    config = config or STFTConfig.for_samplerate(mix.samplerate)
    n_frames = config.n_frames(mix.n_samples)
    if n_frames < 1:
        raise ParameterError(f"'{mixture}' is shorter than one frame of n_fft="
                             f"{config.n_fft}: use a smaller --n-fft")
    labels = list(dict.fromkeys(b.label for b in boxes))
    keys: dict[str, str] = {}
    for label in labels:
        check_source_name(label, what=f"the label {label!r}")
        other = keys.setdefault(name_key(label), label)
        if other != label:
            raise BoxFileError(f"the labels {other!r} and {label!r} differ only in case, and "
                               f"would be one file on many systems: make them one label")
    top = max(b.channel for b in boxes)
    if top > mix.n_channels:
        raise BoxFileError(f"a box lies on channel {top}, but '{Path(mixture).name}' has "
                           f"{mix.n_channels}: is the table for another recording?")
    if per_channel is None:
        per_channel = top > 1
    per_channel = bool(per_channel) and mix.n_channels > 1
    layers: list[list[tuple[int | None, object]]] = [[] for _ in labels]
    index = {label: i for i, label in enumerate(labels)}
    for k, b in enumerate(boxes, 1):
        region = box_to_region(b, config, mix.samplerate, n_frames,
                               what=f"box {k} ({b.label!r})")
        layers[index[b.label]].append((b.channel - 1 if per_channel else None, region))
    painter = BoxPainter(layers, n_frames,  # type: ignore[arg-type]
                         mix.n_channels if per_channel else None)
    lead = (mix.n_channels,) if per_channel else ()
    shape = (len(labels),) + lead + (config.n_bins, n_frames)
    path = write_mask_file(out, labels, shape, painter.rows, config, mix.samplerate,
                           metadata=dict(metadata or {}, kind="boxes",
                                         mixture=str(mix.path)),
                           protect=[mixture, *protect])
    return ImportReport(Path(path), labels, [len(layer) for layer in layers],
                        painter.overlap_cells, per_channel)
