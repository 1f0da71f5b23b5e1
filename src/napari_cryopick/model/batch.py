"""Run prediction jobs in-process or on a Dask cluster.

One task per run; on Dask each worker loads the model once
(:func:`~napari_cryopick.model.jobs.cached_model`) and a failed run is
reported while the others finish. ``--workers N`` starts a local
cluster of N single-threaded worker processes, each giving torch
cores / N threads so the machine is not oversubscribed;
``--scheduler ADDRESS`` submits the same tasks to an existing cluster
(e.g. one that dask-jobqueue started on SLURM).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from napari_cryopick.model.jobs import Outcome, predict_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from napari_cryopick.model.predict_options import PredictOptions


def run_serial(
    jobs, options: PredictOptions, on_done=None, progress=None
) -> list[Outcome]:
    """Run every job in this process, one after the other.

    ``progress(job)``, if given, returns the ``(done, total)`` tile
    callback of that job (or None); ``on_done(outcome)`` follows each.
    """
    outcomes = []
    for job in jobs:
        tiles = progress(job) if progress is not None else None
        outcomes.append(predict_job(job, options, tiles))
        if on_done is not None:
            on_done(outcomes[-1])
    return outcomes


def local_threads(workers: int) -> int:
    """Torch threads per task so ``workers`` tasks share the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_dask(
    jobs,
    options: PredictOptions,
    workers: int = 0,
    scheduler: str | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every job as one Dask task; return outcomes in job order.

    Parameters
    ----------
    jobs : list of Job
        The runs.
    options : PredictOptions
        Shared options.
    workers : int
        Local worker processes to start (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler.
    on_done : callable, optional
        Called with each :class:`Outcome` as it completes.
    """
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler, timeout='30s'), None
    else:
        options = replace(
            options, threads=options.threads or local_threads(workers)
        )
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        futures = {
            client.submit(
                predict_job, job, options, key=f'predict-{job.run}', pure=False
            ): job
            for job in jobs
        }
        by_run = {}
        for future in as_completed(futures):
            outcome = _result(future, futures[future])
            by_run[outcome.run] = outcome
            if on_done is not None:
                on_done(outcome)
        return [by_run[job.run] for job in jobs]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _result(future, job) -> Outcome:
    try:
        return future.result()
    except Exception as err:  # a worker died: report it for that run only
        reason = f'{type(err).__name__}: {err}'.splitlines()[0]
        return Outcome(job.run, 'failed', error=f'worker lost ({reason})')


def progress_bar(
    total: int, desc: str = 'predict', unit: str = 'run', position: int = 0
):
    """Return a tqdm bar on a terminal, else ``None`` (quiet in logs).

    Bars below the first (``position`` > 0) vanish when closed.
    """
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=sys.stderr,
        position=position,
        leave=position == 0,
        dynamic_ncols=True,
    )
