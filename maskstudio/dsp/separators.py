"""Masks with no trained weights, and the user's own models as plugins.

Built in:

- ``hpss``: harmonic/percussive separation by median filtering (Fitzgerald 2010): a median
  across time keeps what is steady (harmonic), one across frequency what is broadband and short
  (percussive); soft masks from the two.
- ``repet-sim``: REPET-SIM (Rafii & Pardo 2012): each frame's repeating part is the median of
  the frames most similar to it; the repeating mask is ``min(model, V) / V``.
- ``nmf``: NMF separation guided by hints the user paints (the ISSE idea, Bryan & Mysore
  2013): every source has its own components, and the Wiener split of the mixture between
  sources is weighted by the hints before every update, so painted regions pull their source.
  Paint, separate, correct, re-run.
- ``rnnoise``: speech and noise by RNNoise, a pretrained speech denoiser (``dsp/speech.py``;
  the optional extra ``maskstudio[models]``).

A separator is a function ``fn(Y, *, samplerate, config, hints=None, **params)`` taking the
mixture STFT ``Y [C, F, T]`` and returning ``{name: mask [F, T]}``.  Others are found through
the entry point group ``maskstudio.separators`` (see the README for a worked example).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

import numpy as np

from maskstudio.dsp.grid import STFTConfig
from maskstudio.dsp.speech import rnnoise
from maskstudio.errors import MaskStudioError, ParameterError

__all__ = ["ENTRY_POINT_GROUP", "available_separators", "run_separator", "hpss",
           "repet_sim", "nmf"]

ENTRY_POINT_GROUP = "maskstudio.separators"
_EPS = np.float32(1e-10)


def _magnitude(Y: np.ndarray) -> np.ndarray:
    """Channel-pooled magnitude ``[F, T]`` (root mean square over channels)."""
    Y = np.asarray(Y)
    if Y.ndim == 2:
        return np.abs(Y).astype(np.float32)
    return np.sqrt(np.mean(np.abs(Y) ** 2, axis=0)).astype(np.float32)


def hpss(Y, *, samplerate: int, config: STFTConfig, hints=None, kernel_time: int = 17,
         kernel_freq: int = 17, power: float = 2.0) -> dict:
    """Harmonic and percussive masks by median filtering (Fitzgerald 2010).

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T) or (F, T)], complex
        The mixture's STFT (channels pooled).
    samplerate : int
    config : STFTConfig
        The grid of ``Y``.
    hints : dict, optional
        Painted hints by source name (not used).
    kernel_time, kernel_freq : int
        The medians' lengths, in frames and in bins.
    power : float
        2 gives Wiener-like soft masks.

    Returns
    -------
    dict
        ``"harmonic"`` and ``"percussive"`` masks ``[F, T]``, float32.

    Raises
    ------
    ParameterError
        A kernel or the power is not positive.
    """
    import scipy.ndimage

    if kernel_time < 1 or kernel_freq < 1 or power <= 0:
        raise ParameterError("hpss needs positive kernels and power")
    V = _magnitude(Y)
    H = scipy.ndimage.median_filter(V, size=(1, kernel_time), mode="reflect")
    P = scipy.ndimage.median_filter(V, size=(kernel_freq, 1), mode="reflect")
    Hp, Pp = H ** power, P ** power
    total = np.maximum(Hp + Pp, _EPS)
    return {"harmonic": (Hp / total).astype(np.float32),
            "percussive": (Pp / total).astype(np.float32)}


def repet_sim(Y, *, samplerate: int, config: STFTConfig, hints=None, n_similar: int = 10,
              min_seconds: float = 0.5, bands: int = 128) -> dict:
    """Repeating and non-repeating masks by REPET-SIM (Rafii & Pardo 2012).

    For every frame the ``n_similar`` most similar frames (cosine similarity of the spectra, at
    least ``min_seconds`` apart) are found; the median of their spectra is the repeating model.
    Similarity is computed on ``bands`` pooled frequency bands to keep long files tractable.

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T) or (F, T)], complex
        The mixture's STFT (channels pooled).
    samplerate : int
    config : STFTConfig
        The grid of ``Y``.
    hints : dict, optional
        Painted hints by source name (not used).
    n_similar : int
        Frames in each median.
    min_seconds : float
        How far apart the similar frames are.
    bands : int
        Pooled frequency bands for the similarity.

    Returns
    -------
    dict
        ``"repeating"`` and ``"non-repeating"`` masks ``[F, T]``, float32.
    """
    V = _magnitude(Y)
    F, T = V.shape
    edges = np.unique(np.linspace(0, F, min(bands, F) + 1).astype(int))
    coarse = np.add.reduceat(V, edges[:-1], axis=0)
    coarse /= np.maximum(np.linalg.norm(coarse, axis=0, keepdims=True), _EPS)
    gap = max(1, int(round(min_seconds * samplerate / config.hop_length)))
    k = max(1, min(n_similar, T))
    model = np.empty_like(V)
    block = 512
    for t0 in range(0, T, block):
        t1 = min(T, t0 + block)
        sim = coarse[:, t0:t1].T @ coarse  # [block, T]
        for j, t in enumerate(range(t0, t1)):
            row = sim[j]
            order = np.argsort(-row)
            chosen = [t]
            for cand in order:  # greedy: most similar first, frames far enough apart
                if len(chosen) >= k:
                    break
                if all(abs(int(cand) - c) >= gap for c in chosen):
                    chosen.append(int(cand))
            model[:, t] = np.median(V[:, chosen], axis=1)
    W = np.minimum(model, V)
    M = (W / np.maximum(V, _EPS)).astype(np.float32)
    return {"repeating": M, "non-repeating": (1 - M).astype(np.float32)}


def nmf(Y, *, samplerate: int, config: STFTConfig, hints: dict | None = None,
        sources=None, components: int = 8, n_iter: int = 80, seed: int = 0) -> dict:
    """Masks by NMF, guided by painted hints.

    Every source gets ``components`` KL-NMF components.  Each iteration splits the magnitude
    between sources in proportion to their models, weighted by the hints (a bin painted for a
    source leans towards it), then updates each source's components on its share.

    Parameters
    ----------
    Y : np.ndarray [shape=(C, F, T) or (F, T)], complex
        The mixture's STFT (channels pooled).
    samplerate : int
    config : STFTConfig
        The grid of ``Y``.
    hints : dict, optional
        Painted hints by source name: ``{name: mask [F, T]}``, values in [0, 1]; their
        names are the sources'.
    sources : sequence of str, optional
        The sources' names when there are no hints (two by default).
    components : int
        Components per source.
    n_iter : int
        Iterations.
    seed : int
        Of the random start.

    Returns
    -------
    dict
        A mask ``[F, T]`` float32 per source, summing to one.

    Raises
    ------
    ParameterError
        Fewer than two sources, or hints that do not fit the STFT.
    """
    V = _magnitude(Y)
    F, T = V.shape
    names = list(hints) if hints else list(sources or ["source1", "source2"])
    if len(names) < 2:
        raise ParameterError("NMF separation needs at least two sources (paint hints for two "
                             "layers)")
    L = len(names)
    prior = np.ones((L, F, T), np.float32)
    if hints:
        H_arr = np.stack([np.clip(np.asarray(hints[n], np.float32), 0, 1) for n in names])
        if H_arr.shape[1:] != (F, T):
            raise ParameterError(f"hints of shape {H_arr.shape[1:]} do not fit the STFT "
                                 f"{(F, T)}")
        painted = H_arr.max(axis=0) > 0
        # where something is painted, the painted sources get the weight, the others little
        prior = np.where(painted[None], 0.02 + H_arr, 1).astype(np.float32)
    rng = np.random.default_rng(seed)
    scale = float(V.mean()) + 1e-6
    W = rng.uniform(0.1, 1, (L, F, components)).astype(np.float32) * scale
    H = rng.uniform(0.1, 1, (L, components, T)).astype(np.float32)
    ones = np.ones((F, T), np.float32)
    for _ in range(n_iter):
        models = np.einsum("lfk,lkt->lft", W, H) + _EPS
        post = models * prior
        post /= post.sum(axis=0, keepdims=True)
        for s in range(L):
            Vs = V * post[s]
            R = Vs / models[s]
            W[s] *= (R @ H[s].T) / np.maximum(ones @ H[s].T, _EPS)
            models_s = W[s] @ H[s] + _EPS
            R = Vs / models_s
            H[s] *= (W[s].T @ R) / np.maximum(W[s].T @ ones, _EPS)
    models = np.einsum("lfk,lkt->lft", W, H) + _EPS
    post = models * prior
    post /= post.sum(axis=0, keepdims=True)
    return {n: post[i].astype(np.float32) for i, n in enumerate(names)}


BUILTIN: dict[str, Callable] = {"hpss": hpss, "repet-sim": repet_sim, "nmf": nmf,
                                 "rnnoise": rnnoise}


def available_separators() -> dict:
    """Built-in separators and every ``maskstudio.separators`` entry point, by name.

    Returns
    -------
    dict
        Name to function (built in) or ``importlib.metadata.EntryPoint`` (not loaded yet).
    """
    found: dict[str, Callable | importlib.metadata.EntryPoint] = dict(BUILTIN)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            found[ep.name] = ep
    return found


def _resolve(name: str) -> Callable:
    seps = available_separators()
    if name not in seps:
        raise ParameterError(f"unknown separator {name!r}: choose one of {', '.join(seps)}")
    fn = seps[name]
    # an entry point, not loaded yet: importlib.metadata's own, or the importlib_metadata
    # backport's (a dependency such as Dask's imports it, and its finder then answers the
    # standard library's discovery with its own EntryPoint class)
    if not callable(fn) and hasattr(fn, "load"):
        try:
            fn = fn.load()
        except Exception as exc:
            raise MaskStudioError(f"the separator plugin {name!r} failed to load ({exc!r}): "
                                  f"reinstall it or report it to its author") from None
    return fn


def run_separator(name: str, Y: np.ndarray, *, samplerate: int, config: STFTConfig,
                  hints: dict | None = None, **params) -> tuple:
    """Run a separator and check its output.

    Parameters
    ----------
    name : str
        A name of :func:`available_separators`.
    Y : np.ndarray [shape=(C, F, T)], complex
        The mixture's STFT.
    samplerate : int
    config : STFTConfig
        The grid of ``Y``.
    hints : dict, optional
        Painted hints ``{name: mask [F, T]}``.
    **params
        The separator's own options.

    Returns
    -------
    tuple
        ``(names, masks)``: the sources' names and their masks ``[K, F, T]``, float32 in
        [0, 1].

    Raises
    ------
    MaskStudioError
        An unknown separator (a ``ParameterError``), a plugin that fails to load or to run,
        or output that is not a dict of finite masks of the STFT's shape.
    """
    fn = _resolve(name)
    F, T = np.shape(Y)[-2:]
    try:
        out = fn(Y, samplerate=samplerate, config=config, hints=hints, **params)
    except MaskStudioError:
        raise
    except Exception as exc:  # a plugin's own bug: say whose
        raise MaskStudioError(f"the separator {name!r} failed: {exc!r}") from None
    if not isinstance(out, dict) or not out:
        raise MaskStudioError(f"the separator {name!r} returned {type(out).__name__}, not a "
                              f"dict of masks")
    names, masks = [], []
    for n, m in out.items():
        m = np.asarray(m, dtype=np.float32)
        if m.shape != (F, T):
            raise MaskStudioError(f"the separator {name!r} returned a mask {n!r} of shape "
                                  f"{m.shape}; the STFT is {(F, T)}")
        if not np.isfinite(m).all():
            raise MaskStudioError(f"the separator {name!r} returned NaN in mask {n!r}")
        names.append(str(n))
        masks.append(np.clip(m, 0, 1))
    return names, np.stack(masks)
