"""Which grid to pick on: level 0 (10 Å) or level 1 (20 Å), per class?

Two things decide it, and both are measured here without training a
second model:

1. Localisation: a picker on a coarser grid can only be as precise as
   that grid. Every real CZII training pick (seven runs, 1,269 picks) is
   moved to the centre of the level-k voxel that holds it (no sub-voxel
   refinement, the worst case) and scored with the CZII metric against
   the original picks: per-class F4 of this "perfect detector on a
   grid of 10 x 2^k Å".
2. Cost: the bundled network's FLOPs for one full 184x630x630 tomogram
   at each level (same tiling as ``cryopick predict``), and the time of
   the network pass alone on this CPU.

Also printed: each class's radius in voxels of each grid (what the
network has to see).

Run: ``python benchmarks/bench_resolution.py [--real ../shared/data/real]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    level0_to_level,
    level_to_level0,
    voxel_zyx_to_angstrom_xyz,
)
from napari_cryopick.io.kaggle_csv import read_picks_csv
from napari_cryopick.metric import score_picks

VOXEL = 10.012444
FULL = (184, 630, 630)


def snapped(picks, factor: int):
    """Picks moved to the centre of their level voxel (binning ``factor``)."""
    out = picks.copy()
    zyx = angstrom_xyz_to_voxel_zyx(picks[['x', 'y', 'z']].to_numpy(), VOXEL)
    level = np.floor(level0_to_level(zyx, factor) + 0.5)
    xyz = voxel_zyx_to_angstrom_xyz(level_to_level0(level, factor), VOXEL)
    out[['x', 'y', 'z']] = xyz
    return out


def network_cost(factor: int) -> tuple[float, float]:
    """FLOPs and seconds of the network pass on a full tomogram."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.infer import (
        InferenceSettings,
        _tile_order,
        _tile_shape,
        predict_probabilities,
    )

    model = load_checkpoint()
    grid = tuple(n // factor for n in FULL)
    settings = InferenceSettings()
    patch = _tile_shape(grid, settings.patch, 4)
    _, tiles = _tile_order(grid, patch, settings.overlap)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.network(torch.zeros(1, 1, *patch))
    flops = counter.get_total_flops() * len(tiles)
    volume = np.random.default_rng(0).normal(size=grid).astype(np.float32)
    start = time.perf_counter()
    predict_probabilities(volume, [model.network], settings)
    return float(flops), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--real',
        type=Path,
        default=Path(__file__).parents[2] / 'shared/data/real',
    )
    parser.add_argument('--skip-network', action='store_true')
    args = parser.parse_args()
    csv = args.real / 'czii10440-labels-christofhenkel/train_folded_v1.csv'
    truth = read_picks_csv(csv)
    print(f'{len(truth)} real CZII picks, {truth["run"].nunique()} runs\n')
    levels = {0: 1, 1: 2, 2: 4}
    results = {
        k: score_picks(truth, snapped(truth, f), CZII_CLASSES)
        for k, f in levels.items()
    }
    header = ' | '.join(
        f'F4 @ {10 * f} Å | r / voxel @ {10 * f} Å' for f in levels.values()
    )
    print(f'| class | {header} |')
    print('|---|' + '---:|' * (2 * len(levels)))
    for cls in CZII_CLASSES:
        cells = []
        for k, f in levels.items():
            table = results[k].table.set_index('particle_type')
            cells.append(f'{table.loc[cls.name, "fbeta"]:.3f}')
            cells.append(f'{cls.radius / (VOXEL * f):.1f}')
        print(f'| {cls.name} | ' + ' | '.join(cells) + ' |')
    weighted = ' | '.join(f'**{results[k].score:.3f}** | ' for k in levels)
    print(f'| weighted | {weighted}\n')
    if args.skip_network:
        return 0
    for k in (1, 0):
        flops, seconds = network_cost(levels[k])
        print(
            f'level {k} ({10 * levels[k]} Å): {flops:.3g} FLOPs, '
            f'network pass {seconds:.1f} s'
        )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
