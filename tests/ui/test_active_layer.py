"""One active layer, shared by the Layers panel and the view: after every undo, redo, delete and
load, the outlined row is the layer a stroke paints on, and a stroke never silently does
nothing."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyqtgraph.Qt import QtCore, QtTest, QtWidgets

from maskstudio.editing.edits import Box

from .test_window import _grid, drag

STROKE = [(0.6, 1200.0), (1.0, 1200.0)]


def _load(doc, names, value=0.4):
    """Layers as an oracle or a model file adds them: one undoable step."""
    data = np.full((len(names), doc.n_bins, doc.n_frames), value, np.float32)
    return doc.add_layers(names, data, {"kind": "oracle"}, "oracle")


def _outlined(window):
    return [i for i, row in enumerate(window.layers.rows) if row.is_active]


def _agree(window):
    """The panel, the view and the outline name the same existing layer."""
    doc, active = window.doc, window.layers.active
    QtWidgets.QApplication.processEvents()
    assert window.view.active_layer == active
    if not doc.layers:
        assert active is None and _outlined(window) == []
        return None
    assert 0 <= active < len(doc.layers)
    assert _outlined(window) == [active]
    return active


def _stroke_changes_active(window):
    doc = window.doc
    k = _agree(window)
    before = [doc.store.dense(i).copy() for i in range(len(doc.layers))]
    drag(window.view, STROKE)
    after = doc.store.dense(k)
    f, t = _grid(window.view, 0.8, 1200.0)
    assert after[f, t] > 0.9 > before[k][f, t], "the stroke did not paint the outlined layer"
    return k


def test_undo_of_the_second_load_leaves_a_layer_the_brush_paints_on(window):
    doc = window.doc
    _load(doc, ["voice", "drums"])
    added = _load(doc, ["voice", "drums"])
    window.layers.set_active(added[0])  # as the window does after a load
    assert _agree(window) == 2
    window.edits.undo()  # the second load goes: layer 2 no longer exists
    assert len(doc.layers) == 2
    assert _stroke_changes_active(window) == 1


def test_deleting_the_active_last_layer_moves_the_brush_to_its_neighbour(window):
    doc = window.doc
    for _ in range(3):
        window.edits.new_layer()
    window.layers.set_active(2)
    window.edits.delete_layer()
    assert len(doc.layers) == 2
    assert _stroke_changes_active(window) == 1
    window.edits.undo()  # the stroke
    window.edits.undo()  # the delete: the layer is back, the active one stays where it is
    assert len(doc.layers) == 3 and _agree(window) == 1


def test_the_active_layer_is_the_same_layer_when_another_comes_back_before_it(window):
    doc = window.doc
    window.edits.new_layer()
    window.edits.new_layer()
    names = [layer.name for layer in doc.layers]
    window.layers.set_active(0)
    window.edits.delete_layer()  # the first layer goes: the second becomes active
    assert _agree(window) == 0 and doc.layers[0].name == names[1]
    window.edits.undo()  # the first layer comes back before it: the active one is still names[1]
    assert _agree(window) == 1 and doc.layers[1].name == names[1]
    window.edits.redo()
    assert _agree(window) == 0 and doc.layers[0].name == names[1]


def test_a_stroke_without_a_layer_says_so(window, qtbot):
    window.edits.new_layer()
    window.edits.undo()
    assert window.doc.layers == [] and _agree(window) is None
    drag(window.view, STROKE)
    qtbot.waitUntil(lambda: window.findChild(QtWidgets.QMessageBox, "errorDialog") is not None)
    box = window.findChild(QtWidgets.QMessageBox, "errorDialog")
    assert "no layer" in box.text()


def _click(widget):
    QtTest.QTest.mouseClick(widget, QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier,
                            QtCore.QPoint(widget.width() // 2, widget.height() // 2))
    QtWidgets.QApplication.processEvents()


def test_a_click_anywhere_on_a_row_activates_it(window):
    for _ in range(3):
        window.edits.new_layer()
    window.layers.set_active(0)
    for k, part in [(1, "name"), (2, "opacity"), (0, "marker"), (2, "visible"), (1, "solo")]:
        _click(getattr(window.layers.rows[k], part))
        assert _agree(window) == k, part
    _click(window.layers.rows[1].name)
    assert window.layers.rows[1].name.hasFocus()  # the name still takes the click: renaming
    assert _stroke_changes_active(window) == 1


OPS = st.lists(st.one_of(
    st.just(("new",)), st.just(("load",)), st.just(("delete",)), st.just(("undo",)),
    st.just(("redo",)), st.tuples(st.just("activate"), st.integers(-2, 8)),
    st.tuples(st.just("click"), st.integers(0, 8))), min_size=1, max_size=10)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_of_layer_steps_keeps_one_active_layer(window, ops):
    from maskstudio.editing.document import Document

    window.set_document(Document(window.doc.clip, window.doc.config))  # a fresh file each time
    doc = window.doc
    for op in ops:
        if op[0] == "new":
            window.edits.new_layer()
        elif op[0] == "load":
            added = _load(doc, ["a", "b"], value=0.2)
            window.layers.set_active(added[0])
        elif op[0] == "delete" and doc.layers:
            window.edits.delete_layer()
        elif op[0] == "undo":
            window.edits.undo()
        elif op[0] == "redo":
            window.edits.redo()
        elif op[0] == "activate":
            window.layers.set_active(op[1])
        elif op[0] == "click" and op[1] < len(window.layers.rows) - 1:
            _click(window.layers.rows[op[1]].name)
        _agree(window)
    k = window.view.active_layer
    if k is not None:  # what a stroke does with the view's layer: the outlined one changes
        box = Box(10, 20, 10, 20)
        doc.apply(k, box, np.ones(box.shape, np.float32), 1.0)
        np.testing.assert_allclose(doc.store.dense(k)[10:20, 10:20], 1.0)
