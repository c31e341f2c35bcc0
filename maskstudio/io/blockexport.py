"""Exports of long files, block by block: what ``oracle``, ``separate`` and the window write.

The mixture and the stems are read on demand (:func:`~maskstudio.io.ondemand.open_audio`,
:func:`~maskstudio.io.ondemand.open_reference`), the masks come a block of frames at a time
(computed from the stems, read from a mask file, or from the editor's tiles), and
:func:`~maskstudio.dsp.blockwise.render_stream` renders every phase mode into
:class:`~maskstudio.io.audiofile.AudioWriter` files as it goes.
Masks computed on the way are staged to a raw file inside the export's staging folder with
positioned writes (:class:`MaskStage`; never a memory map, whose dirty pages would count in the
process's memory) and streamed into ``masks.npz`` by frequency bands at the end.  Peak memory
does not grow with the file's length; the files appear together, as one
:class:`~maskstudio.io.export.ExportSet`, and an error or Cancel leaves the folder as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.fft
from numpy.typing import DTypeLike

from maskstudio.dsp.blockwise import (
    FrameReader,
    MaskPass,
    SampleReader,
    render_stream,
)
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.masks import OverlapReport
from maskstudio.io.atomic import write_error
from maskstudio.io.audiofile import AudioClip, AudioWriter
from maskstudio.io.export import MASKS, ExportSet, output_targets
from maskstudio.io.ondemand import AudioReader
from maskstudio.io.savez import write_mask_file
from maskstudio.io.stems import StemMix

__all__ = ["like_clip", "MaskStage", "export_blocks", "fft_workers"]


def fft_workers() -> int:
    """Threads for scipy.fft in the exports: two where there are two cores, else one.

    Returns
    -------
    int
    """
    return max(1, min(2, os.cpu_count() or 1))


def like_clip(reader: AudioReader) -> AudioClip:
    """An empty :class:`AudioClip` that stands for the file ``reader`` reads: exports match its
    sample format and never overwrite it.

    Parameters
    ----------
    reader : AudioReader

    Returns
    -------
    AudioClip
    """
    return AudioClip(np.zeros((reader.n_channels, 0), np.float32), reader.samplerate,
                     reader.path, reader.format, reader.subtype)


class MaskStage:
    """Masks written a block of frames at a time into a raw file, read back by bands of bins.

    Each block ``[N, (C,) F, k]`` is one positioned write at the end of the file; reading
    mask ``i``'s bins ``f0..f1`` over all frames reads that band from every block.

    Parameters
    ----------
    path : path
        A new file (inside an export's staging folder).
    shape : tuple of int
        ``(N, (C,) F, T)`` of all the masks.
    dtype : numpy dtype
        float32 or complex64.

    Raises
    ------
    WriteError
        The file cannot be made.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple, dtype: DTypeLike) -> None:
        self.path = Path(path)
        self.shape = tuple(int(k) for k in shape)
        self.dtype = np.dtype(dtype)
        self._blocks: list[tuple[int, int, int]] = []  # (t0, t1, byte offset)
        self._end = 0
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def write(self, t0: int, block: np.ndarray) -> None:
        """Append the masks of frames ``t0..t0 + k`` (the frames after the last block).

        Parameters
        ----------
        t0 : int
        block : np.ndarray [shape=(N, (C,) F, k)]

        Raises
        ------
        WriteError
            The write failed (a full disk).
        """
        done = self._blocks[-1][1] if self._blocks else 0
        if t0 != done:  # a bug of the caller
            raise RuntimeError(f"masks staged from frame {t0}, {done} expected")
        data = np.ascontiguousarray(block, dtype=self.dtype)
        view = data.data.cast("B")
        try:
            written = 0
            while written < len(view):
                written += os.pwrite(self._fd, view[written:], self._end + written)
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self._blocks.append((t0, t0 + data.shape[-1], self._end))
        self._end += len(view)

    def rows(self, i: int, f0: int, f1: int) -> np.ndarray:
        """Mask ``i``'s bins ``f0 <= f < f1`` over every frame staged.

        Parameters
        ----------
        i, f0, f1 : int

        Returns
        -------
        np.ndarray [shape=((C,) f1 - f0, T)]

        Raises
        ------
        WriteError
            The read failed.
        """
        lead, F, T = self.shape[1:-2], self.shape[-2], self.shape[-1]
        item = self.dtype.itemsize
        out = np.zeros(lead + (f1 - f0, T), self.dtype)
        channels = int(np.prod(lead, dtype=np.int64))
        flat = out.reshape(channels, f1 - f0, T)
        for t0, t1, offset in self._blocks:
            k = t1 - t0
            for c in range(channels):
                start = ((i * channels + c) * F + f0) * k * item
                size = (f1 - f0) * k * item
                try:
                    raw = os.pread(self._fd, size, offset + start)
                except OSError as exc:
                    raise write_error(self.path, exc) from None
                if len(raw) != size:  # the staging folder was tampered with
                    raise write_error(self.path, OSError("the staged masks are truncated"))
                flat[c, :, t0:t1] = np.frombuffer(raw, self.dtype).reshape(f1 - f0, k)
        return out

    def close(self) -> None:
        """Close and remove the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                self.path.unlink()


def export_blocks(out_dir, names: Sequence[str], mixture: SampleReader | FrameReader,
                  masks: Callable[[int, int], np.ndarray], config: STFTConfig, *,
                  like: AudioClip, mask_shape: tuple, mask_dtype: DTypeLike = np.float32,
                  stored: Callable[[int, int, int], np.ndarray] | None = None,
                  phase: str = "mixture", references: Sequence | None = None,
                  n_iter: int | None = None, cutoff_hz: float = 6000.0, fmt: str = "wav",
                  metadata: dict | None = None, protect: Sequence = (),
                  what: str = "the source name", extra: dict | None = None,
                  normalize: bool = False, scan: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  workers: int | None = None,
                  mixes: Sequence[StemMix] = ()) -> tuple[list[Path], OverlapReport | None]:
    """Every source and the residual, rendered and written block by block, and the masks, into
    ``out_dir`` as one export set (they appear together, ``masks.npz`` last).

    Parameters
    ----------
    out_dir : path
        The output folder.
    names : sequence of str
        The sources' names.
    mixture : SampleReader
        The mixture (a :class:`~maskstudio.dsp.blockwise.FrameReader` to share its frames).
    masks : callable(t0, t1) -> np.ndarray [shape=(N, (C,) F, t1 - t0)]
        The masks, asked for in order.
    config : STFTConfig
    like : AudioClip
        The mixture's file: its sample format is matched, and it is never overwritten.
    mask_shape : tuple of int
        ``(N, (C,) F, T)``.
    mask_dtype : numpy dtype
        float32, or complex64 for complex masks.
    stored : callable(i, f0, f1) -> np.ndarray [shape=((C,) f1 - f0, T)], optional
        Where ``masks.npz`` reads its bands (the editor's tiles); None stages the masks as they
        are rendered (:class:`MaskStage`).
    phase, references, n_iter, cutoff_hz
        As for :func:`~maskstudio.dsp.blockwise.render_stream`.
    fmt : {'wav', 'flac'}
    metadata : dict, optional
        Stored in ``masks.npz``.
    protect : sequence of paths
        The user's inputs, never overwritten.
    what : str
        Where the names came from, for messages.
    extra : dict, optional
        More file names and their text.
    normalize : bool
        Normalise overlapping real masks, block by block (what is written too).
    scan : bool
        Measure the masks' overlap as they pass.
    progress : callable(done, total), optional
        Called with the frames done; it may raise to cancel.
    workers : int, optional
        scipy.fft threads (:func:`fft_workers` by default).
    mixes : sequence of StemMix
        Stem subsets (:mod:`maskstudio.io.stems`) written beside the sources, each the sum
        of the rendered signals it names.

    Returns
    -------
    tuple of (list of Path, OverlapReport or None)
        The files written (extra files not included) and, with ``scan``, the overlap.

    Raises
    ------
    MaskStudioError
        A bad target or name (see :func:`~maskstudio.io.export.output_targets`), a bad phase
        option, or a failed read or write.
    """
    protect = list(protect) + ([like.path] if like.path is not None else [])
    n_src = len(names)
    targets = output_targets(out_dir, [*names, *(m.name for m in mixes)], fmt, protect,
                             what=what)
    audio = targets[:n_src] + [targets[-2]]  # the sources and the residual, in block order
    extra = dict(extra or {})
    rate = like.samplerate
    with contextlib.ExitStack() as stack:
        staged = stack.enter_context(ExportSet(
            out_dir, [t.name for t in targets] + list(extra), protect=protect))
        stage = None
        rows = stored
        if rows is None:
            stage = MaskStage(staged.scratch("masks.raw"), mask_shape, mask_dtype)
            stack.callback(stage.close)
            rows = stage.rows
        passing = MaskPass(masks, normalize=normalize, scan=scan,
                           each=stage.write if stage is not None else None)
        with contextlib.ExitStack() as files:
            def writer(t: Path) -> AudioWriter:
                return files.enter_context(AudioWriter(staged.path(t.name), rate,
                                                       mixture.n_channels, like=like))

            writers = [writer(t) for t in audio]
            mixed = [(m, writer(t)) for m, t in zip(mixes, targets[n_src:-2], strict=True)]
            # the term 'mixture' is the file's own samples, read beside the blocks
            samples = mixture.reader if isinstance(mixture, FrameReader) else mixture
            pos = 0
            with scipy.fft.set_workers(workers or fft_workers()):
                for block in render_stream(mixture, passing, len(names), config, phase=phase,
                                           references=references, samplerate=rate,
                                           n_iter=n_iter, cutoff_hz=cutoff_hz,
                                           progress=progress):
                    for w, signal in zip(writers, block, strict=True):
                        w.write(signal)
                    n = block.shape[-1]
                    here = samples.read(pos, pos + n) if any(m.mixture for m, _ in mixed) \
                        else None
                    pos += n
                    for m, w in mixed:
                        w.write(m.apply(block, here))
        write_mask_file(staged.path(MASKS), list(names), mask_shape, rows, config, rate,
                        dtype=mask_dtype, metadata=metadata)
        if stage is not None:
            stage.close()
        for name, text in extra.items():
            Path(staged.path(name)).write_text(text)
    return targets, passing.report
