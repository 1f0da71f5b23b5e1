"""Per-class score threshold sliders bound to a picking session.

Each class gets a row: its colour and name (the legend of its layer), a
histogram of its candidates' scores over the slider, the threshold and
a live count of the picks shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QGridLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from napari_cryopick import picks as pk
from napari_cryopick._qt._histogram import ScoreHistogram
from napari_cryopick.classes import display_color

if TYPE_CHECKING:
    from napari_cryopick.classes import ParticleClass
    from napari_cryopick.session import PickSession

STEPS = 1000


class ThresholdSliders(QWidget):
    """One slider per class; moving it filters that class's layer live.

    Attributes
    ----------
    sliders : dict
        ``{class name: QSlider}`` (0 to 1000 for thresholds 0 to 1).
    labels : dict
        ``{class name: QLabel}``: the threshold.
    counts : dict
        ``{class name: QLabel}``: picks shown of the model's candidates.
    histograms : dict
        ``{class name: ScoreHistogram}``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: PickSession | None = None
        self.sliders: dict[str, QSlider] = {}
        self.labels: dict[str, QLabel] = {}
        self.counts: dict[str, QLabel] = {}
        self.histograms: dict[str, ScoreHistogram] = {}
        self._grid = QGridLayout(self)
        self._grid.setColumnStretch(1, 1)
        self._grid.addWidget(QLabel('Pick first.'), 0, 0)

    def set_session(self, session: PickSession | None) -> None:
        """Show sliders for the classes of ``session`` (none: no sliders)."""
        self.detach()
        while self._grid.count():
            self._grid.takeAt(0).widget().deleteLater()
        for mapping in (self.sliders, self.labels, self.counts):
            mapping.clear()
        self.histograms.clear()
        if session is None:
            self._grid.addWidget(QLabel('Pick first.'), 0, 0)
            return
        self.session = session
        for row, particle in enumerate(session.classes):
            self._add(row, particle)
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

    def _add(self, row: int, particle: ParticleClass) -> None:
        name = particle.name
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, STEPS)
        slider.valueChanged.connect(lambda v, n=name: self._moved(n, v))
        self.sliders[name] = slider
        self.labels[name] = QLabel('0.000')
        self.counts[name] = QLabel('')
        self.counts[name].setMinimumWidth(90)
        self.histograms[name] = ScoreHistogram(display_color(particle))
        track = QWidget()
        column = QVBoxLayout(track)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.histograms[name])
        column.addWidget(slider)
        self._grid.addWidget(swatch(particle), row, 0)
        self._grid.addWidget(track, row, 1)
        self._grid.addWidget(self.labels[name], row, 2)
        self._grid.addWidget(self.counts[name], row, 3)

    def _moved(self, name: str, value: int) -> None:
        self.labels[name].setText(f'{value / STEPS:.3f}')
        if self.session is None:
            return
        if abs(self.session.thresholds.get(name, 0.0) - value / STEPS) > (
            0.5 / STEPS
        ):
            self.session.set_threshold(name, value / STEPS)

    def _follow(self, names=None) -> None:
        session = self.session
        for row, particle in enumerate(session.classes):
            if particle.name not in self.sliders:  # added by New class
                self._add(row, particle)
        thresholds = session.thresholds
        table = session.table
        for name in names or self.sliders:
            if name not in self.sliders:
                continue
            threshold = thresholds.get(name, 0.0)
            value = round(threshold * STEPS)
            slider = self.sliders[name]
            if slider.value() != value:
                slider.blockSignals(True)
                slider.setValue(value)
                slider.blockSignals(False)
            self.labels[name].setText(f'{value / STEPS:.3f}')
            rows = table[
                (table['particle_type'] == name)
                & (table['origin'] != pk.DELETED)
            ]
            model = rows['score'][rows['origin'] == pk.MODEL]
            self.histograms[name].set_scores(model, threshold)
            shown = len(session.visible(name))
            self.counts[name].setText(f'{shown} shown of {len(rows)}')


def swatch(particle: ParticleClass) -> QLabel:
    """Return the class name beside a ring of its colour (its legend)."""
    r, g, b = display_color(particle)[:3]
    label = QLabel(
        f'<span style="color: rgb({r},{g},{b}); font-size: 14pt">'
        f'&#9711;</span> {particle.name}'
    )
    label.setToolTip(
        f'{particle.name}: radius {particle.radius:g} Å, score weight '
        f'{particle.weight:g}'
    )
    return label
