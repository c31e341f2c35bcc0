"""Datasets to annotate: a folder of items, or a manifest; their status and vocabulary.

A dataset is a folder whose items are folders holding ``mixture.<ext>`` and optionally
``sources/<name>.<ext>`` (the MUSDB layout), or a CSV/JSON manifest listing mixtures:

- CSV: a header with ``mixture`` (a path relative to the manifest), optionally ``name`` and
  ``source:<name>`` columns for stems;
- JSON: a list of ``{"mixture": ..., "name": ..., "sources": {name: path}}``.

Annotations live beside the dataset in a folder of their own, ``<dataset>.maskstudio/``: the
status of each item, the label vocabulary shared by every item, and a project per item.  The
input files are never written.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from maskstudio.core.audio_io import atomic_write
from maskstudio.core.stft import STFTConfig
from maskstudio.errors import MaskStudioError

__all__ = ["Item", "Dataset", "STATUSES", "AUDIO_EXTENSIONS"]

STATUSES = ("to do", "in progress", "done", "skipped")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@dataclasses.dataclass
class Item:
    name: str
    mixture: Path
    sources: dict = dataclasses.field(default_factory=dict)  # name -> Path


def _audio_in(folder: Path, stem: str | None = None) -> list:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS
                  and (stem is None or p.stem == stem))


class Dataset:
    """Items, their status, and the label vocabulary, with annotations stored beside."""

    def __init__(self, path, items: list):
        self.path = Path(path)
        self.items = items
        self.annotations = self.path.parent / f"{self.path.stem if self.path.is_file() else self.path.name}.maskstudio"
        self._state = {"status": {}, "labels": [], "stft": None}
        state = self.annotations / "dataset.json"
        if state.exists():
            try:
                self._state.update(json.loads(state.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                raise MaskStudioError(f"cannot read '{state}' ({exc}): it holds the dataset's "
                                      f"statuses; restore it or move it aside") from None

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> "Dataset":
        path = Path(path)
        if not path.exists():
            raise MaskStudioError(f"'{path}' does not exist: give a dataset folder or manifest")
        if path.is_dir():
            items = cls._scan(path)
        elif path.suffix.lower() == ".csv":
            items = cls._read_csv(path)
        elif path.suffix.lower() == ".json":
            items = cls._read_json(path)
        else:
            raise MaskStudioError(f"'{path}' is neither a folder nor a .csv/.json manifest")
        if not items:
            raise MaskStudioError(f"'{path}' holds no items: each item is a folder with a "
                                  f"mixture.<ext> (and optionally sources/<name>.<ext>)")
        names = [it.name for it in items]
        if len(set(names)) != len(names):
            raise MaskStudioError(f"'{path}' names an item twice: give every item its own name")
        return cls(path, items)

    @staticmethod
    def _scan(folder: Path) -> list:
        items = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            mix = _audio_in(sub, "mixture")
            if mix:
                items.append(Item(sub.name, mix[0],
                                  {p.stem: p for p in _audio_in(sub / "sources")}))
        return items

    @staticmethod
    def _read_csv(path: Path) -> list:
        items = []
        try:
            with open(path, newline="") as f:
                for i, row in enumerate(csv.DictReader(f)):
                    if not row.get("mixture"):
                        raise MaskStudioError(f"'{path}' row {i + 2} has no 'mixture' column")
                    mix = path.parent / row["mixture"]
                    name = row.get("name") or Path(row["mixture"]).parent.name or mix.stem
                    srcs = {k.split(":", 1)[1]: path.parent / v for k, v in row.items()
                            if k and k.startswith("source:") and v}
                    items.append(Item(name, mix, srcs))
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            raise MaskStudioError(f"cannot read the manifest '{path}' ({exc})") from None
        return items

    @staticmethod
    def _read_json(path: Path) -> list:
        try:
            rows = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MaskStudioError(f"cannot read the manifest '{path}' ({exc})") from None
        if not isinstance(rows, list):
            raise MaskStudioError(f"'{path}' must hold a list of items")
        items = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or "mixture" not in row:
                raise MaskStudioError(f"item {i} of '{path}' has no 'mixture'")
            mix = path.parent / row["mixture"]
            items.append(Item(row.get("name") or mix.parent.name or mix.stem, mix,
                              {n: path.parent / p for n, p in row.get("sources", {}).items()}))
        return items

    # -- state ----------------------------------------------------------------------------
    def _save(self) -> None:
        target = self.annotations / "dataset.json"

        def write(tmp):
            Path(tmp).write_text(json.dumps(self._state, indent=1))
        atomic_write(target, write, suffix=".json")

    def status(self, item: Item | str) -> str:
        name = item.name if isinstance(item, Item) else item
        return self._state["status"].get(name, "to do")

    def set_status(self, item: Item | str, status: str) -> None:
        if status not in STATUSES:
            raise MaskStudioError(f"unknown status {status!r}: choose {', '.join(STATUSES)}")
        name = item.name if isinstance(item, Item) else item
        self._state["status"][name] = status
        self._save()

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
        self._state["labels"] = clean
        self._save()

    @property
    def config(self) -> STFTConfig | None:
        """The STFT grid every item of the dataset is annotated on (None until chosen)."""
        d = self._state.get("stft")
        if not d:
            return None
        return STFTConfig(**dict(d, window=tuple(d["window"]) if isinstance(d["window"], list)
                                 else d["window"]))

    def set_config(self, config: STFTConfig) -> None:
        self._state["stft"] = config.to_dict()
        self._save()

    def project_path(self, item: Item) -> Path:
        return self.annotations / "items" / f"{item.name}.msproj"

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
