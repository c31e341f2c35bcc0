"""The Qt binding the editor runs on: checks of its behaviour that the editor relies on."""

import sys

from pyqtgraph.Qt import QtCore


class _Emitter(QtCore.QObject):
    changed = QtCore.Signal(object)


def test_emitting_signals_keeps_reference_counts():
    """PySide6 6.12.0 decrements True's reference count on every emit(); on Python < 3.12
    (True is not immortal there) the process aborts with "bool_dealloc" once it reaches
    zero: a few thousand brush moves.  pyproject.toml keeps that version out."""
    e = _Emitter()
    seen = []
    e.changed.connect(seen.append)
    before_true, before_false = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(200):
        e.changed.emit(i)
    assert len(seen) == 200
    # a little slack for unrelated objects created or freed meanwhile
    assert abs(sys.getrefcount(True) - before_true) < 50
    assert abs(sys.getrefcount(False) - before_false) < 50
