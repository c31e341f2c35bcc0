"""What is heard of a document: the playback renderer, and which layers a choice plays.

Playback and export resynthesise the same layers with the same phase modes, so they share
their checks here: the oracle phase needs the stems of the layers heard, read on demand
(:func:`reference_readers`), the complex phase unedited cIRM layers (:func:`complex_data`).
:func:`playback_renderer` builds the streaming renderer of a document for a phase mode, reading
the layers live from the store; :func:`heard_for` maps the transport's choice (mixture, the
active layer, the residual, the soloed layers, all but the muted ones) to a
:class:`~maskstudio.dsp.stream.Heard`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from maskstudio.dsp.stream import Heard, MaskSource, StreamRenderer
from maskstudio.errors import ParameterError
from maskstudio.io.ondemand import AudioReader, read_whole

if TYPE_CHECKING:
    from maskstudio.editing.document import Document

__all__ = ["HEARD_KEYS", "heard_for", "phase_inputs", "playback_renderer", "reference_readers",
           "complex_data"]

#: What the transport can play: the mixture, the active layer, the residual, the soloed
#: layers, everything but the muted layers.
HEARD_KEYS = ("mixture", "layer", "residual", "solo", "unmuted")


def reference_readers(doc: Document, names: Sequence[str], *, remedy: str) -> list:
    """Readers of the stems of the layers ``names`` (the oracle phase needs them), conformed
    to the mixture, each its own (for another thread); raises
    :class:`~maskstudio.errors.ParameterError` naming the missing ones and ``remedy``."""
    missing = [n for n in names if n not in doc.references]
    if missing:
        raise ParameterError(f"the oracle phase needs the stems of {', '.join(missing)}: "
                             f"{remedy}")
    refs = [doc.references[n] for n in names]
    return [r.reader() if hasattr(r, "reader") else r for r in refs]


def complex_data(doc: Document, indices: Iterable[int]) -> np.ndarray:
    """The complex (cIRM) masks of the layers at ``indices``, ``[N, (C,) F, T]``; they follow
    the layer through renames, saves and recovery, and lapse once it is edited."""
    layers = [doc.layers[i] for i in indices]
    if not layers or not all(la.uid in doc.complex_masks and not la.provenance.get("edited")
                             for la in layers):
        raise ParameterError("the complex phase needs unedited complex (cIRM) layers: "
                             "choose another phase")
    return np.stack([doc.complex_masks[la.uid] for la in layers])


def phase_inputs(doc: Document, phase: str) -> tuple[str, MaskSource | None, list | None]:
    """What a renderer of ``doc`` needs for the phase mode ``phase``: the mode itself (the
    oracle phase with no layer plays the mixture), the masks to read (live from the store; a
    cIRM's complex masks for the complex phase) and the stems (for the oracle phase).

    Raises
    ------
    maskstudio.errors.ParameterError
        The oracle phase without the stems of every layer, or the complex phase without
        unedited cIRM layers.
    """
    n = len(doc.layers)
    masks: MaskSource | None = None
    refs = None
    if n:
        if phase == "complex":
            data = complex_data(doc, range(n))
            masks = lambda a, b: data[..., a:b]  # noqa: E731
        else:
            masks = doc.store.block
        if phase == "oracle":
            refs = reference_readers(doc, [layer.name for layer in doc.layers],
                                     remedy="compute an oracle first")
    elif phase == "oracle":  # nothing to separate: the mixture as it is
        phase = "mixture"
    return phase, masks, refs


def playback_renderer(doc: Document, phase: str, heard: Heard | None = None
                      ) -> StreamRenderer:
    """A renderer of ``doc``'s mixture under its layers (read live from the store) with the
    phase mode ``phase``, playing ``heard`` (the mixture if None).  A running renderer changes
    mode with ``renderer.set_phase(*phase_inputs(doc, phase))`` (through the player).

    Raises
    ------
    maskstudio.errors.ParameterError
        The oracle phase without the stems of every layer, the complex phase without unedited
        cIRM layers, or an unknown phase mode.
    """
    phase, masks, refs = phase_inputs(doc, phase)
    clip = doc.clip  # a file read on demand: a reader of its own, for the player's thread
    mixture = clip.reader() if isinstance(clip, AudioReader) else read_whole(clip)
    renderer = StreamRenderer(mixture, doc.config, masks, len(doc.layers),
                              phase=phase, samplerate=doc.samplerate, references=refs)
    if heard is not None:
        renderer.heard = heard
    return renderer


def heard_for(doc: Document, key: str, active: int, selection: tuple | None,
              only_selection: bool) -> Heard:
    """What the transport's choice ``key`` (one of :data:`HEARD_KEYS`) plays of ``doc``, with
    ``active`` the active layer's index, restricted to ``selection`` ``(Box, alpha)`` when
    ``only_selection``.  A choice that needs layers plays the mixture while there are none."""
    sel = selection if only_selection else None
    if key == "layer" and doc.layers:
        return Heard("layer", (min(active, len(doc.layers) - 1),), sel)
    if key == "solo":
        return Heard("solo", tuple(i for i, la in enumerate(doc.layers) if la.solo), sel)
    if key == "unmuted":
        return Heard("unmuted", tuple(i for i, la in enumerate(doc.layers) if la.muted), sel)
    if key == "residual" and doc.layers:
        return Heard("residual", (), sel)
    return Heard("mixture", (), sel)
