"""Per-class score threshold sliders bound to a picking session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

if TYPE_CHECKING:
    from napari_cryopick.session import PickSession

STEPS = 1000


class ThresholdSliders(QWidget):
    """One slider per class; moving it filters that class's layer live.

    Attributes
    ----------
    sliders : dict
        ``{class name: QSlider}`` (0 to 1000 for thresholds 0 to 1).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: PickSession | None = None
        self.sliders: dict[str, QSlider] = {}
        self.labels: dict[str, QLabel] = {}
        self._form = QFormLayout(self)
        self._form.addRow(QLabel('Pick first.'))

    def set_session(self, session: PickSession) -> None:
        """Show sliders for the classes of ``session``."""
        if self.session is not None:
            self.session.changed.disconnect(self._follow)
        self.session = session
        while self._form.rowCount():
            self._form.removeRow(0)
        self.sliders.clear()
        self.labels.clear()
        for name in session.class_names:
            self._add(name)
        session.changed.connect(self._follow)
        self._follow()

    def detach(self) -> None:
        """Stop following the session."""
        if self.session is not None:
            self.session.changed.disconnect(self._follow)
            self.session = None

    def set_value(self, name: str, value: float) -> None:
        """Move the slider of ``name`` to ``value`` (0 to 1)."""
        self.sliders[name].setValue(round(value * STEPS))

    def _add(self, name: str) -> None:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, STEPS)
        slider.valueChanged.connect(lambda v, n=name: self._moved(n, v))
        label = QLabel('0.000')
        label.setMinimumWidth(48)
        self.sliders[name] = slider
        self.labels[name] = label
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(slider)
        box.addWidget(label)
        self._form.addRow(name, row)

    def _moved(self, name: str, value: int) -> None:
        self.labels[name].setText(f'{value / STEPS:.3f}')
        if self.session is None:
            return
        if abs(self.session.thresholds.get(name, 0.0) - value / STEPS) > (
            0.5 / STEPS
        ):
            self.session.set_threshold(name, value / STEPS)

    def _follow(self, names=None) -> None:
        thresholds = self.session.thresholds
        for name, slider in self.sliders.items():
            value = round(thresholds.get(name, 0.0) * STEPS)
            if slider.value() != value:
                slider.blockSignals(True)
                slider.setValue(value)
                slider.blockSignals(False)
            self.labels[name].setText(f'{value / STEPS:.3f}')
