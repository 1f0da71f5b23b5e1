"""The work the widgets run on a worker thread (no Qt here).

Each function returns a job ``job(progress, cancel)``: run on a worker
thread, it reports typed :mod:`~napari_cryopick.model.messages` through
``progress``, polls ``cancel()`` and returns its result. torch and MONAI
are imported here, inside the jobs, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from napari_cryopick.model.messages import (
    ModelLoaded,
    PartialPicks,
    Progress,
)
from napari_cryopick.viewer.warm import wait_for_libraries

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.checkpoint import LoadedModel
    from napari_cryopick.model.finetune import (
        FinetuneResult,
        FinetuneSettings,
        LabelledRun,
    )
    from napari_cryopick.model.infer import InferenceSettings


@dataclass(frozen=True, eq=False)
class Opened:
    """What opening a tomogram returns: it, and its layers' data."""

    tomogram: Tomogram
    image: tuple
    picks: list


@dataclass(frozen=True, eq=False)
class Picked:
    """What a Pick returns; ``table`` is ``None`` when cancelled."""

    model: LoadedModel
    tomogram: Tomogram
    table: pd.DataFrame | None


@dataclass(frozen=True)
class Finetuned:
    """What fine-tuning returns; ``model`` is ``None`` when cancelled."""

    result: FinetuneResult
    model: LoadedModel | None


def open_job(
    source: str, run: str | None, voxel_size: float | None = None
) -> Callable:
    """Open a tomogram (and, in a project, its run's picks).

    ``voxel_size``: Å, overriding the file's (an unset MRC header).
    """

    def job(progress, cancel) -> Opened:
        from napari_cryopick.io.sources import open_tomogram
        from napari_cryopick.layers import picks_to_layer_data
        from napari_cryopick.session_io import run_picks, tomogram_layer_data

        tomogram = open_tomogram(source, run, voxel_size=voxel_size)
        image = tomogram_layer_data(tomogram)
        layers = []
        if run is not None:
            table = run_picks(source, tomogram.run)
            groups = table.groupby(['user_id', 'session_id'])
            for (user, session), rows in groups:
                suffix = f' ({user}/{session})' if user or session else ''
                layers += picks_to_layer_data(
                    rows, tomogram.scales[0], None, suffix or ' (picks)'
                )
        return Opened(tomogram, image, layers)

    return job


def pick_job(
    tomogram: Tomogram,
    model: LoadedModel | None,
    path: str | None,
    inference: InferenceSettings,
    classes: tuple[str, ...] | None = None,
) -> Callable:
    """Load the model unless given, then pick ``tomogram``.

    ``classes``: the names of the model's classes to pick (default all).
    """

    def job(progress, cancel) -> Picked:
        progress(Progress('loading the model', 0, 1))
        wait_for_libraries()
        from napari_cryopick.model.checkpoint import load_checkpoint
        from napari_cryopick.model.predict import (
            PickSettings,
            predict_tomogram,
        )

        loaded = model or load_checkpoint(path)
        progress(ModelLoaded(loaded, tomogram))
        settings = PickSettings(
            inference=inference, apply_thresholds=False, classes=classes
        )
        table = predict_tomogram(
            tomogram,
            loaded,
            settings,
            progress=lambda done, total: progress(
                Progress('picking', done, total)
            ),
            cancel=cancel,
            partial=lambda table: progress(PartialPicks(loaded, table)),
        )
        return Picked(loaded, tomogram, table)

    return job


def similar_job(tomogram: Tomogram, clicks: pd.DataFrame, cls) -> Callable:
    """Find the places of ``tomogram`` that look like the ``clicks``.

    ``cls``: their :class:`~napari_cryopick.classes.ParticleClass` (its
    radius says what size to look for). Needs no model: seconds, before
    any training (:mod:`napari_cryopick.model.similar`).
    """

    def job(progress, cancel) -> pd.DataFrame:
        from napari_cryopick.model.similar import more_like_these

        what = f'looking for more {cls.name}'
        progress(Progress(what, 0, 1))
        found = more_like_these(tomogram, clicks, cls.radius, cls.name)
        progress(Progress(what, 1, 1))
        return found

    return job


def finetune_job(
    model: LoadedModel,
    run: LabelledRun,
    out: str,
    settings: FinetuneSettings,
    definitions: tuple = (),
) -> Callable:
    """Fine-tune on ``run``, load the result.

    Complete corrections are scored on the run before and after; labels
    of a few clicks (``settings.incomplete``) are not (their score would
    count every unclicked particle as a false positive), and a class
    the model lacks takes its radius and colour from ``definitions``.
    """
    held_out = None if settings.incomplete else [run]

    def job(progress, cancel) -> Finetuned:
        wait_for_libraries()
        from napari_cryopick.model.checkpoint import load_checkpoint
        from napari_cryopick.model.finetune import finetune

        result = finetune(
            model,
            [run],
            out,
            settings,
            held_out=held_out,
            progress=progress,
            cancel=cancel,
            definitions=definitions,
        )
        tuned = None if result.cancelled else load_checkpoint(result.path)
        return Finetuned(result, tuned)

    return job
