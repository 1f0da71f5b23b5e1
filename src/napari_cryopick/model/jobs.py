"""Prediction jobs: which runs the inputs hold, and one run's work.

A job names one tomogram. :func:`predict_job` reads it, picks it and
writes its copick files, or reads them back when the run is already
done; it never raises, so one bad tomogram cannot stop a batch. The
same function runs in-process and on Dask workers.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.errors import CryopickError, input_error
from napari_cryopick.io import project as prj
from napari_cryopick.io.copick_config import write_copick_config
from napari_cryopick.io.copick_json import read_picks_json, write_picks_json

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.model.predict_options import PredictOptions


@dataclass(frozen=True)
class Job:
    """One tomogram to pick: where it is and the run name to use."""

    source: Path
    run: str
    tomo_type: str = prj.DEFAULT_TOMO_TYPE
    in_project: bool = False


@dataclass
class Outcome:
    """How one job ended: ``done``, ``skipped`` or ``failed``."""

    run: str
    status: str
    picks: pd.DataFrame = field(default_factory=pk.empty_picks)
    seconds: float = 0.0
    error: str = ''


def expand_inputs(inputs, tomo_type: str) -> list[Job]:
    """Return one :class:`Job` per tomogram the inputs hold.

    An input is an OME-Zarr store or a tomogram file (one job), a
    project (a job per run) or a plain folder of tomogram files (a job
    per file).

    Raises
    ------
    CryopickError
        If an input does not exist or is no tomogram, or a project holds
        no tomogram of ``tomo_type``; duplicate run names across inputs
        also fail.
    """
    from napari_cryopick.io.sniff import check_tomogram, tomogram_files
    from napari_cryopick.io.tomogram import run_name_for

    jobs = []
    for source in map(Path, inputs):
        if not source.exists():
            raise input_error(source, 'no such file or folder')
        if prj.is_project(source) and not prj.is_zarr_store(source):
            runs = prj.tomogram_runs(source)
            if not runs:
                raise input_error(source, 'project holds no tomograms')
            jobs += [Job(source, r, tomo_type, True) for r in runs]
        elif source.is_dir() and not prj.is_zarr_store(source):
            # A plain folder of tomogram files: each is a run.
            files = tomogram_files(source) or [check_tomogram(source)]
            jobs += [Job(f, run_name_for(f)) for f in files]
        else:
            jobs.append(Job(check_tomogram(source), run_name_for(source)))
    runs = [j.run for j in jobs]
    twice = sorted({r for r in runs if runs.count(r) > 1})
    if twice:
        raise input_error(inputs[0], f'run names repeat: {", ".join(twice)}')
    return jobs


def cached_model(path: Path | tuple[Path, ...] | None):
    """Load a checkpoint once per process and keep it.

    Several paths make an ensemble: a list of models whose outputs are
    averaged, which must share classes and grid; the first model's
    thresholds apply.
    """
    from napari_cryopick.model.checkpoint import resolve_checkpoint

    if isinstance(path, tuple | list):
        if len(path) > 1:
            return _ensemble([cached_model(p) for p in path])
        path = path[0] if path else None
    path = resolve_checkpoint(path)
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    return _loaded(str(path), stamp)


@functools.lru_cache(maxsize=4)
def _loaded(path: str, stamp: int | None):
    """One loaded model per process (per Dask worker) and file version."""
    from napari_cryopick.model.checkpoint import load_checkpoint

    return load_checkpoint(path)


def _ensemble(models: list) -> list:
    first = models[0]
    for model in models[1:]:
        if model.classes != first.classes or not np.isclose(
            model.voxel_size, first.voxel_size
        ):
            raise input_error(
                model.path,
                f'cannot join an ensemble with {first.path}: other '
                'classes or voxel size',
            )
    return models


def predict_job(job: Job, options: PredictOptions, progress=None) -> Outcome:
    """Pick one run and write its files; never raises.

    ``progress(done, total)``, if given, is called after each tile.

    Returns
    -------
    Outcome
        ``skipped`` (done before, picks read back), ``done``, or
        ``failed`` with a one-line reason.
    """
    start = time.perf_counter()
    try:
        table, skipped = _predict(job, options, progress)
    except CryopickError as err:
        return Outcome(
            job.run,
            'failed',
            error=str(err),
            seconds=time.perf_counter() - start,
        )
    except Exception as err:  # isolate any failure to its own run
        from napari_cryopick.model.device import explain

        reason = str(explain(err) or f'{type(err).__name__}: {err}')
        reason = reason.splitlines()[0]
        return Outcome(
            job.run,
            'failed',
            error=reason,
            seconds=time.perf_counter() - start,
        )
    status = 'skipped' if skipped else 'done'
    return Outcome(job.run, status, table, time.perf_counter() - start)


def _predict(job: Job, options: PredictOptions, progress=None):
    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.model import record
    from napari_cryopick.model.grid import plan_grid
    from napari_cryopick.model.infer import InferenceSettings
    from napari_cryopick.model.peaks import suppress_across_classes
    from napari_cryopick.model.predict import (
        PickSettings,
        chosen_classes,
        predict_tomogram,
    )
    from napari_cryopick.model.signal import SignalCheck

    models = cached_model(options.model)
    model = models[0] if isinstance(models, list) else models
    classes = chosen_classes(model, options.classes)
    files = record.output_files(options, job.run, classes)
    if record.check_run(options, job.run, files):
        return pk.concat(read_picks_json(f) for f in files), True
    run = job.run if job.in_project else None
    tomogram = open_tomogram(
        job.source, run, job.tomo_type, voxel_size=options.voxel_size
    )
    tomogram = _renamed(tomogram, job.run)
    settings = PickSettings(
        inference=InferenceSettings(
            tta=options.tta,
            threads=options.threads,
            device=options.device,
            amp=options.amp,
        ),
        apply_thresholds=options.min_score is None,
        classes=options.classes,
        allow_coarse=options.allow_coarse,
        signal=SignalCheck(enabled=options.signal_check),
        likeness=options.likeness_check,
    )
    table = predict_tomogram(tomogram, models, settings, progress=progress)
    if options.min_score is not None:
        # One floor for every class, instead of the model's thresholds.
        table = pk.normalize(table[table['score'] >= options.min_score])
    if options.cross_class:
        table = suppress_across_classes(table, model.classes)
    grid = plan_grid(tomogram, model.voxel_size).to_dict()
    _write_run(table, options, job.run, classes, tomogram.voxel_size, grid)
    return table, False


def _renamed(tomogram, run: str):
    from dataclasses import replace

    return tomogram if tomogram.run == run else replace(tomogram, run=run)


def _write_run(table, options, run, classes, voxel_size, grid) -> None:
    """Write one run's picks (every class, even empty) and the config.

    Each file is renamed into place; the run counts as done only when
    every class's file exists and the record of the model and settings
    that made them, written last, matches. The old record goes first,
    so a job killed half-way is redone, never trusted.
    """
    from napari_cryopick.model import record
    from napari_cryopick.model.device import describe, resolve_device

    path = record.record_path(options, run)
    path.unlink(missing_ok=True)
    write_picks_json(
        table,
        options.out,
        options.user_id,
        options.session_id,
        object_names=[c.name for c in classes],
        runs=[run],
        voxel_spacing=voxel_size,
        overwrite=True,
    )
    write_copick_config(options.out, classes)
    made = record.make_record(options)
    made['grid'] = grid  # the factor the tomogram was resampled by
    made['device'] = describe(resolve_device(options.device))
    record.write_record(path, made)
