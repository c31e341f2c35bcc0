"""The Scores panel: how good the masks are against the stems, updated after every edit.

When the open mixture has stems (an oracle was loaded from them, or the dataset item has
``sources/``), each stem's layer — the layer named like it, else labelled so — is scored by a
:class:`~maskstudio.annotation.scores.MaskScorer` on a thread of its own: SI-SDR and IoU/F1
against the oracle first (a fraction of a second), then BSS Eval's SDR/SIR/SAR (seconds).  An
edit made meanwhile cancels the stale work; the window never waits.  The oracle's figures are
shown under each source's.  The difference view colours where the active layer takes more than
the oracle (orange) or less (blue).  A file longer than :data:`MAX_LIVE_SECONDS` is scored block
by block, nothing held whole (SI-SDR and IoU/F1; the panel says BSS Eval is left out).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from maskstudio.ui.bridge import Subscriptions
from maskstudio.ui.workers import Failure, run_task

COLUMNS = ["source", "SI-SDR (mean of ch.)", "SDR (whole)", "SIR (whole)", "SAR (whole)", "IoU",
           "F1"]
ORACLE_KINDS = ("irm", "ibm", "wiener", "psm")
DEBOUNCE_MS = 300
YIELD_POLL_MS = 150  #: how often scoring under way checks whether playback started
PAUSED = "scores wait while playing…"
#: Longer files are scored block by block (SI-SDR, IoU/F1: ``scores.stream_scores``), without
#: BSS Eval: the whole-signal scorer holds the mixture, the stems, the oracle and a snapshot of
#: the masks, and BSS Eval (one window over the whole signal) grows with the length: the window
#: peaked at 1588 MB with it on one minute of 44.1 kHz stereo, 305 MB without (measured).
MAX_LIVE_SECONDS = 30


class _Stems:
    """What the table shows of a long file's scoring: the stems and the oracle's kind."""

    def __init__(self, names: list, oracle_kind: str):
        self.names, self.oracle_kind = names, oracle_kind


class _Once:
    """``make()`` called once, on whichever thread first asks; later calls get its result."""

    def __init__(self, make):
        self._make, self._value, self._lock = make, None, threading.Lock()

    def __call__(self):
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value


#: what the panel's figures are, shown under the table (issue 14: say which definition)
DEFINITIONS = ("dB, sources rebuilt with the mixture's phase. SI-SDR: the mean of the channels' "
               "own SI-SDR (each channel's in the cell's tooltip). SDR/SIR/SAR: BSS Eval "
               "images over the whole signal as one window, not museval's median of 1 s "
               "windows (SiSEC's figure, which 'maskstudio batch' writes in metrics.json). "
               "IoU/F1: the mask against the oracle mask, both binarised at 0.5.")


def one_blas_thread(fn):
    """Run ``fn`` with the BLAS on one thread: scores are background work, and a BLAS that
    spreads BSS Eval's solves over every core starves playback's render thread (a clocked
    test heard it fall behind while the scores of a freshly loaded oracle ran)."""
    import functools

    @functools.wraps(fn)
    def limited(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return limited


def _fmt(value, key: str) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        return "—"
    return f"{value:.2f}" if key in ("iou", "f1") else f"{value:.1f}"


class MetricsPanel(QtWidgets.QWidget):
    """Scores of the layers that have a stem, and the oracle's beside them."""

    differenceChanged = QtCore.Signal(object)  # {layer index: (oracle store, j)} or None
    updated = QtCore.Signal(str)  # "fast" or "bss": a stage has been shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.doc = None
        self._subscriptions = Subscriptions(self)
        self.scorer = None  #: the MaskScorer, once the panel's thread has made it
        self._make_scorer: _Once | None = None
        self._key = None
        self._task = None
        self._generation = 0
        self._oracle_store = None
        self._matches = {}
        self._dirty = False
        self.scores = {}  # what the table shows: {stem: {...}}, and "oracle"
        self.oracle = {}
        # one thread of its own, so a long BSS Eval never holds up opening a file
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("oracle"))
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(list(ORACLE_KINDS))
        self.kind.setToolTip("the oracle mask the scores and the difference view compare with")
        self.kind.currentIndexChanged.connect(lambda *_: self.schedule())
        row.addWidget(self.kind)
        self.difference = QtWidgets.QCheckBox("difference view (D)")
        self.difference.setToolTip("show where the active layer departs from the oracle: "
                                   "orange where it takes more, blue where it takes less")
        self.difference.toggled.connect(lambda *_: self._emit_difference())
        row.addWidget(self.difference)
        row.addStretch(1)
        layout.addLayout(row)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip(DEFINITIONS)
        layout.addWidget(self.table, 1)
        self.definitions = QtWidgets.QLabel(DEFINITIONS)
        self.definitions.setWordWrap(True)
        self.definitions.setStyleSheet("color: #8a8a90")
        layout.addWidget(self.definitions)
        self.state = QtWidgets.QLabel("")
        self.state.setWordWrap(True)
        layout.addWidget(self.state)
        self.legend = QtWidgets.QLabel(
            "<span style='color:#ff961e'>■</span> the layer takes more than the oracle &nbsp; "
            "<span style='color:#2896ff'>■</span> less")
        self.legend.setVisible(False)
        layout.addWidget(self.legend)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_now)
        #: set by the window: while it returns True (playback), scoring waits; a run under
        #: way is cancelled and made again after (BSS Eval's numpy beside the audio callback's
        #: Python, on two cores, made audible gaps)
        self.yield_to: Callable[[], bool] = lambda: False
        self._yielding = QtCore.QTimer(self, interval=YIELD_POLL_MS)
        self._yielding.timeout.connect(self._check_yield)

    # -- following the document ---------------------------------------------------------------
    def set_document(self, doc) -> None:
        self.doc = doc
        subs = self._subscriptions
        subs.clear()
        for emitter in (doc.events.masks, doc.events.layers, doc.events.spectrogram):
            subs.connect(emitter, lambda e: self.schedule())
        self.scorer, self._key, self._oracle_store = None, None, None
        self.scores, self.oracle = {}, {}
        kind = self._oracle_kind_of(doc)
        if kind:
            self.kind.blockSignals(True)
            self.kind.setCurrentText(kind)
            self.kind.blockSignals(False)
        self.update_now()

    @staticmethod
    def _oracle_kind_of(doc):
        for layer in (doc.layers if doc is not None else []):
            kind = layer.provenance.get("mask") if layer.provenance.get("kind") == "oracle" \
                else None
            if kind in ORACLE_KINDS:
                return kind
        return None

    def follow_oracle(self, kind: str) -> None:
        """Compare with the kind of oracle just loaded (its layers then score IoU 1)."""
        if kind in ORACLE_KINDS and kind != self.kind.currentText():
            self.kind.setCurrentText(kind)  # schedules a new score

    def schedule(self) -> None:
        """Score again once the edits pause (every stroke would be wasted work)."""
        self._timer.start()

    def showEvent(self, ev):
        super().showEvent(ev)
        if self._dirty:
            self.schedule()

    @property
    def busy(self) -> bool:
        """Whether scoring is under way or waiting for the edits to pause."""
        return self._task is not None or self._timer.isActive()

    def shutdown(self) -> None:
        """Stop scoring (the window is closing): no stale result will arrive."""
        self._timer.stop()
        self._yielding.stop()
        self._generation += 1
        self._subscriptions.clear()
        self.doc = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _check_yield(self) -> None:
        """While scoring is under way or waiting: stop it while playback runs, and score
        again once it stops."""
        if self.yield_to():
            if self._task is not None:
                self._generation += 1
                self._task.cancel()
                self._task = None
                self._dirty = True
                self.state.setText(PAUSED)
        else:
            self._yielding.stop()
            if self._dirty and self.doc is not None:
                self.schedule()

    # -- scoring ----------------------------------------------------------------------------
    def update_now(self):
        """Snapshot the masks (here, on the GUI thread) and score them on the panel's thread."""
        self._timer.stop()
        self._generation += 1
        if self._task is not None:
            self._task.cancel()
            self._task = None
        doc = self.doc
        if doc is not None and doc.references and self.yield_to():
            self._dirty = True  # playing: scored when it stops
            self.state.setText(PAUSED)
            self._yielding.start()
            return None
        if doc is None or not doc.references:
            self._show_nothing("No stems for this mixture. Load them with Masks > Oracle from "
                               "stems, or open a dataset item that has sources/.")
            return None
        if not self.isVisible():
            self._dirty = True
            return None
        self._dirty = False
        if doc.clip.duration > MAX_LIVE_SECONDS:
            return self._run_long(doc)
        from maskstudio.annotation.scores import MaskScorer, match_layers  # (not at launch)

        kind = self.kind.currentText()
        key = (id(doc), tuple((n, id(r)) for n, r in doc.references.items()), doc.config,
               kind, doc.store.lead)
        if key != self._key:  # the scorer is made on the panel's thread: it reads the audio
            from maskstudio.io.ondemand import read_whole  # (under MAX_LIVE_SECONDS)

            clip, refs, config = doc.clip.reader(), dict(doc.references), doc.config
            per_channel = doc.store.lead != ()
            self._make_scorer = _Once(lambda: MaskScorer(
                read_whole(clip), {n: read_whole(r) for n, r in refs.items()}, config,
                oracle_kind=kind, per_channel=per_channel))
            self.scorer, self._key, self._oracle_store = None, key, None
        self._matches = match_layers(doc.layers, list(doc.references))
        masks = {stem: doc.store.dense(i) for stem, i in self._matches.items()}
        self._emit_difference()
        return self._run_stage(masks, "fast")

    def _run_stage(self, masks: dict, stage: str):
        """``fast``: SI-SDR and IoU/F1; then ``bss``: BSS Eval of the masks; then, once per
        item, ``oracle``: BSS Eval of the oracle.  Each stage starts the next when shown."""
        make, generation, t0 = self._make_scorer, self._generation, time.perf_counter()
        if make is None:  # a bug: update_now makes it first
            raise RuntimeError("no scorer to run")
        need_store = stage == "fast" and self._oracle_store is None
        self.state.setText({"fast": "scoring…", "bss": "computing BSS Eval…",
                            "oracle": "computing the oracle's BSS Eval…"}[stage])

        @one_blas_thread
        def work(progress):
            scorer = make()
            if stage == "oracle":
                return None, scorer.oracle_scores(bss=True, progress=progress), None
            oracle = scorer.oracle_scores(bss=scorer.has_oracle_bss) if stage == "fast" else None
            store = scorer.oracle_store() if need_store else None
            return scorer.score(masks, bss=stage == "bss", progress=progress), oracle, store

        def done(result):
            if generation != self._generation:
                return  # an edit came in meanwhile: its own run shows its scores
            scores, oracle, store = result
            scorer = self.scorer = make()  # made already, by the work
            self.scores = scores if scores is not None else self.scores
            self.oracle = oracle if oracle is not None else self.oracle
            if store is not None:
                self._oracle_store = store
                self._emit_difference()
            self._fill_table()
            pending = not scorer.has_oracle_bss
            took = f"{time.perf_counter() - t0:.2f} s"
            self.state.setText({
                "fast": f"SI-SDR and IoU/F1 updated in {took}; BSS Eval follows…",
                "bss": f"SDR/SIR/SAR updated in {took}"
                       + ("; the oracle's follow…" if pending else ""),
                "oracle": f"the oracle's SDR/SIR/SAR computed in {took}"}[stage])
            self.updated.emit(stage)
            nxt = {"fast": "bss", "bss": "oracle" if pending else None}.get(stage)
            if nxt and self.yield_to():  # the next stage waits for playback to stop
                self._task, self._dirty = None, True
                self.state.setText(f"SI-SDR and IoU/F1 updated in {took}; BSS Eval waits "
                                   f"while playing…" if stage == "fast" else PAUSED)
                self._yielding.start()
                return
            self._task = self._run_stage(masks, nxt) if nxt else None

        def fail(failure: Failure) -> None:
            if generation == self._generation:
                self._task = None
                self.state.setText(f"could not score: {failure.message}")

        self._task = run_task(self, "", work, done, on_fail=fail, modal=False, pool=self.pool)
        self._yielding.start()  # watched: playback starting meanwhile stops it
        return self._task

    def _run_long(self, doc):
        """A long file: SI-SDR and IoU/F1 block by block on the panel's thread, reading the
        audio on demand and the masks from the tiles as it goes (an edit meanwhile cancels
        it); BSS Eval, which needs whole signals, is said to be left out."""
        from maskstudio.annotation.scores import match_layers, stream_scores
        from maskstudio.dsp.blockwise import ArrayReader

        kind = self.kind.currentText()
        names = list(doc.references)
        self._matches = match_layers(doc.layers, names)
        self.scorer, self._key, self._oracle_store = _Stems(names, kind), None, None
        self.scores, self.oracle = {}, {}
        stems = [n for n in names if n in self._matches]
        if not stems:
            self._fill_table()
            self.state.setText("no layer is named or labelled like a stem")
            return None
        idx = [self._matches[n] for n in stems]
        clip, store, config = doc.clip.reader(), doc.store, doc.config
        refs = {n: (ArrayReader(r) if isinstance(r, np.ndarray) else r.reader())
                for n, r in ((n, doc.references[n]) for n in stems)}
        generation, t0 = self._generation, time.perf_counter()
        skipped = (f"BSS Eval covers files up to {MAX_LIVE_SECONDS:g} s (maskstudio batch "
                   f"scores this one)")
        self.state.setText(f"scoring block by block…; {skipped}")

        @one_blas_thread
        def work(progress):
            return stream_scores(clip, refs, lambda a, b: store.read(idx, 0, store.n_bins, a, b),
                                 config, oracle_kind=kind, per_channel=store.lead != (),
                                 progress=progress)

        def done(scores: dict) -> None:
            if generation != self._generation:
                return  # an edit came in meanwhile (a torn read of the tiles is dropped)
            self.scores = scores
            self._fill_table()
            self.state.setText(f"SI-SDR and IoU/F1 updated block by block in "
                               f"{time.perf_counter() - t0:.1f} s; {skipped}")
            self.updated.emit("fast")
            self._task = None

        def fail(failure: Failure) -> None:
            if generation == self._generation:
                self._task = None
                self.state.setText(f"could not score: {failure.message}")

        self._task = run_task(self, "", work, done, on_fail=fail, modal=False, pool=self.pool)
        self._yielding.start()  # watched: playback starting meanwhile stops it
        return self._task

    # -- showing ----------------------------------------------------------------------------
    def _show_nothing(self, message: str) -> None:
        self.scores, self.oracle, self._matches = {}, {}, {}
        self.table.setRowCount(0)
        self.state.setText(message)
        self._emit_difference()

    def _fill_table(self) -> None:
        names = self.scorer.names
        self.table.setRowCount(2 * len(names))
        grey = QtGui.QBrush(QtGui.QColor("#8a8a90"))
        for r, stem in enumerate(names):
            mine = self.scores.get(stem)
            layer = self.doc.layers[self._matches[stem]].name if stem in self._matches else None
            title = stem if layer in (None, stem) else f"{stem} ({layer})"
            if mine is None:
                title += ": no layer named or labelled so"
            cells = [title] + [_fmt((mine or {}).get(k), k) for k in
                               ("si_sdr", "sdr", "sir", "sar", "iou", "f1")]
            orc = self.oracle.get(stem, {})
            ocells = [f"   oracle {self.scorer.oracle_kind}"] + [
                _fmt(orc.get(k), k) for k in ("si_sdr", "sdr", "sir", "sar")] + ["", ""]
            for c, (a, b) in enumerate(zip(cells, ocells)):
                self.table.setItem(2 * r, c, QtWidgets.QTableWidgetItem(a))
                item = QtWidgets.QTableWidgetItem(b)
                item.setForeground(grey)
                self.table.setItem(2 * r + 1, c, item)
            for row, got in ((2 * r, mine or {}), (2 * r + 1, orc)):
                per = got.get("si_sdr_channels")
                if per and len(per) > 1:
                    self.table.item(row, 1).setToolTip("SI-SDR per channel: " + ", ".join(
                        f"{c + 1}: {_fmt(v, 'si_sdr')} dB" for c, v in enumerate(per)))

    def _emit_difference(self) -> None:
        self.legend.setVisible(self.difference.isChecked())
        if not self.difference.isChecked() or self._oracle_store is None or self.scorer is None:
            self.differenceChanged.emit(None)
            return
        names = self.scorer.names
        self.differenceChanged.emit({i: (self._oracle_store, names.index(stem))
                                     for stem, i in self._matches.items()})
