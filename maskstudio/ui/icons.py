"""The tool bar's icons, drawn with QPainter (no image files to ship or to lose)."""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

SIZE = 36  #: pixels drawn (shown at 18 px: sharp on a 2x screen)


def tool_icon(name: str) -> QtGui.QIcon:
    """The icon of a tool of :data:`~maskstudio.ui.spectrogram_view.TOOLS`."""
    pix = QtGui.QPixmap(SIZE, SIZE)
    pix.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pix)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    ink = QtWidgets.QApplication.palette().color(QtGui.QPalette.ColorRole.WindowText)
    pen = QtGui.QPen(ink, 3)
    p.setPen(pen)
    DRAW[name](p, ink)
    p.end()
    return QtGui.QIcon(pix)


def _brush(p, ink):
    p.setBrush(ink)
    p.drawEllipse(QtCore.QPointF(18, 18), 11, 11)


def _eraser(p, ink):
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawEllipse(QtCore.QPointF(18, 18), 11, 11)
    p.drawLine(10, 26, 26, 10)


def _rect(p, ink):
    pen = p.pen()
    pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawRect(6, 9, 24, 18)


def _time(p, ink):
    p.drawLine(9, 4, 9, 32)
    p.drawLine(27, 4, 27, 32)
    p.fillRect(10, 4, 16, 28, _faint(ink))


def _band(p, ink):
    p.drawLine(4, 10, 32, 10)
    p.drawLine(4, 26, 32, 26)
    p.fillRect(4, 11, 28, 14, _faint(ink))


def _lasso(p, ink):
    path = QtGui.QPainterPath(QtCore.QPointF(8, 20))
    path.cubicTo(4, 4, 32, 2, 30, 16)
    path.cubicTo(28, 28, 14, 30, 8, 20)
    p.drawPath(path)
    p.drawLine(9, 22, 12, 33)


def _pan(p, ink):
    for a, b in (((18, 4), (18, 32)), ((4, 18), (32, 18))):
        p.drawLine(*a, *b)
    p.setBrush(ink)
    for tip in (((18, 3), (14, 8), (22, 8)), ((18, 33), (14, 28), (22, 28)),
                ((3, 18), (8, 14), (8, 22)), ((33, 18), (28, 14), (28, 22))):
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(*q) for q in tip]))


def _harmonic(p, ink):
    for y, w in ((8, 3), (16, 2.5), (24, 2), (31, 1.5)):  # a note's harmonics, evenly spaced
        pen = p.pen()
        pen.setWidthF(w)
        p.setPen(pen)
        path = QtGui.QPainterPath(QtCore.QPointF(4, 38 - y))
        path.cubicTo(14, 38 - y - 3, 22, 38 - y + 3, 32, 38 - y)
        p.drawPath(path)


def _wand(p, ink):
    p.drawLine(6, 30, 22, 14)
    p.setBrush(ink)
    radius = [7 if k % 2 == 0 else 2.8 for k in range(8)]  # a four-pointed spark
    star = [QtCore.QPointF(27 + r * math.cos(k * math.pi / 4), 9 + r * math.sin(k * math.pi / 4))
            for k, r in enumerate(radius)]
    p.drawPolygon(QtGui.QPolygonF(star))


def _faint(ink: QtGui.QColor) -> QtGui.QColor:
    c = QtGui.QColor(ink)
    c.setAlpha(90)
    return c


DRAW = {"brush": _brush, "eraser": _eraser, "rect": _rect, "time": _time, "band": _band,
        "lasso": _lasso, "harmonic": _harmonic, "wand": _wand, "pan": _pan}
