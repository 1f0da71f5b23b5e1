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
    QVBoxLayout,
    QWidget,
)

from napari_cryopick._qt._lossplot import LossPlot
from napari_cryopick._qt._progress import ProgressWidget
from napari_cryopick._qt._state import state_for
from napari_cryopick._qt._task import worker_threads
from napari_cryopick._qt._warm import prepare_training

if TYPE_CHECKING:
    import napari.components


class FinetuneWidget(QWidget):
    """Fine-tune on the open run; the new model is used by the next Pick.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session gives the training picks.
    """

    def __init__(self, viewer: napari.components.ViewerModel):
        from napari_cryopick.model.finetune import FinetuneSettings

        super().__init__()
        prepare_training()
        self.state = state_for(viewer)
        self.settings = FinetuneSettings()
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(self.settings.train.steps)
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
        row = QHBoxLayout()
        row.addWidget(self.out)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow('Steps', self.steps)
        form.addRow('Save as', row)
        layout = QVBoxLayout(self)
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

    def train(self):
        """Start fine-tuning in a worker; return the worker or None."""
        from napari_cryopick.model.finetune import LabelledRun

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
            threads=worker_threads(),
        )
        settings = replace(self.settings, train=train)
        job = _finetune_job(state.model, run, self.out.text(), settings)
        self.progress.set_status('Fine-tuning...')
        self.loss_plot.clear()
        return self.progress.task.submit(
            job, self._on_progress, self._on_done, self._on_error
        )

    def _on_progress(self, item) -> None:
        if item is None:
            return
        self.progress.set_progress(item.step, item.steps)
        self.loss_plot.add(item.step, item.loss)
        self.progress.set_status(
            f'step {item.step}/{item.steps}, loss {item.loss:.4f}'
        )

    def _on_done(self, outcome) -> None:
        result, model = outcome
        if result.cancelled:
            self.progress.set_status(
                f'Cancelled; checkpoint of step {result.steps} kept.'
            )
            return
        self.state.set_model(model)
        self.result.setText(
            f'Score on this run before {_fmt(result.before)}, after '
            f'{_fmt(result.after)} ({result.steps} steps, '
            f'{result.seconds:.0f} s). Saved {result.path}; the next '
            'Pick uses it.'
        )
        self.progress.set_status('Done.')

    def _on_error(self, error: BaseException) -> None:
        self.progress.set_status(f'Fine-tuning failed: {error}')


def _fmt(value) -> str:
    return 'n/a' if value is None else f'{value:.3f}'


def _finetune_job(model, run, out, settings):
    """Return the worker function: fine-tune, then load the new model."""

    def job(progress, cancel):
        from napari_cryopick.model.checkpoint import load_checkpoint
        from napari_cryopick.model.finetune import finetune

        result = finetune(
            model,
            [run],
            out,
            settings,
            held_out=[run],
            progress=progress,
            cancel=cancel,
        )
        tuned = None if result.cancelled else load_checkpoint(result.path)
        return result, tuned

    return job
