"""Typed messages work in progress sends through its ``progress`` callback.

A job of the widgets runs on a worker thread as ``job(progress,
cancel)``: it calls ``progress(message)`` with one of these (or a
training step's :class:`~napari_cryopick.model.train.TrainProgress`),
polls ``cancel()`` between steps, and returns its result (see
:mod:`napari_cryopick.viewer.jobs`). The widgets act on each message by
its type, on the GUI thread; the command line logs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.checkpoint import LoadedModel


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps of one stage of a job."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class ModelLoaded:
    """The model a Pick runs, before it starts on ``tomogram``."""

    model: LoadedModel
    tomogram: Tomogram


@dataclass(frozen=True, eq=False)
class PartialPicks:
    """The candidates found so far by a Pick still running."""

    model: LoadedModel
    table: pd.DataFrame
