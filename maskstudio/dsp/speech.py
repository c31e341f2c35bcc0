"""A pretrained speech denoiser, RNNoise, as the separator ``rnnoise``.

RNNoise (Valin 2018, "A hybrid DSP/deep learning approach to real-time full-band speech
enhancement") is a small recurrent network that predicts a gain for each of 22 bands of every
10 ms frame of 48 kHz audio and smooths the harmonics between them with a pitch filter.  It is
trained on speech against many kinds of noise; what it keeps is ``speech``, the rest ``noise``.

The weights come compiled into ``librnnoise.so`` of the ``pyrnnoise`` package (the optional
extra ``maskstudio[models]``); nothing is downloaded at run time.  We load that library with
ctypes ourselves rather than import ``pyrnnoise``: its package imports audiolab, tqdm and
matplotlib (for its command-line tool), and its frame wrapper rounds every output sample to
16 bits.  Loading only the library, ``pip install --no-deps pyrnnoise`` is enough.

Why the samples and not the spectrogram: RNNoise works on its own 480-sample frames at 48 kHz,
so the separator rebuilds the mixture's samples from ``Y`` (exactly: the inverse STFT of an
unmodified STFT gives back the signal), resamples each channel to 48 kHz, runs the model,
takes away its delay, resamples back and measures what it kept on the user's grid:
``speech = clip(|S_out| / |Y|, 0, 1)`` with the channels pooled by power as the other
separators pool them, and ``noise = 1 - speech``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from maskstudio.checks import check_number
from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.stft import istft_with, stft_with
from maskstudio.errors import MaskStudioError, ParameterError

__all__ = ["MODEL_RATE", "FRAME_LENGTH", "MODEL_DELAY", "ModelMissingError",
           "rnnoise_available", "denoise", "rnnoise"]

#: The only rate RNNoise runs at, in Hz.
MODEL_RATE = 48000
#: Samples RNNoise takes and gives back per call (10 ms at 48 kHz).
FRAME_LENGTH = 480
#: How far RNNoise's output lags its input, in samples at 48 kHz: two frames (20 ms).  Measured
#: by cross-correlating input and output, interpolated: 960.0 on white noise, 958.7 to 959.4 on
#: speech-like sound (its pitch filter); the tests check the alignment.
MODEL_DELAY = 960
#: RNNoise expects 16-bit sample values, as floats.
_SCALE = 32768.0

_INSTALL = "pip install 'maskstudio[models]'"


class ModelMissingError(MaskStudioError):
    """A separator's pretrained model is not installed."""


def _library_path() -> Path:
    """Where pyrnnoise's compiled library is, found without importing pyrnnoise."""
    try:
        spec = importlib.util.find_spec("pyrnnoise")
    except (ImportError, ValueError):
        spec = None
    names = {"linux": "librnnoise.so", "darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the rnnoise separator needs the pyrnnoise package: {_INSTALL}")
    name = names.get(sys.platform, "librnnoise.so")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / name
        if path.is_file():
            return path
    raise ModelMissingError(f"pyrnnoise is installed but has no {name} for this system: "
                            f"reinstall it ({_INSTALL})")


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    path = _library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise ModelMissingError(f"pyrnnoise's {path.name} does not load ({exc}): reinstall it "
                                f"({_INSTALL})") from None
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.restype = None
    lib.rnnoise_get_frame_size.argtypes = []
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    # (state, out, in): addresses passed as integers, so the loop makes no ctypes objects
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    if lib.rnnoise_get_frame_size() != FRAME_LENGTH:
        raise ModelMissingError(f"this pyrnnoise's RNNoise takes frames of "
                                f"{lib.rnnoise_get_frame_size()} samples, not {FRAME_LENGTH}: "
                                f"install the version maskstudio[models] names")
    return lib


def rnnoise_available() -> bool:
    """Whether the RNNoise model can run here.

    Returns
    -------
    bool
        True when pyrnnoise's library is installed and loads.
    """
    try:
        _library()
    except ModelMissingError:
        return False
    return True


def _run_model(lib: ctypes.CDLL, x: np.ndarray) -> np.ndarray:
    """RNNoise over one channel at 48 kHz (16-bit scale), delay removed, same length."""
    n = x.shape[-1]
    n_frames = -(-(n + MODEL_DELAY) // FRAME_LENGTH)
    buf = np.zeros(n_frames * FRAME_LENGTH, np.float32)
    buf[:n] = x
    out = np.empty_like(buf)
    state = lib.rnnoise_create(None)
    if not state:
        raise MemoryError("RNNoise could not allocate its state")
    try:
        src, dst, step = buf.ctypes.data, out.ctypes.data, FRAME_LENGTH * buf.itemsize
        process = lib.rnnoise_process_frame
        for k in range(n_frames):
            process(state, dst + k * step, src + k * step)
    finally:
        lib.rnnoise_destroy(state)
    return out[MODEL_DELAY:MODEL_DELAY + n]


def _denoise_channel(lib: ctypes.CDLL, x: np.ndarray, up: int, down: int) -> np.ndarray:
    """One channel: to 48 kHz, through the model, back; the input's length, full scale 1."""
    import scipy.signal

    n = x.shape[-1]
    if n == 0:
        return np.zeros(0, np.float32)
    z = x.astype(np.float32) * np.float32(_SCALE)  # float32 throughout: resample_poly keeps it
    if up != down:
        z = scipy.signal.resample_poly(z, up, down)
    s: np.ndarray = _run_model(lib, z)
    if up != down:
        s = scipy.signal.resample_poly(s, down, up)
    out = np.zeros(n, np.float32)
    m = min(n, s.shape[-1])
    out[:m] = s[:m] / _SCALE
    return out


def denoise(y, *, samplerate: int, workers: int | None = None) -> np.ndarray:
    """Speech kept by RNNoise, at the input's rate, aligned with the input.

    Each channel is resampled to 48 kHz (``scipy.signal.resample_poly``), run through its
    own RNNoise state frame by frame, shifted back by the model's delay (:data:`MODEL_DELAY`)
    and resampled to ``samplerate``.  Channels run in parallel threads (the model releases
    the GIL while it computes).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)], real
        Samples, full scale 1.0.
    samplerate : int
        Their rate, in Hz.
    workers : int, optional
        Channels denoised at once; by default as many as there are channels and cores.

    Returns
    -------
    np.ndarray [shape=(..., n)], float32
        The denoised samples.

    Raises
    ------
    ParameterError
        A rate or ``workers`` that is not a positive integer, or samples that are not real
        and finite.
    ModelMissingError
        pyrnnoise is not installed (``pip install 'maskstudio[models]'``).
    """
    samplerate = check_number(samplerate, "samplerate", lo=1, hi=10_000_000, integer=True,
                              hint="the audio's rate in Hz")
    if workers is not None:
        workers = check_number(workers, "workers", lo=1, hi=1024, integer=True)
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating) or y.ndim == 0:
        raise ParameterError("denoise needs an array of real samples [..., n]")
    if not np.isfinite(y).all():
        raise ParameterError("audio contains NaN or infinite samples: check the file or filter")
    lib = _library()
    g = math.gcd(MODEL_RATE, samplerate)
    up, down = MODEL_RATE // g, samplerate // g
    flat = y.reshape(int(np.prod(y.shape[:-1])), y.shape[-1])
    n_workers = min(flat.shape[0], workers or os.cpu_count() or 1)
    if n_workers <= 1:
        rows = [_denoise_channel(lib, x, up, down) for x in flat]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            rows = list(pool.map(lambda x: _denoise_channel(lib, x, up, down), flat))
    if not rows:
        return np.zeros(y.shape, np.float32)
    return np.stack(rows).reshape(y.shape)


def rnnoise(Y, *, samplerate: int, config: STFTConfig, hints=None) -> dict:
    """Speech and noise masks from RNNoise's output, on the grid of ``Y``.

    The mixture's samples are rebuilt from ``Y`` (inverse STFT), denoised channel by channel
    (:func:`denoise`), transformed on the same grid, and the speech mask is the ratio of the
    magnitudes, channels pooled by power, clipped to [0, 1].

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T) or (F, T)], complex
        The mixture's STFT.
    samplerate : int
        Its rate, in Hz (any: the model's 48 kHz is reached by resampling).
    config : STFTConfig
        The grid of ``Y``.
    hints : dict, optional
        Painted hints by source name (not used).

    Returns
    -------
    dict
        ``"speech"`` and ``"noise"`` masks ``[F, T]``, float32, summing to one.

    Raises
    ------
    ParameterError
        ``Y`` does not fit the grid, or the rate is not a positive integer.
    ModelMissingError
        pyrnnoise is not installed (``pip install 'maskstudio[models]'``).
    """
    Y = np.asarray(Y)
    if Y.ndim not in (2, 3) or Y.shape[-2] != config.n_bins:
        raise ParameterError(f"rnnoise needs an STFT [C, F, T] with F={config.n_bins}, got "
                             f"shape {Y.shape}")
    _library()  # say that the model is missing before any work
    Y3 = Y[None] if Y.ndim == 2 else Y
    T = Y3.shape[-1]
    # the samples of every channel at once (a quarter of Y's memory at the usual grids), so
    # the channels are denoised in parallel; a centred grid's last frame covers up to hop - 1
    # samples past what n_samples counts (the longest signal with T frames), and they are kept
    n = config.n_samples(T) + (config.hop_length - 1 if config.center else 0)
    y = istft_with(Y3, config, length=n)
    s = denoise(y, samplerate=samplerate)
    del y
    kept = np.zeros(Y3.shape[1:], np.float32)  # power kept and power of the mixture, pooled
    total = np.zeros(Y3.shape[1:], np.float32)
    for c in range(Y3.shape[0]):  # the output's STFT one channel at a time
        S = stft_with(s[c], config)
        if S.shape[-1] != T:  # (as the inverse's length is chosen, it never differs)
            S = S[..., :T] if S.shape[-1] > T else np.pad(S, ((0, 0), (0, T - S.shape[-1])))
        kept += _power(S)
        total += _power(Y3[c])
    np.divide(kept, total, out=kept, where=total > 0)
    kept[total <= 0] = 0
    speech = np.sqrt(np.clip(kept, 0, 1, out=kept), out=kept)
    return {"speech": speech, "noise": (1 - speech).astype(np.float32)}


def _power(S: np.ndarray) -> np.ndarray:
    """``|S| ** 2`` in float32, without a complex temporary."""
    re, im = S.real.astype(np.float32), S.imag.astype(np.float32)
    re *= re
    im *= im
    re += im
    return re
