"""Open: a tomogram file or store, or a run of a project, with its picks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
)

from napari_cryopick._qt._progress import ProgressWidget
from napari_cryopick._qt._shared import CryopickWidget
from napari_cryopick.classes import default_classes
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.project import is_project, is_zarr_store
from napari_cryopick.session import PickSession
from napari_cryopick.viewer.jobs import open_job

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.jobs import Opened
    from napari_cryopick.viewer.state import ViewerState


class OpenWidget(CryopickWidget):
    """Choose a tomogram, or a project and one of its runs, and open it.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer to add the tomogram and its existing picks to.
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
        self.path = QLineEdit()
        self.path.setPlaceholderText('OME-Zarr, MRC or project folder')
        self.path.editingFinished.connect(self.refresh_runs)
        self.file_button = QPushButton('File...')
        self.file_button.clicked.connect(self._choose_file)
        self.folder_button = QPushButton('Folder...')
        self.folder_button.clicked.connect(self._choose_folder)
        self.run = QComboBox()
        self.voxel_size = QLineEdit()
        self.voxel_size.setPlaceholderText("from the file's metadata")
        self.voxel_size.setToolTip(
            "Level-0 voxel size in Å, overriding the file's (needed when "
            'an MRC header says 0 or 1 Å, or a TIFF has none).'
        )
        self.open_button = QPushButton('Open')
        self.open_button.clicked.connect(self.open)
        self.progress = ProgressWidget()
        row = QHBoxLayout()
        for widget in (self.path, self.file_button, self.folder_button):
            row.addWidget(widget)
        form = QFormLayout()
        form.addRow('Source', row)
        form.addRow('Run', self.run)
        form.addRow('Voxel size (Å)', self.voxel_size)
        layout = self.body()
        layout.addLayout(form)
        layout.addWidget(self.open_button)
        layout.addWidget(self.progress)
        layout.addStretch()

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, 'Tomogram')
        self._set_path(path)

    def _choose_folder(self) -> None:
        self._set_path(QFileDialog.getExistingDirectory(self, 'Folder'))

    def _set_path(self, path: str) -> None:
        if path:
            self.path.setText(path)
            self.refresh_runs()

    def refresh_runs(self) -> None:
        """List the runs of the chosen project (none for a tomogram)."""
        from napari_cryopick.io.project import tomogram_runs

        self.run.clear()
        path = Path(self.path.text())
        if not (is_project(path) and not is_zarr_store(path)):
            self.run.setEnabled(False)
            return
        try:
            self.run.addItems(tomogram_runs(path))
        except CryopickError as err:
            self.progress.set_status(str(err))
        self.run.setEnabled(True)

    def open(self):
        """Open the chosen tomogram in a worker; return the worker."""
        source = self.path.text().strip()
        if not source:
            self.progress.set_status('Choose a tomogram or a project.')
            return None
        run = None
        if self.run.isEnabled():
            run = self.run.currentText() or None
        try:
            voxel_size = _voxel_size(self.voxel_size.text())
        except ValueError:
            self.progress.set_status(
                f'Voxel size must be a positive number of Å, not '
                f'{self.voxel_size.text()!r}.'
            )
            return None
        self.progress.set_status(f'Opening {source}...')
        return self.progress.task.submit(
            open_job(source, run, voxel_size),
            lambda item: None,
            self._on_opened,
            lambda err: self.progress.fail(f'Opening {source}', err),
        )

    def _on_opened(self, opened: Opened) -> None:
        tomogram = opened.tomogram
        data, kwargs, _ = opened.image
        self.viewer.add_image(data, **kwargs)
        for layer_data, layer_kwargs, _ in opened.picks:
            self.viewer.add_points(layer_data, **layer_kwargs)
        session = PickSession(tomogram.run, default_classes())
        self.state.update(tomogram=tomogram, session=session)
        said = (
            'set here' if self.voxel_size.text().strip() else 'from the file'
        )
        self.progress.set_status(
            f'{tomogram.run}: {tomogram.shape} voxels of '
            f'{tomogram.voxel_size:.4g} Å ({said}), {len(opened.picks)} '
            'picks layers.'
        )


def _voxel_size(text: str) -> float | None:
    """Return the voxel size typed in, or None when the field is empty."""
    if not text.strip():
        return None
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value
