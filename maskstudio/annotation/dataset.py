"""Datasets to annotate: a folder of items, or a manifest; their status and vocabulary.

A dataset is a folder in one of the layouts :mod:`maskstudio.annotation.layouts` recognises
(maskstudio's ``<item>/mixture.<ext>`` + ``<item>/sources/<name>.<ext>``, MUSDB18-HQ, MUSDB18,
LibriMix / WHAM! / wsj0-mix), a LibriMix metadata CSV, or a CSV/JSON manifest listing mixtures:

- CSV (UTF-8, a byte order mark allowed): a header with ``mixture`` (a path relative to the
  manifest, or absolute), optionally ``name`` and ``source:<name>`` columns for stems;
- JSON: a list of ``{"mixture": ..., "name": ..., "sources": {name: path}}``.

Every field is checked (a schema): paths are text, item and source names become folder and
file names, so they go through :func:`~maskstudio.io.names.safe_file_name`; a manifest that
breaks a rule gives one line saying where and what to do.  Hidden files and folders (``.*``,
macOS's ``._*``) are not items or sources.

Annotations live beside the dataset in a folder of their own, ``<dataset>.maskstudio/``: the
status of each item, the label vocabulary shared by every item, and a project per item.  The
input files are never written.  The state (``dataset.json``) is changed under a file lock,
read again and merged, so two sessions setting the status of different items both keep
their change.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from maskstudio.annotation.layouts import (
    AUDIO_EXTENSIONS,
    CSV,
    JSON,
    LIBRIMIX,
    LIBRIMIX_CSV,
    Item,
    is_librimix_csv,
    read_librimix_csv,
    scan_folder,
)
from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.state import STATUSES
from maskstudio.errors import MaskStudioError
from maskstudio.io.atomic import atomic_write
from maskstudio.io.export import check_source_name
from maskstudio.io.names import check_inside, name_key, safe_file_name

__all__ = ["Item", "Dataset", "STATUSES", "AUDIO_EXTENSIONS"]

_STFT_KEYS = ("n_fft", "hop_length", "win_length", "window", "center")
#: Longest manifest read (a manifest is text; anything larger is not one).
_MAX_MANIFEST = 256 << 20
_LOCK_TIMEOUT = 10.0  #: seconds to wait for another session's state write


def _path(where: str, value, base: Path) -> Path:
    """A manifest's path field: non-empty text without NUL; relative to the manifest."""
    if not isinstance(value, str) or not value.strip():
        shown = "nothing" if value in (None, "") else f"{type(value).__name__} {value!r:.40}"
        raise MaskStudioError(f"{where} must be a path (text), not {shown}: write the file's "
                              f"path there")
    if "\x00" in value:
        raise MaskStudioError(f"{where} holds a NUL character: write the file's path there")
    return base / value


def _derived_name(value: str) -> str:
    """An item's name when the manifest gives none: its folder, else the file's stem."""
    p = Path(value)
    parent = p.parent.name
    return parent if parent not in ("", ".", "..") else p.stem


class Dataset:
    """Items, their status, and the label vocabulary, with annotations stored beside."""

    def __init__(self, path, items: list, layout: str = "folders"):
        self.path = Path(path)
        self.items = items
        self.layout = layout  #: a key of :data:`~maskstudio.annotation.layouts.LAYOUT_NAMES`
        self.annotations = self.annotations_of(self.path)
        self._state = self._read_state()

    @staticmethod
    def annotations_of(path: Path) -> Path:
        """``<dataset>.maskstudio`` beside the folder or manifest."""
        stem = path.stem if path.is_file() else path.name
        return path.parent / f"{stem}.maskstudio"

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> Dataset:
        path = Path(path)
        try:
            exists, is_dir, is_file = path.exists(), path.is_dir(), path.is_file()
        except (OSError, ValueError) as exc:
            raise MaskStudioError(f"cannot look at '{path}' ({exc}): check the path") from None
        if not exists:
            raise MaskStudioError(f"'{path}' does not exist: give a dataset folder or manifest")
        if is_dir:
            layout, items = scan_folder(path, cls.annotations_of(path))
        elif path.suffix.lower() not in (".csv", ".json"):
            raise MaskStudioError(f"'{path}' is neither a folder nor a .csv/.json manifest")
        elif not is_file:
            raise MaskStudioError(f"'{path}' is not a regular file: give a manifest file")
        else:
            text = cls._read_text(path)
            csv_file = path.suffix.lower() == ".csv"
            items = cls._read_csv(path, text) if csv_file else cls._read_json(path, text)
            layout = (LIBRIMIX_CSV if items and items[0].layout == LIBRIMIX else CSV) \
                if csv_file else JSON
        if not items:
            raise MaskStudioError(f"'{path}' holds no items: give a folder of items "
                                  f"(<item>/mixture.<ext>), MUSDB18(-HQ)'s root or subset, a "
                                  f"LibriMix split (mix_clean/, s1/, s2/) or a manifest")
        seen: dict[str, str] = {}
        for it in items:
            if name_key(it.name) in seen:
                first = seen[name_key(it.name)]
                also = "" if first == it.name else f" (and {first!r}: one folder on many systems)"
                raise MaskStudioError(f"'{path}' names the item {it.name!r} twice{also}: give "
                                      f"every item its own name")
            seen[name_key(it.name)] = it.name
        return cls(path, items, layout)

    @staticmethod
    def _read_text(path: Path) -> str:
        try:
            if path.stat().st_size > _MAX_MANIFEST:
                raise MaskStudioError(f"the manifest '{path}' is larger than "
                                      f"{_MAX_MANIFEST >> 20} MB: is it really a manifest?")
            data = path.read_bytes()
        except OSError as exc:
            raise MaskStudioError(f"cannot read the manifest '{path}' "
                                  f"({exc.strerror or exc})") from None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MaskStudioError(f"the manifest '{path}' is not UTF-8 text (byte {exc.start}):"
                                  f" save it as UTF-8") from None

    @staticmethod
    def _read_csv(path: Path, text: str) -> list:
        where = f"the manifest '{path.name}'"
        try:
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            header = next(reader, None)
            if not header:
                raise MaskStudioError(f"{where} has no header: its first line names the "
                                      f"columns (mixture, name, source:<name>)")
            header = [h.strip() for h in header]
            if is_librimix_csv(header):
                return read_librimix_csv(path, list(reader), header)
            if "mixture" not in header:
                raise MaskStudioError(f"{where} has no 'mixture' column: name the column of "
                                      f"the mixtures' paths 'mixture'")
            dup = [h for h in header if h and header.count(h) > 1]
            if dup:
                raise MaskStudioError(f"{where} names the column {dup[0]!r} twice: keep one")
            source_cols = {}
            for h in header:
                if h.startswith("source:"):
                    src = check_source_name(h.split(":", 1)[1].strip(),
                                            what=f"{where} has a column for a source")
                    source_cols[h] = src
            items = []
            for row in reader:
                line = reader.line_num
                if not any(v.strip() for v in row):
                    continue  # a blank line
                if len(row) > len(header):
                    raise MaskStudioError(f"{where} line {line} has {len(row)} fields but the "
                                          f"header {len(header)}: quote fields with commas")
                rec = dict(zip(header, row + [""] * (len(header) - len(row))))
                mix = _path(f"{where} line {line}: 'mixture'", rec["mixture"], path.parent)
                name = rec.get("name", "").strip() or _derived_name(rec["mixture"])
                name = safe_file_name(name, what=f"{where} line {line} names an item")
                srcs = {src: _path(f"{where} line {line}: '{h}'", rec[h], path.parent)
                        for h, src in source_cols.items() if rec[h].strip()}
                items.append(Item(name, mix, srcs))
        except csv.Error as exc:
            raise MaskStudioError(f"cannot read {where} as CSV ({exc}): check its quotes"
                                  ) from None
        return items

    @staticmethod
    def _read_json(path: Path, text: str) -> list:
        where = f"the manifest '{path.name}'"
        try:
            rows = json.loads(text)
        except (ValueError, RecursionError) as exc:
            reason = str(exc).splitlines()[0][:100] if str(exc) else "nested too deep"
            raise MaskStudioError(f"cannot read {where} as JSON ({reason}): fix the JSON"
                                  ) from None
        if not isinstance(rows, list):
            raise MaskStudioError(f"{where} must hold a list of items "
                                  f"[{{\"mixture\": PATH, ...}}], not {type(rows).__name__}")
        items = []
        for i, row in enumerate(rows):
            at = f"{where} item {i}"
            if not isinstance(row, dict) or "mixture" not in row:
                raise MaskStudioError(f"{at} has no 'mixture': give each item "
                                      f"{{\"mixture\": PATH}}")
            mix = _path(f"{at}: 'mixture'", row["mixture"], path.parent)
            name = row.get("name")
            if name is None or name == "":
                name = _derived_name(row["mixture"])
            name = safe_file_name(name, what=f"{at} is named")
            sources = row.get("sources")
            if sources is None:
                sources = {}
            if not isinstance(sources, dict):
                raise MaskStudioError(f"{at}: 'sources' must be an object "
                                      f"{{name: path}}, not {type(sources).__name__}")
            srcs, keys = {}, set()
            for n, p in sources.items():
                check_source_name(n, what=f"{at} names a source")
                if name_key(n) in keys:
                    raise MaskStudioError(f"{at} names the source {n!r} twice: keep one")
                keys.add(name_key(n))
                srcs[n] = _path(f"{at}: source {n!r}", p, path.parent)
            items.append(Item(name, mix, srcs))
        return items

    # -- state ----------------------------------------------------------------------------
    @property
    def _state_file(self) -> Path:
        return self.annotations / "dataset.json"

    def _read_state(self) -> dict:
        """``dataset.json``, checked field by field (the defaults when there is none)."""
        state: dict[str, object] = {"status": {}, "labels": [], "stft": None}
        target = self._state_file
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return state
        except (OSError, UnicodeDecodeError) as exc:
            raise self._state_error(exc) from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self._state_error(str(exc)[:100] or "nested too deep") from None
        if not isinstance(data, dict):
            raise self._state_error(f"it holds {type(data).__name__}, not an object")
        status, labels, stft = (data.get("status", {}), data.get("labels", []),
                                data.get("stft"))
        if not isinstance(status, dict) or not all(isinstance(v, str) and v in STATUSES
                                                   for v in status.values()):
            raise self._state_error(f"'status' must map item names to one of "
                                    f"{', '.join(STATUSES)}")
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise self._state_error("'labels' must be a list of text")
        if stft is not None and not (isinstance(stft, dict) and set(stft) <= set(_STFT_KEYS)
                                     and "n_fft" in stft):
            raise self._state_error("'stft' must be null or STFT settings (n_fft, ...)")
        state.update(status=status, labels=labels, stft=stft)
        return state

    def _state_error(self, reason) -> MaskStudioError:
        return MaskStudioError(f"cannot read '{self._state_file}' ({reason}): it holds the "
                               f"dataset's statuses; restore it or move it aside")

    def _update(self, change) -> None:
        """Apply ``change(state)`` to the state on disk, under the lock: what other sessions
        wrote since this one read it is kept."""
        from filelock import FileLock, Timeout

        target = self._state_file
        try:
            self.annotations.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(target) + ".lock", timeout=_LOCK_TIMEOUT)
            with lock:
                state = self._read_state()
                change(state)
                text = json.dumps(state, indent=1)
                atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"),
                             suffix=".json")
        except Timeout:
            raise MaskStudioError(f"'{target}' stays locked by another session: close the "
                                  f"other maskstudio on this dataset, or try again") from None
        except OSError as exc:
            if isinstance(exc, MaskStudioError):
                raise
            raise MaskStudioError(f"cannot write '{target}' ({exc.strerror or exc}): check "
                                  f"the folder's permissions and free space") from None
        self._state = state

    def status(self, item: Item | str) -> str:
        name = item.name if isinstance(item, Item) else item
        return self._state["status"].get(name, "to do")

    def set_status(self, item: Item | str, status: str) -> None:
        if status not in STATUSES:
            raise MaskStudioError(f"unknown status {status!r}: choose {', '.join(STATUSES)}")
        name = item.name if isinstance(item, Item) else item
        if not isinstance(name, str):
            raise MaskStudioError(f"there is no item {name!r} in this dataset")
        self._update(lambda state: state["status"].__setitem__(name, status))

    def progress(self) -> dict:
        counts = {s: 0 for s in STATUSES}
        for it in self.items:
            counts[self.status(it)] += 1
        return counts

    @property
    def labels(self) -> list:
        return list(self._state["labels"])

    def set_labels(self, labels) -> None:
        clean = []
        for label in labels:
            label = str(label).strip()
            if label and label not in clean:
                clean.append(label)
        self._update(lambda state: state.__setitem__("labels", clean))

    @property
    def config(self) -> STFTConfig | None:
        """The STFT grid every item of the dataset is annotated on (None until chosen)."""
        d = self._state.get("stft")
        if not d:
            return None
        window = d.get("window", "hann")
        try:
            return STFTConfig(**dict(d, window=tuple(window) if isinstance(window, list)
                                     else window))
        except MaskStudioError as exc:
            raise self._state_error(exc) from None
        except (TypeError, ValueError) as exc:
            raise self._state_error(f"its STFT settings are not usable: {exc}") from None

    def default_config(self) -> STFTConfig:
        """The grid of the dataset's items: the one chosen (:attr:`config`), else the one that
        fits the sample rate of its first readable item (:meth:`STFTConfig.for_samplerate`),
        so every item shares one grid whichever is opened first."""
        chosen = self.config
        if chosen is not None:
            return chosen
        import soundfile as sf

        for item in self.items:
            try:
                if Path(item.mixture).is_file():  # not a FIFO: reading its header would block
                    rate = sf.info(str(item.mixture)).samplerate
                    if 0 < rate <= 10_000_000:
                        return STFTConfig.for_samplerate(rate)
            except (sf.SoundFileError, RuntimeError, OSError, ValueError):
                continue  # that item fails on its own when opened
        return STFTConfig()

    def set_config(self, config: STFTConfig) -> None:
        d = config.to_dict()
        self._update(lambda state: state.__setitem__("stft", d))

    def project_path(self, item: Item) -> Path:
        """``<dataset>.maskstudio/items/<item>.msproj``: the item's name is a file name there."""
        name = safe_file_name(item.name, what="the item name")
        folder = self.annotations / "items"
        return check_inside(folder, folder / f"{name}.msproj")

    def index(self, name: str) -> int:
        for i, it in enumerate(self.items):
            if it.name == name:
                return i
        raise MaskStudioError(f"there is no item {name!r} in this dataset")

    def next_index(self, i: int, step: int = 1, *, todo_only: bool = False) -> int:
        """The next (or previous) item; with ``todo_only`` the next not done or skipped."""
        n = len(self.items)
        for k in range(1, n + 1):
            j = (i + step * k) % n
            if not todo_only or self.status(self.items[j]) in ("to do", "in progress"):
                return j
        return i
