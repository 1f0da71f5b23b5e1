"""Does fine-tuning on one corrected tomogram help on the next one?

Two full-size phantoms of a look the bundled model never saw in
training (``--look``: ``extreme``, outside every training range at
once; or ``inverted-noisy-wedge``, the issue's example). The bundled
model picks tomogram B; it is then fine-tuned on tomogram A's ground
truth with the default settings (what ``cryopick finetune`` does) and
picks B again. Prints weighted F4 on B before and after, and the time.

Run: ``python benchmarks/bench_finetune.py --look extreme``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from napari_cryopick.io.sources import open_tomogram, read_picks
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.model.finetune import (
    FinetuneSettings,
    LabelledRun,
    finetune,
)
from napari_cryopick.simulate import PhantomLook
from napari_cryopick.simulate.project import (
    SimulationSettings,
    write_simulated_project,
)

UNSEEN = {
    # Outside every training range at once.
    'extreme': PhantomLook(
        polarity=1.0,
        scale=3.0,
        offset=-20.0,
        noise=1.8,
        noise_white=0.3,
        wedge=40.0,
        tilt_axis=30.0,
        resolution=30.0,
        defocus=7.0,
        deconvolution=0.0,
    ),
    # The example: inverted contrast, stronger noise, another
    # wedge; the rest as the CZII-like default.
    'inverted-noisy-wedge': PhantomLook(
        polarity=1.0,
        noise=1.5,
        wedge=40.0,
        tilt_axis=0.0,
    ),
}


def make_project(root: Path, look: PhantomLook, seed: int = 424242) -> Path:
    if not (root / 'simulation.json').exists():
        settings = SimulationSettings(runs=2, seed=seed, look=look)
        write_simulated_project(root, settings)
    return root


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--work', type=Path, default=Path('/tmp/bench-ft'))
    parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--look', choices=sorted(UNSEEN), default='extreme')
    parser.add_argument(
        '--tune-share',
        type=float,
        default=None,
        help='share of the training run held back to tune thresholds on',
    )
    parser.add_argument('--lr', type=float, default=None)
    parser.add_argument(
        '--seed', type=int, default=424242, help='seed of the phantoms'
    )
    parser.add_argument(
        '--model', type=Path, help='starting checkpoint (default: bundled)'
    )
    parser.add_argument(
        '--no-mining',
        action='store_true',
        help="do not take the model's unlabelled proposals as negatives",
    )
    args = parser.parse_args()
    name = args.look if args.seed == 424242 else f'{args.look}-{args.seed}'
    project = make_project(args.work / name, UNSEEN[args.look], args.seed)
    truth = read_picks(project)

    def labelled(run):
        return LabelledRun(
            open_tomogram(project, run), truth[truth['run'] == run]
        )

    a, b = labelled('TS_sim_1'), labelled('TS_sim_2')
    settings = FinetuneSettings()
    if args.steps:
        settings = replace(
            settings, train=replace(settings.train, steps=args.steps)
        )
    if args.lr:
        settings = replace(settings, train=replace(settings.train, lr=args.lr))
    if args.no_mining:
        settings = replace(settings, mine_negatives=False)
    if args.tune_share is not None:
        settings = replace(settings, tune_share=args.tune_share)
    start = time.perf_counter()
    result = finetune(
        load_checkpoint(args.model),
        [a],
        args.work / f'ft-{args.look}-{settings.tune_share:g}.safetensors',
        settings,
        held_out=[b],
    )
    seconds = time.perf_counter() - start
    report = {
        'before': result.before,
        'after': result.after,
        'gain': result.after - result.before,
        'seconds': seconds,
        'steps': result.steps,
        'negatives': result.card['finetune']['negatives'],
        'lr': settings.train.lr,
        'tune_share': settings.tune_share,
        'thresholds': result.card['thresholds'],
        'look': args.look,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
