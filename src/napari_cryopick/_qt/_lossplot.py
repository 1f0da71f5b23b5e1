"""A small loss curve painted with QPainter (no plotting dependency)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

#: Losses of single steps jump around; the curve shows a running mean.
SMOOTHING = 20
_MARGIN = 6


class LossPlot(QWidget):
    """Training loss against step, smoothed, with its latest value.

    Hidden while it has nothing to show (no empty box before training).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.setMinimumHeight(90)
        self.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed
        )
        self.hide()

    def clear(self) -> None:
        """Forget every point."""
        self.steps.clear()
        self.losses.clear()
        self.hide()

    def add(self, step: int, loss: float) -> None:
        """Add the loss of one step."""
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self.show()
        self.update()

    def smoothed(self) -> np.ndarray:
        """Return the running mean of the last :data:`SMOOTHING` losses."""
        losses = np.asarray(self.losses, float)
        if not len(losses):
            return losses
        totals = np.cumsum(np.insert(losses, 0, 0.0))
        index = np.arange(1, len(losses) + 1)
        start = np.maximum(index - SMOOTHING, 0)
        return (totals[index] - totals[start]) / (index - start)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().windowText().color()
        painter.setPen(text)
        values = self.smoothed()
        if len(values) < 2:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, 'loss')
            return
        low, high = float(values.min()), float(values.max())
        span = high - low or 1.0
        width = self.width() - 2 * _MARGIN
        height = self.height() - 2 * _MARGIN - 14
        steps = np.asarray(self.steps, float)
        x = _MARGIN + width * (steps - steps[0]) / max(np.ptp(steps), 1)
        y = _MARGIN + 14 + height * (high - values) / span
        painter.setPen(QPen(QColor(0, 160, 220), 1.5))
        painter.drawPolyline(
            QPolygonF([QPointF(a, b) for a, b in zip(x, y, strict=True)])
        )
        painter.setPen(text)
        painter.drawText(
            _MARGIN,
            _MARGIN + 10,
            f'loss {values[-1]:.4f} at step {self.steps[-1]} '
            f'(range {low:.3f}-{high:.3f})',
        )
