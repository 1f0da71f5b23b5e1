"""Export: the corrected picks as copick JSON, a Kaggle CSV or STAR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from napari_cryopick._qt._shared import CryopickWidget
from napari_cryopick.errors import CryopickError
from napari_cryopick.export import ExportSettings

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.state import ViewerState

COPICK = 'copick project (JSON)'
CSV = 'Kaggle CSV'
STAR = 'RELION 5 STAR'
#: The export service's name of each format offered.
_FORMATS = {COPICK: 'copick', CSV: 'csv', STAR: 'star'}
#: Single-file formats: the file filter their Browse dialog offers.
_FILES = {CSV: 'CSV (*.csv)', STAR: 'STAR (*.star)'}


class ExportWidget(CryopickWidget):
    """Write the shown picks of the session; never overwrite silently.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session is exported.
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
        self.format = QComboBox()
        self.format.addItems(list(_FORMATS))
        self.path = QLineEdit()
        self.path.setPlaceholderText('project folder, .csv or .star file')
        self.browse = QPushButton('Browse...')
        self.browse.clicked.connect(self._browse)
        self.user = QLineEdit(ExportSettings.user_id)
        self.session_id = QLineEdit(ExportSettings.session_id)
        self.overwrite = QCheckBox('Overwrite existing files')
        self.export_button = QPushButton('Export')
        self.export_button.clicked.connect(self.export)
        self.status = QLabel('')
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow('Format', self.format)
        form.addRow('Destination', row)
        form.addRow('copick user', self.user)
        form.addRow('copick session', self.session_id)
        form.addRow(self.overwrite)
        layout = self.body()
        layout.addLayout(form)
        layout.addWidget(self.export_button)
        layout.addWidget(self.status)
        layout.addStretch()

    def _browse(self) -> None:
        chosen = self.format.currentText()
        if chosen in _FILES:
            path, _ = QFileDialog.getSaveFileName(
                self, chosen, '', _FILES[chosen]
            )
        else:
            path = QFileDialog.getExistingDirectory(self, 'copick project')
        if path:
            self.path.setText(path)

    def export(self) -> list[Path]:
        """Write the picks; return the files written (none on error)."""
        session = self.state.session
        path = self.path.text().strip()
        if session is None or not path:
            self.status.setText('Nothing to export: pick and choose a path.')
            return []
        settings = ExportSettings(
            user_id=self.user.text(),
            session_id=self.session_id.text(),
            include_score=True,
            overwrite=self.overwrite.isChecked(),
        )
        user, session_id = settings.copick_ids()
        self.user.setText(user)
        self.session_id.setText(session_id)
        fmt = _FORMATS[self.format.currentText()]
        try:
            files = self.state.export(Path(path), fmt, settings)
        except CryopickError as err:
            hint = '' if self.overwrite.isChecked() else ' Tick Overwrite?'
            self.status.setText(f'Not exported: {err}.{hint}')
            return []
        shown = len(session.visible())
        self.status.setText(f'Wrote {shown} picks to {len(files)} files.')
        return files
