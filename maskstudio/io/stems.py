"""Stem subsets: outputs that are sums of layers (``drums+bass``, a minus-one, a karaoke).

A subset is written beside the sources as ``<name>.<fmt>``, from a spec ``NAME=TERMS``:
terms joined by ``+`` or ``-``, each a layer's name, ``residual``, or ``mixture`` (the
mixture itself, read from the file: where masks overlap, the sources and the residual, clipped
at zero, add up to more than it).  So ``rhythm=drums+bass`` is the two stems
summed, and ``karaoke=mixture-vocals`` everything but the vocals.  The subset is the sum of
the rendered signals, so it is exactly what adding the exported files would give, whatever
the phase mode.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from maskstudio.errors import ParameterError
from maskstudio.io.export import check_source_name
from maskstudio.io.names import name_key

__all__ = ["StemMix", "parse_mix", "parse_mixes"]

@dataclasses.dataclass(frozen=True)
class StemMix:
    """A stem subset.

    Parameters
    ----------
    name : str
        Its file's name, without the extension.
    weights : tuple of float
        The weight (+1, -1, or a sum of them) of each rendered signal: the sources in
        order, then the residual.
    mixture : float
        The weight of the mixture itself (the term ``mixture``: the real mixture, which the
        sources and a clipped residual do not rebuild where masks overlap).
    """

    name: str
    weights: tuple[float, ...]
    mixture: float = 0.0

    def apply(self, signals: np.ndarray, mixture: np.ndarray | None = None) -> np.ndarray:
        """The subset of a block of rendered signals.

        Parameters
        ----------
        signals : np.ndarray [shape=(N + 1, C, n)]
            The sources, then the residual.
        mixture : np.ndarray [shape=(C, n)], optional
            The mixture's samples of the block: needed when the subset holds the term
            ``mixture``.

        Returns
        -------
        np.ndarray [shape=(C, n)], float32

        Raises
        ------
        ParameterError
            Signals of another number of sources than the subset was made for.
        """
        w = np.asarray(self.weights, dtype=np.float32)
        if signals.shape[0] != w.size:
            raise ParameterError(f"the subset '{self.name}' was made for {w.size - 1} "
                                 f"sources, not {signals.shape[0] - 1}")
        out = np.tensordot(w, np.asarray(signals, dtype=np.float32), axes=1)
        if self.mixture:
            if mixture is None:
                raise ParameterError(f"the subset '{self.name}' holds the mixture: give its "
                                     f"samples")
            out = out + np.float32(self.mixture) * np.asarray(mixture, dtype=np.float32)
        return out


def parse_mix(spec: str, names: Sequence[str], *, residual: str = "residual") -> StemMix:
    """One ``NAME=TERMS`` spec, checked against the sources' ``names``.

    Parameters
    ----------
    spec : str
        For example ``"rhythm=drums+bass"`` or ``"karaoke=mixture-vocals"``.
    names : sequence of str
        The sources' names, in the order of the rendered signals.
    residual : str
        The residual's name as a term (``residual``, or a dataset's own).

    Returns
    -------
    StemMix

    Raises
    ------
    ParameterError
        A malformed spec, an unknown term, a subset that is empty, or a name that cannot be
        a file or is a source's.
    """
    name, sep, body = str(spec).partition("=")
    name = name.strip()
    if not sep or not name or not body.strip():
        raise ParameterError(f"--mix {spec!r} must look like NAME=a+b, for example "
                             f"rhythm=drums+bass or karaoke=mixture-vocals")
    check_source_name(name, what="--mix")
    if name_key(name) in {name_key(n) for n in [*names, residual, "mixture"]}:
        raise ParameterError(f"--mix {name!r} is the name of a source or of the mixture: "
                             f"name the subset differently")
    weights = np.zeros(len(names) + 1)
    mix_weight = 0.0
    terms = {name_key(n): i for i, n in enumerate(names)}
    terms[name_key(residual)] = len(names)
    terms.setdefault("mixture", -1)  # every signal
    text, pos, first = body.strip(), 0, True
    while pos < len(text):
        sign = 1.0
        if text[pos] in "+-":
            sign = -1.0 if text[pos] == "-" else 1.0
            pos += 1
        elif not first:
            break
        rest = text[pos:].lstrip()
        pos = len(text) - len(rest)
        # the longest known term that ends where a sign or the spec does ("lead-vox" first)
        hit = max((k for k in terms if name_key(rest[:len(k)]) == k
                   and rest[len(k):].lstrip()[:1] in ("", "+", "-")), key=len, default=None)
        if hit is None:
            word = re.split(r"\s*[+-]", rest, maxsplit=1)[0].strip()
            known = ", ".join([*names, residual, "mixture"])
            raise ParameterError(f"--mix {spec!r}: there is no layer {word!r} (choose from "
                                 f"{known})")
        if terms[hit] < 0:
            mix_weight += sign
        else:
            weights[terms[hit]] += sign
        pos += len(hit)
        pos = len(text) - len(text[pos:].lstrip())
        first = False
    if pos != len(text) or first:
        raise ParameterError(f"--mix {spec!r} must look like NAME=a+b, for example "
                             f"rhythm=drums+bass or karaoke=mixture-vocals")
    if not weights.any() and not mix_weight:
        raise ParameterError(f"--mix {spec!r} sums to nothing: give the layers it holds")
    return StemMix(name, tuple(float(w) for w in weights), float(mix_weight))


def parse_mixes(specs: Sequence[str], names: Sequence[str], *,
                residual: str = "residual") -> list[StemMix]:
    """Every ``--mix`` spec, each name given once (see :func:`parse_mix`).

    Parameters
    ----------
    specs : sequence of str
    names : sequence of str
    residual : str

    Returns
    -------
    list of StemMix

    Raises
    ------
    ParameterError
        As :func:`parse_mix`, or a subset named twice.
    """
    out: list[StemMix] = []
    seen: set[str] = set()
    for spec in specs:
        mix = parse_mix(spec, names, residual=residual)
        if name_key(mix.name) in seen:
            raise ParameterError(f"--mix {mix.name!r} is given twice: give each subset once")
        seen.add(name_key(mix.name))
        out.append(mix)
    return out
