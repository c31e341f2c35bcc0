"""What a listener feels: time to first sound, keeping up, hearing an edit, switching phase.

    python benchmarks/bench_playback.py            # a 60-minute stereo file (about a minute)
    python benchmarks/bench_playback.py --quick    # a 2-minute file: checks it runs

Targets (issue 4): from Play to the first non-silent block handed to the device <= 100 ms for
a 60-minute file with the mixture phase, <= 300 ms with MISI or the hybrid; streamed
resynthesis keeps up (no underruns) with MISI on one core; an edit made while playing is heard
within about half a second.  Playback goes to a null backend that pulls blocks in real time
(as a sound card does), so no sound card is needed; a device adds its own output latency.

Issue 11: ``play --start`` in the middle of a 60-minute file reaches its first sound in
<= 300 ms with the mixture phase (files opened, nothing before the start read) and within 1.5x
of the same on a 10-second file; switching the phase while playing leaves 0 ms of silence.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if hasattr(os, "sched_setaffinity"):  # one core: the renderer, the "device" and the rest
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_editor import make_file  # noqa: E402
from maskstudio.audio.backend import NullBackend  # noqa: E402
from maskstudio.audio.player import Player  # noqa: E402
from maskstudio.dsp.stream import Heard, StreamRenderer  # noqa: E402
from maskstudio.editing.document import Document  # noqa: E402
from maskstudio.io.audiofile import load_audio  # noqa: E402
from maskstudio.io.npz import load_masks, write_mask_file  # noqa: E402
from maskstudio.io.ondemand import open_audio, open_masks  # noqa: E402

RESULTS = []


def report(name, value, target, unit, ok):
    RESULTS.append(ok)
    print(f"  {name:<52} {value:>9.1f} {unit:<5} target {target:<10} {'PASS' if ok else 'FAIL'}")


def renderer_for(doc, phase):
    r = StreamRenderer(doc.clip.samples, doc.config, doc.store.block, len(doc.layers),
                       phase=phase, samplerate=doc.samplerate)
    r.heard = Heard("layer", (0,))
    return r


def first_sound(doc, phase, start):
    times = []
    for _ in range(5):
        backend = NullBackend(realtime=True)
        player = Player(backend)
        t0 = time.perf_counter()
        player.play(renderer_for(doc, phase), doc.samplerate, start=start)
        while player.t_first_sound is None and time.perf_counter() - t0 < 5:
            time.sleep(0.0005)
        times.append((player.t_first_sound or time.perf_counter()) - t0)
        player.stop()
    return 1e3 * float(np.median(times))


def keeps_up(doc, phase, start, seconds):
    backend = NullBackend(realtime=True)
    player = Player(backend)
    player.play(renderer_for(doc, phase), doc.samplerate, start=start,
                stop=start + int(seconds * doc.samplerate))
    t0 = time.perf_counter()
    while not player.finished and time.perf_counter() - t0 < seconds + 5:
        time.sleep(0.01)
    player.stop()
    return player.underruns, backend.frames_played / doc.samplerate


def render_speed(doc, phase, start, seconds):
    r = renderer_for(doc, phase)
    r.seek(start)
    n = int(seconds * doc.samplerate)
    t0 = time.perf_counter()
    got = 0
    while got < n:
        got += r.render(4096).shape[1]
    return seconds / (time.perf_counter() - t0)


def edit_latency(doc, start):
    """Play an empty layer (silence), paint it while playing, time until the paint is heard."""
    layer = doc.add_layer("probe")
    backend = NullBackend(realtime=True)
    player = Player(backend)
    r = StreamRenderer(doc.clip.samples, doc.config, doc.store.block, len(doc.layers))
    r.heard = Heard("layer", (layer,))
    player.play(r, doc.samplerate, start=start)
    time.sleep(0.5)
    heard_before = sum(b.shape[0] for b in backend.played)
    t_edit = time.perf_counter()
    _fill_ahead(doc, layer, player)
    while time.perf_counter() - t_edit < 3:
        blocks = list(backend.played)
        total = 0
        for b in blocks:
            total += b.shape[0]
            if total > heard_before and np.any(b):
                player.stop()
                return 1e3 * (time.perf_counter() - t_edit)
        time.sleep(0.001)
    player.stop()
    return float("inf")


def masks_for(path: Path, audio: Path) -> Path:
    """A one-layer mask file (0.7 everywhere) on the default grid of ``audio``, written a band
    at a time (60 minutes: 1.3 GB)."""
    from maskstudio.dsp.stft import STFTConfig

    if path.exists():
        return path
    reader = open_audio(audio)
    cfg = STFTConfig.for_samplerate(reader.samplerate)
    T = cfg.n_frames(reader.n_samples)
    write_mask_file(path, ["voice"], (1, cfg.n_bins, T),
                    lambda i, f0, f1: np.full((f1 - f0, T), 0.7, np.float32), cfg,
                    reader.samplerate)
    reader.close()
    return path


def play_start(audio: Path, masks: Path, start_s: float, *, whole: bool = False) -> float:
    """What ``maskstudio play MIX --masks M --layer voice --start S`` does before its first
    sound: open (or, ``whole``, read) the files, build the renderer, start the player; ms to
    the first non-silent block handed to the device."""
    t0 = time.perf_counter()
    if whole:  # what play did before issue 11
        clip = load_audio(audio)
        mf = load_masks(masks, n_channels=clip.n_channels, n_samples=clip.n_samples,
                        samplerate=clip.samplerate)
        samples, frames, cfg, sr = clip.samples, (lambda a, b: mf.masks.data[..., a:b]), \
            mf.config, clip.samplerate
    else:
        reader = open_audio(audio)
        lazy = open_masks(masks, n_channels=reader.n_channels, n_samples=reader.n_samples,
                          samplerate=reader.samplerate)
        samples, frames, cfg, sr = reader, lazy.frames, lazy.config, reader.samplerate
    r = StreamRenderer(samples, cfg, frames, 1, samplerate=sr)
    r.heard = Heard("layer", (0,))
    backend = NullBackend(realtime=True)
    player = Player(backend)
    player.play(r, sr, start=int(start_s * sr))
    while player.t_first_sound is None and time.perf_counter() - t0 < 60:
        time.sleep(0.0005)
    ms = 1e3 * ((player.t_first_sound or time.perf_counter()) - t0)
    player.stop()
    return ms


def switch_gap(doc, start) -> float:
    """Play a layer with the mixture phase, switch to MISI and back while playing; the
    longest run of silence in what the device got, in ms."""
    backend = NullBackend(realtime=True)
    player = Player(backend)
    player.play(renderer_for(doc, "mixture"), doc.samplerate, start=start)
    time.sleep(1.0)
    player.set_phase("misi")
    time.sleep(1.5)
    player.set_phase("mixture")
    time.sleep(1.0)
    player.stop()
    heard = np.abs(backend.recording()).max(axis=1) > 0
    longest = run = 0
    for loud in heard[int(0.1 * doc.samplerate):]:  # after the first block
        run = 0 if loud else run + 1
        longest = max(longest, run)
    return 1e3 * longest / doc.samplerate


def _fill_ahead(doc, layer, player):
    """Paint the layer over the next minute (what a brush stroke near the playhead does)."""
    t = player.position() // doc.config.hop_length
    t1 = min(doc.n_frames, t + int(60 / doc.frame_seconds))
    doc.store.write([layer], 0, t, np.ones((1, doc.n_bins, t1 - t), np.float32))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", type=Path, help="folder to keep the generated file in")
    args = ap.parse_args(argv)
    minutes = 2 if args.quick else 60
    with tempfile.TemporaryDirectory() as d:
        folder = args.keep or Path(d)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{minutes}min.wav"
        if not path.exists():
            print(f"generating a {minutes}-minute stereo file")
            make_file(path, minutes)
        doc = Document(load_audio(path))
        for name in ("voice", "drums", "bass", "other"):
            doc.add_layer(name)
        start = doc.clip.n_samples // 2  # the middle: nothing before it is rendered
        t_mid = start // doc.config.hop_length
        doc.store.write([0], 0, max(0, t_mid - 64), np.full(
            (1, doc.n_bins, min(doc.n_frames - t_mid + 64, 6000)), 0.7, np.float32))
        print(f"\nPlayback of {path.name}, from {start / doc.samplerate / 60:.1f} min, one core")
        for phase, target in (("mixture", 100), ("misi", 300), ("hybrid", 300)):
            ms = first_sound(doc, phase, start)
            report(f"Play to first sound, {phase} phase (median of 5)", ms, f"<= {target} ms",
                   "ms", ms <= target)
        speed = render_speed(doc, "misi", start, 20)
        print(f"  MISI streaming renders at {speed:.1f}x real time on one core")
        underruns, played = keeps_up(doc, "misi", start, 10 if args.quick else 30)
        report(f"underruns playing {played:.0f} s with MISI in real time", underruns, "0", "",
               underruns == 0)
        ms = edit_latency(doc, start)
        report("edit while playing to hearing it", ms, "<= 500 ms", "ms", ms <= 500)
        gap = switch_gap(doc, start)
        report("silence when switching phase while playing", gap, "0 ms", "ms", gap == 0)
        del doc

        print(f"\nplay --start: {path.name} from its middle, and a 10-second file")
        short = folder / "10s.wav"
        if not short.exists():
            make_file(short, 10 / 60)
        long_masks = masks_for(folder / f"{minutes}min.npz", path)
        short_masks = masks_for(folder / "10s.npz", short)
        mid = minutes * 30.0
        long_ms = float(np.median([play_start(path, long_masks, mid) for _ in range(5)]))
        short_ms = float(np.median([play_start(short, short_masks, 5.0) for _ in range(5)]))
        report(f"play --start {mid:.0f} s to first sound (median of 5)", long_ms, "<= 300 ms",
               "ms", long_ms <= 300)
        report("the same on a 10-second file (--start 5)", short_ms, "", "ms", True)
        ratio = long_ms / short_ms
        report("  ratio, long to short", ratio, "<= 1.5", "x", ratio <= 1.5)
        if not args.quick:
            before = play_start(path, long_masks, mid, whole=True)
            print(f"  (reading both files whole first, as play did before: {before:.0f} ms)")
    print(f"\n{sum(RESULTS)} of {len(RESULTS)} targets met", flush=True)
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
