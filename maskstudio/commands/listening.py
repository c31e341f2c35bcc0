"""Listening, headless: ``play`` and ``devices``.

- ``maskstudio play MIXTURE [--masks FILE] [--layer NAME|residual|mixture] ...``: the
  mixture, a layer or the residual, rendered ahead of the sound as the editor plays it;
- ``maskstudio devices``: the audio outputs PortAudio sees.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from maskstudio.commands.options import Subcommands, check_phase_args
from maskstudio.errors import MaskStudioError, ParameterError

__all__ = ["add_play_parser", "add_devices_parser", "cmd_play", "cmd_devices"]


def add_play_parser(sub: Subcommands) -> None:
    p = sub.add_parser("play", help="listen to the mixture, a layer or the residual")
    p.add_argument("mixture", help="the mixture's audio file")
    p.add_argument("--masks", help="mask file (.npz); not needed for --layer mixture")
    p.add_argument("--layer", default="mixture", metavar="NAME",
                   help="a layer's name, 'residual' or 'mixture' (default)")
    p.add_argument("--phase", default="mixture", metavar="MODE",
                   help="phase: mixture (default), misi, fgla, hybrid, mwf, complex")
    p.add_argument("--n-iter", type=int, default=None, help="iterations of the phase mode")
    p.add_argument("--cutoff-hz", type=float, default=6000.0, help="hybrid cutoff (6000)")
    p.add_argument("--start", type=float, default=0.0, help="start at this second")
    p.add_argument("--duration", type=float, default=None, help="play this many seconds")
    p.add_argument("--device", default=None, help="output device (index or name; "
                   "'maskstudio devices' lists them)")
    p.add_argument("--preroll", type=float, default=0.0,
                   help="seconds to render before the sound starts (for slow machines)")


def add_devices_parser(sub: Subcommands) -> None:
    sub.add_parser("devices", help="list the audio outputs PortAudio sees")


def cmd_play(args: argparse.Namespace) -> int:
    import time

    from maskstudio.audio.player import Player
    from maskstudio.audio.sd_backend import SoundDeviceBackend
    from maskstudio.checks import check_number
    from maskstudio.dsp.phase import PHASE_MODES
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.dsp.stream import Heard, StreamRenderer
    from maskstudio.io.ondemand import open_audio, open_masks

    if args.phase not in PHASE_MODES or args.phase == "oracle":
        raise ParameterError(f"--phase {args.phase!r} cannot be played here: choose one of "
                             f"{', '.join(m for m in PHASE_MODES if m != 'oracle')}")
    check_phase_args(args)
    start_s = check_number(args.start, "--start", lo=0, hint="seconds from the beginning")
    duration = None if args.duration is None else check_number(
        args.duration, "--duration", lo=0, lo_open=True, hint="seconds to play")
    preroll = check_number(args.preroll, "--preroll", lo=0, hi=600,
                           hint="seconds to render before the sound starts")
    # only what is played is read: the audio from --start on, the masks' frames from there
    mixture = open_audio(args.mixture)
    masks, config, names = None, STFTConfig(), []
    if args.masks:
        masks = open_masks(args.masks, n_channels=mixture.n_channels,
                           n_samples=mixture.n_samples, samplerate=mixture.samplerate)
        config, names = masks.config, masks.names
    elif args.layer != "mixture":
        raise ParameterError(f"playing {args.layer!r} needs its masks: add --masks FILE")
    if args.layer == "mixture":
        heard = Heard("mixture")
    elif args.layer == "residual":
        heard = Heard("residual")
    elif args.layer in names:
        heard = Heard("layer", (names.index(args.layer),))
    else:
        raise ParameterError(f"there is no layer {args.layer!r} in {args.masks}: choose "
                             f"{', '.join(names + ['residual', 'mixture'])}")
    if args.phase == "complex" and (masks is None or not masks.is_complex):
        raise ParameterError("--phase complex needs complex masks (a cIRM)")
    sr = mixture.samplerate
    if start_s >= mixture.duration:
        raise ParameterError(f"--start {args.start} is past the end ({mixture.duration:.1f} s)")
    start = int(round(start_s * sr))
    if start >= mixture.n_samples:
        raise ParameterError(f"--start {args.start} is past the end ({mixture.duration:.1f} s)")
    stop = None if duration is None else \
        start + max(1, int(round(min(duration, mixture.duration - start_s) * sr)))
    renderer = StreamRenderer(mixture, config, None if masks is None else masks.frames,
                              len(names), phase=args.phase, samplerate=sr, n_iter=args.n_iter,
                              cutoff_hz=args.cutoff_hz)
    renderer.heard = heard
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    backend = SoundDeviceBackend(device)
    player = Player(backend)
    end = mixture.n_samples if stop is None else min(stop, mixture.n_samples)
    print(f"playing {args.layer} from {start / sr:.2f} s to {end / sr:.2f} s "
          f"({args.phase} phase); Ctrl+C stops", file=sys.stderr)
    player.play(renderer, sr, start=start, stop=stop, preroll=preroll)
    try:
        while not player.finished:
            if backend.error:
                raise MaskStudioError(f"playback stopped: {backend.error}")
            time.sleep(0.02)
    finally:
        player.stop()
    if player.error is not None:  # a bad block found while playing: said, as up front
        raise player.error
    played = backend.frames_played / sr
    if player.gaps:
        warnings.warn(f"played {played:.2f} s with {player.gaps} underrun(s), each an audible "
                      f"gap (rendering fell behind {player.underruns} time(s), the device ran "
                      f"dry {backend.underruns} time(s)): try --preroll 2 or the mixture phase",
                      stacklevel=2)
    else:
        print(f"played {played:.2f} s, 0 underruns", file=sys.stderr)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from maskstudio.audio.devices import load_sounddevice, output_devices

    sd = load_sounddevice()
    devices = output_devices()
    print(sd.get_portaudio_version()[1])
    if not devices:
        print("no output device: maskstudio edits and exports; playback needs a device")
    for index, name, channels, rate in devices:
        print(f"  {index:3d}  {name}  ({channels} ch, {rate:.0f} Hz)")
    return 0
