"""``cryopick export PICKS --to {copick,csv} OUT``: convert picks."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``export`` subcommand."""
    parser = commands.add_parser(
        'export',
        help='convert picks to copick JSON or a Kaggle CSV',
        description='Read PICKS (project, Picks folder, JSON or CSV) and '
        'write them as a copick project (OUT/ExperimentRuns/<run>/Picks/'
        '<user>_<session>_<object>.json and OUT/copick_config.json) or a '
        'Kaggle submission CSV.',
    )
    parser.add_argument('picks', type=Path, help='picks to convert')
    parser.add_argument(
        '--to', choices=('copick', 'csv'), required=True, help='format'
    )
    parser.add_argument('out', type=Path, help='output folder or CSV file')
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
    from napari_cryopick.io.copick_config import write_copick_config
    from napari_cryopick.io.copick_json import write_picks_json
    from napari_cryopick.io.kaggle_csv import write_picks_csv
    from napari_cryopick.io.sources import read_picks

    table = read_picks(
        args.picks, user_id=args.from_user, session_id=args.from_session
    )
    if args.to == 'csv':
        write_picks_csv(
            table, args.out, include_score=args.score, overwrite=args.overwrite
        )
        log.info('wrote %d picks to %s', len(table), args.out)
        return 0
    files = write_picks_json(
        table,
        args.out,
        args.user_id,
        args.session_id,
        overwrite=args.overwrite,
    )
    write_copick_config(args.out)
    log.info(
        'wrote %d picks in %d files under %s', len(table), len(files), args.out
    )
    return 0
