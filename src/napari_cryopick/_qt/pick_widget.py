"""Pick: run the model on an Image layer; per-class threshold sliders."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from napari.layers import Image
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from napari_cryopick._qt._classes import ClassBoxes
from napari_cryopick._qt._device import DeviceChoice
from napari_cryopick._qt._progress import ProgressWidget
from napari_cryopick._qt._shared import CryopickWidget
from napari_cryopick._qt._sliders import ThresholdSliders
from napari_cryopick._qt._task import worker_threads
from napari_cryopick.model.infer import InferenceSettings
from napari_cryopick.model.messages import (
    ModelLoaded,
    PartialPicks,
    Progress,
)
from napari_cryopick.session import PickSession
from napari_cryopick.viewer.jobs import Picked, pick_job
from napari_cryopick.viewer.warm import warm_up

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.state import Context, ViewerState

MISSING_MODEL = (
    'The bundled model is not installed yet: choose a checkpoint '
    '(.safetensors) with Browse.'
)


class PickWidget(CryopickWidget):
    """Run the picker on a tomogram layer and filter picks by score.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer (its Image layers are the tomograms to pick).
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
        warm_up()
        self.inference = InferenceSettings(threads=worker_threads())
        self.image = QComboBox()
        self.checkpoint = QLineEdit()
        self.checkpoint.setPlaceholderText('bundled model (or v2, or a file)')
        self.browse = QPushButton('Browse...')
        self.browse.clicked.connect(self._browse)
        self.tta = QCheckBox('Test-time augmentation (slower)')
        self.device = DeviceChoice()
        self.classes = ClassBoxes()
        self._chosen = None  # the classes of the pick in flight
        self._before = self.state.context
        self.checkpoint.editingFinished.connect(self._refresh_classes)
        self._refresh_classes()
        self.pick_button = QPushButton('Pick')
        self.pick_button.clicked.connect(self.pick)
        self.progress = ProgressWidget()
        # After the progress widget's own handler, which says Cancelled.
        self.progress.cancel_button.clicked.connect(self._end_partial)
        self.sliders = ThresholdSliders()
        self._layout()
        viewer.layers.events.inserted.connect(self._refresh_images)
        viewer.layers.events.removed.connect(self._refresh_images)
        self.state.changed.connect(self._on_context)
        self._refresh_images()
        if self.state.session is not None:
            self.sliders.set_session(self.state.session)

    def _detach(self) -> None:
        # The state and the viewer outlive this widget: let go of them.
        self.viewer.layers.events.inserted.disconnect(self._refresh_images)
        self.viewer.layers.events.removed.disconnect(self._refresh_images)
        self.state.changed.disconnect(self._on_context)
        self.sliders.detach()

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow('Tomogram', self.image)
        row = QHBoxLayout()
        row.addWidget(self.checkpoint)
        row.addWidget(self.browse)
        form.addRow('Model', row)
        form.addRow('Classes', self.classes)
        form.addRow('Device', self.device)
        form.addRow(self.tta)
        box = QGroupBox('Thresholds (score >= threshold is shown)')
        QVBoxLayout(box).addWidget(self.sliders)
        layout = self.body()
        layout.addLayout(form)
        layout.addWidget(self.pick_button)
        layout.addWidget(self.progress)
        layout.addWidget(box)
        layout.addStretch()

    def _refresh_images(self, event=None) -> None:
        current = self.image.currentText()
        names = [
            lyr.name
            for lyr in self.viewer.layers
            if isinstance(lyr, Image) and lyr.ndim == 3
        ]
        self.image.clear()
        self.image.addItems(names)
        if current in names:
            self.image.setCurrentText(current)

    def _on_context(self, new: Context, old: Context) -> None:
        if new.session is not old.session:
            self.sliders.set_session(new.session)
        if new.model is not None and self.checkpoint.text():
            self.checkpoint.setText(str(new.model.path))
        if new.model is not None:
            self.classes.set_classes(c.name for c in new.model.classes)

    def _refresh_classes(self) -> None:
        """Show the classes of the chosen (or bundled) model's card."""
        from napari_cryopick.errors import CryopickError
        from napari_cryopick.model.checkpoint import (
            read_card,
            resolve_checkpoint,
        )

        # A shipped model's short name ("v2") is what Pick loads too.
        path = resolve_checkpoint(self.checkpoint.text().strip() or None)
        try:
            card = read_card(path)
        except CryopickError:
            return  # a bad path is reported when Pick is pressed
        self.classes.set_classes(c.name for c in card.classes)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, 'Checkpoint', '', 'Checkpoints (*.safetensors)'
        )
        if path:
            self.checkpoint.setText(path)
            self._refresh_classes()

    def pick(self):
        """Start picking the chosen tomogram; return the worker or None."""
        name = self.image.currentText()
        if name not in self.viewer.layers:
            self.progress.set_status('Open a tomogram first.')
            return None
        tomogram = self.state.tomogram_for(self.viewer.layers[name])
        job = self._job(tomogram)
        if job is None:
            return None
        self.progress.cancel()
        self._end_partial()
        # What a failed pick returns to (nothing half-made is left).
        self._before = self.state.context
        self.progress.set_status(f'Picking {tomogram.run}...')
        return self.progress.task.submit(
            job, self._on_message, self._on_done, self._on_error
        )

    def _job(self, tomogram):
        from napari_cryopick.model.checkpoint import bundled_checkpoint

        path = self.checkpoint.text().strip() or None
        model = self.state.model
        if path is not None and (model is None or str(model.path) != path):
            model = None
        bundled = bundled_checkpoint().is_file()
        if model is None and path is None and not bundled:
            self.progress.set_status(MISSING_MODEL)
            return None
        chosen = self.classes.chosen()
        if chosen == ():
            self.progress.set_status('Choose at least one class.')
            return None
        settings = replace(
            self.inference,
            tta=self.tta.isChecked(),
            device=self.device.value(),
        )
        self._chosen = chosen
        return pick_job(tomogram, model, path, settings, chosen)

    def _on_message(self, message) -> None:
        if isinstance(message, Progress):
            self.progress.set_progress(message.done, message.total)
        elif isinstance(message, ModelLoaded):
            self._prepare(message.model, message.tomogram)
        elif isinstance(message, PartialPicks):
            # Picks of the slabs finished so far; the final table
            # replaces them within the same undo step.
            self.state.session.set_candidates(
                message.table, message.model.thresholds, partial=True
            )

    def _prepare(self, model, tomogram) -> None:
        # Make the (empty) class layers while the model runs, one per
        # event-loop turn, so the results only update existing layers.
        from napari_cryopick.model.predict import chosen_classes

        session = self.state.session
        classes = chosen_classes(model, self._chosen)
        names = tuple(c.name for c in classes)
        if (
            session is None
            or session.run != tomogram.run
            or session.class_names != names
        ):
            session = PickSession(tomogram.run, classes)
        self.state.update(model=model, tomogram=tomogram, session=session)

    def _on_done(self, picked: Picked) -> None:
        if picked.table is None:
            self.progress.set_status('Cancelled.')
            return
        self._prepare(picked.model, picked.tomogram)
        session = self.state.session
        session.set_candidates(picked.table, picked.model.thresholds)
        shown = len(session.visible())
        self.progress.set_status(
            f'{len(picked.table)} candidates, {shown} over the thresholds.'
        )

    def _end_partial(self) -> None:
        # A cancelled (or superseded) pick leaves the picks of the slabs
        # it finished, as one undo step.
        session = self.state.session
        if session is not None and session.end_partial():
            self.progress.set_status(
                f'Cancelled; the {len(session.table)} candidates found so '
                'far are kept (Undo removes them).'
            )

    def _on_error(self, error: BaseException) -> None:
        self.state.roll_back(self._before)
        self.progress.fail('Pick', error)
