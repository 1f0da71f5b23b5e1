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
    QVBoxLayout,
    QWidget,
)

from napari_cryopick._qt._state import state_for
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.names import sanitize_name

if TYPE_CHECKING:
    import napari.components

COPICK = 'copick project (JSON)'
CSV = 'Kaggle CSV'
STAR = 'RELION 5 STAR'
#: Single-file formats: the file filter their Browse dialog offers.
_FILES = {CSV: 'CSV (*.csv)', STAR: 'STAR (*.star)'}


class ExportWidget(QWidget):
    """Write the shown picks of the session; never overwrite silently.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session is exported.
    """

    def __init__(self, viewer: napari.components.ViewerModel):
        super().__init__()
        self.state = state_for(viewer)
        self.format = QComboBox()
        self.format.addItems([COPICK, CSV, STAR])
        self.path = QLineEdit()
        self.path.setPlaceholderText('project folder, .csv or .star file')
        self.browse = QPushButton('Browse...')
        self.browse.clicked.connect(self._browse)
        self.user = QLineEdit('cryopick')
        self.session_id = QLineEdit('0')
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
        layout = QVBoxLayout(self)
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
        table = session.picks()
        try:
            files = self._write(table, Path(path))
        except CryopickError as err:
            hint = '' if self.overwrite.isChecked() else ' Tick Overwrite?'
            self.status.setText(f'Not exported: {err}.{hint}')
            return []
        self.status.setText(f'Wrote {len(table)} picks to {len(files)} files.')
        return files

    def _write(self, table, path: Path) -> list[Path]:
        from napari_cryopick.io.copick_config import write_copick_config
        from napari_cryopick.io.copick_json import write_picks_json
        from napari_cryopick.io.kaggle_csv import write_picks_csv

        overwrite = self.overwrite.isChecked()
        if self.format.currentText() == STAR:
            return self._write_star(table, path, overwrite)
        if self.format.currentText() == CSV:
            return [
                write_picks_csv(
                    table, path, include_score=True, overwrite=overwrite
                )
            ]
        user = sanitize_name(self.user.text()) or 'cryopick'
        session_id = sanitize_name(self.session_id.text()) or '0'
        self.user.setText(user)
        self.session_id.setText(session_id)
        files = write_picks_json(
            table,
            path,
            user,
            session_id,
            object_names=self.state.session.class_names,
            runs=[self.state.session.run],
            voxel_spacing=self.state.voxel_size[-1],
            overwrite=overwrite,
        )
        write_copick_config(path, self.state.session.classes)
        return files

    def _write_star(self, table, path: Path, overwrite: bool) -> list[Path]:
        # RELION 5 coordinates are centred on the tomogram: the one open.
        from napari_cryopick.io.star import RELION5, geometry_of
        from napari_cryopick.io.star_write import write_star

        tomogram = self.state.tomogram
        if tomogram is None:
            raise CryopickError('RELION 5 STAR needs the tomogram open')
        geometry = geometry_of(tomogram)
        return write_star(
            table,
            path,
            RELION5,
            {self.state.session.run: geometry},
            classes=self.state.session.classes,
            overwrite=overwrite,
        )
