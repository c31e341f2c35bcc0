"""Playback in the editor window: the transport's actions, the playhead timer, the device.

A mixin of :class:`~maskstudio.ui.main_window.MainWindow`: it uses the window's document,
view, layers panel, settings and transport bar.  The work itself is the player's
(:mod:`maskstudio.audio.player`); this only connects it to the window.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

from maskstudio.ui.transport import DevicesDialog, Playheads, TransportBar, heard_for, make_renderer
from maskstudio.ui.workers import report_failure, show_error


class PlaybackMixin:
    """Play, pause, stop, what is heard, the playhead; for the main window."""

    def _init_playback(self) -> None:
        self.transport = TransportBar(self)
        self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, self.transport)
        self.playheads = Playheads(self.view)
        self.player = None
        self.player_threaded = True
        self.backend_factory = self._default_backend
        self._resume_at = None
        self.play_cursor = 0.0
        self._play_timer = QtCore.QTimer(self, interval=30)
        self._play_timer.timeout.connect(self._tick)

    def _connect_playback(self) -> None:
        t = self.transport
        t.play_button.clicked.connect(self.toggle_play)
        t.stop_button.clicked.connect(self.stop_playback)
        t.heard.currentIndexChanged.connect(lambda *_: self._update_heard())
        t.only_selection.toggled.connect(lambda *_: self._update_heard())
        t.phase.currentIndexChanged.connect(lambda *_: self._phase_changed())
        self.view.selectionChanged.connect(self._update_heard)
        self.view.wave.scene().sigMouseClicked.connect(self._wave_clicked)

    def _default_backend(self):
        from maskstudio.audio.sd_backend import SoundDeviceBackend

        device = self.settings.value("audio/device", None)
        return SoundDeviceBackend(None if device in (None, "", "None") else int(device))

    @property
    def playing(self) -> bool:
        return self.player is not None and self.player.playing

    def _heard(self):
        return heard_for(self.doc, self.transport.heard_key(), self.layers.active,
                         self.view.selection, self.transport.only_selection.isChecked())

    def _update_heard(self, *_) -> None:
        if self.playing:
            self.player.set_heard(self._heard())  # from the next rendered block

    def _phase_changed(self) -> None:
        if self.playing:  # a new renderer, from where the sound is
            pos = self.player.stop()
            self.start_playback(pos)

    def _wave_clicked(self, ev) -> None:
        """A click on the waveform or the time ruler (Shift+click on the spectrogram) moves the
        play cursor; a plain click on the spectrogram belongs to the tool (a brush dab)."""
        if self.doc is None or not self.view.is_seek_click(ev):
            return
        pos = self.view.wave.vb.mapSceneToView(ev.scenePos())
        self.play_cursor = max(0.0, min(pos.x(), self.doc.clip.duration))
        self._resume_at = None
        self.playheads.set_seconds(self.play_cursor)
        self.playheads.set_visible(True)
        if self.playing:
            self.player.stop()
            self.start_playback(int(self.play_cursor * self.doc.samplerate))

    def toggle_play(self) -> None:
        if self.doc is None:
            return
        if self.playing:
            self._resume_at = self.player.stop()
            self._play_timer.stop()
            self.transport.play_button.setText("▶ Play")
            return
        sel = self.view.selection
        if self._resume_at is not None:
            start = self._resume_at
        elif sel is not None and (self.transport.loop.isChecked()
                                  or self.transport.only_selection.isChecked()):
            start = int(sel[0].t0 * self.doc.config.hop_length)
        else:
            start = int(self.play_cursor * self.doc.samplerate)
        self.start_playback(start)

    def start_playback(self, start: int) -> None:
        doc = self.doc
        try:
            renderer = make_renderer(doc, self.transport.phase.currentText())
            renderer.heard = self._heard()
            if self.player is None or self.player.backend is None:
                from maskstudio.audio.player import Player

                self.player = Player(self.backend_factory(), threaded=self.player_threaded)
            stop, loop = None, False
            sel = self.view.selection
            if self.transport.loop.isChecked() and sel is not None:
                hop = doc.config.hop_length
                loop, stop = True, sel[0].t1 * hop
                start = min(max(start, sel[0].t0 * hop), stop - 1)
            self.player.play(renderer, doc.samplerate, start=start, stop=stop, loop=loop)
        except Exception as exc:  # noqa: BLE001 - every failed action gets its dialog
            self.player = None
            report_failure(self, exc)
            return
        self._resume_at = None
        self.transport.play_button.setText("❚❚ Pause")
        self.playheads.set_visible(True)
        self._play_timer.start()

    def stop_playback(self) -> None:
        if self.player is not None:
            self.player.stop()
        self._play_timer.stop()
        self._resume_at = None
        self.transport.play_button.setText("▶ Play")
        self.playheads.set_seconds(self.play_cursor)

    def stop_or_clear(self) -> None:
        if self.playing or self._resume_at is not None:
            self.stop_playback()
        else:
            self.view.set_selection(None)

    def _tick(self) -> None:
        p = self.player
        if p is None or self.doc is None:
            return
        seconds = p.position() / self.doc.samplerate
        self.playheads.set_seconds(seconds)
        m, s = divmod(seconds, 60)
        self.transport.time_label.setText(f"  {int(m)}:{s:05.2f}")
        if self.transport.follow.isChecked():
            (x0, x1), _ = self.view.vb.viewRange()
            if not x0 <= seconds <= x1:
                self.view.vb.setXRange(seconds, seconds + (x1 - x0), padding=0)
        error = getattr(p.backend, "error", None)
        if error:
            self.stop_playback()
            self.player = None
            show_error(self, f"playback stopped: {error}. The editor keeps working; choose "
                             f"another device in Edit > Audio output")
        elif p.finished:
            self.stop_playback()

    def devices_dialog(self) -> None:
        dialog = DevicesDialog(self.settings.value("audio/device", None), self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            device = dialog.device()
            self.settings.setValue("audio/device", "" if device is None else device)
            self.stop_playback()
            self.player = None  # the next Play opens the chosen device

