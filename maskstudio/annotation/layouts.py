"""The dataset layouts maskstudio reads as they are distributed, and where their outputs go.

A folder given as a dataset is recognised by its shape (:func:`scan_folder`):

- **folders** (maskstudio's own): ``<item>/mixture.<ext>`` and ``<item>/sources/<name>.<ext>``;
- **MUSDB18-HQ**: ``<root>/{train,test}/<Artist - Title>/mixture.wav`` with the stems
  (``vocals``, ``drums``, ``bass``, ``other``) beside the mixture; a subset folder may be given
  directly.  ``accompaniment`` and ``linear_mixture`` beside it are sums, not sources;
- **MUSDB18**: ``<root>/{train,test}/<Artist - Title>.stem.mp4``, decoded through stempeg
  (which needs ffmpeg) into the dataset's annotation folder on first use of a track;
- **LibriMix / WHAM! / wsj0-2mix**: ``<root>/[<split>/]<mix_type>/<id>.wav`` (``mix_clean``,
  ``mix_both``, ``mix_single``, or wsj0-mix's ``mix``) with ``s1``, ``s2`` [, ``s3``] and
  ``noise`` folders holding the same file names.  Every mixture file is an item: each
  mixture type is a separate task with its own sources (``mix_clean``: the speakers;
  ``mix_both``: the speakers and the noise; ``mix_single``: the first speaker and the
  noise), and outputs keep the type in their path.  To take one type, give its folder
  (``<split>/mix_clean``).

An item's outputs go to ``<out>/<subset or split>/[<type>/]<track or id>/`` (:func:`out_parts`).
A MUSDB item also gets a copy of its mixture and ``accompaniment.<fmt>`` (everything but the
vocals estimate), so ``musdb.DB(root=out, is_wav=True)`` and ``museval.eval_mus_dir`` read the
outputs as they are (:func:`layout_outputs`).
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path

import numpy as np

from maskstudio.errors import MaskStudioError
from maskstudio.io.export import check_source_name
from maskstudio.io.names import name_key, safe_file_name

__all__ = ["Item", "AUDIO_EXTENSIONS", "FOLDERS", "MUSDB_HQ", "MUSDB", "LIBRIMIX",
           "LAYOUT_NAMES", "scan_folder", "is_librimix_csv", "read_librimix_csv", "out_parts",
           "layout_outputs", "prepare", "audio_in", "describe_dataset"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
FOLDERS, MUSDB_HQ, MUSDB, LIBRIMIX = "folders", "musdb18hq", "musdb18", "librimix"
LIBRIMIX_CSV, CSV, JSON = "librimix-csv", "manifest-csv", "manifest-json"
LAYOUT_NAMES = {
    FOLDERS: "maskstudio folders (<item>/mixture.<ext>, <item>/sources/<name>.<ext>)",
    MUSDB_HQ: "MUSDB18-HQ (<subset>/<track>/mixture.wav, the stems beside it)",
    MUSDB: "MUSDB18 (<subset>/<track>.stem.mp4)",
    LIBRIMIX: "LibriMix / WHAM! / wsj0-mix folders (<split>/mix_*/<id>.wav, s1/, s2/, noise/)",
    LIBRIMIX_CSV: "LibriMix metadata CSV (mixture_ID, mixture_path, source_<k>_path, ...)",
    CSV: "maskstudio CSV manifest", JSON: "maskstudio JSON manifest"}
MUSDB_SUBSETS = ("train", "test")
#: Files beside a MUSDB mixture that are sums of the stems, or maskstudio's own residual.
_NOT_STEMS = ("accompaniment", "linear_mixture", "residual")
#: MUSDB18's stem order in a .stem.mp4 (musdb's mus.yaml).
MUSDB_STEMS = ("mixture", "drums", "bass", "other", "vocals")
#: LibriMix's mixture folders and the source folders each mixes (s3 only where it exists).
MIX_TYPES = {"mix_clean": ("s1", "s2", "s3"), "mix_both": ("s1", "s2", "s3", "noise"),
             "mix_single": ("s1", "noise"), "mix": ("s1", "s2", "s3")}


@dataclasses.dataclass
class Item:
    """One mixture to annotate or process, with its stems and where its outputs go."""

    name: str
    mixture: Path
    sources: dict = dataclasses.field(default_factory=dict)  # name -> Path
    subset: str = ""  #: MUSDB's train/test, LibriMix's split ("" when none)
    folder: tuple = ()  #: the output folder's parts under --out; () means (name,)
    layout: str = FOLDERS
    stems_file: Path | None = None  #: a MUSDB18 .stem.mp4, decoded by :func:`prepare`


def audio_in(folder: Path, stem: str | None = None) -> list:
    """The audio files in ``folder`` (hidden ones left out), sorted; ``stem`` picks one name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS
                  and not p.name.startswith(".") and (stem is None or p.stem == stem))


def _subfolders(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_folder(folder: Path, annotations: Path) -> tuple:
    """``(layout, items)`` of a dataset folder, its layout recognised by its shape.

    ``annotations`` is the dataset's own folder, where MUSDB18's tracks are decoded."""
    try:
        if _is_mix_folder(folder):
            return LIBRIMIX, _librimix_split(folder.parent, folder.parent.name, [folder.name])
        if _is_split(folder):
            return LIBRIMIX, _librimix_split(folder, folder.name, None)
        subs = _subfolders(folder)
        splits = [s for s in subs if _is_split(s)]
        if splits:
            return LIBRIMIX, _unique([it for s in splits
                                      for it in _librimix_split(s, s.name, None)])
        subsets = [folder / s for s in MUSDB_SUBSETS if folder / s in subs]  # musdb's order
        stems = [(s.name, p) for s in subsets or [folder] for p in sorted(s.glob("*.stem.mp4"))
                 if not p.name.startswith(".")]
        if stems:
            return MUSDB, _musdb_stems(folder, stems, annotations)
        if subsets and not any(audio_in(s, "mixture") for s in subs):
            items = [it for s in subsets for it in _tracks(s, s.name)]
        else:
            items = _tracks(folder, folder.name if folder.name in MUSDB_SUBSETS else "")
        layout = MUSDB_HQ if any(it.layout == MUSDB_HQ for it in items) else FOLDERS
        return layout, _unique(items)
    except OSError as exc:
        raise MaskStudioError(f"cannot read the dataset folder '{folder}' "
                              f"({exc.strerror or exc}): check its permissions") from None


def _tracks(folder: Path, subset: str) -> list:
    """Item folders: ``sources/<name>`` (maskstudio) or stems beside the mixture (MUSDB)."""
    items = []
    for sub in _subfolders(folder):
        mix = audio_in(sub, "mixture")
        if not mix:
            continue
        name = safe_file_name(sub.name, what=f"the dataset folder '{folder}' holds an item "
                                             f"folder")
        inside = (sub / "sources").is_dir()
        files = audio_in(sub / "sources") if inside else \
            [p for p in audio_in(sub) if p.stem != "mixture" and p.stem not in _NOT_STEMS]
        sources: dict[str, Path] = {}
        for p in files:
            check_source_name(p.stem, what=f"the item '{name}' has a stem")
            if name_key(p.stem) in map(name_key, sources):
                raise MaskStudioError(f"the item '{name}' has two stems named {p.stem!r}: "
                                      f"keep one file per source")
            sources[p.stem] = p
        musdb = not inside and (bool(sources) or bool(subset))  # stems beside, or in train/
        items.append(Item(name, mix[0], sources, subset=subset,
                          folder=(subset, name) if subset else (),
                          layout=MUSDB_HQ if musdb else FOLDERS))
    return items


def _unique(items: list) -> list:
    """Items of several subsets or splits named alike get the differing part in their name."""
    count: dict[str, int] = {}
    for it in items:
        count[name_key(it.name)] = count.get(name_key(it.name), 0) + 1
    for it in items:
        if count[name_key(it.name)] > 1 and it.folder:
            it.name = safe_file_name(f"{it.name} ({', '.join(it.folder[:-1])})",
                                     what="an item of the dataset is named")
    return items


def _musdb_stems(root: Path, stems: list, annotations: Path) -> list:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise MaskStudioError(f"'{root}' holds MUSDB18 .stem.mp4 files, which need ffmpeg and "
                              f"ffprobe to decode: install ffmpeg (apt-get install ffmpeg, "
                              f"brew install ffmpeg), or use MUSDB18-HQ's wav files")
    items = []
    for subset, path in stems:
        name = safe_file_name(path.name[:-len(".stem.mp4")],
                              what=f"the MUSDB18 file '{path.name}' names a track")
        parts = (subset, name) if subset else (name,)
        cache = annotations.joinpath("decoded", *parts)
        items.append(Item(name, cache / "mixture.wav",
                          {s: cache / f"{s}.wav" for s in MUSDB_STEMS[1:]},
                          subset=subset, folder=parts if subset else (), layout=MUSDB,
                          stems_file=path))
    return items


def prepare(item: Item) -> Item:
    """A MUSDB18 track decoded to wav files (once, one stem at a time, each file atomic,
    the mixture last); any other item as it is."""
    if item.stems_file is None or Path(item.mixture).exists():
        return item
    import soundfile as sf
    try:
        import stempeg
    except (ImportError, RuntimeError) as exc:
        raise MaskStudioError(f"cannot decode '{item.stems_file}' ({exc}): install stempeg "
                              f"and ffmpeg") from None
    from maskstudio.io.atomic import atomic_write

    folder = Path(item.mixture).parent
    folder.mkdir(parents=True, exist_ok=True)
    for k, stem in reversed(list(enumerate(MUSDB_STEMS))):  # the mixture last
        try:
            audio, rate = stempeg.read_stems(str(item.stems_file), stem_id=k, dtype=np.float32)
        except Exception as exc:  # stempeg raises what ffmpeg says
            raise MaskStudioError(f"cannot decode stem {k} of '{item.stems_file}' "
                                  f"({str(exc)[:100]}): check the file") from None
        atomic_write(folder / f"{stem}.wav", functools.partial(
            sf.write, data=audio, samplerate=int(rate), format="WAV", subtype="FLOAT"),
            suffix=".wav")
    return item


# -- LibriMix / WHAM! / wsj0-mix ----------------------------------------------------------------
def _is_mix_folder(folder: Path) -> bool:
    return folder.name in MIX_TYPES and (folder.parent / "s1").is_dir()


def _is_split(folder: Path) -> bool:
    return (folder / "s1").is_dir() and any((folder / t).is_dir() for t in MIX_TYPES)


def _librimix_split(split: Path, split_name: str, types) -> list:
    """An item per mixture file of each mixture type, its sources the same name in s1, ..."""
    items = []
    for mix_type in types or [t for t in MIX_TYPES if (split / t).is_dir()]:
        wanted = [s for s in MIX_TYPES[mix_type]
                  if s != "s3" or (split / "s3").is_dir()]
        for mix in audio_in(split / mix_type):
            sources = {}
            for s in wanted:
                path = split / s / mix.name
                if not path.is_file():
                    raise MaskStudioError(f"'{mix}' has no {s}/{mix.name} beside it: LibriMix "
                                          f"folders hold each source under the mixture's name")
                sources[s] = path
            ident = safe_file_name(mix.stem, what=f"the mixture file '{mix}' names an item")
            items.append(Item(ident, mix, sources, subset=split_name,
                              folder=(split_name, mix_type, ident), layout=LIBRIMIX))
    if len({it.folder[1] for it in items}) > 1:  # several types: the type in the name
        for it in items:
            it.name = safe_file_name(f"{it.name} ({it.folder[1]})", what="an item is named")
    return items


def is_librimix_csv(header) -> bool:
    """A LibriMix metadata CSV's header: ``mixture_ID, mixture_path, source_1_path, ...``."""
    return "mixture_path" in header and "mixture" not in header


def read_librimix_csv(path: Path, rows: list, header: list) -> list:
    """Items of a LibriMix metadata CSV (``rows`` after the ``header``).

    Paths are absolute as LibriMix writes them, or relative to the CSV's folder or one of its
    parents (LibriMix's root holds ``metadata/``): the first base where the first mixture
    exists.  ``mixture_<split>_<type>.csv`` gives the outputs' split and type folders."""
    where = f"the LibriMix CSV '{path.name}'"
    cols = {h: (f"s{h.split('_')[1]}" if h.startswith("source_") else "noise")
            for h in header if (h.startswith("source_") and h.endswith("_path")
                                and h.split("_")[1].isdigit()) or h == "noise_path"}
    if "mixture_ID" not in header or not cols:
        raise MaskStudioError(f"{where} needs the columns mixture_ID, mixture_path and "
                              f"source_1_path (LibriMix's metadata): add them")
    stem = path.stem.removeprefix("mixture_")
    split, _, mix_type = stem.rpartition("_mix_")
    parts = (split, f"mix_{mix_type}") if split and f"mix_{mix_type}" in MIX_TYPES else ()
    recs = [dict(zip(header, r)) for r in rows if any(v.strip() for v in r)]
    bases = [path.parent, *list(path.parent.parents)[:3]]
    first = recs[0].get("mixture_path", "") if recs else ""
    base = next((b for b in bases if (b / first).exists()), path.parent)
    items = []
    for line, rec in enumerate(recs, start=2):
        ident = safe_file_name((rec.get("mixture_ID") or "").strip(),
                               what=f"{where} line {line} names a mixture")
        for h in ["mixture_path", *cols]:
            if not (rec.get(h) or "").strip():
                raise MaskStudioError(f"{where} line {line} has no {h}: give the file's path")
        items.append(Item(ident, base / rec["mixture_path"].strip(),
                          {s: base / rec[h].strip() for h, s in cols.items()},
                          subset=parts[0] if parts else "", folder=(*parts, ident),
                          layout=LIBRIMIX))
    return items


# -- outputs -------------------------------------------------------------------------------------
def out_parts(item: Item) -> tuple:
    """The output folder of ``item`` under ``--out``, as path parts, each a safe file name."""
    parts = tuple(item.folder) or (item.name,)
    return tuple(safe_file_name(p, what="the item's output folder") for p in parts)


def layout_outputs(item: Item, names, signals, fmt: str = "wav") -> dict:
    """What the item's layout adds to the sources, as :func:`~maskstudio.io.export.write_outputs`
    keywords: the residual's name, more signals, and files copied (the mixture).

    MUSDB names the rest of a mixture ``accompaniment``: with a vocals mask alone it is the
    residual; with more masks it is every estimate but the vocals (their sum, the residual
    included, is the mixture), which museval scores against drums + bass + other."""
    if item.layout not in (MUSDB_HQ, MUSDB):
        return {}
    out: dict = {}
    mixture = Path(item.mixture)
    if mixture.suffix.lower() == f".{fmt}":
        out["copies"] = {f"mixture.{fmt}": mixture}
    names = list(names)
    if "vocals" in names and "accompaniment" not in names:
        if names == ["vocals"]:
            out["residual"] = "accompaniment"
        else:
            rest = [s for n, s in zip(names + ["residual"], signals) if n != "vocals"]
            out["audio"] = {"accompaniment": np.sum(rest, axis=0, dtype=np.float32)}
    return out


def describe_dataset(dataset) -> str:
    """``maskstudio info DATASET``: the layout recognised, the subsets (splits) with their
    items, the sources with the items that have them, and where a batch writes."""
    items = dataset.items
    layout = LAYOUT_NAMES.get(dataset.layout, dataset.layout)
    lines = [f"{dataset.path}", f"  layout      {layout}"]
    subsets: dict[str, int] = {}
    for it in items:
        key = "/".join(it.folder[:-1]) if len(it.folder) > 1 else ""
        subsets[key] = subsets.get(key, 0) + 1
    if any(subsets):
        lines.append("  subsets     " + ", ".join(f"{k or '(top)'} {n}"
                                                  for k, n in subsets.items()))
    lines.append(f"  items       {len(items)}")
    sources: dict[str, int] = {}
    for it in items:
        for s in it.sources:
            sources[s] = sources.get(s, 0) + 1
    lines.append("  sources     " + (", ".join(f"{s} {n}" for s, n in sorted(sources.items()))
                                     or "none (a separator or mask files can process them)"))
    musdb = "<out>/<subset>/<track>/<source>.wav, accompaniment.wav, mixture.wav"
    shape = {MUSDB_HQ: musdb, MUSDB: musdb,
             LIBRIMIX: "<out>/<split>/<mix_type>/<id>/<source>.wav, residual.wav"}
    shape[LIBRIMIX_CSV] = shape[LIBRIMIX]
    lines.append(f"  batch out   {shape.get(dataset.layout, '<out>/<item>/<source>.<ext>')}")
    return "\n".join(lines)
