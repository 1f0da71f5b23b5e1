"""Accuracy and speed of the bundled model (issue: bundled picker model).

1. Held-out accuracy: simulate full-size (184x630x630) phantom projects
   of looks the model was not tuned on, run ``cryopick predict`` and
   ``cryopick score`` on them; report F4 per class and weighted.
2. Speed: ``cryopick predict`` wall time and peak memory on one full
   tomogram, and, in the same run, the network pass alone of the CZII
   2nd-place single model (MONAI UNet 48-64-80-80, strides 2-2-1, one
   residual unit, instance norm, PReLU; sliding window 96³, overlap
   0.25) on the same tomogram at full resolution.
3. The floor: the bundled network's FLOPs for one tomogram over this
   CPU's measured matrix-multiply throughput.

Run: ``python benchmarks/bench_model.py --work /tmp/bench [--skip-peer]``
Results go to stdout as a Markdown table, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_cryopick.io.atomic import write_text
from napari_cryopick.simulate import PhantomLook

LOOKS = {
    'czii': PhantomLook(),
    'bright-noisy': PhantomLook(
        polarity=1.0,
        scale=250.0,
        offset=40.0,
        noise=1.0,
        wedge=50.0,
        tilt_axis=10.0,
        resolution=28.0,
        defocus=4.5,
    ),
    'dark-tiny-wide': PhantomLook(
        polarity=-1.0,
        scale=2e-5,
        offset=-1e-4,
        noise=0.7,
        noise_white=0.5,
        wedge=68.0,
        tilt_axis=45.0,
        resolution=18.0,
        defocus=2.0,
    ),
    'white-noise': PhantomLook(
        polarity=1.0,
        scale=1e-3,
        offset=5e-3,
        noise=1.4,
        noise_white=0.8,
        wedge=46.0,
        tilt_axis=-60.0,
        resolution=45.0,
        defocus=5.0,
        deconvolution=0.5,
    ),
}


def cli(*args: str) -> tuple[str, float, float]:
    """Run ``cryopick ARGS``; return stdout, seconds and peak RSS in GB."""
    start = time.perf_counter()
    out = subprocess.run(
        [
            '/usr/bin/time',
            '-f',
            '%M',
            sys.executable,
            '-m',
            'napari_cryopick.cli',
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    # GNU time prints the child's peak resident set size (KB) last.
    peak_kb = int(out.stderr.strip().splitlines()[-1])
    return out.stdout, seconds, peak_kb / 1024**2


#: Noise levels of the sweep: the CZII-like look with only the noise
#: changed (0.35 is the default look; training drew 0.1-1.2).
SWEEP = (0.35, 0.7, 1.0, 1.4, 2.0)


def simulate_project(
    root: Path, look: PhantomLook | str, runs: int, seed: int
):
    """Write a held-out project of one look (cached between runs).

    ``look`` is a fixed :class:`PhantomLook` or the name of a kind of
    phantom (``cryopick simulate --look NAME``).
    """
    from napari_cryopick.simulate.project import (
        SimulationSettings,
        write_simulated_project,
    )

    if not (root / 'simulation.json').exists():
        if isinstance(look, str):
            settings = SimulationSettings(runs=runs, seed=seed, look_name=look)
        else:
            settings = SimulationSettings(runs=runs, seed=seed, look=look)
        write_simulated_project(root, settings)
    return root


#: Further ``cryopick predict`` arguments (``--predict-arg``), e.g.
#: ``--no-cross-class`` to measure a setting.
PREDICT_ARGS: list[str] = []


def predict_and_score(work: Path, name: str, project: Path, model=None):
    """``cryopick predict`` then ``cryopick score`` on one project."""
    extra = ['--model', str(model)] if model else []
    extra += PREDICT_ARGS
    out = work / f'picks-{name}'
    _, seconds, peak = cli(
        'predict', str(project), '--out', str(out), '--force', *extra
    )
    report = work / f'score-{name}.json'
    table, _, _ = cli('score', str(project), str(out), '--json', str(report))
    print(f'## {name}\n\n```\n{table}```\n', flush=True)
    return {
        'score': json.loads(report.read_text()),
        'table': table,
        'seconds': seconds,
        'peak_gb': peak,
    }


def score_looks(work: Path, looks: dict, runs: int, seed: int, model=None):
    """Simulate (once) and score one project per named look.

    The i-th look's project uses seed ``seed + i``, so adding a look at
    the end never changes the phantoms of the others.
    """
    results = {}
    for index, (name, look) in enumerate(looks.items()):
        if look is None:  # left out, keeping the later looks' seeds
            continue
        project = simulate_project(work / name, look, runs, seed + index)
        results[name] = predict_and_score(work, name, project, model)
        results[name]['seconds_per_run'] = results[name]['seconds'] / runs
    return results


def accuracy(work: Path, runs: int, model=None, looks=None) -> dict:
    """Held-out F4 of the fixed looks (all, or those named in ``looks``)."""
    chosen = {
        f'look-{name}': look if not looks or name in looks else None
        for name, look in LOOKS.items()
    }
    return score_looks(work, chosen, runs, 90_000, model)


#: The model-v2 looks (``cryopick simulate --look``): held-out seeds.
V2_LOOKS = ('crowded', 'cellular', 'wbp', 'noisy')


def v2_looks(work: Path, runs: int, model=None) -> dict:
    """Held-out F4 of the crowded and raw kinds of phantom."""
    return score_looks(
        work, {f'v2-{name}': name for name in V2_LOOKS}, runs, 92_000, model
    )


def nothing_to_pick(work: Path, model=None) -> dict:
    """Picks written on a full-size pure-noise and particle-free phantom.

    Every pick there is false: the figure to keep small (target <= 25 in
    total per tomogram).
    """
    results = {}
    for index, name in enumerate(('noise', 'empty')):
        project = simulate_project(
            work / f'v2-{name}', name, 1, 93_000 + index
        )
        out = work / f'picks-v2-{name}'
        extra = ['--model', str(model)] if model else []
        cli('predict', str(project), '--out', str(out), '--force', *extra)
        counts = {}
        for path in out.rglob('Picks/*.json'):
            kind = path.stem.split('_')[-1]
            counts[kind] = len(json.loads(path.read_text())['points'])
        results[name] = {'total': sum(counts.values()), 'per_class': counts}
        print(f'{name}: {results[name]}', flush=True)
    return results


def noise_sweep(work: Path, runs: int, model=None, levels=SWEEP) -> dict:
    """Weighted F4 of the CZII-like look as its noise grows.

    Only ``levels`` are scored; each level keeps its seed (its place in
    :data:`SWEEP`), so a partial sweep scores the same phantoms.
    """
    looks = {
        f'noise-{noise:g}': replace(PhantomLook(), noise=noise)
        if noise in levels
        else None
        for noise in SWEEP
    }
    results = score_looks(work, looks, runs, 91_000, model)
    print('| noise | ' + ' | '.join(results) + ' |')
    scores = [f'{r["score"]["score"]:.3f}' for r in results.values()]
    print('| weighted F4 | ' + ' | '.join(scores) + ' |', flush=True)
    return results


def peer_pass(tomogram_store: Path) -> float:
    """Seconds of the 2nd-place network pass over one full tomogram."""
    import torch
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import UNet

    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.model.normalize import normalize_volume

    volume = np.asarray(open_tomogram(tomogram_store).levels[0])
    x = torch.from_numpy(normalize_volume(volume))[None, None]
    net = UNet(
        3,
        1,
        7,
        (48, 64, 80, 80),
        (2, 2, 1),
        num_res_units=1,
        norm='instance',
        act='prelu',
    ).eval()
    start = time.perf_counter()
    with torch.inference_mode():
        sliding_window_inference(x, (96, 96, 96), 1, net, overlap=0.25)
    return time.perf_counter() - start


def flops_floor() -> dict:
    """The bundled network's FLOPs per tomogram and this CPU's GEMM rate."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.infer import InferenceSettings, tile_starts

    model = load_checkpoint()
    patch = InferenceSettings().patch
    grid = (92, 315, 315)
    tiles = np.prod(
        [
            len(tile_starts(n, min(p, n), 0.25))
            for n, p in zip(grid, patch, strict=True)
        ]
    )
    tile = tuple(
        int(np.ceil(min(p, n) / 4) * 4)
        for n, p in zip(grid, patch, strict=True)
    )
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.network(torch.zeros(1, 1, *tile))
    flops = counter.get_total_flops() * tiles
    a = torch.randn(2048, 2048)
    torch.mm(a, a)
    start = time.perf_counter()
    for _ in range(5):
        torch.mm(a, a)
    rate = 5 * 2 * 2048**3 / (time.perf_counter() - start)
    return {
        'flops': float(flops),
        'gemm_flops_per_s': rate,
        'floor_s': float(flops / rate),
        'tiles': int(tiles),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--work', type=Path, default=Path('/tmp/bench'))
    parser.add_argument('--runs', type=int, default=2)
    parser.add_argument('--skip-peer', action='store_true')
    parser.add_argument('--json', type=Path)
    parser.add_argument('--model', type=Path, help='default: bundled')
    parser.add_argument('--looks', nargs='*', choices=sorted(LOOKS))
    parser.add_argument(
        '--accuracy-only', action='store_true', help='skip speed and floor'
    )
    parser.add_argument(
        '--v2',
        action='store_true',
        help='also the model-v2 looks (crowded, cellular, wbp, noisy) and '
        'the picks on pure noise and on a particle-free phantom',
    )
    parser.add_argument(
        '--noise-sweep',
        action='store_true',
        help='also score the CZII-like look at growing noise levels',
    )
    parser.add_argument(
        '--sweep',
        nargs='+',
        type=float,
        default=SWEEP,
        choices=SWEEP,
        help='the noise levels of --noise-sweep (default: all)',
    )
    parser.add_argument(
        '--predict-arg',
        action='append',
        default=[],
        help='extra argument for cryopick predict (repeat for several)',
    )
    args = parser.parse_args()
    PREDICT_ARGS.extend(args.predict_arg)
    args.work.mkdir(parents=True, exist_ok=True)
    info = {
        'date': time.strftime('%Y-%m-%d'),
        'machine': f'{platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores',
    }
    if args.looks != []:
        info['accuracy'] = accuracy(
            args.work, args.runs, args.model, args.looks
        )
    if args.v2:
        info['v2_looks'] = v2_looks(args.work, args.runs, args.model)
        info['nothing_to_pick'] = nothing_to_pick(args.work, args.model)
    if args.noise_sweep:
        info['noise_sweep'] = noise_sweep(
            args.work, args.runs, args.model, args.sweep
        )
    if args.accuracy_only:
        if args.json:
            write_text(args.json, json.dumps(info, indent=1, default=str))
        return 0
    store = next((args.work / 'look-czii' / 'static').rglob('*.zarr'))
    _, seconds, peak = cli(
        'predict', str(store), '--out', str(args.work / 'one'), '--force'
    )
    info['predict_one'] = {'seconds': seconds, 'peak_gb': peak}
    print(f'predict one full tomogram: {seconds:.1f} s, {peak:.2f} GB')
    if not args.skip_peer:
        info['peer_seconds'] = peer_pass(store)
        print(
            f'peer network pass: {info["peer_seconds"]:.1f} s; ratio '
            f'{seconds / info["peer_seconds"]:.3f}'
        )
    info['floor'] = flops_floor()
    print(json.dumps(info['floor'], indent=1))
    if args.json:
        write_text(args.json, json.dumps(info, indent=1, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
