"""Score: the live per-class table against reference picks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from napari_cryopick._qt._legend import score_legend
from napari_cryopick._qt._shared import CryopickWidget
from napari_cryopick.errors import CryopickError
from napari_cryopick.metric_report import table_headers
from napari_cryopick.viewer.navigation import jump_to
from napari_cryopick.viewer.scoring import (
    LiveScore,
    layers_reference,
    reference_suffixes,
)

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.state import ViewerState

HEADERS = tuple(table_headers())


class ScoreWidget(CryopickWidget):
    """Per-class table and weighted F4 score, updated on every edit.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer (reference layers are read from it).
    state : ViewerState, optional
        Shared with the other cryopick widgets (see
        :class:`~napari_cryopick._qt._shared.CryopickWidget`).
    """

    def __init__(
        self,
        viewer: napari.components.ViewerModel,
        state: ViewerState | None = None,
    ):
        super().__init__(viewer, state)
        self.live = LiveScore(self.state)
        self.layers_choice = QComboBox()
        self.use_layers_button = QPushButton('Use layers')
        self.use_layers_button.clicked.connect(self.use_layers)
        self.path = QLineEdit()
        self.path.setPlaceholderText('picks JSON file/folder or CSV')
        self.browse = QPushButton('Browse...')
        self.browse.clicked.connect(self._browse)
        self.load_button = QPushButton('Load')
        self.load_button.clicked.connect(lambda: self.load(self.path.text()))
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.setMinimumWidth(560)
        self.score = QLabel('No reference chosen.')
        self.best_button = QPushButton('Set F4-optimal thresholds')
        self.best_button.clicked.connect(self.live.best_thresholds)
        self.misses = QListWidget()
        self.misses.itemClicked.connect(self._jump_to_miss)
        self._layout()
        viewer.layers.events.inserted.connect(self._refresh_choices)
        viewer.layers.events.removed.connect(self._refresh_choices)
        self.live.scored.connect(self.show_result)
        self._refresh_choices()

    def _detach(self) -> None:
        self.viewer.layers.events.inserted.disconnect(self._refresh_choices)
        self.viewer.layers.events.removed.disconnect(self._refresh_choices)
        self.live.scored.disconnect(self.show_result)
        self.live.detach()

    def _layout(self) -> None:
        layers_row = QHBoxLayout()
        layers_row.addWidget(self.layers_choice)
        layers_row.addWidget(self.use_layers_button)
        file_row = QHBoxLayout()
        for widget in (self.path, self.browse, self.load_button):
            file_row.addWidget(widget)
        form = QFormLayout()
        form.addRow('Reference layers', layers_row)
        form.addRow('or file', file_row)
        layout = self.body()
        layout.addLayout(form)
        layout.addWidget(self.score)
        layout.addWidget(self.table, stretch=2)
        layout.addWidget(self.best_button)
        layout.addWidget(QLabel('Missed references (click to go there)'))
        layout.addWidget(self.misses, stretch=1)
        layout.addWidget(score_legend())

    def _refresh_choices(self, event=None) -> None:
        current = self.layers_choice.currentText()
        self.layers_choice.clear()
        self.layers_choice.addItems(reference_suffixes(self.viewer))
        if current:
            self.layers_choice.setCurrentText(current)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, 'Reference picks', '', 'Picks (*.json *.csv *.star)'
        )
        if path:
            self.path.setText(path)
            self.load(path)

    def use_layers(self, suffix: str | None = None) -> None:
        """Score against the Points layers named ``'<class> <suffix>'``."""
        suffix = suffix or self.layers_choice.currentText()
        if not suffix:
            self.score.setText('No reference layers in the viewer.')
            return
        self.state.set_reference(layers_reference(self.viewer, suffix))

    def load(self, path: str) -> None:
        """Score against picks in JSON (file or folder), CSV or STAR."""
        from napari_cryopick.io.sources import read_picks
        from napari_cryopick.io.star_common import geometry_of

        # STAR coordinates may be centred on the tomogram open here.
        tomogram = self.state.tomogram
        geometries = (
            {tomogram.run: geometry_of(tomogram)} if tomogram else None
        )
        try:
            table = read_picks(path, origin='reference', tomograms=geometries)
        except CryopickError as err:
            self.score.setText(str(err))
            return
        self.state.set_reference(table)

    def show_result(self, result) -> None:
        """Fill the table and the score line from ``result``."""
        if result is None:
            self.table.setRowCount(0)
            self.misses.clear()
            if self.state.reference is not None:
                self.score.setText('Pick first.')
            return
        rows = result.table.itertuples(index=False)
        self.table.setRowCount(len(result.table))
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                text = f'{value:.2f}' if isinstance(value, float) else value
                self.table.setItem(i, j, QTableWidgetItem(str(text)))
        self.table.resizeColumnsToContents()
        self.score.setText(f'score: {result.score:.4f}')
        self._fill_misses()

    def _fill_misses(self) -> None:
        self.misses.clear()
        missed = self.live.missed
        for row in missed.itertuples(index=False):
            self.misses.addItem(
                f'{row.particle_type} at x={row.x:.0f} y={row.y:.0f} '
                f'z={row.z:.0f} Å'
            )

    def _jump_to_miss(self, item) -> None:
        row = self.live.missed.iloc[self.misses.row(item)]
        jump_to(self.viewer, (row['z'], row['y'], row['x']))
