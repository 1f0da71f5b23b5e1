"""``cryopick export PICKS --to {copick,csv,star,relion4} OUT``."""

from __future__ import annotations

import logging
from pathlib import Path

from napari_cryopick.cli._text import plural
from napari_cryopick.export import FORMATS, ExportSettings

log = logging.getLogger(__name__)


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
        '--user-id',
        default=ExportSettings.user_id,
        help='copick user id to write',
    )
    parser.add_argument(
        '--session-id',
        default=ExportSettings.session_id,
        help='copick session id to write',
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
    from napari_cryopick.export import export_picks
    from napari_cryopick.io.sources import (
        read_picks,
        source_classes,
        tomogram_geometries,
    )

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
    star = args.to in ('star', 'relion4')
    if star:
        _check_star(args)
    settings = ExportSettings(
        user_id=args.user_id,
        session_id=args.session_id,
        include_score=args.score,
        split_classes=args.split_classes,
        overwrite=args.overwrite,
    )
    files = export_picks(
        table,
        args.out,
        args.to,
        settings,
        classes=classes if star else None,
        voxel_size=args.voxel_size,
        geometries=tomogram_geometries(args.tomograms)
        if star and args.tomograms
        else None,
    )
    log.info(
        'wrote %s in %s to %s',
        plural(len(table), 'pick'),
        plural(len(files), 'file'),
        args.out,
    )
    return 0


def _check_star(args) -> None:
    """Name the option STAR coordinates need when it is missing."""
    from napari_cryopick.errors import input_error

    if args.tomograms is None and (args.to == 'star' or not args.voxel_size):
        need = (
            'centred Å coordinates (RELION 5) need the tomograms'
            if args.to == 'star'
            else 'pixel coordinates need --voxel-size or the tomograms'
        )
        raise input_error(args.out, f'{need}: give --tomograms SOURCE')
