"""``cryopick simulate OUT``: write a Kaggle-layout phantom project."""

from __future__ import annotations

import logging
from pathlib import Path

from napari_cryopick.cli._text import plural
from napari_cryopick.simulate.looks import LOOKS

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``simulate`` subcommand."""
    parser = commands.add_parser(
        'simulate',
        help='write phantom tomograms with ground-truth picks',
        description='Simulate tomograms of the six CZII proteins (from '
        'their 10 Å density maps) with distractors, missing wedge, CTF '
        'and noise, written as a Kaggle-layout project: '
        'OUT/static/ExperimentRuns/<run>/VoxelSpacing10.000/denoised.zarr '
        'and OUT/overlay/ExperimentRuns/<run>/Picks/<object>.json.',
    )
    parser.add_argument('out', type=Path, help='project folder to create')
    parser.add_argument('--runs', type=_positive, default=1, help='runs')
    parser.add_argument(
        '--shape',
        type=_positive,
        nargs=3,
        metavar=('Z', 'Y', 'X'),
        default=(184, 630, 630),
        help='tomogram shape in voxels (default 184 630 630)',
    )
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--look',
        choices=tuple(LOOKS),
        default='czii',
        # argparse formats help with %: the looks' '15 %' must be '%%'.
        help='kind of tomogram: '
        + '; '.join(
            f'{name}: {text}'.replace('%', '%%')
            for name, text in LOOKS.items()
        ),
    )
    parser.add_argument(
        '--voxel-size',
        type=_positive_float,
        default=10.012444,
        metavar='Å',
        help='voxel size in Å (default 10.012444, the CZII data)',
    )
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing OUT'
    )
    parser.set_defaults(run=run)


def _positive_float(text: str) -> float:
    import argparse

    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be > 0, not {value}')
    return value


def _positive(text: str) -> int:
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be 1 or more, not {value}')
    return value


def run(args) -> int:
    """Simulate the runs and write the project."""
    from napari_cryopick.simulate.project import (
        SimulationSettings,
        write_simulated_project,
    )

    settings = SimulationSettings(
        runs=args.runs,
        shape=tuple(args.shape),
        seed=args.seed,
        look_name=args.look,
        voxel_size=args.voxel_size,
    )
    runs = write_simulated_project(
        args.out, settings, overwrite=args.overwrite, progress=_report
    )
    log.info('wrote %s to %s', plural(len(runs), 'run'), args.out)
    return 0


def _report(run: str, picks: int, seconds: float) -> None:
    log.info('%s: %s, %.1f s', run, plural(picks, 'particle'), seconds)
