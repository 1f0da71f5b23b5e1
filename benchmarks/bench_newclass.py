"""Teach the bundled model a protein it never saw, from a few clicks.

Two phantoms of one look (``--look``: CZII-like by default; crowded,
noisy or cellular; ``--shape``, full CZII size by default) hold the six
CZII proteins and a novel one:

* ``--novel pseudo``: a procedural protein (clusters of Gaussian lumps,
  :func:`~napari_cryopick.simulate.crowding.pseudo_protein`, drawn once
  from ``--shape-seed``), ``--diameter`` Å across;
* ``--novel albumin``: human serum albumin, PDB 8VAF, the density map
  shipped with the simulator (PolNet, Apache-2.0), which the bundled
  model met only as unlabelled clutter;
* ``--novel-map MAP.mrc``: any density map (e.g. one computed from an
  atomic model: PolNet's ``data/templates/mrcs_10A``, Apache-2.0, holds
  the 20S proteasome 3J9I, p97 3CF3, RuBisCO 1BXN, the 26S proteasome
  4CR2 and more), at its own voxel size; the class is named
  ``pdb-<stem>``.

N clicks (5, 10, 20, 50) of the novel class on tomogram A go through
the command line as a user would give them::

    cryopick finetune --tomogram A.zarr --picks clicks.json \\
        --class NAME:RADIUS --classes NAME --incomplete-labels --out CKPT
    cryopick predict B --model CKPT --out PRED

and the benchmark scores the novel class (F4) on tomogram B, and the six
CZII classes (weighted F4) on B before (bundled model) and after.

``--review K`` adds one round of the review loop as a user runs it: the
tuned model picks A, a simulated user goes through the first K picks of
the new class in the Review widget's order (least certain first),
accepting the true ones and marking the others "not this", and the
model is tuned again from itself on the clicks, the accepted picks and
the negatives (``finetune --init CKPT ... --negatives NEG``).

``--more-like K`` reviews before any training instead: "More like these"
(:mod:`napari_cryopick.model.similar`) proposes the K places of A that
look most like the clicks, the simulated user accepts the true ones and
marks the others "not this", and the first fine-tuning learns from the
clicks and the accepted, with the rejected as negatives.

``--jitter SD`` clicks as a hand does, off centre: each click moves by a
Gaussian error of SD Å along each axis (drawn once, so runs repeat).

Run: ``nice -n 19 python benchmarks/bench_newclass.py --work /tmp/bench-nc``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.classes import (
    CZII_CLASSES,
    CZII_VOXEL_SIZE,
    ParticleClass,
)
from napari_cryopick.io.copick_json import (
    write_kaggle_overlay,
    write_picks_json,
)
from napari_cryopick.io.mrc import read_mrc
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import read_picks
from napari_cryopick.metric import score_picks
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.simulate.crowding import pseudo_protein
from napari_cryopick.simulate.looks import look_params
from napari_cryopick.simulate.phantom import simulate_tomogram
from napari_cryopick.simulate.project import SPACING_FOLDER
from napari_cryopick.simulate.templates import (
    load_template,
    resample_density,
    template_from_density,
)

RUNS = ('TS_nc_A', 'TS_nc_B')


def novel_template(args):
    """The novel protein's density template at the phantoms' voxel size."""
    if args.novel_map:
        return map_template(args.novel_map, args.voxel_size, class_name(args))
    if args.novel == 'albumin':
        template = load_template('albumin', args.voxel_size)
        return template_from_density(
            'albumin', template.density, template.voxel_size
        )
    rng = np.random.default_rng(args.shape_seed)
    box = pseudo_protein(rng, args.diameter, args.voxel_size)
    return template_from_density('novel', box, args.voxel_size)


def map_template(path: Path, voxel: float, name: str):
    """A density map as a template, its peak at 1, resampled to ``voxel``.

    The shipped maps peak at 0.84-1.11 in the simulator's protein unit;
    maps from elsewhere come in their own units (PolNet's newer maps at
    about 230 of the shipped maps' raw unit), so the peak sets the scale.
    Read as any MRC tomogram is (header voxel size, axis order checked).
    """
    tomogram = read_mrc(path)
    size = tomogram.scales[0]
    if not np.allclose(size, size[0]):
        raise SystemExit(f'{path}: voxel size {size} is not cubic')
    density = np.clip(np.asarray(tomogram.levels[0], np.float32), 0, None)
    density, step = resample_density(density / density.max(), size[0], voxel)
    return template_from_density(name, density, step)


def class_name(args) -> str:
    """The class name the benchmark gives the novel protein."""
    if args.novel_map:
        return f'pdb-{args.novel_map.stem.lower()}'
    return 'albumin' if args.novel == 'albumin' else 'novel'


def make_project(root: Path, args) -> tuple[Path, float, str]:
    """Write the two phantoms; return (project, class radius Å, name)."""
    name = class_name(args)
    template = novel_template(args)
    radius = round(template.radius, 1)
    if (root / 'done.json').exists():
        return root, radius, name
    for index, run in enumerate(RUNS):
        rng = np.random.default_rng([args.seed, index])
        params = look_params(
            args.look, rng, tuple(args.shape), args.voxel_size
        )
        phantom = simulate_tomogram(
            params, rng, run=run, novel={name: (template, args.count)}
        )
        store = root / 'static' / 'ExperimentRuns' / run / SPACING_FOLDER
        write_ome_zarr(
            store / 'denoised.zarr', phantom.volume, args.voxel_size
        )
        names = [c.name for c in CZII_CLASSES] + [name]
        write_kaggle_overlay(
            phantom.picks, root / 'overlay', object_names=names, runs=[run]
        )
        n = int((phantom.picks['particle_type'] == name).sum())
        print(f'{run}: {len(phantom.picks)} particles, {n} {name}', flush=True)
    (root / 'done.json').write_text(json.dumps({'radius': radius}))
    return root, radius, name


def tomogram(project: Path, run: str) -> Path:
    return (
        project
        / 'static'
        / 'ExperimentRuns'
        / run
        / SPACING_FOLDER
        / 'denoised.zarr'
    )


def cryopick(*argv) -> float:
    """Run the command line in a fresh process; return its seconds."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, '-m', 'napari_cryopick.cli', *map(str, argv)],
        check=True,
    )
    return time.perf_counter() - start


def predict(project, run, out, checkpoint, *extra) -> None:
    """``cryopick predict`` one run with a checkpoint into ``out``."""
    cryopick(
        'predict',
        tomogram(project, run),
        '--out',
        out,
        '--model',
        checkpoint,
        '--force',
        *extra,
    )


def scores(truth, found, classes) -> tuple[float, float]:
    """(novel class F4, six CZII classes' weighted F4) on one run."""
    novel = score_picks(truth, found, classes[-1:]).score
    czii = score_picks(truth, found, CZII_CLASSES).score
    return novel, czii


def oracle(checkpoint, project, truth, novel) -> tuple[float, float]:
    """(F4, threshold) of the new class on B at its best threshold.

    What a user moving the threshold by eye could reach: it tells a
    threshold rule that misses from a model that does not know.
    """
    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.metric import best_thresholds
    from napari_cryopick.model.predict import PickSettings, predict_tomogram

    model = load_checkpoint(checkpoint)
    found = predict_tomogram(
        open_tomogram(tomogram(project, RUNS[1])),
        model,
        PickSettings(apply_thresholds=False, classes=(novel.name,)),
    )
    threshold = best_thresholds(truth, found, (novel,))[novel.name]
    kept = found[found['score'] >= threshold]
    return score_picks(truth, kept, (novel,)).score, float(threshold)


def report(what, checkpoint, project, truth, novel, after, before) -> None:
    """Print one result line: F4 on B, CZII before and after, thresholds."""
    best, threshold = oracle(checkpoint, project, truth, novel)
    chosen = load_checkpoint(checkpoint).thresholds[novel.name]
    print(
        f'{what}: {novel.name} F4 on B {after[0]:.3f}; CZII {before[1]:.4f} '
        f'-> {after[1]:.4f}; threshold {chosen:.3f} (best on B: '
        f'{threshold:.3f}, F4 {best:.3f})',
        flush=True,
    )


def more_like(args, project, truth, clicks, novel):
    """Review of "More like these" on A: (positives, negatives) files.

    The simulated user accepts a proposal within the metric's radius of
    an unclicked copy of the class and marks every other "not this".
    """
    from scipy.spatial import cKDTree

    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.model.similar import SimilarSettings, more_like_these

    start = time.perf_counter()
    proposals = more_like_these(
        open_tomogram(tomogram(project, RUNS[0])),
        clicks,
        novel.radius,
        novel.name,
        SimilarSettings(count=args.more_like),
    )
    seconds = time.perf_counter() - start
    copies = truth[
        (truth['run'] == RUNS[0]) & (truth['particle_type'] == novel.name)
    ]
    distance, _ = cKDTree(pk.positions(copies)).query(pk.positions(proposals))
    true = distance <= 0.5 * novel.radius
    print(
        f'more like these ({seconds:.1f} s): {len(proposals)} proposals, '
        f'{int(true[:10].sum())} of the first 10 true, '
        f'{int(true.sum())} accepted, {int((~true).sum())} marked "not this"',
        flush=True,
    )
    folder = args.work / f'more-like-{len(clicks)}'
    labels = pk.normalize(
        pd.concat([clicks, proposals[true]], ignore_index=True)
    )
    (positives,) = write_picks_json(
        labels, folder / 'accepted', 'bench', 'more', overwrite=True
    )
    (negatives,) = write_picks_json(
        pk.normalize(proposals[~true]),
        folder / 'rejected',
        'bench',
        'more',
        overwrite=True,
    )
    return positives, negatives


def review_round(args, project, truth, clicks, checkpoint, novel):
    """One review round on A, then tuning again; return (checkpoint, picks).

    The simulated user reviews the new class's picks on A (thresholds
    and the likeness check applied, as the viewer shows them) least
    certain first, as the Review widget's queue orders them: a pick
    within the metric's radius of a true copy is accepted, any other is
    marked "not this".
    """
    from scipy.spatial import cKDTree

    work, name = args.work, novel.name
    shown = args.work / f'review-{checkpoint.stem}'
    predict(project, RUNS[0], shown, checkpoint, '--classes', name)
    queue = read_picks(shown).sort_values('score', kind='stable')
    queue = queue.iloc[: args.review]
    copies = truth[
        (truth['run'] == RUNS[0]) & (truth['particle_type'] == name)
    ]
    distance, _ = cKDTree(pk.positions(copies)).query(pk.positions(queue))
    true = distance <= 0.5 * novel.radius
    print(
        f'review of {len(queue)} picks on A: {int(true.sum())} accepted, '
        f'{int((~true).sum())} marked "not this"',
        flush=True,
    )
    labels = pk.normalize(pd.concat([clicks, queue[true]], ignore_index=True))
    (positives,) = write_picks_json(
        labels,
        work / f'accepted-{checkpoint.stem}',
        'bench',
        'review',
        overwrite=True,
    )
    (negatives,) = write_picks_json(
        pk.normalize(queue[~true]),
        work / f'rejected-{checkpoint.stem}',
        'bench',
        'review',
        overwrite=True,
    )
    out = work / f'{checkpoint.stem}-review.safetensors'
    seconds = cryopick(
        'finetune',
        '--init',
        checkpoint,
        '--tomogram',
        tomogram(project, RUNS[0]),
        '--picks',
        positives,
        '--negatives',
        negatives,
        '--classes',
        name,
        '--incomplete-labels',
        '--out',
        out,
    )
    pred = work / f'pred-{out.stem}'
    predict(project, RUNS[1], pred, out)
    print(f'second round: {seconds:.0f} s', flush=True)
    return out, pred


def jittered(clicks, sd, rng):
    """Return ``clicks`` moved by a Gaussian error of ``sd`` Å per axis.

    A hand clicks a slice a little off the particle's centre; the error
    is drawn once per click, so the benchmark repeats.
    """
    moved = clicks.copy()
    for axis in ('x', 'y', 'z'):
        moved[axis] = moved[axis] + rng.normal(0.0, sd, len(moved))
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', type=Path, default=Path('/tmp/bench-nc'))
    parser.add_argument(
        '--novel', choices=('pseudo', 'albumin'), default='pseudo'
    )
    parser.add_argument(
        '--novel-map',
        type=Path,
        default=None,
        help='density map (MRC) of the novel protein, instead of --novel',
    )
    parser.add_argument('--diameter', type=float, default=170.0)
    parser.add_argument(
        '--look',
        choices=('czii', 'crowded', 'noisy', 'cellular'),
        default='czii',
        help="the phantoms' look (simulate.looks)",
    )
    parser.add_argument('--shape-seed', type=int, default=1313)
    parser.add_argument('--count', type=int, default=60)
    parser.add_argument(
        '--voxel-size',
        type=float,
        default=CZII_VOXEL_SIZE,
        help='Å per voxel of the phantoms (the model resamples to 20 Å)',
    )
    parser.add_argument('--shape', type=int, nargs=3, default=(184, 630, 630))
    parser.add_argument('--seed', type=int, default=8080)
    parser.add_argument(
        '--clicks', type=int, nargs='+', default=(5, 10, 20, 50)
    )
    parser.add_argument('--steps', type=int, default=None)
    parser.add_argument(
        '--review',
        type=int,
        default=0,
        help='picks of A a simulated user reviews for a second round',
    )
    parser.add_argument(
        '--more-like',
        type=int,
        default=0,
        help='"More like these" proposals of A reviewed before training',
    )
    parser.add_argument(
        '--jitter',
        type=float,
        default=0.0,
        help="SD (Å) of each click's error along each axis, as a hand makes",
    )
    parser.add_argument(
        '--init',
        default=None,
        help='the model fine-tuning starts from (default: bundled; v2)',
    )
    parser.add_argument(
        '--extra', nargs='*', default=(), help='finetune options'
    )
    args = parser.parse_args()
    # Output folders are named as before for the procedural protein and
    # albumin, by class name for a map.
    tag = class_name(args) if args.novel_map else args.novel

    project, radius, name = make_project(args.work / f'project-{tag}', args)
    truth = read_picks(project)
    truth_b = truth[truth['run'] == RUNS[1]]
    novel = ParticleClass(name, 7, radius, 1.0)
    classes = (*CZII_CLASSES, novel)
    start = ('--model', args.init) if args.init else ()
    base = args.work / f'pred-{args.init or "bundled"}-{tag}'
    if not base.exists():
        cryopick('predict', tomogram(project, RUNS[1]), '--out', base, *start)
    before = scores(truth_b, read_picks(base), classes)
    print(
        f'{args.init or "bundled"} model on B: {name} F4 {before[0]:.3f}, '
        f'CZII {before[1]:.4f}'
    )
    rows = []
    for n in args.clicks:
        rng = np.random.default_rng(n)
        mine = truth[
            (truth['run'] == RUNS[0]) & (truth['particle_type'] == name)
        ]
        clicks = mine.iloc[
            rng.choice(len(mine), min(n, len(mine)), replace=False)
        ]
        label = f'-jitter{args.jitter:g}' if args.jitter else ''
        if args.jitter:
            clicks = jittered(clicks, args.jitter, rng)
        folder = args.work / f'clicks-{tag}-{n}{label}'
        (path,) = write_picks_json(
            pk.normalize(clicks), folder, 'bench', str(n), overwrite=True
        )
        label += f'-{args.init}' if args.init else ''
        out = args.work / f'{tag}-{n}{label}.safetensors'
        argv = ['finetune', '--tomogram', tomogram(project, RUNS[0])]
        if args.init:
            argv += ['--init', args.init]
        if args.more_like:
            path, negatives = more_like(args, project, truth, clicks, novel)
            argv += ['--negatives', negatives]
            out = out.with_stem(f'{out.stem}-more')
        argv += ['--picks', path, '--class', f'{name}:{radius}']
        argv += ['--classes', name, '--incomplete-labels', '--out', out]
        if args.steps:
            argv += ['--steps', args.steps]
        seconds = cryopick(*argv, *args.extra)
        pred = args.work / f'pred-{out.stem}'
        predict(project, RUNS[1], pred, out)
        after = scores(truth_b, read_picks(pred), classes)
        rows.append((n, after[0], seconds, after[1], after[1] - before[1]))
        report(f'{n} clicks', out, project, truth_b, novel, after, before)
        if args.review:
            tuned, pred = review_round(
                args, project, truth, clicks, out, novel
            )
            again = scores(truth_b, read_picks(pred), classes)
            report(
                f'{n} clicks + review of {args.review}',
                tuned,
                project,
                truth_b,
                novel,
                again,
                before,
            )
    print(
        f'\n{date.today()} {platform.machine()} {os.cpu_count()} cores; '
        f'{name} radius {radius} Å, {len(mine)} on A'
    )
    print(
        '| clicks on A | F4 of the new class on B | finetune time | '
        'CZII weighted F4 on B after | change |'
    )
    print('|---:|---:|---:|---:|---:|')
    for n, f4, seconds, czii, change in rows:
        print(
            f'| {n} | {f4:.3f} | {seconds:.0f} s | {czii:.4f} '
            f'| {change:+.4f} |'
        )


if __name__ == '__main__':
    main()
