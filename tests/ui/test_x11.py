"""The editor on the real X11 platform (xcb) under Xvfb: the window opens a file, a stroke of
real mouse events paints, the window grabs, and it closes (CI installs Xvfb: .ci/run)."""

import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from pyqtgraph.Qt import QtCore, QtGui, QtTest, QtWidgets
    from maskstudio.dsp.stft import STFTConfig
    from maskstudio.ui.app import make_app
    from maskstudio.ui.main_window import MainWindow
    from maskstudio.editing.spectrogram import to_scale

    path, out, settings = sys.argv[1:4]
    app = make_app()
    assert QtGui.QGuiApplication.platformName() == "xcb", QtGui.QGuiApplication.platformName()
    win = MainWindow(QtCore.QSettings(settings, QtCore.QSettings.Format.IniFormat))
    win.confirm_close = False
    win.journaling = False
    win.resize(1100, 700)
    win.show()
    assert QtTest.QTest.qWaitForWindowExposed(win, 10000), "the window was never exposed"
    win.projects.open_path(path, config=STFTConfig(n_fft=512, hop_length=128), wait=True)
    win.edits.new_layer()
    QtTest.QTest.qWait(200)
    view = win.view
    vp = view.graphics.viewport()

    def at(seconds, hz):
        scene = view.vb.mapViewToScene(QtCore.QPointF(seconds, float(to_scale(hz, "linear"))))
        return view.graphics.mapFromScene(scene)

    points = [at(0.3, 1000), at(0.8, 2500), at(1.4, 1500)]
    QtTest.QTest.mousePress(vp, QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier, points[0])
    for a, b in zip(points[:-1], points[1:]):
        for k in range(1, 9):
            p = a + (b - a) * (k / 8)
            QtTest.QTest.mouseMove(vp, p)
            QtTest.QTest.qWait(15)
    QtTest.QTest.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton,
                              QtCore.Qt.KeyboardModifier.NoModifier, points[-1])
    QtTest.QTest.qWait(100)
    mask = win.doc.store.dense(0)
    grabbed = win.grab()
    assert grabbed.save(out), "the grab could not be saved"
    print("platform", QtGui.QGuiApplication.platformName())
    print("painted", int(np.count_nonzero(mask > 0.5)), "history", len(win.doc.history))
    print("grab", grabbed.width(), grabbed.height())
    win.close()
    app.quit()
""")


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it with apt-get: xvfb)")
    # Xvfb picks a free display itself and writes its number to the pipe (-displayfd): no
    # race with another X server starting beside us
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 10)
        number = os.read(r, 64).decode().strip() if ready else ""
        if not number.isdigit():
            proc.kill()
            pytest.fail(f"Xvfb did not start in 10 s: "
                        f"{proc.stderr.read().decode(errors='replace')[:500]}")
        n = int(number)
        yield f":{n}"
    finally:
        os.close(r)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_the_window_paints_on_the_real_x11_platform(xvfb, tmp_path, write_wav):
    sr = 16000
    t = np.arange(2 * sr) / sr
    mixture = write_wav(tmp_path / "mixture.wav",
                        (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    out = tmp_path / "x11.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND"))}
    env.update(DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", XDG_RUNTIME_DIR=str(tmp_path),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(mixture), str(out),
                          str(tmp_path / "settings.ini")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert lines["platform"] == "xcb"
    painted, history = lines["painted"].split(" history ")
    assert int(painted) > 50 and int(history) == 2  # the new layer, then one stroke
    from pyqtgraph.Qt import QtGui

    image = QtGui.QImage(str(out))
    assert image.width() >= 1100 and image.height() >= 700
