"""A progress bar, a status line and a Cancel button for one Task."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_cryopick._qt._task import Task

if TYPE_CHECKING:
    from napari_cryopick.model.messages import Progress

log = logging.getLogger(__name__)


class ProgressWidget(QWidget):
    """Progress of the widget's background task, with a Cancel button.

    Attributes
    ----------
    task : Task
        The one-at-a-time task runner the widget shows.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.task = Task(on_state=self._running)
        self.destroyed.connect(lambda *_, task=self.task: task.shutdown())
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)  # idle: no "0%"
        self.status = QLabel('')
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton('Cancel')
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)

    def set_progress(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` steps."""
        self.bar.setRange(0, max(int(total), 1))
        self.bar.setValue(int(done))

    def report(self, progress: Progress) -> None:
        """Show a job's :class:`Progress`: its stage and how far it is."""
        self.set_progress(progress.done, progress.total)
        self.set_status(
            f'{progress.stage.capitalize()}: {progress.done}/{progress.total}'
        )

    def set_status(self, text: str) -> None:
        """Show one line of status text."""
        self.status.setText(text)

    def fail(self, what: str, error: BaseException) -> None:
        """Say in one line that ``what`` failed; the traceback goes to the log.

        A bad input (:class:`~napari_cryopick.errors.CryopickError`) is
        its own one-line message. Anything else can run to hundreds of
        lines (a whole network printed): the widget shows the first and
        says where the rest is.
        """
        from napari_cryopick.errors import CryopickError

        lines = str(error).strip().splitlines() or ['']
        if isinstance(error, CryopickError):
            log.warning('%s failed: %s', what, error)
            self.set_status(f'{what} failed: {lines[0]}')
            return
        log.error('%s failed', what, exc_info=error)
        self.set_status(
            f'{what} failed: {type(error).__name__}: {lines[0]} '
            '(the traceback is in the log)'
        )

    def cancel(self) -> None:
        """Cancel the running task."""
        if self.task.running:
            self.task.cancel()
            self.set_status('Cancelled.')

    def _running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.bar.setTextVisible(running)
        if running:
            self.bar.setValue(0)
