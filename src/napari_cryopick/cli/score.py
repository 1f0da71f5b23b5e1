"""``cryopick score REFERENCE CANDIDATE``: the CZII metric on two sets."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from napari_cryopick.io.atomic import write_text

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``score`` subcommand."""
    parser = commands.add_parser(
        'score',
        help='score picks against reference picks (CZII F-beta, beta 4)',
        description='Score CANDIDATE picks against REFERENCE picks with '
        'the CZII Kaggle metric. Each is a project folder (ExperimentRuns '
        'itself or under overlay/), a Picks folder, a picks JSON, a '
        'Kaggle CSV or a RELION 5 / RELION 4 / Warp STAR file (with '
        '--tomograms for its coordinates).',
    )
    parser.add_argument('reference', type=Path, help='reference picks')
    parser.add_argument('candidate', type=Path, help='picks to score')
    parser.add_argument(
        '--json', type=Path, metavar='FILE', help='also write results as JSON'
    )
    parser.add_argument(
        '--user-id', help='read only this copick user of CANDIDATE'
    )
    parser.add_argument(
        '--session-id', help='read only this copick session of CANDIDATE'
    )
    parser.add_argument(
        '--tomograms',
        type=Path,
        metavar='SOURCE',
        help='tomograms whose sizes and voxel sizes convert STAR '
        'coordinates (project, tomogram, folder of them, tomograms.star)',
    )
    parser.add_argument(
        '--voxel-size',
        type=float,
        metavar='Å',
        help='pixel size of RELION 4 / Warp STAR pixel coordinates',
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Score; print the per-class table, then ``score: <weighted F4>``."""
    from napari_cryopick.io.sources import read_picks, source_classes
    from napari_cryopick.metric import score_picks
    from napari_cryopick.metric_report import check_overlap, format_score_table

    star = {
        'tomograms': args.tomograms,
        'voxel_size': args.voxel_size,
        'classes': source_classes(args.tomograms),
    }
    reference = read_picks(args.reference, origin='reference', **star)
    candidate = read_picks(
        args.candidate,
        user_id=args.user_id,
        session_id=args.session_id,
        origin='model',
        **star,
    )
    names = (str(args.reference), str(args.candidate))
    for warning in check_overlap(reference, candidate, names=names):
        log.warning('warning: %s', warning)
    result = score_picks(reference, candidate)
    if args.json:
        write_text(args.json, json.dumps(_as_dict(result), indent=2) + '\n')
    sys.stdout.write(format_score_table(result) + '\n')
    return 0


def _as_dict(result) -> dict:
    return {
        'score': result.score,
        'beta': result.beta,
        'classes': result.table.to_dict(orient='records'),
    }
