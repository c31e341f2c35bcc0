"""Playback in the window, through a null backend (no sound card needed)."""

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.audio.backend import NullBackend
from maskstudio.audio.devices import AudioUnavailable
from maskstudio.dsp.phase import resynthesize


def _with_null_backend(window):
    backend = NullBackend()
    window.playback.backend_factory = lambda: backend
    window.playback.player_threaded = False
    return backend


def test_space_plays_and_pauses_and_the_playhead_follows(window, qtbot):
    backend = _with_null_backend(window)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    assert window.playback.playing and backend.samplerate == window.doc.samplerate
    backend.advance(8000)
    window.playback.tick()
    line = window.playback.playheads.lines[0]
    assert line.isVisible() and abs(line.value() - 8000 / window.doc.samplerate) < 1e-6
    assert "0:00.50" in window.playback.transport.time_label.text()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)  # pause
    assert not window.playback.playing and window.playback.resume_at == 8000
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)  # resume where it paused
    backend.played.clear()
    backend.advance(1000)
    np.testing.assert_allclose(backend.recording()[:, 0], window.doc.clip.read(8000, 9000)[0],
                               atol=1e-6)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Escape)
    assert not window.playback.playing and window.playback.resume_at is None


def test_switching_layers_while_playing_changes_the_next_block(window, qtbot, mixture_files):
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                     "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: len(window.doc.layers) == 2, timeout=10000)
    doc = window.doc
    offline = resynthesize(doc.clip.read(0, doc.clip.n_samples),
                           np.stack([doc.store.dense(i) for i in range(2)]), doc.config)
    backend = _with_null_backend(window)
    window.playback.transport.heard.setCurrentIndex(1)  # the active layer: voice
    window.playback.toggle_play()
    backend.advance(4096)
    rendered = window.playback.player.renderer.position
    window.playback.transport.heard.setCurrentIndex(2)  # the residual
    backend.advance(doc.clip.n_samples)
    out = backend.recording()[:, 0]
    np.testing.assert_allclose(out[:rendered], offline[0, 0, :rendered], atol=1e-6)
    later = rendered + doc.config.n_fft + 16 * doc.config.hop_length
    np.testing.assert_allclose(out[later:], offline[2, 0, later:out.size], atol=1e-6)
    assert window.playback.player.underruns == 0


def test_an_edit_while_playing_is_heard_in_the_next_chunk(window, qtbot):
    backend = _with_null_backend(window)
    window.edits.new_layer()
    window.playback.transport.heard.setCurrentIndex(1)  # the (empty) active layer: silence
    window.playback.toggle_play()
    backend.advance(2048)
    assert not backend.recording().any()
    doc = window.doc
    from maskstudio.editing.edits import rectangle

    doc.fill(0, rectangle(0, doc.n_bins, 0, doc.n_frames, n_bins=doc.n_bins,
                          n_frames=doc.n_frames))
    rendered = window.playback.player.renderer.position
    backend.played.clear()
    backend.advance(rendered + 20000)
    out = backend.recording()[:, 0]
    # what was rendered before the edit stays as it was; the next chunk carries the edit
    # (the time this takes in real playback is measured by benchmarks/bench_playback.py)
    chunk = window.playback.player.renderer.chunk * doc.config.hop_length
    assert not out[:max(0, rendered - doc.config.n_fft)].any()
    assert np.abs(out[rendered + chunk:rendered + 2 * chunk]).max() > 0.05


def test_no_device_and_a_failing_device_leave_the_editor_working(window, qtbot):
    def no_device():
        raise AudioUnavailable("playback needs the PortAudio library, which was not found")
    window.playback.backend_factory = no_device
    window.playback.toggle_play()
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "errorDialog") is not None)
    assert "PortAudio" in window.findChild(QtWidgets.QMessageBox, "errorDialog").text()
    assert not window.playback.playing
    window.findChild(QtWidgets.QMessageBox, "errorDialog").close()
    window.findChild(QtWidgets.QMessageBox, "errorDialog").setObjectName("seen")
    backend = _with_null_backend(window)
    window.playback.player = None
    window.playback.toggle_play()
    backend.advance(1024)
    backend.error = "the output device stopped while playing"
    window.playback.tick()
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "errorDialog") is not None)
    assert "stopped" in window.findChild(QtWidgets.QMessageBox, "errorDialog").text()
    assert not window.playback.playing
    window.edits.new_layer()  # still editing
    assert len(window.doc.layers) == 1


def _longest_silence(x: np.ndarray) -> int:
    quiet = np.abs(x).max(axis=1) == 0
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest


def test_the_phase_changes_in_the_running_stream_without_a_gap(window, qtbot, monkeypatch,
                                                              mixture_files):
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                     "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: len(window.doc.layers) == 2, timeout=10000)
    backend = _with_null_backend(window)
    t = window.playback.transport
    t.heard.setCurrentIndex(1)  # the active layer
    window.playback.toggle_play()
    backend.advance(4096)
    renderer = window.playback.player.renderer
    t.phase.setCurrentText("misi")
    assert window.playback.player.renderer is renderer, "the stream was reopened"
    backend.advance(8192)
    assert renderer.phase == "misi"
    t.phase.setCurrentText("oracle")  # after an oracle its stems are known: allowed
    backend.advance(8192)
    assert renderer.phase == "oracle"
    assert _longest_silence(backend.recording()) < 16
    assert window.playback.playing

    # a phase the document cannot play is said, and the sound goes on in the old one
    reported = []
    monkeypatch.setattr("maskstudio.ui.playback.report_failure",
                        lambda parent, exc, **kw: reported.append(str(exc)))
    t.phase.setCurrentText("complex")  # these layers are not cIRMs
    assert reported and "complex" in reported[0]
    assert t.phase.currentText() == "oracle" and renderer.phase == "oracle"
    assert window.playback.playing


def test_stop_puts_the_time_back_with_the_playhead(window, qtbot):
    backend = _with_null_backend(window)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    backend.advance(16000)
    window.playback.tick()
    assert "0:00.00" not in window.playback.transport.time_label.text()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Escape)
    assert window.playback.transport.time_label.text().strip() == "0:00.00"
    assert window.playback.playheads.lines[0].value() == 0


def test_gaps_in_the_sound_are_shown_and_counted_per_play(window, qtbot, monkeypatch):
    """A renderer that falls behind (its masks slow to read) leaves the device without sound:
    the transport says so; the next play starts with a clean count."""
    import time

    backend = NullBackend(realtime=True)
    window.playback.backend_factory = lambda: backend
    doc = window.doc
    doc.add_layer("voice")
    block = doc.store.block
    slow = {"on": True}

    def sluggish(t0, t1):
        if slow["on"]:
            time.sleep(0.15)  # far more than a chunk's worth of real time
        return block(t0, t1)

    monkeypatch.setattr(doc.store, "block", sluggish)
    window.playback.transport.heard.setCurrentIndex(1)
    window.playback.toggle_play()
    label = window.playback.transport.gaps_action
    qtbot.waitUntil(lambda: (window.playback.tick(), label.isVisible())[1], timeout=10000)
    assert "gap" in window.playback.transport.gaps_label.text()
    window.playback.stop()
    slow["on"] = False
    window.playback.toggle_play()
    window.playback.tick()
    assert not label.isVisible()
    window.playback.stop()


def test_the_live_scores_wait_while_it_plays_and_follow_when_it_stops(window, qtbot,
                                                                      mixture_files):
    """Scoring (BSS Eval: seconds of numpy) beside the audio callback made audible gaps on two
    cores: while playback runs, a run under way is cancelled and none starts; when it stops,
    the scores are made."""
    metrics = window.metrics
    metrics.show()
    backend = _with_null_backend(window)
    window.mask_sources.compute_oracle("wiener", {"voice": mixture_files["voice"],
                                                  "drums": mixture_files["drums"]})
    qtbot.waitUntil(lambda: len(window.doc.layers) == 2, timeout=10000)
    window.playback.toggle_play()
    assert window.playback.playing
    metrics.update_now()  # as an edit while playing would, after its pause
    assert metrics._task is None and metrics.state.text() == "scores wait while playing…"
    qtbot.wait(400)
    assert metrics._task is None and "sdr" not in metrics.scores.get("voice", {})
    backend.advance(2048)
    window.playback.stop()
    qtbot.waitUntil(lambda: "sdr" in metrics.scores.get("voice", {}), timeout=30000)
    # a run under way when playback starts is stopped
    metrics.update_now()
    assert metrics._task is not None
    window.playback.toggle_play()
    qtbot.waitUntil(lambda: metrics._task is None, timeout=5000)
    assert "wait" in metrics.state.text() and "while playing" in metrics.state.text()
    window.playback.stop()
    qtbot.waitUntil(lambda: not metrics.busy and "wait" not in metrics.state.text(),
                    timeout=30000)
