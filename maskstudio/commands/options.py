"""What the subcommands share: one-line usage errors, the STFT and phase options, progress.

A usage error raises :class:`~maskstudio.errors.ParameterError` instead of argparse's
multi-line usage and exit: ``maskstudio`` prints it as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias, overload

from maskstudio.errors import ParameterError

if TYPE_CHECKING:  # the editor starts through here: scipy is imported when it is needed
    from maskstudio.dsp.stft import STFTConfig

#: what ``add_subparsers`` returns: each command module adds its parsers to it
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"

__all__ = ["Parser", "Subcommands", "add_stft_options", "add_phase_options", "add_mix_option",
           "stft_config", "check_phase_args", "progress_line"]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and status 2."""

    def error(self, message: str) -> NoReturn:
        raise ParameterError(f"{message} (see '{self.prog} --help')")


def add_stft_options(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """``--n-fft``, ``--hop-length``, ``--win-length``, ``--window``."""
    g = p.add_argument_group("STFT")
    g.add_argument("--n-fft", type=int, default=None,
                   help=("FFT size in samples (default: a window of about 46 ms at the "
                         "mixture's rate, a power of two: 1024 at 16 and 22.05 kHz, 2048 at "
                         "44.1 and 48 kHz)" if defaults else
                         "FFT size in samples (default: the mask file's; needed for a .npy)"))
    g.add_argument("--hop-length", type=int, default=None,
                   help="hop between frames in samples (default n_fft / 4)")
    g.add_argument("--win-length", type=int, default=None,
                   help="window length (default n_fft)")
    g.add_argument("--window", default="hann", help="scipy window name (default hann)")


def add_phase_options(p: argparse.ArgumentParser) -> None:
    """``--phase``, ``--n-iter``, ``--cutoff-hz``, ``--format``."""
    from maskstudio.dsp.phase import PHASE_MODES

    g = p.add_argument_group("phase")
    g.add_argument("--phase", default="mixture", choices=PHASE_MODES, metavar="MODE",
                   help=f"phase of the resynthesis: {', '.join(PHASE_MODES)} (default mixture)")
    g.add_argument("--n-iter", type=int, default=None,
                   help="iterations for misi/hybrid (default 5), fgla (default 32) and the EM "
                        "of mwf, the multichannel Wiener filter (default 1)")
    g.add_argument("--cutoff-hz", type=float, default=6000.0,
                   help="hybrid: correct the phase below this frequency (default 6000)")
    g.add_argument("--format", default="wav", choices=("wav", "flac"),
                   help="audio format of the outputs (default wav, in the mixture's sample format)")


def add_mix_option(p: argparse.ArgumentParser) -> None:
    """``--mix NAME=a+b`` (repeatable): stem subsets written beside the sources."""
    p.add_argument("--mix", action="append", default=[], metavar="NAME=TERMS",
                   help="also write NAME.<format>, a sum of layers: rhythm=drums+bass, "
                        "karaoke=mixture-vocals (terms: layer names, residual, mixture; "
                        "repeatable)")


@overload
def stft_config(args: argparse.Namespace, *, default: STFTConfig) -> STFTConfig: ...


@overload
def stft_config(args: argparse.Namespace, *, default: None = None) -> STFTConfig | None: ...


def stft_config(args: argparse.Namespace, *, default: STFTConfig | None = None
                ) -> STFTConfig | None:
    """The STFT the options ask for.  Without ``--n-fft``: None, or the ``default`` grid (the
    one for the mixture's rate, or the dataset's) with the other options given kept."""
    from maskstudio.dsp.stft import STFTConfig

    n_fft = args.n_fft
    if n_fft is None:
        if default is None:
            return None
        if args.hop_length is None and args.win_length is None and args.window == "hann":
            return default
        n_fft = default.n_fft
    return STFTConfig(n_fft=n_fft, hop_length=args.hop_length, win_length=args.win_length,
                      window=args.window)


def check_phase_args(args: argparse.Namespace) -> None:
    """``--n-iter`` and ``--cutoff-hz``: whole and bounded, finite and not negative."""
    from maskstudio.checks import check_phase_options

    check_phase_options(args.n_iter, args.cutoff_hz, names=("--n-iter", "--cutoff-hz"))


def progress_line(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress indicator on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        pct = 100.0 * done / max(total, 1)
        sys.stderr.write(f"\r{label}: {pct:5.1f}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return report
