"""``cryopick finetune DATA --out CKPT``: adapt a model to your data."""

from __future__ import annotations

import logging
from pathlib import Path

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
    definitions = _definitions(args)
    labelled = _class_names(args.classes)
    train_runs, held_out = _labelled_runs(args)
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
    new = set(card.get('finetune', {}).get('new_classes', []))
    for name in card.get('finetune', {}).get('classes', []):
        kind = 'new class' if name in new else 'class'
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
                'stored; predict drops picks unlike them '
                '(--no-likeness-check keeps them)',
                name,
                len(like['profiles']),
            )


def _class_names(text):
    from napari_cryopick.cli.predict import parse_classes

    return parse_classes(text)


def _definitions(args) -> tuple:
    """Classes defined by --class and by DATA's copick config."""
    from napari_cryopick.classes import parse_class_spec
    from napari_cryopick.errors import CryopickError
    from napari_cryopick.io.sources import source_classes

    given = tuple(parse_class_spec(text) for text in args.class_specs)
    names = [c.name for c in given]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CryopickError(f'--class defines {twice[0]!r} twice')
    config = source_classes(args.data) if args.data is not None else ()
    for cls in config:
        mine = next((c for c in given if c.name == cls.name), None)
        if mine is not None and mine.radius != cls.radius:
            raise CryopickError(
                f'--class {cls.name}:{mine.radius:g} clashes with the '
                f'copick config ({cls.name} radius {cls.radius:g} Å)'
            )
    return given + tuple(c for c in config if c.name not in names)


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


def _labelled_runs(args):
    """Return (training runs, held-out runs) from DATA or file pairs."""
    negatives = _negatives(args)
    if getattr(args, 'tomograms', None) or getattr(args, 'picks_files', None):
        runs, held = _paired_runs(args), []
    else:
        runs, held = _project_runs(args)
    if negatives is not None:
        runs = [_with_negatives(run, negatives) for run in runs]
    return runs, held


def _negatives(args):
    from napari_cryopick.io.sources import read_picks

    if getattr(args, 'negatives', None) is None:
        return None
    return read_picks(args.negatives, tomograms=_tomogram_source(args))


def _tomogram_source(args):
    if getattr(args, 'tomograms', None):
        return args.tomograms[0] if len(args.tomograms) == 1 else None
    return args.data


def _with_negatives(run, negatives):
    from dataclasses import replace

    mine = negatives[negatives['run'] == run.tomogram.run]
    if len(set(negatives['run'])) == 1:
        mine = negatives.assign(run=run.tomogram.run)
    return replace(run, negatives=mine)


def _paired_runs(args):
    """Return runs from --tomogram FILE --picks FILE pairs."""
    from napari_cryopick.errors import CryopickError, input_error
    from napari_cryopick.io.sources import open_tomogram, read_picks
    from napari_cryopick.model.finetune import LabelledRun

    if len(args.tomograms) != len(args.picks_files):
        raise CryopickError(
            f'{len(args.tomograms)} --tomogram for {len(args.picks_files)} '
            '--picks: give them in pairs'
        )
    runs, seen = [], set()
    for path, picks_path in zip(args.tomograms, args.picks_files, strict=True):
        tomogram = open_tomogram(path, voxel_size=args.voxel_size)
        if tomogram.run in seen:
            raise input_error(
                path, f'a second tomogram named {tomogram.run!r}'
            )
        seen.add(tomogram.run)
        picks = read_picks(picks_path, tomograms=path)
        names = set(picks['run'])
        if tomogram.run in names:
            picks = picks[picks['run'] == tomogram.run]
        elif len(names) > 1:
            raise input_error(
                picks_path,
                f'holds picks of runs {", ".join(sorted(names))}, none '
                f'named {tomogram.run!r} like {path.name}',
            )
        # The pair says which tomogram these picks belong to.
        runs.append(LabelledRun(tomogram, picks.assign(run=tomogram.run)))
    return runs


def _project_runs(args):
    from napari_cryopick.errors import input_error
    from napari_cryopick.io.copick_config import CONFIG_NAME
    from napari_cryopick.io.project import tomogram_runs
    from napari_cryopick.io.sources import (
        open_tomogram,
        read_picks,
        source_classes,
    )
    from napari_cryopick.model.finetune import LabelledRun

    picks = read_picks(
        args.labels or args.data,
        user_id=args.user_id,
        session_id=args.session_id,
        tomograms=args.data if args.labels else None,
        classes=source_classes(args.data),
    )
    available = tomogram_runs(args.data)
    labelled = [r for r in available if (picks['run'] == r).any()]
    chosen = args.runs.split(',') if args.runs else labelled
    for name in chosen:
        if name not in available:
            raise input_error(
                args.data,
                f'no run {name!r} with a tomogram '
                f'(runs: {", ".join(available)})',
            )
        if name not in labelled:
            raise input_error(args.data, f'run {name!r} has no picks')
    held = [r for r in labelled if r not in chosen] if args.runs else []

    # A copick config names the project: its folder holds the config.
    project = args.data
    if project.name == CONFIG_NAME and project.is_file():
        project = project.parent

    def load(name):
        tomogram = open_tomogram(
            project, name, args.tomo_type, voxel_size=args.voxel_size
        )
        return LabelledRun(tomogram, picks[picks['run'] == name])

    return [load(n) for n in chosen], [load(n) for n in held]
