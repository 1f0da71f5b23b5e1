"""Train the bundled picker model: the command line of model/recipe.py.

The bundled model v2 (``cryopick-czii-v2``) came from::

    python scripts/train_bundled_model.py --out runs/v2 \
        --cache /tmp/cryopick-train --init v1 --steps 2000

It simulates ``--train`` phantoms of the ``mixed`` kind (random looks,
crowded cells, raw WBP, noisy, particle-free and noise-only volumes),
bins them to 20 Å, trains on patches (around picks, around the
unlabelled proteins and distractors as hard negatives, anywhere),
validates on held-out phantoms of every kind every ``--val-every``
steps (keeping the best weights), and writes the checkpoint, its card,
the validation history and the loop state to ``--out``. Stopped at any
point, the same command resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from napari_cryopick.model.config import NetworkConfig
from napari_cryopick.model.recipe import retune, train_recipe
from napari_cryopick.model.recipe_config import Recipe
from napari_cryopick.simulate.looks import LOOKS


def parse(argv=None) -> argparse.Namespace:
    defaults = Recipe()
    loop = defaults.train_config
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out',
        type=Path,
        required=True,
        help='folder for the checkpoint, card, log, state',
    )
    parser.add_argument(
        '--cache',
        type=Path,
        default=Path('/tmp/cryopick-train'),
        help='folder of cached phantoms',
    )
    parser.add_argument('--name', default=defaults.name)
    parser.add_argument(
        '--train', type=int, default=defaults.train, help='training phantoms'
    )
    parser.add_argument(
        '--look',
        choices=tuple(LOOKS),
        default=defaults.look,
        help='kind of phantom',
    )
    parser.add_argument(
        '--val',
        type=int,
        default=defaults.validation_runs,
        help='validation phantoms per kind',
    )
    parser.add_argument('--steps', type=int, default=loop.steps)
    parser.add_argument('--val-every', type=int, default=defaults.val_every)
    parser.add_argument('--lr', type=float, default=loop.lr)
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--empty-picks',
        type=float,
        default=defaults.empty_picks,
        help='picks of one class allowed per particle-free validation '
        'volume when tuning thresholds (inf: no bound)',
    )
    parser.add_argument(
        '--device',
        default='auto',
        help='auto (a CUDA GPU when there is one), cpu, cuda',
    )
    parser.add_argument(
        '--channels',
        type=lambda text: tuple(int(c) for c in text.split(',')),
        default=NetworkConfig().channels,
        help='U-Net features per level (default 24,48,64,64)',
    )
    parser.add_argument(
        '--tune-only',
        metavar='CKPT',
        help='only re-tune the thresholds of CKPT on the validation '
        'phantoms, writing --out/--name',
    )
    parser.add_argument(
        '--init',
        metavar='CKPT',
        help="start from these weights ('v1': the bundled v1 model)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format='%(asctime)s %(message)s',
        handlers=[
            logging.StreamHandler(),
            logging.FileHandler(args.out / 'train.log'),
        ],
    )
    import torch

    torch.set_num_threads(args.threads)
    init = args.init
    if init == 'v1':
        from napari_cryopick.model.checkpoint import named_checkpoint

        init = str(named_checkpoint('v1'))
    defaults = Recipe()
    recipe = replace(
        defaults,
        name=args.name,
        train=args.train,
        look=args.look,
        validation_runs=args.val,
        val_every=args.val_every,
        seed=args.seed,
        empty_picks=args.empty_picks,
        network=NetworkConfig(channels=args.channels),
        train_config=replace(
            defaults.train_config,
            steps=args.steps,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            device=args.device,
        ),
        init=init,
    )
    command = ' '.join(
        ['python scripts/train_bundled_model.py', *sys.argv[1:]]
    )
    if args.tune_only:
        model = retune(args.tune_only, recipe, args.out, args.cache, command)
    else:
        model = train_recipe(recipe, args.out, args.cache, command=command)
    logging.info(
        'best validation F4 %.4f: %s',
        model.card.record['validation']['score'],
        model.path,
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
