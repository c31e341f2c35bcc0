"""What editor users feel, on a generated 60-minute stereo 44.1 kHz file (issue 12).

    python benchmarks/bench_editor.py            # the 60-minute file (a few minutes)
    python benchmarks/bench_editor.py --quick    # a 2-minute file: checks that it runs

Run it alone on the machine (other engineers: inside ``flock /tmp/maskstudio-bench.lock``).
It runs unattended: every measurement is a fresh process with its own settings and state
folders (``XDG_CONFIG_HOME``, ``XDG_STATE_HOME`` in a temporary folder, removed afterwards),
so no journal or setting of the user's is read or left behind, and no question is asked.
The generated file is kept in ``--keep`` (default /tmp/maskstudio-bench) for the next run.

Targets (issue 12):
- first picture: from File > Open to the first spectrogram painted, <= 1.5 x the time to
  decode and transform the first view (the samples of the view the window opens on, read
  with soundfile, and their STFT), measured in the same process, and <= 0.5 s;
- Ctrl+0 while the spectrogram is still filling, then scrolling to an unfilled region and
  back: the GUI thread never stalls > 50 ms (the longest gap of a 5 ms QTimer heartbeat);
- brush update (mouse move to repainted view: the move, then the queued updates delivered as
  the event loop would, which paints the region of the view the move dirtied), median and p95
  <= 12 ms at the default zoom, with four layers painted;
- peak memory with the file open and four painted layers <= 2.5 GB, and after exporting them;
- Ctrl+0, scrolling and zooming over an hour of oracle layers (two, one mask per channel):
  the GUI thread never stalls > 50 ms (the overlay of a wide view is composed beside it; when
  it arrives is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 44100
RESULTS: list = []


def report(name, value, target, unit, ok):
    RESULTS.append(ok)
    print(f"  {name:<56} {value:>9.3f} {unit:<3} target {target:<9} {'PASS' if ok else 'FAIL'}",
          flush=True)


def make_file(path: Path, minutes: float) -> Path:
    """Stereo 16-bit WAV: a 10 s pattern of tones and noise, repeated with variations (written
    beside and renamed, so a cached file is always whole)."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    base = 0.2 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(t)))
    part = path.with_suffix(".part.wav")
    with sf.SoundFile(str(part), "w", SR, 2, subtype="PCM_16") as f:
        for k in range(int(minutes * 6)):
            noise = 0.05 * rng.standard_normal((t.size, 2))
            block = np.stack([base * (1 + 0.1 * (k % 7)), 0.5 * base], axis=1) + noise
            f.write(block.astype(np.float32))
    part.rename(path)
    return path


# -- in the child processes ---------------------------------------------------------------------
def _window(tmp: Path):
    from pyqtgraph.Qt import QtCore

    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    app = make_app()
    win = MainWindow(QtCore.QSettings(str(tmp / "bench.ini"), QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    win.interactive = False
    win.projects.confirm_recovery = lambda n: False  # a fresh state folder: never asked
    win.resize(1280, 800)
    win.show()
    for _ in range(5):
        app.processEvents()
    return app, win


def _first_view_seconds(path: Path) -> float:
    """Decode and transform what the window shows first: the opening view's samples (with
    the centred STFT's padding), their mid, and its STFT."""
    from maskstudio.dsp.stft import STFTConfig, stft
    from maskstudio.ui.spectrogram_view import LONG_FILE_SECONDS, OPENING_SECONDS

    info = sf.info(str(path))
    seconds = OPENING_SECONDS if info.duration > LONG_FILE_SECONDS else info.duration
    cfg = STFTConfig.for_samplerate(info.samplerate)
    t0 = time.perf_counter()
    x, _ = sf.read(str(path), frames=int(seconds * info.samplerate) + cfg.n_fft // 2,
                   dtype="float32", always_2d=True)
    stft(x.mean(axis=1), **cfg.kwargs())
    return time.perf_counter() - t0


def _wait(app, until, timeout=600.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.002)


def child_first(path: Path, tmp: Path) -> dict:
    """First picture, then Ctrl+0 and scrolling while the fill runs, with a heartbeat."""
    from pyqtgraph.Qt import QtCore, QtGui

    app, win = _window(tmp)
    before = _first_view_seconds(path)
    painted: list = []

    def first():
        app.processEvents()
        win.view.graphics.viewport().repaint()
        painted.append(time.perf_counter())
    win.firstSpectrogram.connect(first)
    t0 = time.perf_counter()
    win.projects.open_path(path)
    _wait(app, lambda: painted)
    first_picture = painted[0] - t0
    spec = win.doc.spectrogram
    filled_at_first = float(spec.done.mean())
    beats: list = []
    heart = QtCore.QTimer(interval=5)
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    heart.start()
    zoom = next(a for a in win.findChildren(QtGui.QAction)
                if a.shortcut().toString() == "Ctrl+0")
    view = win.view
    steps = [lambda: zoom.trigger(),  # Ctrl+0 mid-fill
             lambda: view.vb.setXRange(0.5 * view.duration, 0.5 * view.duration + 60,
                                       padding=0),  # scroll to an unfilled region
             lambda: view.vb.setXRange(0.8 * view.duration, 0.8 * view.duration + 5,
                                       padding=0),  # and zoom in further on
             lambda: zoom.trigger()]
    for step in steps:
        step()
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 5)
    heart.stop()
    gaps = np.diff(beats) * 1e3
    filled_after = float(spec.done.mean())
    after = _first_view_seconds(path)
    return {"first": first_picture, "base": min(before, after), "base_runs": [before, after],
            "stall_max": float(gaps.max()), "stall_p99": float(np.percentile(gaps, 99)),
            "beats": int(gaps.size), "filled_at_first": filled_at_first,
            "filled_after": filled_after}


class PaintCounter:
    """Counts the paint events of a widget (``count``), by an event filter."""

    def __init__(self, widget):
        from pyqtgraph.Qt import QtCore

        class Filter(QtCore.QObject):
            def eventFilter(inner, obj, ev):  # noqa: N802, N805 - Qt's name
                if ev.type() == QtCore.QEvent.Type.Paint:
                    self.count += 1
                return False

        self.count = 0
        self._filter = Filter()
        widget.installEventFilter(self._filter)


def flush_updates() -> None:
    """Deliver what a move left queued, as Qt's event loop would next, without running timers:
    the scene's update (a queued call) and the window's update request, which paints the dirty
    region of the view."""
    from pyqtgraph.Qt import QtWidgets

    QtWidgets.QApplication.sendPostedEvents()
    QtWidgets.QApplication.sendPostedEvents()


def child_edit(path: Path, tmp: Path) -> dict:
    """Brush latency with four layers once the fill is done, then memory and export."""
    from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

    app, win = _window(tmp)
    t0 = time.perf_counter()
    win.projects.open_path(path)
    _wait(app, lambda: win.doc is not None)
    opened = time.perf_counter() - t0
    spec = win.doc.spectrogram
    _wait(app, lambda: spec.complete)
    filled = time.perf_counter() - t0
    for _ in range(4):
        win.edits.new_layer()
    view = win.view
    vp = view.graphics.viewport()
    (x0, x1), (y0, y1) = view.vb.viewRange()

    def send(kind, x, y, buttons):
        scene = view.vb.mapViewToScene(QtCore.QPointF(x, y))
        pos = QtCore.QPointF(view.graphics.mapFromScene(scene))
        types = {"press": QtCore.QEvent.Type.MouseButtonPress,
                 "move": QtCore.QEvent.Type.MouseMove,
                 "release": QtCore.QEvent.Type.MouseButtonRelease}
        button = (QtCore.Qt.MouseButton.LeftButton if kind != "move"
                  else QtCore.Qt.MouseButton.NoButton)
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            types[kind], pos, pos, button, buttons, QtCore.Qt.KeyboardModifier.NoModifier))

    painted = PaintCounter(vp)
    left = QtCore.Qt.MouseButton.LeftButton
    latencies, full, repainted = [], [], 0
    for stroke in range(4):
        win.layers.set_active(stroke)
        y = y0 + (0.2 + 0.15 * stroke) * (y1 - y0)
        send("press", x0 + 0.05 * (x1 - x0), y, left)
        for i in range(60):
            time.sleep(0.011)  # a mouse's pace: pyqtgraph throttles moves to 100 Hz
            x = x0 + (0.05 + 0.9 * i / 60) * (x1 - x0)
            painted.count = 0
            t = time.perf_counter()
            send("move", x, y + 0.05 * (y1 - y0) * np.sin(i / 5), left)
            flush_updates()  # what Qt repaints after the move: the region the move dirtied
            latencies.append(time.perf_counter() - t)
            repainted += painted.count > 0
            t = time.perf_counter()
            vp.repaint()  # for comparison: the whole view painted again
            full.append(time.perf_counter() - t)
        send("release", x1, y, QtCore.Qt.MouseButton.NoButton)
        app.processEvents()
    lat = np.array(latencies[5:]) * 1e3
    painted_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KB -> GB
    t0 = time.perf_counter()
    written = win.doc.export(tmp / "export", phase="mixture", fmt="wav")
    took = time.perf_counter() - t0
    exported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    for p in written:
        p.unlink()
    return {"opened": opened, "filled": filled, "moves": int(lat.size),
            "median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)),
            "repainted": int(repainted), "full_repaint_median": float(np.median(full) * 1e3),
            "painted_gb": painted_gb, "exported_gb": exported, "export_s": took,
            "export_files": len(written), "duration": float(win.doc.clip.duration)}


def child_oracle(path: Path, tmp: Path) -> dict:
    """Ctrl+0, scrolling and zooming over an hour of oracle layers (two, one mask per channel,
    in compact tiles as the oracle makes them), with a heartbeat: the overlay of a wide view
    is composed beside the GUI thread; when each one arrives is reported too."""
    from pyqtgraph.Qt import QtCore, QtGui

    from maskstudio.editing.tiles import TiledMasks, quantize

    app, win = _window(tmp)
    win.projects.open_path(path)
    _wait(app, lambda: win.doc is not None and win.doc.spectrogram.complete)
    doc, view = win.doc, win.view
    store = TiledMasks(doc.n_bins, doc.n_frames, tile=doc.store.tile, lead=doc.store.lead)
    store.add_layer()
    store.add_layer()
    rng = np.random.default_rng(0)
    m = rng.dirichlet(np.ones(3), size=doc.store.lead + (doc.n_bins, 1024)).astype(np.float32)
    codes = quantize(np.moveaxis(m, -1, 0)[:2])
    for t0 in range(0, doc.n_frames, 1024):
        store.write_codes([0, 1], t0, codes[..., :min(1024, doc.n_frames - t0)])
    doc.add_layers(["voice", "music"], store, {"kind": "oracle", "mask": "wiener"}, "oracle")
    for _ in range(20):
        app.processEvents()
    zoom = next(a for a in win.findChildren(QtGui.QAction)
                if a.shortcut().toString() == "Ctrl+0")
    arrived: list = []
    view.overlay_worker.ready.connect(lambda *_: arrived.append(time.perf_counter()))
    beats: list = []
    heart = QtCore.QTimer(interval=5)
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    heart.start()
    steps = [("Ctrl+0", zoom.trigger),
             ("scroll to a minute in the middle",
              lambda: view.vb.setXRange(0.5 * view.duration, 0.5 * view.duration + 60,
                                        padding=0)),
             ("zoom to 10 s", lambda: view.vb.setXRange(0.7 * view.duration,
                                                        0.7 * view.duration + 10, padding=0)),
             ("Ctrl+0 again", zoom.trigger)]
    gaps, overlays = [], {}
    for name, step in steps:
        arrived.clear()
        t = time.perf_counter()
        beats.append(t)
        step()
        end = t + 1.0
        while time.perf_counter() < end or view.overlay_worker.busy:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 5)
        overlays[name] = (arrived[-1] - t) if arrived else 0.0
    heart.stop()
    gaps = np.diff(beats) * 1e3
    if doc.journal is not None:
        doc.journal.discard()
    return {"stall_max": float(gaps.max()), "stall_p99": float(np.percentile(gaps, 99)),
            "overlays": overlays, "cold_mb": doc.store.cold_bytes() / 2**20,
            "held_mb": doc.store.nbytes() / 2**20,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def run_child(kind: str, path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], env=env,
                         capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"the {kind} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][7:])


# -- the parent -------------------------------------------------------------------------------
def bench(path: Path, runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="maskstudio-bench-"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(home / "config"),
               XDG_STATE_HOME=str(home / "state"), MASKSTUDIO_BENCH_TMP=str(home))
    try:
        print(f"\nFirst picture and Ctrl+0 during the fill, {path.name} ({runs} fresh processes)")
        firsts = [run_child("first", path, env) for _ in range(runs)]
        for r in firsts:
            print(f"  open -> painted {r['first']:.3f} s; decode + STFT of the first view "
                  f"{r['base']:.3f} s (runs {r['base_runs'][0]:.3f}, {r['base_runs'][1]:.3f}); "
                  f"filled {100 * r['filled_at_first']:.0f} % at the first picture, "
                  f"{100 * r['filled_after']:.0f} % 4 s later; longest GUI stall "
                  f"{r['stall_max']:.1f} ms (p99 {r['stall_p99']:.1f}, {r['beats']} beats)")
        first = statistics.median(r["first"] for r in firsts)
        base = statistics.median(r["base"] for r in firsts)
        report("first picture / (decode + STFT of the first view)", first / base, "<= 1.5x", "x",
               first / base <= 1.5)
        report("first picture, File > Open to painted", first, "<= 0.5 s", "s", first <= 0.5)
        stall = max(r["stall_max"] for r in firsts)
        report("longest GUI stall, Ctrl+0 / scroll / zoom mid-fill", stall, "<= 50 ms", "ms",
               stall <= 50)
        print(f"\nBrush latency with four layers, memory and export, {path.name}")
        r = run_child("edit", path, env)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20
        print(f"  opened in {r['opened']:.2f} s, filled in {r['filled']:.1f} s; {r['moves']} "
              f"moves; export: {r['export_files']} files in {r['export_s']:.1f} s "
              f"({r['duration'] / r['export_s']:.0f}x real time); peak of the processes "
              f"{peak:.2f} GB")
        print(f"  the view repainted after {r['repainted']} of {r['moves'] + 5} moves; a full "
              f"repaint of the view takes {r['full_repaint_median']:.2f} ms (median)")
        report("brush update, median (mouse move to repainted view)", r["median"], "<= 12 ms",
               "ms", r["median"] <= 12)
        report("brush update, 95th percentile", r["p95"], "<= 12 ms", "ms", r["p95"] <= 12)
        report("peak memory, file open with four painted layers", r["painted_gb"], "<= 2.5 GB",
               "GB", r["painted_gb"] <= 2.5)
        report("peak memory after exporting four layers and the residual", r["exported_gb"],
               "<= 2.5 GB", "GB", r["exported_gb"] <= 2.5)
        print(f"\nCtrl+0, scroll and zoom over two per-channel oracle layers, {path.name}")
        r = run_child("oracle", path, env)
        print(f"  layers: {r['held_mb']:.0f} MB held, {r['cold_mb']:.0f} MB cold; peak "
              f"{r['peak_gb']:.2f} GB; overlay composed beside, shown after "
              + ", ".join(f"{k} {v:.2f} s" for k, v in r["overlays"].items())
              + f"; p99 gap {r['stall_p99']:.1f} ms")
        report("longest GUI stall, Ctrl+0 / scroll / zoom over an oracle", r["stall_max"],
               "<= 50 ms", "ms", r["stall_max"] <= 50)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # nothing left in any state folder


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 2-minute file: checks it runs")
    ap.add_argument("--keep", type=Path, default=Path("/tmp/maskstudio-bench"),
                    help="folder to keep the generated file in (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="first-picture runs (median)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, path = args.child
        tmp = Path(os.environ["MASKSTUDIO_BENCH_TMP"])
        child = {"first": child_first, "edit": child_edit, "oracle": child_oracle}[kind]
        result = child(Path(path), tmp)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    minutes = 2 if args.quick else 60
    args.keep.mkdir(parents=True, exist_ok=True)
    print(f"maskstudio editor benchmark: a {minutes}-minute stereo file")
    path = make_file(args.keep / f"editor-{minutes}min.wav", minutes)
    bench(path, args.runs)
    print(f"\n{sum(RESULTS)} of {len(RESULTS)} targets met", flush=True)
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    # os._exit: PySide6 can crash while the interpreter tears down Qt objects at exit
    os._exit(main())
