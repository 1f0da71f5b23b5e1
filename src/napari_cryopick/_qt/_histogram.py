"""A small score histogram with the threshold drawn on it (QPainter)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QRectF
from qtpy.QtGui import QColor, QPainter
from qtpy.QtWidgets import QSizePolicy, QWidget

#: Bins over scores 0 to 1.
BINS = 25
#: Bars under the threshold (hidden picks) are drawn in this grey.
HIDDEN = QColor(110, 110, 110)


class ScoreHistogram(QWidget):
    """How a class's candidates spread over scores 0 to 1.

    Bars at or over the threshold (the picks shown) are drawn in the
    class colour, the others grey, so moving the slider below it shows
    how many picks each step adds or hides, as crYOLO's box manager does.
    Counts are on a square-root scale: a few confident picks stay
    visible beside a pile of low-score ones.
    """

    def __init__(self, color, parent: QWidget | None = None):
        super().__init__(parent)
        self.color = QColor(*color)
        self.counts = np.zeros(BINS, dtype=int)
        self.threshold = 0.0
        self.setFixedHeight(26)
        self.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed
        )

    def set_scores(self, scores, threshold: float) -> None:
        """Show ``scores`` (0 to 1) and the ``threshold``."""
        self.counts, _ = np.histogram(
            np.clip(np.asarray(scores, float), 0.0, 1.0),
            bins=BINS,
            range=(0.0, 1.0),
        )
        self.threshold = float(threshold)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        top = float(np.sqrt(self.counts.max())) if self.counts.any() else 1.0
        width, height = self.width() / BINS, self.height() - 1.0
        for i, count in enumerate(self.counts):
            if not count:
                continue
            shown = (i + 1) / BINS > self.threshold
            bar = height * np.sqrt(count) / top
            painter.fillRect(
                QRectF(i * width, height - bar, max(width - 1, 1), bar),
                self.color if shown else HIDDEN,
            )
        painter.setPen(self.palette().windowText().color())
        x = round(self.threshold * (self.width() - 1))
        painter.drawLine(x, 0, x, self.height())
