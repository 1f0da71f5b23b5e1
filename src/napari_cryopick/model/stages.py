"""Predictions shared by the stages of fine-tuning, each made once.

Fine-tuning scores the starting model, mines its false proposals,
re-tunes the new model's thresholds and scores it: four stages that
predict runs. :class:`Predictions` predicts each (model, tomogram) pair
once, reports each stage as a :class:`~napari_cryopick.model.messages.Progress`
and polls ``cancel`` between tiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from napari_cryopick.model.infer import InferenceSettings
from napari_cryopick.model.messages import Progress
from napari_cryopick.model.predict import PickSettings, predict_tomogram

if TYPE_CHECKING:
    from collections.abc import Callable


class Cancelled(Exception):
    """Raised by :class:`Predictions` when ``cancel()`` said stop."""


class Predictions:
    """Every model's candidates on every run, predicted at most once.

    Parameters
    ----------
    progress : callable, optional
        Called with a :class:`Progress` per tile.
    cancel : callable, optional
        Polled between tiles; :class:`Cancelled` is raised when it
        returns true.
    device : str
        Where the network runs (``auto``, ``cpu``, ``cuda``...).

    Attributes
    ----------
    progress, cancel : callable
        As given (``progress`` never ``None``), for the other stages.
    """

    def __init__(
        self,
        progress: Callable[[object], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        device: str = 'auto',
    ):
        self.progress = progress or (lambda message: None)
        self.cancel = cancel
        self._settings = PickSettings(
            inference=InferenceSettings(device=device),
            apply_thresholds=False,
        )
        self._found: dict[tuple[int, int], pd.DataFrame] = {}

    def know(self, model, run) -> None:
        """Take ``run.proposals`` as ``model``'s candidates on ``run``."""
        if run.proposals is not None:
            self._found[_key(model, run)] = run.proposals

    def __call__(self, model, runs, stage: str) -> pd.DataFrame:
        """Return ``model``'s candidates on ``runs`` (no thresholds).

        Raises
        ------
        Cancelled
            If ``cancel()`` said stop while a run was predicted.
        """
        tables = []
        for run in runs:
            key = _key(model, run)
            if key not in self._found:
                self._found[key] = self._predict(model, run, stage)
            tables.append(self._found[key])
        return pd.concat(tables, ignore_index=True)

    def _predict(self, model, run, stage: str) -> pd.DataFrame:
        name = f'{stage} ({run.tomogram.run})'

        def progress(done: int, total: int) -> None:
            self.progress(Progress(name, done, total))

        table = predict_tomogram(
            run.tomogram,
            model,
            self._settings,
            progress=progress,
            cancel=self.cancel,
        )
        if table is None:
            raise Cancelled
        return table


def _key(model, run) -> tuple[int, int]:
    # The same model object on the same tomogram object: a LabelledRun
    # copied with other negatives still shares its tomogram.
    return id(model), id(run.tomogram)
