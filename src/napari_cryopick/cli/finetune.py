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
        'held out and scored before and after.',
    )
    parser.add_argument('data', type=Path, help='project with picks')
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
        '--steps', type=int, default=None, help='optimiser steps (default 600)'
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
        help='the picks miss particles: do not take the starting '
        "model's proposals away from every pick as hard negatives",
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

    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.device import resolve_device
    from napari_cryopick.model.finetune import FinetuneSettings, finetune

    resolve_device(args.device)  # CUDA asked for but absent fails first
    train_runs, held_out = _labelled_runs(args)
    settings = FinetuneSettings()
    config = settings.train
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.threads:
        config = replace(config, threads=args.threads)
    config = replace(config, device=args.device)
    settings = replace(
        settings,
        train=config,
        mine_negatives=not args.incomplete_labels,
        keep_worse=args.keep_worse,
    )
    model = load_checkpoint(args.init)
    result = finetune(
        model, train_runs, args.out, settings, held_out, progress=_report
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
    return 0


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
    from napari_cryopick.errors import input_error
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

    def load(name):
        tomogram = open_tomogram(
            args.data, name, args.tomo_type, voxel_size=args.voxel_size
        )
        return LabelledRun(tomogram, picks[picks['run'] == name])

    return [load(n) for n in chosen], [load(n) for n in held]
