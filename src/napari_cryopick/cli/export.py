"""``cryopick export PICKS --to {copick,csv,star,relion4} OUT``."""

from __future__ import annotations

import logging
from pathlib import Path

from napari_cryopick.cli._text import plural

log = logging.getLogger(__name__)

FORMATS = ('copick', 'csv', 'star', 'relion4')


def add_parser(commands) -> None:
    """Register the ``export`` subcommand."""
    parser = commands.add_parser(
        'export',
        help='convert picks to copick JSON, a Kaggle CSV or RELION STAR',
        description='Read PICKS (project, Picks folder, JSON, CSV or STAR) '
        'and write them as a copick project (OUT/ExperimentRuns/<run>/Picks/'
        '<user>_<session>_<object>.json and OUT/copick_config.json), a '
        'Kaggle submission CSV, a RELION 5 particles STAR file (--to star: '
        'Å centred on each tomogram, so --tomograms is needed) or a RELION '
        '4 one (--to relion4: pixels of --voxel-size, default the '
        "tomogram's).",
    )
    parser.add_argument('picks', type=Path, help='picks to convert')
    parser.add_argument('--to', choices=FORMATS, required=True, help='format')
    parser.add_argument(
        'out', type=Path, help='output folder, CSV file or STAR file'
    )
    parser.add_argument(
        '--tomograms',
        type=Path,
        metavar='SOURCE',
        help='the tomograms the picks belong to (project, MRC or OME-Zarr '
        'tomogram, a folder of them, or a RELION tomograms.star): their '
        'sizes and voxel sizes convert STAR coordinates',
    )
    parser.add_argument(
        '--voxel-size',
        type=float,
        metavar='Å',
        help='pixel size of RELION 4 / Warp pixel coordinates, written '
        '(--to relion4) or read (a STAR PICKS)',
    )
    parser.add_argument(
        '--split-classes',
        action='store_true',
        help='STAR: one file per class, OUT_<class>.star',
    )
    parser.add_argument(
        '--user-id', default='cryopick', help='copick user id to write'
    )
    parser.add_argument(
        '--session-id', default='0', help='copick session id to write'
    )
    parser.add_argument(
        '--from-user', help='read only this copick user of PICKS'
    )
    parser.add_argument(
        '--from-session', help='read only this copick session of PICKS'
    )
    parser.add_argument(
        '--score', action='store_true', help='add a score column to the CSV'
    )
    parser.add_argument(
        '--overwrite', action='store_true', help='replace existing files'
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Read the picks and write them in the chosen format."""
    from napari_cryopick.io.sources import read_picks, source_classes

    if args.split_classes and args.to not in ('star', 'relion4'):
        from napari_cryopick.errors import input_error

        raise input_error(args.out, '--split-classes is for STAR output only')
    classes = source_classes(args.tomograms)
    table = read_picks(
        args.picks,
        user_id=args.from_user,
        session_id=args.from_session,
        tomograms=args.tomograms,
        voxel_size=args.voxel_size,
        classes=classes,
    )
    if args.to in ('star', 'relion4'):
        files = _write_star(args, table, classes)
    elif args.to == 'csv':
        from napari_cryopick.io.kaggle_csv import write_picks_csv

        files = [
            write_picks_csv(
                table,
                args.out,
                include_score=args.score,
                overwrite=args.overwrite,
            )
        ]
    else:
        files = _write_copick(args, table)
    log.info(
        'wrote %s in %s to %s',
        plural(len(table), 'pick'),
        plural(len(files), 'file'),
        args.out,
    )
    return 0


def _write_star(args, table, classes) -> list[Path]:
    from napari_cryopick.errors import input_error
    from napari_cryopick.io.sources import tomogram_geometries
    from napari_cryopick.io.star import RELION4, RELION5
    from napari_cryopick.io.star_write import write_star

    flavour = RELION5 if args.to == 'star' else RELION4
    if args.tomograms is None and (flavour == RELION5 or not args.voxel_size):
        need = (
            'centred Å coordinates (RELION 5) need the tomograms'
            if flavour == RELION5
            else 'pixel coordinates need --voxel-size or the tomograms'
        )
        raise input_error(args.out, f'{need}: give --tomograms SOURCE')
    geometries = (
        tomogram_geometries(args.tomograms) if args.tomograms else None
    )
    return write_star(
        table,
        args.out,
        flavour,
        geometries,
        voxel_size=args.voxel_size,
        classes=classes,
        split_classes=args.split_classes,
        overwrite=args.overwrite,
    )


def _write_copick(args, table) -> list[Path]:
    from napari_cryopick.io.copick_config import write_copick_config
    from napari_cryopick.io.copick_json import write_picks_json

    files = write_picks_json(
        table,
        args.out,
        args.user_id,
        args.session_id,
        overwrite=args.overwrite,
    )
    write_copick_config(args.out)
    return files
