"""Prediction jobs: which runs an input holds, and one run's work.

Shared by the command line and batch runners: a job names one
tomogram; :func:`predict_run` reads it, picks it and writes its copick
files atomically, or reads them back when the run is already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from napari_cryopick import picks as pk
from napari_cryopick.errors import input_error
from napari_cryopick.io import project as prj
from napari_cryopick.io.copick_config import write_copick_config
from napari_cryopick.io.copick_json import read_picks_json, write_picks_json
from napari_cryopick.io.names import picks_file_name

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Job:
    """One tomogram to pick: where it is and the run name to use."""

    source: Path
    run: str
    tomo_type: str = prj.DEFAULT_TOMO_TYPE
    in_project: bool = False


def expand_inputs(inputs, tomo_type: str) -> list[Job]:
    """Return one :class:`Job` per tomogram the inputs hold.

    Raises
    ------
    CryopickError
        If an input does not exist, or a project holds no tomogram of
        ``tomo_type``; duplicate run names across inputs also fail.
    """
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
        else:
            jobs.append(Job(source, run_name_for(source)))
    runs = [j.run for j in jobs]
    twice = sorted({r for r in runs if runs.count(r) > 1})
    if twice:
        raise input_error(inputs[0], f'run names repeat: {", ".join(twice)}')
    return jobs


def output_files(out: Path, run: str, user: str, session: str, classes):
    """Return the picks files a finished run has under ``out``."""
    folder = out / 'ExperimentRuns' / run / 'Picks'
    return [folder / picks_file_name(user, session, c.name) for c in classes]


def predict_run(job: Job, model, args) -> tuple[pd.DataFrame, bool]:
    """Pick one run and write its files; skip it when already done.

    Returns
    -------
    tuple
        The run's picks and whether it was skipped.
    """
    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.model.infer import InferenceSettings
    from napari_cryopick.model.predict import PickSettings, predict_tomogram

    files = output_files(
        args.out, job.run, args.user_id, args.session_id, model.classes
    )
    if not args.force and all(f.exists() for f in files):
        return pk.concat(read_picks_json(f) for f in files), True
    run = job.run if job.in_project else None
    tomogram = open_tomogram(job.source, run, job.tomo_type)
    tomogram = _renamed(tomogram, job.run)
    settings = PickSettings(
        inference=InferenceSettings(tta=args.tta, threads=args.threads)
    )
    table = predict_tomogram(tomogram, model, settings)
    write_run(table, args.out, job.run, args, model, tomogram.voxel_size)
    return table, False


def _renamed(tomogram, run: str):
    from dataclasses import replace

    return tomogram if tomogram.run == run else replace(tomogram, run=run)


def write_run(table, out: Path, run: str, args, model, voxel_size) -> None:
    """Write one run's picks (every class, even empty) and the config.

    Each file is renamed into place; the run counts as done only when
    every class's file exists, so a killed job is redone, never trusted.
    """
    write_picks_json(
        table,
        out,
        args.user_id,
        args.session_id,
        object_names=[c.name for c in model.classes],
        runs=[run],
        voxel_spacing=voxel_size,
        overwrite=True,
    )
    write_copick_config(out, model.classes)
