"""What a listener feels: time to first sound, keeping up, hearing an edit.

    python benchmarks/bench_playback.py            # a 60-minute stereo file (about a minute)
    python benchmarks/bench_playback.py --quick    # a 2-minute file: checks it runs

Targets (issue 4): from Play to the first non-silent block handed to the device <= 100 ms for
a 60-minute file with the mixture phase, <= 300 ms with MISI or the hybrid; streamed
resynthesis keeps up (no underruns) with MISI on one core; an edit made while playing is heard
within about half a second.  Playback goes to a null backend that pulls blocks in real time
(as a sound card does), so no sound card is needed; a device adds its own output latency.
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
    print(f"\n{sum(RESULTS)} of {len(RESULTS)} targets met", flush=True)
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
