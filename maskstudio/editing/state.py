"""What a document holds, as plain data: its layers and a typed snapshot of its whole state.

:class:`DocumentState` is everything a project keeps of a document (the grid, the layers with
their ids and provenance, the stored tiles of their masks, the complex masks of cIRM layers,
the item's notes and status, the next layer id, the masks' lead shape); it is not the
session (the file it was opened from, its journal, unsaved changes, loaded stems, the channel
on view).  :meth:`Document.state() <maskstudio.editing.document.Document.state>` takes one and
:meth:`~maskstudio.editing.document.Document.from_state` /
:meth:`~maskstudio.editing.document.Document.load_state` make a document of one, so projects
and the crash journal never write a document's fields themselves.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

from maskstudio.dsp.stft import STFTConfig
from maskstudio.editing.palette import PALETTE

__all__ = ["Layer", "DocumentState", "STATUSES", "RESIDUAL_COLOR", "LAYER_FIELDS",
           "residual_layer"]

#: An item's annotation statuses, in the order of work (datasets count items by them).
STATUSES = ("to do", "in progress", "done", "skipped")

RESIDUAL_COLOR = (220, 220, 220)

#: The fields of a :class:`Layer`, as projects and journals write them.
LAYER_FIELDS = ("name", "color", "opacity", "visible", "solo", "muted", "locked", "label",
                "provenance", "uid")


@dataclasses.dataclass
class Layer:
    """How a source layer looks and where it came from (its values live in the store)."""

    name: str
    color: tuple = PALETTE[0]
    opacity: float = 0.7
    visible: bool = True
    solo: bool = False
    muted: bool = False
    locked: bool = False
    label: str = ""
    uid: int = -1  #: stable identity (journal, projects); assigned by the document
    provenance: dict = dataclasses.field(default_factory=lambda: {"kind": "painted"})

    def copy(self) -> Layer:
        """A copy whose provenance can change without changing this one's."""
        return dataclasses.replace(self, provenance=_copy_tree(self.provenance))

    def meta(self) -> dict:
        """The layer as JSON-ready fields (:data:`LAYER_FIELDS`; the colour a list)."""
        d = {k: getattr(self, k) for k in LAYER_FIELDS}
        d["color"] = list(d["color"])
        return d


def residual_layer() -> Layer:
    """How the residual (what no layer holds) looks by default."""
    return Layer("residual", RESIDUAL_COLOR, opacity=0.35, visible=False,
                 provenance={"kind": "residual"})


def _copy_tree(value: typing.Any) -> typing.Any:
    if isinstance(value, dict):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


@dataclasses.dataclass
class DocumentState:
    """A document's whole state, as a project keeps it.

    ``tiles[i]`` holds layer ``i``'s stored tiles by tile index, each of shape
    ``lead + (n_bins, tile)`` (a tile never written reads as zeros); ``complex_masks`` maps a
    cIRM layer's uid to its complex mask ``lead + (n_bins, n_frames)``.  The arrays of a state
    taken from a document are the document's own: read them, or :meth:`copy` the state to
    keep it while the document goes on changing.
    """

    config: STFTConfig
    layers: list[Layer] = dataclasses.field(default_factory=list)
    tiles: list[dict[int, np.ndarray]] = dataclasses.field(default_factory=list)
    residual: Layer = dataclasses.field(default_factory=residual_layer)
    complex_masks: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    lead: tuple[int, ...] = ()  #: () for masks shared by the channels, (C,) for one per channel
    tile: int = 128  #: frames per stored tile
    notes: str = ""
    status: str = "to do"
    next_uid: int = 0  #: the id the next new layer gets

    def __post_init__(self) -> None:
        if len(self.tiles) != len(self.layers):
            raise ValueError(f"a state of {len(self.layers)} layers needs as many tile "
                             f"dictionaries, not {len(self.tiles)}")

    def copy(self) -> DocumentState:
        """A deep copy: its arrays and layers are its own."""
        return dataclasses.replace(
            self, layers=[layer.copy() for layer in self.layers],
            tiles=[{k: t.copy() for k, t in tiles.items()} for tiles in self.tiles],
            residual=self.residual.copy(),
            complex_masks={uid: m.copy() for uid, m in self.complex_masks.items()})

    def nbytes(self) -> int:
        """The bytes of the stored tiles (what a snapshot of the masks costs)."""
        return sum(t.nbytes for tiles in self.tiles for t in tiles.values())
