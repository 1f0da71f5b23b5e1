"""``cryopick predict INPUT... --out OUT``: pick particles with a model."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

from napari_cryopick.cli._text import plural
from napari_cryopick.errors import CryopickError
from napari_cryopick.export import ExportSettings

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``predict`` subcommand."""
    parser = commands.add_parser(
        'predict',
        help='pick particles in tomograms with the bundled model',
        description='Pick particles in each INPUT (an OME-Zarr store, an '
        'MRC file, a multi-page TIFF, or a project holding ExperimentRuns/ '
        'itself or under static/, every run in it) and write copick picks '
        'to OUT/ExperimentRuns/<run>/Picks/<user>_<session>_<object>.json '
        'with OUT/copick_config.json. Any voxel size is resampled onto the '
        "model's grid and picks come back in the input's Å. Runs already "
        'done are skipped; a run that fails is reported and the others go '
        'on.',
    )
    add = parser.add_argument
    add(
        'inputs',
        type=Path,
        nargs='+',
        metavar='INPUT',
        help='OME-Zarr store, MRC or TIFF file, project, or a folder of '
        'tomogram files',
    )
    add('--out', type=Path, required=True, help='copick folder to write')
    add(
        '--model',
        type=Path,
        action='append',
        help='checkpoint file, or a shipped model by name (v1); default: '
        'the bundled model; repeat it for an ensemble whose probabilities '
        'are averaged (thresholds of the first)',
    )
    add('--csv', type=Path, metavar='FILE', help='also write a Kaggle CSV')
    add(
        '--user-id',
        default=ExportSettings.user_id,
        help='copick user id to write',
    )
    add(
        '--session-id',
        default=ExportSettings.session_id,
        help='copick session id to write',
    )
    add('--tomo-type', default='denoised', help='tomogram type in projects')
    add(
        '--min-score',
        type=_score,
        metavar='S',
        help='keep picks scoring at least S (0-1) in every class, instead '
        "of the model's per-class thresholds (tuned for F4, so for recall)",
    )
    add(
        '--classes',
        metavar='A,B',
        help='pick only these classes (comma-separated; default: all the '
        "model's)",
    )
    add(
        '--voxel-size',
        type=voxel_size_arg,
        metavar='Å',
        help="level-0 voxel size in Å, overriding the file's (needed when "
        'a header says 0 or 1 Å, or a TIFF has none)',
    )
    add(
        '--allow-coarse',
        action='store_true',
        help='pick a tomogram whose voxels are too coarse for its smallest '
        'class (radius under 1.5 voxels) anyway',
    )
    add(
        '--cross-class',
        action=argparse.BooleanOptionalAction,
        default=False,
        help='one class per particle: of picks of different classes closer '
        'than the larger radius, keep the higher score (default: off; it '
        'cost F4 on noisy phantoms)',
    )
    add(
        '--signal-check',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='drop every pick of a tomogram where no pick stands out from '
        'its own noise by 6 SD (pure noise, a failed reconstruction); '
        'default: on',
    )
    add(
        '--likeness-check',
        action=argparse.BooleanOptionalAction,
        default=True,
        help='drop picks of a class learnt from clicks whose rotational '
        "density profile is unlike every click's or that fail the test "
        'learnt against the other densities of its size, and move the '
        "rest to the centre of their particle's density; default: on",
    )
    add('--tta', action='store_true', help='average 4 views (4x slower)')
    add(
        '--device',
        default='auto',
        metavar='{auto,cpu,cuda,cuda:N}',
        help='where the network runs: auto takes a CUDA GPU when torch '
        'sees one, else the CPU (default: auto)',
    )
    add(
        '--amp',
        action='store_true',
        help='bf16 mixed precision on a CUDA GPU (faster; its F4 is not '
        'measured yet); ignored on the CPU',
    )
    add(
        '--force',
        action='store_true',
        help='redo runs already done, replacing their picks',
    )
    add(
        '--threads',
        type=int,
        default=0,
        help='torch threads per run (default: all cores; cores / N with '
        '--workers N)',
    )
    add(
        '--workers',
        type=int,
        default=0,
        help='pick N tomograms at once on a local Dask cluster',
    )
    add(
        '--scheduler',
        metavar='ADDRESS',
        help='submit the runs to an existing Dask scheduler',
    )
    parser.set_defaults(run=run)


def voxel_size_arg(text: str) -> float:
    """Parse ``--voxel-size``: a finite positive number of Å."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f'must be positive Å, not {text}')
    return value


def _score(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f'must be in 0-1, not {value}')
    return value


def run(args) -> int:
    """Predict every run of every input; 1 if some runs failed."""
    from napari_cryopick import picks as pk
    from napari_cryopick.io.atomic import check_path
    from napari_cryopick.io.kaggle_csv import write_picks_csv
    from napari_cryopick.model.batch import run_dask, run_serial
    from napari_cryopick.model.device import resolve_device
    from napari_cryopick.model.jobs import cached_model, expand_inputs
    from napari_cryopick.model.predict import chosen_classes
    from napari_cryopick.model.predict_options import PredictOptions
    from napari_cryopick.model.record import check_runs

    if args.workers < 0:
        raise CryopickError(f'--workers must be 0 or more, not {args.workers}')
    jobs = expand_inputs(args.inputs, args.tomo_type)
    resolve_device(args.device)  # CUDA asked for but absent fails here
    models = cached_model(tuple(args.model or ()))  # bad ones fail here
    classes = parse_classes(args.classes)
    # An unknown class name fails here, once, listing the model's classes.
    first = models[0] if isinstance(models, list) else models
    chosen = chosen_classes(first, classes)
    options = PredictOptions(
        out=args.out,
        model=tuple(args.model or ()),
        user_id=args.user_id,
        session_id=args.session_id,
        tta=args.tta,
        force=args.force,
        threads=args.threads,
        min_score=args.min_score,
        voxel_size=args.voxel_size,
        classes=classes,
        allow_coarse=args.allow_coarse,
        cross_class=args.cross_class,
        signal_check=args.signal_check,
        likeness_check=args.likeness_check,
        device=args.device,
        amp=args.amp,
    )
    # Outputs are checked before any run is picked: a wrong --out or
    # picks of other settings fail now, not after hours of inference.
    check_runs(options, [j.run for j in jobs], chosen)
    if args.csv:
        check_path(args.csv)
    start = time.perf_counter()
    with _Reporter(len(jobs)) as report:
        if args.workers or args.scheduler:
            outcomes = run_dask(
                jobs, options, args.workers, args.scheduler, on_done=report
            )
        else:
            outcomes = run_serial(
                jobs, options, on_done=report, progress=report.start
            )
    classes = [c.name for c in first.classes]
    sys.stdout.write(summary(outcomes, time.perf_counter() - start, classes))
    if args.csv:
        table = pk.concat(o.picks for o in outcomes)
        write_picks_csv(table, args.csv, overwrite=True)
    return 1 if any(o.status == 'failed' for o in outcomes) else 0


def parse_classes(text: str | None) -> tuple[str, ...] | None:
    """Split ``--classes A,B`` into names; None when not given."""
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(',') if n.strip())
    if not names:
        raise CryopickError(f'--classes names no class: {text!r}')
    return names


class _Reporter:
    """Log each run as it ends; progress bars when on a terminal.

    On a terminal: one bar of runs and, below it, one of the tiles of
    the run in progress (serial runs only: Dask workers report per run),
    with log lines printed above the bars, not across them. Elsewhere
    (a log file, a batch job): the log lines only.
    """

    def __init__(self, total: int):
        import contextlib

        from napari_cryopick.model.batch import progress_bar

        self.bar = progress_bar(total)
        self.tiles = None
        self._logs = contextlib.ExitStack()
        if self.bar is not None:
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._logs.enter_context(logging_redirect_tqdm())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close_tiles()
        if self.bar is not None:
            self.bar.close()
        self._logs.close()

    def start(self, job):
        """Return the tile callback of ``job`` (``None`` off a terminal)."""
        from napari_cryopick.model.batch import progress_bar

        if self.bar is None:
            return None
        self._close_tiles()

        def tiles(done: int, total: int) -> None:
            if self.tiles is None:
                self.tiles = progress_bar(total, job.run, 'tile', 1)
            self.tiles.update(done - self.tiles.n)

        return tiles

    def _close_tiles(self) -> None:
        if self.tiles is not None:
            self.tiles.close()
            self.tiles = None

    def __call__(self, outcome) -> None:
        self._close_tiles()
        if self.bar is not None:
            self.bar.update(1)
        if outcome.status == 'failed':
            log.error('%s: failed: %s', outcome.run, outcome.error)
        else:
            log.info(
                '%s: %s, %s in %.1f s',
                outcome.run,
                outcome.status,
                plural(len(outcome.picks), 'particle'),
                outcome.seconds,
            )


def summary(outcomes, seconds: float, classes=()) -> str:
    """Return the end-of-batch table: per run, status and picks per class.

    Columns: run, status, one per class (``classes`` first, in their
    order, then any other class picked, by name), seconds; counts are
    integers, 0 where a run has none.
    """
    import pandas as pd

    names = list(classes)
    for o in outcomes:
        names += sorted(set(o.picks['particle_type']) - set(names))
    rows = []
    for o in outcomes:
        counts = o.picks['particle_type'].value_counts()
        rows.append(
            {
                'run': o.run,
                'status': o.status,
                **{n: int(counts.get(n, 0)) for n in names},
                'seconds': f'{o.seconds:.1f}',
            }
        )
    table = pd.DataFrame(rows, columns=['run', 'status', *names, 'seconds'])
    status = [o.status for o in outcomes]
    counts = ', '.join(
        f'{status.count(s)} {s}' for s in ('done', 'skipped', 'failed')
    )
    return (
        table.to_string(index=False)
        + '\n'
        + f'runs: {counts} in {seconds:.1f} s\n'
    )
