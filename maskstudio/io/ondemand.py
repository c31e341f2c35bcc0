"""Audio and masks read on demand, a block at a time, for playing from anywhere in a long file.

:class:`AudioReader` seeks with soundfile, so playing from the middle of an hour decodes nothing
before it. A mask file maskstudio writes stores its masks uncompressed, so :class:`MaskReader`
reads only the frames played (an hour of one layer is 1.3 GB), with plain reads: never a memory
map, which kills the process if another program rewrites the file. A compressed file is read
whole once. What :func:`~maskstudio.io.audiofile.load_audio` and
:func:`~maskstudio.io.npz.load_masks` check up front (format, rate, grid, shape) is checked when
the file is opened; the values block by block, as they are read.

An editor document holds its mixture as an :class:`AudioReader` (:data:`Mixture`: or a decoded
:class:`~maskstudio.io.audiofile.AudioClip`, which reads the same way), and an oracle's stems
as :class:`ConformedReader` objects (:func:`open_reference`): an hour is never held whole.
Each thread reads through a reader of its own (``reader()``); :func:`stft_frames_of` gives the
STFT frames of a block from the samples it needs.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.stft import stft_frames_with
from maskstudio.dsp.validation import check_mask
from maskstudio.errors import AudioFileError, MaskFileError
from maskstudio.io.audiofile import (
    AudioClip,
    MaskStudioWarning,
    audio_info,
    check_levels,
    conform_reference,
    load_audio,
)
from maskstudio.io.npy_header import StoredArray
from maskstudio.io.npz import is_untruncated_psm, read_for_mixture

__all__ = ["AudioReader", "MaskReader", "Mixture", "ConformedReader", "open_audio",
           "open_masks", "open_reference", "read_whole", "stft_frames_of"]


#: Samples an Ogg Vorbis page can hold at most (255 packets of 1024): libsndfile (1.2) maps a
#: seek into a file's last page wrongly (its granule is the trimmed end), so a read there
#: decodes on from this far before the end instead.
OGG_LAST_PAGE = 1 << 18
#: Samples decoded before an MP3 read after a jump: mpg123 needs the frames before the one it
#: seeks to (a fresh decoder's seek alone was off by 2e-4; 1,000-2,900 samples back, by 1.2).
MP3_PREROLL = 8 * 1152


class AudioReader:
    """An audio file read a block at a time; thread-safe (the player's render thread reads
    while the window asks for more). Blocks are checked as a whole file is (finite, at a
    usable level). Made by :func:`open_audio`.

    Parameters
    ----------
    path : path
        The file.
    info : soundfile's info
        What :func:`~maskstudio.io.audiofile.audio_info` found the file declares.
    """

    def __init__(self, path: str | os.PathLike, info) -> None:
        self.path = Path(path)
        self.samplerate = int(info.samplerate)
        self.n_channels = int(info.channels)
        self.n_samples = int(info.frames)
        self.format, self.subtype = info.format, info.subtype
        self._info = info
        self._file = sf.SoundFile(str(self.path))
        self._lock = threading.Lock()
        self._pos = 0  # where the decoder is
        # the last samples read, [frames, channels] from sample _c0: a renderer's reads overlap
        # (one window less one hop), so they continue the decoder instead of seeking back
        self._cache = np.zeros((0, self.n_channels), np.float32)
        self._c0 = 0

    @property
    def duration(self) -> float:
        """Seconds of audio the file declares."""
        return self.n_samples / float(self.samplerate)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start..stop`` as float32 ``[channels, stop - start]``.

        Parameters
        ----------
        start, stop : int
            Sample indices, clipped to the file; outside it, silence.

        Returns
        -------
        np.ndarray
            float32 ``[channels, stop - start]``.

        Raises
        ------
        AudioFileError
            The file holds fewer samples than its header promised, or bad samples here.
        """
        out = np.zeros((self.n_channels, max(0, stop - start)), np.float32)
        a, b = max(0, start), min(self.n_samples, stop)
        if b <= a:
            return out
        with self._lock:
            c0, c1 = self._c0, self._c0 + self._cache.shape[0]
            if c0 <= a <= c1:  # overlapping the last read: only what follows is decoded
                block = np.concatenate([self._cache[a - c0:b - c0],
                                        self._decode(c1, max(c1, b))])
            else:
                block = self._decode(a, b)
            self._cache, self._c0 = block, a
        out[:, a - start:b - start] = block.T
        return out

    def _decode(self, a: int, b: int) -> np.ndarray:
        """Samples ``a..b`` from the decoder, ``[frames, channels]``, checked."""
        if b <= a:
            return np.zeros((0, self.n_channels), np.float32)
        try:
            skip = 0
            if a != self._pos:
                target = a
                if self.format in ("OGG", "MP3"):  # libsndfile's Vorbis and MP3 seeks are
                    self._file.close()  # off after a jump: a fresh decoder seeks exactly,
                    self._file = sf.SoundFile(str(self.path))  # except into Vorbis's last
                if self.format == "OGG":  # page: decode up to it from before
                    target = min(a, max(0, self.n_samples - OGG_LAST_PAGE))
                elif self.format == "MP3":  # a frame leans on those before it (the bit
                    target = max(0, a - MP3_PREROLL)  # reservoir, overlapping windows)
                self._file.seek(target)
                skip = a - target
            block = self._file.read(b - a + skip, dtype="float32", always_2d=True)[skip:]
        except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
            self._pos = -1  # unknown: seek next time
            raise AudioFileError(f"cannot read '{self.path}' at {a / self.samplerate:.2f} s "
                                 f"({exc}): re-export it if it is damaged") from None
        self._pos = a + block.shape[0]
        if block.shape[0] < b - a:
            raise AudioFileError(f"'{self.path}' is truncated: its header promises more "
                                 f"samples than the file holds; re-export or copy it again")
        check_levels(block, self.path)
        return block

    def reader(self) -> AudioReader:
        """Another reader of the same file, with its own decoder: for another thread (each
        consumer reading its own stretch of the file keeps its decoder where it reads).

        Returns
        -------
        AudioReader
        """
        return AudioReader(self.path, self._info)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


#: The audio an editor document holds: decoded whole, or read on demand.  Both describe the
#: file (path, samplerate, n_channels, n_samples, format, subtype) and read it a block at a
#: time (``read(start, stop)``); ``reader()`` gives a consumer on another thread its own.
Mixture = AudioClip | AudioReader


def read_whole(source) -> np.ndarray:
    """Every sample of ``source`` as float32 ``[C, n]``: for what needs a whole (short) file.

    Parameters
    ----------
    source : np.ndarray, AudioClip or a reader
        Samples ``[C, n]``, or anything with ``read(start, stop)`` and ``n_samples``.

    Returns
    -------
    np.ndarray [shape=(C, n)], float32
    """
    if isinstance(source, np.ndarray):
        return np.asarray(source, dtype=np.float32)
    if isinstance(source, AudioClip):
        return source.samples
    return source.read(0, source.n_samples)


def stft_frames_of(source, t0: int, t1: int, config: STFTConfig) -> np.ndarray:
    """STFT frames ``t0..t1`` of audio read on demand, reading only their samples.

    Parameters
    ----------
    source : AudioClip or AudioReader
        Anything with ``read(start, stop)`` giving ``[C, stop - start]``, zeros outside.
    t0, t1 : int
        Frames, ``0 <= t0 <= t1``.
    config : STFTConfig
        The grid.

    Returns
    -------
    np.ndarray [shape=(C, config.n_bins, t1 - t0)], complex64
        The values :func:`~maskstudio.dsp.stft.stft_frames_with` gives on the whole signal
        (``center`` pads zeros, as the reader does outside the file).
    """
    if t1 <= t0:
        return np.zeros((source.n_channels, config.n_bins, 0), np.complex64)
    start = t0 * config.hop_length - (config.n_fft // 2 if config.center else 0)
    segment = source.read(start, start + (t1 - t0 - 1) * config.hop_length + config.n_fft)
    return stft_frames_with(segment, 0, t1 - t0, dataclasses.replace(config, center=False))


class ConformedReader:
    """A reference stem read on demand, conformed to its mixture as
    :func:`~maskstudio.io.audiofile.conform_reference` conforms a decoded one: a mono stem
    serves every channel, a shorter one is padded with silence, a longer one trimmed.  Made by
    :func:`open_reference`.

    Parameters
    ----------
    inner : AudioReader
        The stem's file.
    n_channels, n_samples : int
        The mixture's.
    """

    def __init__(self, inner: AudioReader, n_channels: int, n_samples: int) -> None:
        self.inner = inner
        self.path, self.samplerate = inner.path, inner.samplerate
        self.n_channels, self.n_samples = int(n_channels), int(n_samples)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start..stop`` as float32 ``[n_channels, stop - start]`` (zeros outside).

        Parameters
        ----------
        start, stop : int
            Sample indices.

        Returns
        -------
        np.ndarray
            float32 ``[n_channels, stop - start]``.

        Raises
        ------
        AudioFileError
            The stem cannot be read there.
        """
        x = self.inner.read(start, min(stop, max(start, self.n_samples)))
        if x.shape[1] < stop - start:
            x = np.pad(x, ((0, 0), (0, stop - start - x.shape[1])))
        return np.repeat(x, self.n_channels, axis=0) if x.shape[0] != self.n_channels else x

    def close(self) -> None:
        """Close the stem's file."""
        self.inner.close()

    def reader(self) -> ConformedReader:
        """Another reader of the same stem, for another thread.

        Returns
        -------
        ConformedReader
        """
        return ConformedReader(self.inner.reader(), self.n_channels, self.n_samples)


def open_reference(path: str | os.PathLike, mixture, *, name: str = "reference"):
    """Open a reference stem to read it on demand, conformed to ``mixture``.

    A stem at another rate is decoded and resampled whole (with a warning), as
    :func:`~maskstudio.io.audiofile.conform_reference` does; any other is read on demand.

    Parameters
    ----------
    path : path
        The stem's file.
    mixture : AudioClip or AudioReader
        What the stem must match (``samplerate``, ``n_channels``, ``n_samples``).
    name : str
        How messages name the stem.

    Returns
    -------
    ConformedReader or AudioClip
        Reads ``[mixture.n_channels, k]`` blocks of the mixture's length.

    Raises
    ------
    AudioFileError
        The stem cannot be read, or has another channel count (and is not mono).
    """
    inner = open_audio(path)
    if inner.samplerate != mixture.samplerate:
        inner.close()
        clip = load_audio(path)
        return AudioClip(conform_reference(clip, mixture, name=name), int(mixture.samplerate),
                         clip.path, clip.format, clip.subtype)
    if inner.n_channels not in (1, mixture.n_channels):
        inner.close()
        raise AudioFileError(
            f"{name} has {inner.n_channels} channels but the mixture has "
            f"{mixture.n_channels}: export the stem with {mixture.n_channels} channel(s)")
    if inner.n_samples != mixture.n_samples:
        what = "padded with silence" if inner.n_samples < mixture.n_samples else "trimmed"
        warnings.warn(f"{name} has {inner.n_samples} samples, the mixture "
                      f"{mixture.n_samples}: {what} to match", MaskStudioWarning, stacklevel=2)
    return ConformedReader(inner, mixture.n_channels, mixture.n_samples)


def open_audio(path: str | os.PathLike) -> AudioReader:
    """Open an audio file to read it a block at a time.

    Parameters
    ----------
    path : path
        A WAV, FLAC, OGG, MP3 or AIFF file.

    Returns
    -------
    AudioReader

    Raises
    ------
    AudioFileError
        The file is missing, not audio, truncated, empty, or declares an impossible rate.
    """
    info = audio_info(path)
    if info.frames <= 0:
        raise AudioFileError(f"'{path}' holds no samples: choose a file with audio in it")
    try:
        return AudioReader(path, info)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioFileError(f"cannot read '{path}' as audio ({exc}): re-export it if it is "
                             f"damaged") from None


@dataclasses.dataclass
class MaskReader:
    """A mask file's masks, each block of frames checked as it is read. Made by
    :func:`open_masks`.

    Parameters
    ----------
    names : list of str
        The masks' names.
    config : STFTConfig
        The grid they are on.
    samplerate : int or None
        The rate the file says it was made at.
    path : Path
        The file.
    n_frames, n_channels : int
        The mixture's frames and channels.
    allow_complex : bool
        Whether complex values are accepted when blocks are checked.
    data : np.ndarray
        ``[source, (channel,) freq, time]``, mapped from the file or in memory.
    metadata : dict
        What the file says of itself (its ``metadata`` member).
    """

    names: list
    config: STFTConfig
    samplerate: int | None
    path: Path
    n_frames: int
    n_channels: int
    allow_complex: bool
    data: np.ndarray | StoredArray
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def is_complex(self) -> bool:
        """Whether the masks are complex (a cIRM)."""
        return bool(np.iscomplexobj(self.data))

    @property
    def mapped(self) -> bool:
        """Whether the masks are read from the file on demand (not held in memory)."""
        return isinstance(self.data, StoredArray)

    def frames(self, t0: int, t1: int) -> np.ndarray:
        """Every mask's frames ``t0..t1``, checked (finite; real ones in [0, 1]).

        Parameters
        ----------
        t0, t1 : int
            The first frame and the frame after the last, ``0 <= t0 <= t1 <= n_frames``.

        Returns
        -------
        np.ndarray
            float32 (or complex64) ``[source, (channel,) freq, t1 - t0]``.

        Raises
        ------
        MaskFileError
            A value in the block is NaN, infinite or out of range.
        """
        block = np.asarray(self.data[..., t0:t1])
        return np.stack([
            check_mask(block[i], n_bins=self.config.n_bins, n_frames=t1 - t0,
                       n_channels=self.n_channels, allow_complex=self.allow_complex,
                       unbounded=is_untruncated_psm(self.metadata),
                       name=f"mask '{name}' in '{self.path.name}' (frames {t0}..{t1})")
            for i, name in enumerate(self.names)])


def open_masks(path: str | os.PathLike, *, n_channels: int, n_samples: int, samplerate: int,
               config: STFTConfig | None = None, allow_complex: bool = True) -> MaskReader:
    """Open a mask file for a mixture of ``n_channels`` x ``n_samples`` without reading it.

    Parameters
    ----------
    path : path
        An .npz mask file (or a bare .npy with ``config``).
    n_channels, n_samples, samplerate : int
        The mixture the masks are for.
    config : STFTConfig, optional
        The grid to assume for a bare .npy; if given, the file's must agree.
    allow_complex : bool
        Whether complex masks (a cIRM) are accepted.

    Returns
    -------
    MaskReader

    Raises
    ------
    MaskFileError
        The file is missing, damaged, or made for another grid, rate or mixture; or complex
        masks where they are not accepted.
    """
    raw, cfg, n_frames = read_for_mixture(path, n_channels=n_channels, n_samples=n_samples,
                                          samplerate=samplerate, config=config, mapped=True)
    if np.iscomplexobj(raw.data) and not allow_complex:
        raise MaskFileError(f"the masks in '{Path(path).name}' are complex (a cIRM), but real "
                            f"masks in [0, 1] are needed here: save their magnitude instead")
    return MaskReader(raw.names, cfg, raw.samplerate, Path(path), n_frames, n_channels,
                      allow_complex, raw.data, raw.metadata)
