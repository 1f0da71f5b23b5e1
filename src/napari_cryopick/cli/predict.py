"""``cryopick predict INPUT... --out OUT``: pick particles with a model."""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``predict`` subcommand."""
    parser = commands.add_parser(
        'predict',
        help='pick particles in tomograms with the bundled model',
        description='Pick particles in each INPUT (an OME-Zarr store, an '
        'MRC file, or a project holding ExperimentRuns/ itself or under '
        'static/, every run in it) and write copick picks to '
        'OUT/ExperimentRuns/<run>/Picks/<user>_<session>_<object>.json '
        'with OUT/copick_config.json. Runs already done are skipped.',
    )
    parser.add_argument('inputs', type=Path, nargs='+', metavar='INPUT')
    parser.add_argument(
        '--out',
        type=Path,
        required=True,
        help='copick overlay folder to write',
    )
    parser.add_argument(
        '--model',
        type=Path,
        help='checkpoint (.safetensors); default: bundled',
    )
    parser.add_argument(
        '--csv',
        type=Path,
        metavar='FILE',
        help='also write all picks as a Kaggle CSV',
    )
    parser.add_argument('--user-id', default='cryopick')
    parser.add_argument('--session-id', default='0')
    parser.add_argument(
        '--tomo-type',
        default='denoised',
        help='tomogram type in projects (default denoised)',
    )
    parser.add_argument(
        '--tta',
        action='store_true',
        help='average 4 flipped/rotated views (4x slower)',
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='redo runs whose picks already exist',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=0,
        help='torch threads (default: all cores)',
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Predict every run of every input."""
    from napari_cryopick import picks as pk
    from napari_cryopick.io.kaggle_csv import write_picks_csv
    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.jobs import expand_inputs, predict_run

    jobs = expand_inputs(args.inputs, args.tomo_type)
    model = load_checkpoint(args.model)
    tables = []
    for job in jobs:
        start = time.perf_counter()
        table, skipped = predict_run(job, model, args)
        tables.append(table)
        state = 'skipped (done)' if skipped else 'picked'
        log.info(
            '%s: %s %d particles in %.1f s',
            job.run,
            state,
            len(table),
            time.perf_counter() - start,
        )
    if args.csv:
        write_picks_csv(
            pk.concat(tables), args.csv, include_score=False, overwrite=True
        )
    return 0
