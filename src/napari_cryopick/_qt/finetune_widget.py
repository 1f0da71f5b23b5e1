"""Fine-tune: train the current model on the corrected picks of the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
)

from napari_cryopick._qt._device import DeviceChoice
from napari_cryopick._qt._lossplot import LossPlot
from napari_cryopick._qt._newclass import NewClassBox, caution_note
from napari_cryopick._qt._progress import ProgressWidget
from napari_cryopick._qt._shared import CryopickWidget
from napari_cryopick._qt._task import training_threads
from napari_cryopick.model.messages import Progress
from napari_cryopick.viewer.jobs import Finetuned, finetune_job, similar_job
from napari_cryopick.viewer.warm import warm_up

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.state import ViewerState


class FinetuneWidget(CryopickWidget):
    """Fine-tune on the open run; the new model is used by the next Pick.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session gives the training picks.
    state : ViewerState, optional
        Shared with the other cryopick widgets (see
        :class:`~napari_cryopick._qt._shared.CryopickWidget`).
    """

    def __init__(
        self,
        viewer: napari.components.ViewerModel,
        state: ViewerState | None = None,
    ):
        from napari_cryopick.model.finetune import FinetuneSettings

        super().__init__(viewer, state)
        warm_up(training=True)
        self.settings = FinetuneSettings()
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(self.settings.train.steps)
        self.device = DeviceChoice()
        self.out = QLineEdit(
            str(Path.cwd() / 'cryopick-finetuned.safetensors')
        )
        self.browse = QPushButton('Browse...')
        self.browse.clicked.connect(self._browse)
        self.train_button = QPushButton('Fine-tune')
        self.train_button.clicked.connect(self.train)
        self.progress = ProgressWidget()
        self.loss_plot = LossPlot()
        self.result = QLabel('')
        self.result.setWordWrap(True)
        self.new_class = NewClassBox(self.state)
        self.new_class.learn.currentTextChanged.connect(self._learn_changed)
        self.new_class.more_button.clicked.connect(self.more_like_these)
        self._learning: str | None = None
        row = QHBoxLayout()
        row.addWidget(self.out)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow('Steps', self.steps)
        form.addRow('Device', self.device)
        form.addRow('Save as', row)
        layout = self.body()
        layout.addWidget(self.new_class)
        layout.addLayout(form)
        layout.addWidget(self.train_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.result)
        layout.addStretch()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, 'Checkpoint', '', 'Checkpoints (*.safetensors)'
        )
        if path:
            self.out.setText(path)

    def _learn_changed(self, text: str) -> None:
        from napari_cryopick.model.finetune import CLICKS_TRAIN

        learning = self.new_class.learned_class() is not None
        default = CLICKS_TRAIN if learning else self.settings.train
        self.steps.setValue(default.steps)
        self.train_button.setText('Learn' if learning else 'Fine-tune')

    def train(self):
        """Start fine-tuning in a worker; return the worker or None."""
        from napari_cryopick.model.finetune import LabelledRun

        name = self.new_class.learned_class()
        if name is not None:
            return self._learn(name)
        state = self.state
        if state.model is None or state.session is None:
            self.progress.set_status('Pick with a model first.')
            return None
        if state.tomogram is None:
            self.progress.set_status('Open a tomogram first.')
            return None
        session = state.session
        run = LabelledRun(
            state.tomogram,
            session.picks(),
            session.negatives(),
            session.proposals(),
        )
        train = replace(
            self.settings.train,
            steps=self.steps.value(),
            threads=training_threads(),
            device=self.device.value(),
        )
        settings = replace(self.settings, train=train)
        job = finetune_job(state.model, run, self.out.text(), settings)
        self.progress.set_status('Fine-tuning...')
        self.loss_plot.clear()
        return self.progress.task.submit(
            job, self._on_message, self._on_done, self._on_error
        )

    def _learn(self, name: str):
        """Learn class ``name`` from its clicks (sparse labels)."""
        from napari_cryopick import picks as pk
        from napari_cryopick.model.finetune import (
            CLICKS_TRAIN,
            LabelledRun,
            click_settings,
        )

        state, session = self.state, self.state.session
        if state.model is None or session is None or state.tomogram is None:
            self.progress.set_status('Open a tomogram and pick first.')
            return None
        table = session.table
        mine = table[table['particle_type'] == name]
        clicks = mine[mine['origin'].isin(pk.CONFIRMED)]
        if not len(clicks):
            self.progress.set_status(
                f'Click some {name} first (in its layer), then Learn.'
            )
            return None
        negatives = mine[mine['origin'] == pk.DELETED]
        run = LabelledRun(
            state.tomogram, pk.normalize(clicks), pk.normalize(negatives)
        )
        train = replace(
            CLICKS_TRAIN,
            steps=self.steps.value(),
            threads=training_threads(),
            device=self.device.value(),
        )
        settings = click_settings(train=train, classes=(name,))
        job = finetune_job(
            state.model, run, self.out.text(), settings, session.classes
        )
        self._learning = name
        self.progress.set_status(
            f'Learning {name} from {len(clicks)} picks...'
        )
        self.loss_plot.clear()
        return self.progress.task.submit(
            job, self._on_message, self._on_done, self._on_error
        )

    def more_like_these(self):
        """Propose places like the clicks of the class chosen in Learn.

        Returns the worker, or None (the status says why).
        """
        from napari_cryopick import picks as pk
        from napari_cryopick.model.likeness import MIN_CLICKS

        name = self.new_class.learned_class()
        state, session = self.state, self.state.session
        if self.progress.task.running:  # a new job would cancel it
            self.progress.set_status('Wait for the running job to end.')
            return None
        if session is None or state.tomogram is None:
            self.progress.set_status('Open a tomogram and pick first.')
            return None
        if name is None:
            self.progress.set_status('Choose the class to look for in Learn.')
            return None
        table = session.table
        mine = table[table['particle_type'] == name]
        clicks = mine[mine['origin'].isin(pk.CONFIRMED)]
        if len(clicks) < MIN_CLICKS:
            self.progress.set_status(
                f'Click at least {MIN_CLICKS} {name} first (has '
                f'{len(clicks)}).'
            )
            return None
        cls = next(c for c in session.classes if c.name == name)
        job = similar_job(state.tomogram, pk.normalize(clicks), cls)
        self.progress.set_status(f'Looking for more {name}...')
        return self.progress.task.submit(
            job,
            self._on_message,
            lambda found: self._on_similar(name, found),
            lambda error: self.progress.fail('More like these', error),
        )

    def _on_similar(self, name: str, found) -> None:
        """Put the places like the clicks up for review."""
        from napari_cryopick.model.similar import AT_LIMIT

        session = self.state.session
        if session is None:
            return
        session.set_class_candidates(name, found, AT_LIMIT)
        shown = session.visible(name)
        proposals = int((shown['origin'] == 'model').sum())
        self.result.setText(
            f'{name}: {proposals} places look like its clicks (similarity '
            f'over {AT_LIMIT:.2f}; lower its slider to see up to '
            f'{len(found)}). Review them (Next proposal): accept (k), '
            'delete, or Not this; then Learn.'
        )
        self.progress.set_status('Done.')

    def _on_message(self, message) -> None:
        if isinstance(message, Progress):  # scoring, mining, tuning
            self.progress.report(message)
        else:  # a training step
            self.progress.set_progress(message.step, message.steps)
            self.loss_plot.add(message.step, message.loss)
            self.progress.set_status(
                f'Training: step {message.step}/{message.steps}, '
                f'loss {message.loss:.4f}'
            )

    def _on_done(self, finetuned: Finetuned) -> None:
        result, model = finetuned.result, finetuned.model
        if result.cancelled:
            kept = ''
            if result.steps:
                kept = f'; checkpoint of step {result.steps} kept'
            self.progress.set_status(f'Cancelled{kept}.')
            return
        self.state.set_model(model)
        if self._learning is not None:
            self._show_proposals(self._learning, result, model)
            self._learning = None
            return
        self.result.setText(
            f'Score on this run before {_fmt(result.before)}, after '
            f'{_fmt(result.after)} ({result.steps} steps, '
            f'{result.seconds:.0f} s). Saved {result.path}; the next '
            'Pick uses it.'
        )
        self.progress.set_status('Done.')

    def _show_proposals(self, name: str, result, model) -> None:
        """Put the new model's proposals of ``name`` up for review."""
        session = self.state.session
        threshold = model.thresholds.get(name, 0.5)
        if session is not None and result.found is not None:
            session.set_class_candidates(name, result.found, threshold)
            shown = session.visible(name)
            proposals = int((shown['origin'] == 'model').sum())
        else:
            proposals = 0
        cls = next((c for c in model.classes if c.name == name), None)
        self.result.setText(
            f'{name}: {proposals} proposals over the threshold '
            f'{threshold:.2f} ({result.steps} steps, {result.seconds:.0f} '
            f's; saved {result.path}). Review them least certain first '
            '(Next proposal): accept (k), delete, or Not this; then Learn '
            'again.' + caution_note(cls, model)
        )
        self.progress.set_status('Done.')

    def _on_error(self, error: BaseException) -> None:
        self.progress.fail('Fine-tuning', error)


def _fmt(value) -> str:
    return 'n/a' if value is None else f'{value:.3f}'
