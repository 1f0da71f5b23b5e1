"""``cryopick finetune DATA --out CKPT``: adapt a model to your data."""

from __future__ import annotations

import logging
from pathlib import Path

from napari_cryopick.cli.finetune_inputs import (
    class_definitions,
    labelled_runs,
)
from napari_cryopick.cli.predict import voxel_size_arg
from napari_cryopick.model.messages import Progress

log = logging.getLogger(__name__)


def add_parser(commands) -> None:
    """Register the ``finetune`` subcommand."""
    parser = commands.add_parser(
        'finetune',
        help='fine-tune the model on a project with (corrected) picks',
        description='Fine-tune the bundled model (or --init CKPT) on the '
        'tomograms and picks of project DATA. The picks are the labels: '
        'the Kaggle overlay, or the copick picks of --user-id/--session-id. '
        'With --runs, those runs train and the other labelled runs are '
        'held out and scored before and after. A class the model lacks '
        '(named in the labels or --classes, defined by the copick '
        "config's pickable_objects or --class NAME:RADIUS_Å) gets a new "
        'output channel; the classes nobody labelled are kept. Plain '
        'files instead of a project: --tomogram FILE --picks FILE pairs.',
    )
    parser.add_argument(
        'data',
        type=Path,
        nargs='?',
        help='project with picks, or its copick_config.json (optional '
        'with --tomogram/--picks pairs)',
    )
    parser.add_argument(
        '--out',
        type=Path,
        required=True,
        help='checkpoint to write (.safetensors)',
    )
    parser.add_argument(
        '--init', type=Path, help='checkpoint to start from (default: bundled)'
    )
    parser.add_argument('--runs', help='training runs, comma-separated')
    parser.add_argument(
        '--steps',
        type=int,
        default=None,
        help='optimiser steps (default 600; 300 with --incomplete-labels)',
    )
    parser.add_argument('--user-id', help='copick user of the label picks')
    parser.add_argument('--session-id', help='copick session of the labels')
    parser.add_argument(
        '--labels',
        type=Path,
        metavar='PICKS',
        help="label picks instead of the project's own: a picks JSON, CSV, "
        'Picks folder or a RELION 5 / RELION 4 / Warp STAR file (converted '
        "with DATA's tomograms)",
    )
    parser.add_argument(
        '--incomplete-labels',
        action='store_true',
        help='the picks miss particles (a few clicks per class): no '
        'mined negatives, unlabelled space a weak negative, the labelled '
        "classes' thresholds from the clicks' scores",
    )
    parser.add_argument(
        '--classes',
        metavar='A,B',
        help='the classes the labels cover (default: those with picks); '
        "the model's other classes are kept as they were",
    )
    parser.add_argument(
        '--class',
        dest='class_specs',
        action='append',
        default=[],
        metavar='NAME:RADIUS_Å[:COLOUR]',
        help='define a class the model lacks (radius in Å, colour #rrggbb '
        'or r,g,b); repeatable',
    )
    parser.add_argument(
        '--tomogram',
        dest='tomograms',
        action='append',
        default=[],
        type=Path,
        metavar='FILE',
        help='a tomogram (MRC, OME-Zarr, TIFF) to train on; each is paired '
        'with the --picks given in the same position',
    )
    parser.add_argument(
        '--picks',
        dest='picks_files',
        action='append',
        default=[],
        type=Path,
        metavar='FILE',
        help='the labels of the matching --tomogram (copick JSON, CSV, STAR)',
    )
    parser.add_argument(
        '--negatives',
        type=Path,
        metavar='PICKS',
        help='places that hold none of the labelled classes (picks the user '
        'deleted or marked "not this"), in any picks format; matched to '
        'runs by run name',
    )
    parser.add_argument(
        '--keep-worse',
        action='store_true',
        help='write the fine-tuned model to --out even if it scores worse '
        'on the held-out runs than the starting model (by default the '
        'better one is kept there and the worse one goes beside it)',
    )
    parser.add_argument(
        '--tomo-type',
        default='denoised',
        help='tomogram type in the project (default: denoised)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=0,
        help='torch CPU threads (default: all cores)',
    )
    parser.add_argument(
        '--voxel-size',
        type=voxel_size_arg,
        metavar='Å',
        help='level-0 voxel size in Å of the tomograms, overriding the '
        "files' (needed when a header says 0 or 1 Å)",
    )
    parser.add_argument(
        '--device',
        default='auto',
        metavar='{auto,cpu,cuda,cuda:N}',
        help='where training and scoring run: auto takes a CUDA GPU when '
        'torch sees one, else the CPU (default: auto)',
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Fine-tune and report the before/after score of held-out runs."""
    from dataclasses import replace

    from napari_cryopick.errors import CryopickError
    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.device import resolve_device
    from napari_cryopick.model.finetune import (
        FinetuneSettings,
        click_settings,
        finetune,
    )

    resolve_device(args.device)  # CUDA asked for but absent fails first
    if args.data is None and not args.tomograms:
        raise CryopickError(
            'give a project (DATA) or --tomogram/--picks pairs'
        )
    definitions = class_definitions(args)
    labelled = _class_names(args.classes)
    train_runs, held_out = labelled_runs(args)
    settings = FinetuneSettings()
    if args.incomplete_labels:
        settings = click_settings()
    config = settings.train
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.threads:
        config = replace(config, threads=args.threads)
    config = replace(config, device=args.device)
    settings = replace(
        settings,
        train=config,
        keep_worse=args.keep_worse,
        classes=labelled,
        incomplete=args.incomplete_labels,
    )
    model = load_checkpoint(args.init)
    result = finetune(
        model,
        train_runs,
        args.out,
        settings,
        held_out,
        progress=_report,
        definitions=definitions,
    )
    log.info(
        'wrote %s after %d steps in %.0f s',
        result.path,
        result.steps,
        result.seconds,
    )
    if held_out:
        log.info(
            'held-out F4 (%s): before %.4f, after %.4f',
            ', '.join(r.tomogram.run for r in held_out),
            result.before,
            result.after,
        )
    if result.worse is not None:
        log.warning(
            'WARNING: fine-tuning made the held-out F4 worse (%.4f -> '
            '%.4f): %s holds the starting model; the fine-tuned one is %s '
            '(--keep-worse writes it to --out)',
            result.before,
            result.after,
            result.path,
            result.worse,
        )
    elif held_out and result.after < result.before:
        log.warning(
            'WARNING: fine-tuning made the held-out F4 worse (%.4f -> '
            '%.4f); kept anyway (--keep-worse)',
            result.before,
            result.after,
        )
    _log_new_classes(result.card)
    return 0


def _log_new_classes(card: dict) -> None:
    from napari_cryopick.model.checkpoint import classes_from_card
    from napari_cryopick.model.newclass import small_class_caution

    new = set(card.get('finetune', {}).get('new_classes', []))
    known = {c.name: c for c in classes_from_card(card)}
    for name in card.get('finetune', {}).get('classes', []):
        kind = 'new class' if name in new else 'class'
        caution = None
        if name in new or name in card.get('likeness', {}):
            caution = small_class_caution(known[name], card['voxel_size'])
        if caution:
            log.warning('WARNING: %s', caution)
        log.info(
            '%s %s: threshold %.3f (move it with the Pick widget or '
            'predict --classes)',
            kind,
            name,
            card['thresholds'].get(name, float('nan')),
        )
        like = card.get('likeness', {}).get(name)
        if like:
            log.info(
                '%s: the rotational density profiles of its %d clicks are '
                'stored; predict drops picks unlike them%s '
                '(--no-likeness-check keeps them)',
                name,
                len(like['profiles']),
                ' or failing the test learnt against the other densities '
                'of its size the model found'
                if like.get('gate') is not None
                else '',
            )


def _class_names(text):
    from napari_cryopick.cli.predict import parse_classes

    return parse_classes(text)


def _report(progress) -> None:
    if isinstance(progress, Progress):  # a stage that predicts
        if progress.done == progress.total:
            log.info('%s: done', progress.stage)
        return
    if progress.step % 25 == 0 or progress.step == progress.steps:
        log.info(
            'step %d/%d loss %.4f',
            progress.step,
            progress.steps,
            progress.loss,
        )
