"""Peak memory of the editor window on long files: open a stereo 44.1 kHz mixture in a real
(offscreen) ``MainWindow``, run Masks > Oracle from stems (Wiener-like, two stems), wait for the
oracle's layers and the spectrogram's background fill, and report the child process's peak RSS.

Each size runs in a child process of its own (``os.wait4``'s resource usage: the child's peak,
not this process's), with a fresh state folder (its crash journal is written, then removed)
and settings file.  The window reads the mixture and the stems on demand and keeps the
oracle's soft layers in compact tiles (``maskstudio/editing/tiles.py``); on a long file those
are cold, in an unnamed spill file read on demand, and the report gives both the tiles held in
memory and the cold ones.  The mixtures and
stems are those of ``bench_long.py`` (generated once in /tmp/maskstudio-bench/).

Targets, printed PASS/FAIL: peak <= 1.5 GB at 20 and at 60 minutes.  On a stereo file the
window's oracle layers are per channel by default (issue 13), twice the tiles of layers shared
by the channels (``--shared``, the Oracle dialog's "shared by all channels").  The 1-minute
run shows what any file costs (Qt, the libraries); what grows with length is printed per
minute: the display spectrogram (per frame, by design; a long file's layers are on disk), never the
signals.

    flock /tmp/maskstudio-bench.lock python benchmarks/bench_window_memory.py
    python benchmarks/bench_window_memory.py --minutes 1      # a quick check that it runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_long import generate  # noqa: E402  (the same files as the command line's bench)

ROOT = Path(__file__).resolve().parent.parent
GB = 1 << 30
LIMIT_MB = 1.5 * 1024

CHILD = r"""
import sys, time
from pyqtgraph.Qt import QtCore
from maskstudio.ui.app import make_app
from maskstudio.ui.main_window import MainWindow
from maskstudio.ui.workers import active_tasks

mix, a, b, ini, mode = sys.argv[1:6]
app = make_app()
win = MainWindow(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat))
win.confirm_close = False
win.resize(1100, 700)
win.show()


def wait(what, cond, timeout):
    end = time.perf_counter() + timeout
    while not cond():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)
        if time.perf_counter() > end:
            raise SystemExit(f"timed out waiting for {what}")


t0 = time.perf_counter()
win.projects.open_path(mix)
wait("the document", lambda: win.doc is not None and active_tasks() == 0, 600)
t_open = time.perf_counter() - t0
doc = win.doc
win.mask_sources.compute_oracle("wiener", {"a": a, "b": b}, shared=mode == "shared")
wait("the oracle", lambda: len(doc.layers) == 2 and active_tasks() == 0, 3600)
t_oracle = time.perf_counter() - t0 - t_open
wait("the spectrogram's fill", lambda: doc.spectrogram.complete, 3600)


def hwm():  # this process's peak RSS so far, MB
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


before_scores = hwm()
settle = time.perf_counter() + 1.0  # the scores panel starts after its debounce
wait("the scores to start", lambda: time.perf_counter() > settle, 60)
wait("the scores", lambda: active_tasks() == 0 and "…" not in win.metrics.state.text(), 3600)
app.processEvents()
kinds = sorted({str(t.dtype) for i in range(2) for t in doc.store.stored_tiles(i).values()})
print(f"open {t_open:.1f} s, oracle {t_oracle:.1f} s, total {time.perf_counter() - t0:.1f} s; "
      f"peak before the scores {before_scores:.0f} MB (BEFORE_SCORES={before_scores:.0f}); "
      f"tiles {doc.store.nbytes() / 2**20:.0f} MB held, {doc.store.cold_bytes() / 2**20:.0f} "
      f"MB cold in the spill file ({', '.join(kinds)}); references "
      f"{', '.join(type(r).__name__ for r in doc.references.values())}; scores panel: "
      f"{win.metrics.state.text()}")
if doc.journal is not None:
    doc.journal.discard()
win.close()
"""


def run(minutes: int, mode: str = "per-channel") -> tuple[float, float, str]:
    """Wall time (s), peak RSS (MB) and the child's report for one file, with the oracle's
    layers per channel (the default on a stereo file) or ``"shared"`` by the channels."""
    files = generate(minutes)
    home = Path(tempfile.mkdtemp(prefix="maskstudio-winmem-"))
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
                   XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"))
        t0 = time.perf_counter()
        with open(home / "out.txt", "wb") as out, open(home / "err.txt", "wb") as err:
            p = subprocess.Popen([sys.executable, "-c", CHILD, str(files["mix"]),
                                  str(files["a"]), str(files["b"]), str(home / "settings.ini"),
                                  mode],
                                 env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(p.pid, 0)  # this child's own peak
        elapsed = time.perf_counter() - t0
        report = (home / "out.txt").read_text().strip()
        errors = (home / "err.txt").read_text(errors="replace").strip()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the window failed on {minutes} minutes: {errors[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, report  # kB on Linux


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, nargs="+", default=[1, 20, 60])
    ap.add_argument("--shared", action="store_true",
                    help="oracle layers shared by the channels (default: per channel, as the "
                         "window makes them on a stereo file: twice the tiles)")
    args = ap.parse_args()
    mode = "shared" if args.shared else "per-channel"
    print(f"Oracle from stems in the window, layers {mode}")
    rows, before = {}, {}
    for minutes in args.minutes:
        elapsed, peak, report = run(minutes, mode)
        rows[minutes] = peak
        before[minutes] = float(report.split("BEFORE_SCORES=")[1].split(")")[0])
        print(f"{minutes:3d} min: peak {peak:7.0f} MB in {elapsed:6.1f} s -- {report}",
              flush=True)
    ok = True
    if 1 in rows and len(rows) > 1:  # the window's own peak: before the live scores start
        longest = max(rows)
        growth = (before[longest] - before[1]) / (longest - 1)
        print(f"growth with length: {growth:.1f} MB per minute over the 1-minute window's "
              f"{before[1]:.0f} MB (the display image, by design; a long file's layers are on "
              f"disk); the "
              f"1-minute peak with its live scores is {rows[1]:.0f} MB")
    for minutes in (20, 60):
        if minutes in rows:
            good = rows[minutes] <= LIMIT_MB
            ok &= good
            print(f"{'PASS' if good else 'FAIL'} window peak at {minutes} minutes "
                  f"{rows[minutes]:.0f} MB <= {LIMIT_MB:.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
