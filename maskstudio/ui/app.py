"""Starting the editor: the Qt application, its look, and the screenshot mode."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from maskstudio.errors import MaskStudioError


def _qt():
    try:
        from pyqtgraph.Qt import QtCore, QtGui, QtWidgets
    except ImportError as exc:  # a broken or absent Qt
        raise MaskStudioError(f"the editor needs PySide6 ({exc}): pip install PySide6-Essentials"
                              ) from None
    if QtCore.__version__ == "6.12.0" and sys.version_info < (3, 12):
        # every signal drops a reference to True: the editor would abort within minutes
        raise MaskStudioError("PySide6 6.12.0 crashes the editor on Python < 3.12: "
                              "pip install 'PySide6-Essentials<6.12'")
    return QtCore, QtGui, QtWidgets


def make_app():
    QtCore, QtGui, QtWidgets = _qt()
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("maskstudio")
        app.setOrganizationName("maskstudio")
        app.setStyle("Fusion")
        pal = QtGui.QPalette()
        C = QtGui.QPalette.ColorRole
        for role, color in ((C.Window, "#2b2b30"), (C.WindowText, "#e6e6e6"),
                            (C.Base, "#1f1f23"), (C.AlternateBase, "#2b2b30"),
                            (C.Text, "#e6e6e6"), (C.Button, "#35353b"),
                            (C.ButtonText, "#e6e6e6"), (C.Highlight, "#4f8ff7"),
                            (C.HighlightedText, "#ffffff"), (C.ToolTipBase, "#35353b"),
                            (C.ToolTipText, "#e6e6e6")):
            pal.setColor(role, QtGui.QColor(color))
        app.setPalette(pal)
    return app


def run(path=None, *, screenshot=None, preloaded=None) -> int:
    """Open the editor on ``path`` (the built-in demo when None); with ``screenshot``, render
    the window offscreen at 1280 x 800, write the PNG and return.  ``preloaded`` is a future
    of the decoded file, started before Qt was imported.

    With ``MASKSTUDIO_BENCH_FIRST_FRAME`` set, the process prints the time at which the first
    spectrogram was painted and exits: benchmarks/bench_editor.py times the real command so.
    """
    QtCore, QtGui, QtWidgets = _qt()
    app = make_app()
    from maskstudio.demo import demo_mixture
    from maskstudio.ui.main_window import MainWindow

    target = Path(path) if path else demo_mixture()
    if not target.exists():
        raise MaskStudioError(f"'{target}' does not exist: check the path")
    if screenshot:
        settings = QtCore.QSettings(str(Path(screenshot).with_suffix(".ini")),
                                    QtCore.QSettings.Format.IniFormat)
        win = MainWindow(settings)
        win.confirm_close = False
        win.journaling = False  # a picture, not a session: leave any recovery journal alone
        win.interactive = False  # nobody to answer a question: fail with one line instead
        win.resize(1280, 800)
        win.show()
        win.projects.open_path(target, wait=True, preloaded=preloaded)
        if win.doc is None:
            raise MaskStudioError(f"could not open '{target}'")
        if path is None:
            _demo_layers(win)
        win.metrics.update_now()
        deadline = time.monotonic() + 30  # the scores, when there are stems, in the picture
        while win.metrics.busy and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        for _ in range(5):
            app.processEvents()
        win.view.render()
        app.processEvents()
        if not win.grab().save(str(screenshot)):
            raise MaskStudioError(f"could not write '{screenshot}'")
        win.close()
        Path(settings.fileName()).unlink(missing_ok=True)
        print(screenshot)
        return 0
    win = MainWindow()
    win.show()
    from maskstudio.ui.workers import install_excepthook

    install_excepthook(win)  # a slot that raises shows a dialog, not only a line on stderr
    if os.environ.get("MASKSTUDIO_BENCH_FIRST_FRAME"):
        def painted():
            app.processEvents()
            win.view.graphics.viewport().repaint()
            print(f"first-spectrogram {time.time():.6f}", flush=True)
            os._exit(0)
        win.firstSpectrogram.connect(painted)
    if path is None:  # the demo opens with its oracle layers, as in the README
        def demo_ready():
            win.firstSpectrogram.disconnect(demo_ready)
            _demo_layers(win)
        win.firstSpectrogram.connect(demo_ready)
    win.projects.open_path(target, preloaded=preloaded)
    return app.exec()


def _demo_layers(win) -> None:
    """The demo opens with its oracle layers, so there is something to look at."""
    from maskstudio.demo import demo_stems

    names, data, prov, label, refs = win.doc.compute_oracle("wiener", demo_stems())
    win.doc.references.update(refs)
    win.doc.add_layers(names, data, prov, label)
    win.metrics.follow_oracle("wiener")
    win.show_scores()
    win.doc.history.clear()
    win.doc.modified = False
