"""Reading and writing audio through soundfile (libsndfile).

Reads WAV, FLAC, OGG/Vorbis, MP3, AIFF and the rest of what libsndfile knows, at any rate and
channel count, into float32 ``[channels, n]``.  Writes WAV or FLAC, matching the mixture's own
container and sample format by default, atomically, and never over a file the user gave.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import warnings
from collections.abc import Iterable
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
from numpy.typing import DTypeLike

from maskstudio.dsp.blockwise import ArrayReader
from maskstudio.errors import AudioFileError, OverwriteError, ParameterError
from maskstudio.io.atomic import (  # noqa: F401
    WriteError,
    atomic_file,
    atomic_write,
    file_mode,
    fsync_folder,
    write_error,
)

if TYPE_CHECKING:  # a reader describes its file as a clip does
    from maskstudio.io.ondemand import AudioReader

__all__ = ["AudioClip", "audio_info", "check_levels", "MaskStudioWarning", "load_audio",
           "save_audio", "conform_reference", "atomic_write", "atomic_file", "AudioWriter",
           "check_not_input", "WRITABLE_FORMATS", "WriteError", "write_error", "file_mode",
           "fsync_folder"]

#: Containers maskstudio writes, by file extension.
WRITABLE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


class MaskStudioWarning(UserWarning):
    """Something was adjusted for the user (resampled, padded, normalised): worth a look."""


@dataclasses.dataclass
class AudioClip:
    """Decoded audio, held whole; :class:`~maskstudio.io.ondemand.AudioReader` reads a long
    file on demand, described and read (``read(start, stop)``) the same way.

    Parameters
    ----------
    samples : np.ndarray [shape=(channels, n)], float32
    samplerate : int
        In Hz.
    path : Path, optional
        The file it was read from.
    format, subtype : str, optional
        libsndfile's names for the file's container and sample format ("WAV", "PCM_16"),
        kept so that exports can match them.
    """

    samples: np.ndarray
    samplerate: int
    path: Path | None = None
    format: str | None = None
    subtype: str | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self.samples.shape[0]

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / float(self.samplerate)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start..stop`` ``[channels, stop - start]``, silence outside.

        Parameters
        ----------
        start, stop : int

        Returns
        -------
        np.ndarray
        """
        return ArrayReader(self.samples).read(start, stop)

    def reader(self) -> AudioClip:
        """A reader for another thread: the clip itself (safe to read from any thread).

        Returns
        -------
        AudioClip
        """
        return self



def _unreadable(path: Path, exc: Exception) -> AudioFileError:
    reason = str(exc).split(":", 1)[-1].strip() or "unknown reason"
    return AudioFileError(f"cannot read '{path}' as audio ({reason}): use a WAV, FLAC, "
                          f"OGG, MP3 or AIFF file, and re-export it if it is damaged")


def _truncated(path: Path) -> AudioFileError:
    return AudioFileError(f"'{path}' is truncated: its header promises more samples "
                          f"than the file holds; re-export or copy the file again")


def audio_info(path: str | os.PathLike) -> Any:
    """What an audio file declares (soundfile's ``info``), checked before a sample is decoded.

    Parameters
    ----------
    path : path
        A file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF, ...).

    Returns
    -------
    soundfile's info: ``samplerate``, ``channels``, ``frames``, ``format``, ``subtype``.

    Raises
    ------
    AudioFileError
        The file is missing, not a regular file, unreadable, not audio, truncated (by what
        its header says), or declares an impossible sample rate.
    """
    from maskstudio.checks import check_input_file

    path = Path(path)
    check_input_file(path, AudioFileError, "an audio file")  # a FIFO would block forever
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise AudioFileError(f"cannot open '{path}' ({exc.strerror or exc}): check "
                             f"its permissions") from None
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if re.search(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)", info.extra_info or ""):
        raise _truncated(path)
    if not 0 < info.samplerate <= 10_000_000:
        raise AudioFileError(f"'{path}' declares a sample rate of {info.samplerate} "
                             f"Hz: the file is damaged; re-export it")
    return info


def load_audio(path: str | os.PathLike, *, dtype: DTypeLike = np.float32) -> AudioClip:
    """Read an audio file into ``[channels, n]`` samples.

    Parameters
    ----------
    path : path
        A file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF, ...).
    dtype : numpy dtype
        Of the samples as decoded.

    Returns
    -------
    AudioClip

    Raises
    ------
    AudioFileError
        The file is missing, not audio, truncated, empty, or holds non-finite samples.
    """
    path = Path(path)
    info = audio_info(path)
    try:
        samples = _read_channels_first(path, info, dtype)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if samples.shape[1] < info.frames:
        raise _truncated(path)
    if samples.shape[1] == 0:
        raise AudioFileError(f"'{path}' holds no samples: choose a file with audio in it")
    check_levels(samples, path)
    return AudioClip(samples, int(info.samplerate), path, info.format, info.subtype)


#: Samples beyond this are not audio at any sensible scale (80 dB over full scale): such
#: values overflow spectra and give NaN masks and NaN audio downstream.
MAX_PEAK = 1e4


def check_levels(samples: np.ndarray, path: str | os.PathLike) -> None:
    """Refuse NaN, infinite and absurd samples (min and max: no temporary array).

    Parameters
    ----------
    samples : np.ndarray
        Decoded samples, any shape.
    path : path
        The file they came from, for the message.

    Raises
    ------
    AudioFileError
        A sample is NaN or infinite, or beyond :data:`MAX_PEAK`.
    """
    with np.errstate(invalid="ignore"):
        lo, hi = float(np.min(samples)), float(np.max(samples))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise AudioFileError(f"'{path}' contains NaN or infinite samples: repair it "
                             f"(or re-export it) in an audio editor")
    peak = max(-lo, hi)
    if peak > MAX_PEAK:
        raise AudioFileError(
            f"'{path}' has samples up to {peak:.3g}, {20 * np.log10(peak):.0f} dB over "
            f"full scale (1.0): it is not audio at a usable scale; normalise it (divide by its "
            f"peak) and save it again"
        )


#: Frames decoded at a time: one copy of the audio at the peak, and 64k frames keep the
#: transposing copy in cache (0.09 s for 10 minutes of stereo, 0.17 s with 256k).
_READ_BLOCK = 1 << 16


def _read_channels_first(path, info, dtype) -> np.ndarray:
    """Decode into ``[channels, n]`` block by block (no second, transposed copy)."""
    with sf.SoundFile(str(path)) as f:
        total = max(int(f.frames), 0)
        need = total * f.channels * np.dtype(dtype).itemsize
        from maskstudio.checks import memory_budget

        if need > memory_budget():
            raise AudioFileError(
                f"'{path}' declares {total} samples x {f.channels} channel(s) "
                f"({need / 2 ** 30:.1f} GB decoded), more than the memory available: use a "
                f"shorter excerpt (or repair the file if the length is wrong)")
        out = np.empty((f.channels, total), dtype=dtype)
        buf = np.empty((min(_READ_BLOCK, max(total, 1)), f.channels), dtype=dtype)
        pos = 0
        while pos < total:
            block = f.read(min(_READ_BLOCK, total - pos), dtype=dtype, always_2d=True,
                           out=buf[: min(_READ_BLOCK, total - pos)])
            if block.shape[0] == 0:
                break  # fewer frames than the header said: reported as truncated
            out[:, pos:pos + block.shape[0]] = block.T
            pos += block.shape[0]
    return out[:, :pos] if pos < total else out


def check_not_input(target: str | os.PathLike, inputs: Iterable) -> None:
    """Refuse to write over one of the user's input files.

    Parameters
    ----------
    target : path
        A file about to be written.
    inputs : iterable of paths (None entries ignored)
        The user's inputs.

    Raises
    ------
    OverwriteError
        ``target`` is one of ``inputs`` (the same file, by any path).
    """
    target = Path(target)
    if not target.exists():
        return
    for p in inputs:
        if p is None:
            continue
        p = Path(p)
        try:
            same = p.exists() and os.path.samefile(target, p)
        except OSError:
            same = False
        if same:
            raise OverwriteError(
                f"writing '{target}' would overwrite an input file: choose another "
                f"output folder or name"
            )


#: Sample formats worth copying from a mixture into an export (PCM or float, no codecs).
_PLAIN_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")


def _export_format(path: Path, like_subtype: str | None):
    """Container from the extension; the mixture's sample format where the container has it,
    else 32-bit float WAV or 24-bit FLAC (a lossy mixture has no sample format to copy)."""
    ext = path.suffix.lower()
    if ext not in WRITABLE_FORMATS:
        raise ParameterError(
            f"cannot write '{path}': maskstudio exports .wav or .flac files"
        )
    fmt = WRITABLE_FORMATS[ext]
    if like_subtype in _PLAIN_SUBTYPES and sf.check_format(fmt, like_subtype):
        return fmt, like_subtype
    return fmt, ("FLOAT" if fmt == "WAV" else "PCM_24")


def save_audio(path, samples, samplerate: int, *, like: AudioClip | None = None,
               subtype: str | None = None, protect: Iterable = ()) -> Path:
    """Write ``samples [channels, n]`` (or ``[n]``) as WAV or FLAC, atomically.

    The container comes from the extension; the sample format matches ``like`` (the mixture)
    where the container allows it, else 32-bit float WAV or 24-bit FLAC.  A file in ``protect``
    (the user's inputs) is never overwritten.  Integer formats clip at full scale, with a
    warning when that happens.

    Parameters
    ----------
    path : path
        Ending in .wav or .flac.
    samples : np.ndarray [shape=(channels, n) or (n,)]
    samplerate : int
    like : AudioClip, optional
        The mixture whose sample format to match (and never to overwrite).
    subtype : str, optional
        libsndfile's sample format, instead of ``like``'s.
    protect : iterable of paths
        Files that must not be replaced.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    MaskStudioError
        Another extension or an impossible sample format (``ParameterError``), an input
        in the way (``OverwriteError``), or a failed write (``AudioFileError``,
        ``WriteError``).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None]
    with AudioWriter(path, samplerate, samples.shape[0], like=like, subtype=subtype,
                     protect=protect) as out:
        out.write(samples)
    return out.path


class AudioWriter:
    """Writes an audio file block by block (:func:`save_audio`'s formats and checks), so a
    long export never holds a whole signal; the file appears, complete, only when closed
    without an error.  Use as a context manager; :meth:`write` takes ``[channels, k]``.

    Parameters
    ----------
    path : path
        Ending in .wav or .flac.
    samplerate : int
    channels : int
    like, subtype, protect
        As for :func:`save_audio`.

    Raises
    ------
    MaskStudioError
        As :func:`save_audio`.
    """

    def __init__(self, path, samplerate: int, channels: int, *,
                 like: AudioClip | AudioReader | None = None,
                 subtype: str | None = None, protect: Iterable = ()):
        self.path = Path(path)
        inputs = list(protect) + ([like.path] if like is not None else [])
        check_not_input(self.path, inputs)
        fmt, default_subtype = _export_format(self.path, like.subtype if like else None)
        self.subtype = subtype or default_subtype
        if not sf.check_format(fmt, self.subtype):
            raise ParameterError(f"{fmt} files cannot hold {self.subtype} samples: choose "
                                 f"another subtype")
        self.peak = 0.0
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_file(self.path, suffix=self.path.suffix))
            self._file = self._stack.enter_context(
                sf.SoundFile(tmp, "w", int(samplerate), int(channels), subtype=self.subtype,
                             format=fmt))
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)  # the temporary goes
            if isinstance(exc, WriteError):
                raise
            raise AudioFileError(f"cannot write '{self.path}': {exc}") from None

    def write(self, samples: np.ndarray) -> None:
        """Append samples (clipped at full scale for integer formats).

        Parameters
        ----------
        samples : np.ndarray [shape=(channels, k)]

        Raises
        ------
        AudioFileError
            The write failed (a full disk).
        """
        samples = np.asarray(samples, dtype=np.float32)
        if samples.size:
            self.peak = max(self.peak, float(np.abs(samples).max()))
        if self.subtype not in ("FLOAT", "DOUBLE"):
            samples = np.clip(samples, -1.0, 1.0)
        try:
            self._file.write(samples.T)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot write '{self.path}': {exc}") from None

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            suppress = self._stack.__exit__(exc_type, exc, tb)
        except WriteError:
            raise
        except (sf.SoundFileError, RuntimeError, OSError) as err:
            raise AudioFileError(f"cannot write '{self.path}': {err}") from None
        if exc_type is None and self.peak > 1.0 and self.subtype not in ("FLOAT", "DOUBLE"):
            warnings.warn(
                f"{self.path.name}: peak {self.peak:.3f} exceeds full scale and was clipped in "
                f"{self.subtype}; export as 32-bit float WAV to keep it",
                MaskStudioWarning, stacklevel=2,
            )
        return bool(suppress)


def conform_reference(clip: AudioClip, mixture: AudioClip | AudioReader, *,
                      name: str = "reference"
                      ) -> np.ndarray:
    """Bring a reference stem to the mixture's rate and length.

    A different rate is resampled (polyphase) and a different length padded with zeros or
    trimmed, each with a :class:`MaskStudioWarning`.  A different channel count is an error,
    except a mono stem beside a multichannel mixture, which is used for every channel.

    Parameters
    ----------
    clip : AudioClip
        The stem.
    mixture : AudioClip
    name : str
        How messages name the stem.

    Returns
    -------
    np.ndarray [shape=(C, n)], float32
        The mixture's channels and length.

    Raises
    ------
    AudioFileError
        The channel counts differ (and the stem is not mono).
    """
    x = clip.samples
    if x.shape[0] != mixture.n_channels:
        if x.shape[0] == 1:
            x = np.repeat(x, mixture.n_channels, axis=0)
        else:
            raise AudioFileError(
                f"{name} has {x.shape[0]} channels but the mixture has {mixture.n_channels}: "
                f"export the stem with {mixture.n_channels} channel(s)"
            )
    if clip.samplerate != mixture.samplerate:
        g = gcd(int(clip.samplerate), int(mixture.samplerate))
        up, down = mixture.samplerate // g, clip.samplerate // g
        warnings.warn(
            f"{name} is at {clip.samplerate} Hz, the mixture at {mixture.samplerate} Hz: "
            f"resampled to {mixture.samplerate} Hz",
            MaskStudioWarning, stacklevel=2,
        )
        import scipy.signal  # imported here: it costs 0.3 s at start-up

        x = scipy.signal.resample_poly(x, up, down, axis=-1).astype(np.float32)
    n = mixture.n_samples
    if x.shape[1] != n:
        what = "padded with silence" if x.shape[1] < n else "trimmed"
        warnings.warn(
            f"{name} has {x.shape[1]} samples, the mixture {n}: {what} to match",
            MaskStudioWarning, stacklevel=2,
        )
        x = x[:, :n] if x.shape[1] > n else np.pad(x, ((0, 0), (0, n - x.shape[1])))
    return np.ascontiguousarray(x, dtype=np.float32)
