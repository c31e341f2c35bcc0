"""Where a brush dab's time goes: bench_editor's brush strokes, timed stage by stage.

    python benchmarks/profile_brush.py            # the 60-minute file, four layers
    python benchmarks/profile_brush.py --quick    # a 1-minute file: checks that it runs

Run it alone on the machine (other engineers: inside ``flock /tmp/maskstudio-bench.lock``).
The window opens the file (kept in ``--keep``, default /tmp/maskstudio-bench) with its own
settings and state folders, waits for the background fill, adds four layers and paints the
same four strokes as ``bench_editor.py`` (a mouse move every 11 ms, then the queued updates
delivered, which repaints what the move dirtied).  It prints the median and 95th percentile
of each stage per move: the overlay's update (pooling of the changed cells, composition), the
rest of the document's edit, the brush footprint, the repaint (the spectrogram's and the
overlay's images, the axes) and what is left (Qt's and pyqtgraph's event dispatch).  The
targets are checked by bench_editor.py; this says where to look when they are missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bench_editor import flush_updates, make_file  # noqa: E402


def profile(path: Path, home: Path, moves: int) -> dict:
    os.environ.update(XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"))
    from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

    import maskstudio.ui.spectrogram_view as sv
    from maskstudio.ui import overlay
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow

    app = make_app()
    win = MainWindow(QtCore.QSettings(str(home / "b.ini"), QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    win.resize(1280, 800)
    win.show()
    win.projects.open_path(path)
    deadline = time.monotonic() + 600
    while (win.doc is None or not win.doc.spectrogram.complete) and time.monotonic() < deadline:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    for _ in range(4):
        win.edits.new_layer()
    view = win.view
    spent: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return run

    overlay.pooled_area = timed("overlay: pooling", overlay.pooled_area)
    overlay.compose = timed("overlay: composition", overlay.compose)
    view.update_overlay = timed("overlay: update", view.update_overlay)
    win.doc.apply = timed("edit (document)", win.doc.apply)
    sv.brush_stroke = timed("brush footprint", sv.brush_stroke)
    view.image.paint = timed("repaint: spectrogram image", view.image.paint)
    view.overlay.paint = timed("repaint: overlay image", view.overlay.paint)
    for plot in (view.plot, view.wave):
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.paint = timed("repaint: axes", axis.paint)

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

    left = QtCore.Qt.MouseButton.LeftButton
    rows = []
    for stroke in range(4):
        win.layers.set_active(stroke)
        y = y0 + (0.2 + 0.15 * stroke) * (y1 - y0)
        send("press", x0 + 0.05 * (x1 - x0), y, left)
        for i in range(moves):
            time.sleep(0.011)
            x = x0 + (0.05 + 0.9 * i / moves) * (x1 - x0)
            spent.clear()
            t = time.perf_counter()
            send("move", x, y + 0.05 * (y1 - y0) * np.sin(i / 5), left)
            t_sent = time.perf_counter()
            flush_updates()  # the region the move dirtied, painted (as in bench_editor)
            t_end = time.perf_counter()
            row = dict(spent)
            row["total (mouse move to repainted view)"] = t_end - t
            row["repaint: dirty region"] = t_end - t_sent
            row["edit (document)"] = row.get("edit (document)", 0) - row.get("overlay: update", 0)
            row["dispatch and the rest"] = (t_sent - t) - sum(
                row.get(k, 0) for k in ("edit (document)", "overlay: update", "brush footprint"))
            rows.append(row)
        send("release", x1, y, QtCore.Qt.MouseButton.NoButton)
        app.processEvents()
    win.close()
    return {"rows": rows[5:], "view": (int(view.vb.width()), int(view.vb.height()))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 1-minute file: checks it runs")
    ap.add_argument("--keep", type=Path, default=Path("/tmp/maskstudio-bench"),
                    help="folder to keep the generated file in (default %(default)s)")
    ap.add_argument("--moves", type=int, default=60, help="mouse moves per stroke")
    args = ap.parse_args(argv)
    minutes = 1 if args.quick else 60
    args.keep.mkdir(parents=True, exist_ok=True)
    path = make_file(args.keep / f"editor-{minutes}min.wav", minutes)
    home = Path(tempfile.mkdtemp(prefix="maskstudio-profile-"))
    try:
        result = profile(path, home, args.moves)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    rows = result["rows"]
    print(f"brush dab on {path.name}, four layers, view {result['view'][0]} x "
          f"{result['view'][1]} px, {len(rows)} moves; load {os.getloadavg()[0]:.2f}")
    names = sorted({k for r in rows for k in r}, key=lambda k: (k.startswith("total"), k))
    for name in names:
        v = np.array([r.get(name, 0.0) for r in rows]) * 1e3
        print(f"  {name:<40} median {np.median(v):6.2f} ms   p95 {np.percentile(v, 95):6.2f} ms")
    return 0


if __name__ == "__main__":
    os._exit(main())  # PySide6 can crash while the interpreter tears down Qt objects at exit
