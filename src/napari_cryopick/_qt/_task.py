"""One cancellable background task at a time, with stale results dropped.

The core reports progress through callbacks (``progress(done, total)``)
and polls a ``cancel()`` callable. :func:`callback_generator` runs such
a function on a helper thread and turns its callbacks into yields, so a
napari generator worker can pass them to the GUI thread; :class:`Task`
submits those workers, one at a time, each with an id, and ignores
whatever a superseded or cancelled task still yields or returns.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer
from superqt.utils import create_worker

from napari_cryopick.viewer.warm import start_helper

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

log = logging.getLogger(__name__)

_POLL_S = 0.05


class TaskFailed(Exception):  # noqa: N818 - says what happened
    """The exception of a task's function, carried to ``on_error``.

    Wrapped because superqt takes a ``RuntimeError`` escaping a worker
    for a sign the worker was deleted: it only warns and never emits
    ``errored``, and torch raises ``RuntimeError`` for most failures.
    """

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Done:
    value: object = None
    error: BaseException | None = None


def callback_generator(
    function: Callable, cancel: threading.Event
) -> Generator[object, None, object]:
    """Run ``function(progress, cancel)`` and yield what it reports.

    Parameters
    ----------
    function : callable
        Called as ``function(progress=put, cancel=cancel.is_set)`` on a
        helper thread; every ``put(item)`` becomes a yield.
    cancel : threading.Event
        Set to ask ``function`` to stop.

    Yields
    ------
    object
        The items ``function`` reported (``None`` every 50 ms while it is
        quiet, so the worker can be quit promptly).

    Returns
    -------
    object
        What ``function`` returned.

    Raises
    ------
    TaskFailed
        Carrying the exception ``function`` raised.
    """
    items: queue.Queue = queue.Queue()

    def target():
        try:
            value = function(progress=items.put, cancel=cancel.is_set)
            items.put(_Done(value))
        except BaseException as err:  # re-raised on the worker thread
            items.put(_Done(error=err))

    start_helper(target, 'task')
    while True:
        try:
            item = items.get(timeout=_POLL_S)
        except queue.Empty:
            item = None
        if isinstance(item, _Done):
            if item.error is not None:
                raise TaskFailed(item.error) from item.error
            return item.value
        yield item


class Task:
    """Run one generator worker at a time; a new one cancels the last.

    Parameters
    ----------
    on_state : callable, optional
        Called with ``True`` when a task starts and ``False`` when it
        ends (finished, failed or cancelled).
    """

    def __init__(self, on_state: Callable[[bool], None] | None = None):
        self._id = 0
        self._worker = None
        self._cancel = threading.Event()
        self._on_state = on_state or (lambda running: None)

    @property
    def running(self) -> bool:
        """Whether a task is under way."""
        return self._worker is not None

    @property
    def worker(self):
        """The running napari worker, or ``None``."""
        return self._worker

    def submit(
        self,
        function: Callable,
        on_yield: Callable[[object], None],
        on_return: Callable[[object], None],
        on_error: Callable[[BaseException], None],
    ):
        """Start ``function(progress, cancel)`` in a worker; return it."""
        self.cancel()
        self._id += 1
        task_id, cancel = self._id, threading.Event()
        self._cancel = cancel
        # superqt's worker, not napari's wrapper: errors go to
        # ``on_error`` (shown in the widget), not to napari's
        # notifications; ``_ignore_errors``: superqt would also re-raise
        # them on the GUI thread (napari's error pop-up, or an abort).
        worker = create_worker(
            callback_generator, function, cancel, _ignore_errors=True
        )

        def current() -> bool:
            return task_id == self._id and not cancel.is_set()

        def guarded(handler):
            # An exception escaping a Qt slot goes to napari's error
            # pop-up (or aborts a plain PyQt program): the task fails
            # instead, through ``on_error``, once.
            def call(value):
                if value is None or not current():
                    return  # None: the helper thread was quiet for a poll
                try:
                    handler(value)
                except Exception as err:  # noqa: BLE001 - reported
                    self.cancel()
                    on_error(err)

            return call

        worker.yielded.connect(guarded(on_yield))
        worker.returned.connect(guarded(on_return))
        worker.errored.connect(
            guarded(lambda err: on_error(getattr(err, 'error', err)))
        )
        worker.finished.connect(lambda: self._finished(task_id))
        self._worker = worker
        self._on_state(True)
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running task to stop; its results are dropped."""
        self._cancel.set()
        if self._worker is not None:
            self._worker.quit()
            self._id += 1
            self._worker = None
            self._on_state(False)

    def shutdown(self) -> None:
        """Cancel quietly (no state callback): the widget is going away."""
        self._on_state = lambda running: None
        self.cancel()

    def _finished(self, task_id: int) -> None:
        if task_id == self._id:
            self._worker = None
            self._on_state(False)


#: ms between deferred GUI steps, so input and paint events run between.
LATER_MS = 10
#: A deferred step firing this much late (s) finds the loop was busy.
LATE_S = 0.02
#: How often a late step waits again before it runs regardless.
LATE_TRIES = 10


def later(function: Callable[[], object], tries: int = 0) -> None:
    """Run ``function`` on a later turn of the Qt event loop.

    A step that comes due while the loop is busy (the redraw the step
    before asked for) waits :data:`LATER_MS` again rather than run
    straight after it: two steps and a redraw in one go froze the GUI
    as one, over 0.4 s.
    """
    due = time.perf_counter() + LATER_MS / 1000

    def fire():
        if time.perf_counter() - due > LATE_S and tries < LATE_TRIES:
            later(function, tries + 1)
        else:
            function()

    QTimer.singleShot(LATER_MS, fire)


def worker_threads() -> int:
    """Torch threads for a worker: all cores but one, kept for the GUI.

    With every core busy in the network, redrawing the picks of a
    finished slab took the GUI thread over 100 ms on 2 cores.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def training_threads() -> int:
    """Torch threads for fine-tuning: every core.

    Training draws nothing until it ends but a point of the loss curve
    per step, so the GUI needs little; on 2 cores a core kept for it
    doubled the time of Learn (300 steps: over 20 minutes).
    """
    return max(1, os.cpu_count() or 1)
