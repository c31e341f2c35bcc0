"""``maskstudio info``: what a user needs to know about an audio or mask file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.masks import overlap_report

__all__ = ["describe_file"]

MASK_SUFFIXES = (".npz", ".npy")
_BLOCK = 1 << 18  #: samples read at a time for the levels


def _duration(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:06.3f}" if h else f"{m}:{s:06.3f}"


def describe_audio(path) -> str:
    from maskstudio.io.ondemand import open_audio

    clip = open_audio(path)  # read a block at a time: an hour is never held whole
    peak, power = 0.0, 0.0
    try:
        for a in range(0, clip.n_samples, _BLOCK):
            x = clip.read(a, min(clip.n_samples, a + _BLOCK))
            peak = max(peak, float(np.abs(x).max()))
            power += float(np.square(x, dtype=np.float64).sum())
    finally:
        clip.close()
    rms = float(np.sqrt(power / (clip.n_samples * clip.n_channels)))
    cfg = STFTConfig.for_samplerate(clip.samplerate)  # the grid the window would open it on
    T = cfg.n_frames(clip.n_samples)
    lines = [
        f"{clip.path}",
        f"  format      {clip.format} ({clip.subtype})",
        f"  samplerate  {clip.samplerate} Hz",
        f"  channels    {clip.n_channels}",
        f"  duration    {_duration(clip.duration)} ({clip.n_samples} samples)",
        f"  peak        {20 * np.log10(max(peak, 1e-10)):.1f} dBFS",
        f"  rms         {20 * np.log10(max(rms, 1e-10)):.1f} dBFS",
        f"  stft        {cfg.n_bins} bins x {T} frames at n_fft={cfg.n_fft}, "
        f"hop_length={cfg.hop_length} ({cfg.n_bins * T * 4 / 2 ** 20:.1f} MB per mask layer)",
    ]
    return "\n".join(lines)


def describe_masks(path) -> str:
    from maskstudio.io.npz import read_mask_file

    mf = read_mask_file(path)
    data = mf.data
    lines = [f"{mf.path}",
             f"  masks       {len(mf.names)}: {', '.join(mf.names)}",
             f"  shape       {list(data.shape)} ({data.dtype})"]
    if mf.config is not None:
        lines.append(f"  stft        {mf.config.describe()}")
    else:
        lines.append("  stft        not stored (a bare .npy): give n_fft and hop_length to use it")
    if mf.samplerate is not None:
        T = data.shape[-1]
        secs = ""
        if mf.config is not None:
            secs = f" (about {_duration(T * mf.config.hop_length / mf.samplerate)})"
        lines.append(f"  samplerate  {mf.samplerate} Hz{secs}")
    lines += _describe_values(data)
    for key, value in mf.metadata.items():
        lines.append(f"  {key:<11} {value}")
    return "\n".join(lines)


def _describe_values(data: np.ndarray) -> list:
    """What the values are, and whether the file can be applied as it is."""
    with np.errstate(all="ignore"):  # describing 1e300 or inf must not print warnings
        finite = np.isfinite(data)
        bad = int(finite.size - np.count_nonzero(finite))
        if bad:
            return [f"  values      {bad} NaN or infinite value(s): this file cannot be "
                    f"applied"]
        if np.iscomplexobj(data):
            return [f"  values      complex, |mask| up to {float(np.abs(data).max()):.3f}"]
        lo, hi = float(data.min()), float(data.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            return [f"  values      from {lo:.3g} to {hi:.3g}, outside [0, 1]: this file "
                    f"cannot be applied (a mask that may exceed one is saved as complex64)"]
        binary = bool(np.isin(data, (0, 1)).all())
        return [f"  values      {'binary' if binary else 'soft'}, from {lo:.3g} to {hi:.3g}",
                f"  overlap     {overlap_report(data).describe()}"]


def describe_file(path: str | os.PathLike) -> str:
    """A few lines describing an audio file or a mask file.

    Parameters
    ----------
    path : path
        A mask file (.npz, .npy) or an audio file.

    Returns
    -------
    str
        Lines without a final newline.

    Raises
    ------
    MaskStudioError
        The file cannot be read (``AudioFileError``, ``MaskFileError``).
    """
    path = Path(path)
    if path.suffix.lower() in MASK_SUFFIXES:
        return describe_masks(path)
    return describe_audio(path)
