"""Playback in the editor window: the transport's actions, the playhead timer, the device.

:class:`PlaybackController` owns the transport bar, the playheads, the Play menu and the
Edit ▸ Audio output action.  The work itself is the player's
(:mod:`maskstudio.audio.player`), which renders ahead of the playhead on its own thread; this
only connects it to the window.  No Qt signal comes from the audio thread: a timer polls the
play position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from maskstudio.dsp.stream import Heard
from maskstudio.editing.document import Document
from maskstudio.editing.events import LayersChanged
from maskstudio.editing.hearing import phase_inputs
from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.controller import Controller, Shell
from maskstudio.ui.transport import DevicesDialog, Playheads, TransportBar, heard_for, make_renderer
from maskstudio.ui.workers import report_failure, show_error

if TYPE_CHECKING:
    from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent

    from maskstudio.audio.backend import AudioBackend
    from maskstudio.audio.player import Player

__all__ = ["PlaybackController"]

TICK_MS = 30  #: how often the playhead follows the sound
#: The window's device buffer and render-ahead, in seconds: larger than the command line's,
#: because the window's own work (the spectrogram's fill, live scores) competes with the
#: audio callback and the renderer for Python's lock; a stall shorter than these is not heard.
DEVICE_LATENCY = 0.2
LOOKAHEAD = 0.25


class PlaybackController(Controller):
    """Play, pause, stop, what is heard, the playhead and the output device.

    ``backend_factory`` makes the audio backend when Play first needs one (tests give a
    :class:`~maskstudio.audio.backend.NullBackend`); ``player_threaded`` False renders in the
    backend's pull instead of ahead on a thread (deterministic tests).
    """

    def __init__(self, window: Shell):
        super().__init__(window)
        self.transport = TransportBar(window)
        window.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, self.transport)
        self.playheads = Playheads(window.view)
        self.player: Player | None = None
        self.player_threaded = True
        self.backend_factory: Callable[[], AudioBackend] = self._default_backend
        #: where Play resumes after a pause (a sample), None: from the play cursor
        self.resume_at: int | None = None
        #: where Play starts, in seconds: moved by a click on the waveform or the time ruler
        self.play_cursor = 0.0
        self._playing_phase = self.transport.phase.currentText()  # what the sound uses
        self._timer = QtCore.QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._subscriptions = Subscriptions(self)
        t, view = self.transport, window.view
        t.play_button.clicked.connect(self.toggle_play)
        t.stop_button.clicked.connect(self.stop)
        t.heard.currentIndexChanged.connect(lambda *_: self.update_heard())
        t.only_selection.toggled.connect(lambda *_: self.update_heard())
        t.phase.currentIndexChanged.connect(lambda *_: self._phase_changed())
        view.selectionChanged.connect(lambda *_: self.update_heard())
        view.wave.scene().sigMouseClicked.connect(self._wave_clicked)
        window.active.changed.connect(self.update_heard)

    def fill_play_menu(self, menu: QtWidgets.QMenu) -> None:
        """Play ▸ Play / pause (Space), Stop (Esc)."""
        self.action("&Play / pause", self.toggle_play, "Space", menu)
        self.action("&Stop (or clear the selection)", self.stop_or_clear, "Esc", menu)

    def fill_edit_menu(self, menu: QtWidgets.QMenu) -> None:
        """Edit ▸ Audio output…"""
        self.action("Audio &output…", self.devices_dialog, None, menu)

    def set_document(self, doc: Document) -> None:
        """A new document: nothing of the previous file carries over (the play position)."""
        self.play_cursor = 0.0
        self.stop()
        self.transport.time_label.setText("  0:00.00")
        self._subscriptions.clear()
        # solo and mute change what "all but muted" means
        self._subscriptions.connect(doc.events.layers, self._layers_changed)

    @property
    def phase(self) -> str:
        """The phase the transport plays with (exports start from it)."""
        return self.transport.phase.currentText()

    @property
    def playing(self) -> bool:
        return self.player is not None and self.player.playing

    # -- what is heard --------------------------------------------------------------------
    def _default_backend(self) -> AudioBackend:
        from maskstudio.audio.sd_backend import SoundDeviceBackend

        device = self.window.settings.value("audio/device", None)
        return SoundDeviceBackend(None if device in (None, "", "None") else int(str(device)),
                                  latency=DEVICE_LATENCY)

    def _heard(self, doc: Document) -> Heard:
        t = self.transport
        return heard_for(doc, t.heard_key(), self.window.active.index or 0,
                         self.window.view.selection, t.only_selection.isChecked())

    def update_heard(self) -> None:
        """What is heard follows the transport, the active layer and the selection, from the
        next rendered block."""
        doc = self.window.doc
        if self.player is not None and self.playing and doc is not None:
            self.player.set_heard(self._heard(doc))

    def _layers_changed(self, event: LayersChanged) -> None:
        self.update_heard()

    def _phase_changed(self) -> None:
        """The phase changes inside the running stream, crossfaded, with no gap; a phase the
        document cannot play (the oracle's without stems) is said, and the old one goes on."""
        doc = self.window.doc
        if self.player is None or not self.playing or doc is None:
            self._playing_phase = self.phase
            return
        if self.phase == self._playing_phase:
            return
        try:
            phase, masks, refs = phase_inputs(doc, self.phase)
            self.player.set_phase(phase, masks=masks, references=refs)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            combo = self.transport.phase
            combo.blockSignals(True)
            combo.setCurrentText(self._playing_phase)
            combo.blockSignals(False)
            report_failure(self.window, exc)
            return
        self._playing_phase = self.phase

    def _wave_clicked(self, ev: MouseClickEvent) -> None:
        """A click on the waveform or the time ruler (Shift+click on the spectrogram) moves the
        play cursor; a plain click on the spectrogram belongs to the tool (a brush dab)."""
        doc, view = self.window.doc, self.window.view
        if doc is None or not view.is_seek_click(ev):
            return
        pos = view.wave.vb.mapSceneToView(ev.scenePos())
        self.play_cursor = max(0.0, min(pos.x(), doc.clip.duration))
        self.resume_at = None
        self.playheads.set_seconds(self.play_cursor)
        self.playheads.set_visible(True)
        if self.player is not None and self.playing:
            self.player.stop()
            self.start_playback(int(self.play_cursor * doc.samplerate))

    # -- play, pause, stop ----------------------------------------------------------------
    def toggle_play(self) -> None:
        """Play ▸ Play / pause (Space): from where it paused, the selection's start (when
        looping or playing only the selection) or the play cursor."""
        doc = self.window.doc
        if doc is None:
            return
        if self.player is not None and self.playing:
            self.resume_at = self.player.stop()
            self._timer.stop()
            self.transport.play_button.setText("▶ Play")
            return
        sel = self.window.view.selection
        if self.resume_at is not None:
            start = self.resume_at
        elif sel is not None and (self.transport.loop.isChecked()
                                  or self.transport.only_selection.isChecked()):
            start = int(sel[0].t0 * doc.config.hop_length)
        else:
            start = int(self.play_cursor * doc.samplerate)
        self.start_playback(start)

    def start_playback(self, start: int) -> None:
        """Play the open document from sample ``start`` (within the selection when looping);
        a failure (no device, a phase that needs stems) is said and nothing plays."""
        doc = self.window.doc
        if doc is None:
            return
        try:
            renderer = make_renderer(doc, self.phase)
            renderer.heard = self._heard(doc)
            if self.player is None or self.player.backend is None:
                from maskstudio.audio.player import Player

                self.player = Player(self.backend_factory(), threaded=self.player_threaded,
                                     lookahead=LOOKAHEAD)
            stop, loop = None, False
            sel = self.window.view.selection
            if self.transport.loop.isChecked() and sel is not None:
                hop = doc.config.hop_length
                loop, stop = True, sel[0].t1 * hop
                start = min(max(start, sel[0].t0 * hop), stop - 1)
            self.player.play(renderer, doc.samplerate, start=start, stop=stop, loop=loop)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            self.player = None
            report_failure(self.window, exc)
            return
        self._playing_phase = self.phase
        self.transport.show_gaps(0, 0, 0)  # counted per play
        self.resume_at = None
        self.transport.play_button.setText("❚❚ Pause")
        self.playheads.set_visible(True)
        self._timer.start()

    def stop(self) -> None:
        """Stop: the next Play starts at the play cursor again."""
        if self.player is not None:
            self.player.stop()
        self._timer.stop()
        self.resume_at = None
        self.transport.play_button.setText("▶ Play")
        self.playheads.set_seconds(self.play_cursor)
        self._show_time(self.play_cursor)  # the label goes back with the playhead

    def stop_or_clear(self) -> None:
        """Esc: stop what plays (or is paused); otherwise clear the selection."""
        if self.playing or self.resume_at is not None:
            self.stop()
        else:
            self.window.view.set_selection(None)

    def tick(self) -> None:
        """The playhead follows the sound (the timer calls this); a device that failed
        while playing stops playback with a dialog, and the editor keeps working."""
        p, doc = self.player, self.window.doc
        if p is None or doc is None:
            return
        seconds = p.position() / doc.samplerate
        self.playheads.set_seconds(seconds)
        self._show_time(seconds)
        self.transport.show_gaps(p.gaps, p.underruns, p.gaps - p.underruns)
        if self.transport.follow.isChecked():
            vb = self.window.view.vb
            (x0, x1), _ = vb.viewRange()
            if not x0 <= seconds <= x1:
                vb.setXRange(seconds, seconds + (x1 - x0), padding=0)
        if p.error is not None:  # a bad block of the file found while playing
            exc = p.error
            self.stop()
            self.player = None
            report_failure(self.window, exc, prefix="playback stopped: ")
            return
        error = getattr(p.backend, "error", None)
        if error:
            self.stop()
            self.player = None
            show_error(self.window, f"playback stopped: {error}. The editor keeps working; "
                                    f"choose another device in Edit > Audio output")
        elif p.finished:
            self.stop()

    def _show_time(self, seconds: float) -> None:
        m, s = divmod(seconds, 60)
        self.transport.time_label.setText(f"  {int(m)}:{s:05.2f}")

    def devices_dialog(self) -> None:
        """Edit ▸ Audio output: the device the next Play opens."""
        settings = self.window.settings
        dialog = DevicesDialog(settings.value("audio/device", None), self.window)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            device = dialog.device()
            settings.setValue("audio/device", "" if device is None else device)
            self.stop()
            self.player = None  # the next Play opens the chosen device
