"""From a mixture and masks to files: the export the command line and the window share.

Every file is written atomically, so a failure leaves no half-written output; the user's input
files are never overwritten.  The window's export streams (it renders and writes block by
block, see :meth:`maskstudio.core.document.Document.export`); these functions take signals
computed whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from maskstudio.core.audio_io import AudioClip, check_not_input, save_audio
from maskstudio.core.maskfile import save_masks
from maskstudio.core.masks import MaskSet
from maskstudio.core.phase import resynthesize
from maskstudio.core.stft import STFTConfig
from maskstudio.errors import ParameterError

__all__ = ["check_source_name", "render", "write_outputs", "output_targets"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
RESERVED = ("residual", "mixture", "masks")


def check_source_name(name: str) -> str:
    """A source name doubles as a file name: letters, digits, ``_ . + -``; not reserved."""
    if not _NAME.match(name or ""):
        raise ParameterError(
            f"source name {name!r} cannot be used: names start with a letter or digit and use "
            f"only letters, digits, '_', '.', '+' and '-'"
        )
    if name.lower() in RESERVED:
        raise ParameterError(f"'{name}' is reserved for maskstudio's own outputs: rename it")
    return name


def render(mixture: AudioClip, masks: MaskSet, config: STFTConfig, *, phase: str = "mixture",
           references: Sequence[np.ndarray] | None = None, n_iter: int | None = None,
           cutoff_hz: float = 6000.0, progress=None) -> np.ndarray:
    """Every source and the residual as time signals ``[S + 1, C, n]`` (residual last)."""
    return resynthesize(mixture.samples, masks.data, config, phase=phase,
                        samplerate=mixture.samplerate, n_iter=n_iter, cutoff_hz=cutoff_hz,
                        references=references, progress=progress)


def output_targets(out_dir, names, fmt: str, protect) -> list:
    """``<name>.<fmt>`` per source, ``residual.<fmt>`` and ``masks.npz`` in ``out_dir``,
    each checked against the inputs before anything is written; the folder is made."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in ("wav", "flac"):
        raise ParameterError(f"unknown output format {fmt!r}: choose wav or flac")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"'{out_dir}' exists and is not a folder: choose an output folder")
    targets = [out_dir / f"{n}.{fmt}" for n in list(names) + ["residual"]]
    targets.append(out_dir / "masks.npz")
    for t in targets:
        check_not_input(t, protect)
    out_dir.mkdir(parents=True, exist_ok=True)
    return targets


def write_outputs(out_dir, mixture: AudioClip, masks: MaskSet, signals: np.ndarray,
                  config: STFTConfig, *, fmt: str = "wav", metadata: dict | None = None,
                  protect: Sequence = ()) -> list:
    """Write ``<source>.<fmt>`` per source, ``residual.<fmt>`` and ``masks.npz`` into out_dir.

    Returns the paths written.  Checks every target against the inputs before writing any.
    """
    names = list(masks.names) + ["residual"]
    if signals.shape[0] != len(names):
        raise ParameterError(f"{signals.shape[0]} signals for {len(names)} layers")
    protect = list(protect) + [mixture.path]
    targets = output_targets(out_dir, masks.names, fmt, protect)
    written = []
    for name, sig, target in zip(names, signals, targets):
        written.append(save_audio(target, sig, mixture.samplerate, like=mixture, protect=protect))
    written.append(save_masks(targets[-1], masks, config, mixture.samplerate,
                              metadata=metadata, protect=protect))
    return written
