"""Render docs/images/looks.png: one slice of every ``--look``.

A 3x3 grid of panels, in the order of ``simulate.looks.LOOKS``: the
central x-y slice (a 5-slice average, 50 Å thick, as a viewer's thick
slice shows it) of a 184x384x384 phantom at 10 Å, contrast from the 1st
to the 99th percentile, protein dark. The particle CNR of each look on
the realism yardstick (shared/tools/particle_cnr.py) is measured by
``--cnr`` on full projects instead.

Usage: python benchmarks/render_looks.py [OUT.png] [--seed S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from render_phantom_slice import GAP, grey, write_png

from napari_cryopick.simulate import simulate_tomogram
from napari_cryopick.simulate.looks import LOOKS, look_params

DEFAULT_OUT = Path(__file__).parents[1] / 'docs/images/looks.png'
SHAPE = (184, 384, 384)
VS = 10.012444


def panel(name: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    params = look_params(name, rng, SHAPE, VS)
    phantom = simulate_tomogram(params, rng)
    print(f'{name}: {time.perf_counter() - start:.1f} s')
    volume = phantom.volume
    middle = volume.shape[0] // 2
    image = volume[middle - 2 : middle + 3].mean(axis=0)
    # Protein dark, whatever the look's polarity, as in the CZII data.
    return grey(image * phantom.look.polarity * -1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', nargs='?', type=Path, default=DEFAULT_OUT)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    panels = [panel(name, args.seed) for name in LOOKS]
    size = SHAPE[1]
    grid = np.full((3 * size + 2 * GAP, 3 * size + 2 * GAP), 255, np.uint8)
    for i, image in enumerate(panels[:9]):
        row, col = divmod(i, 3)
        y, x = row * (size + GAP), col * (size + GAP)
        grid[y : y + size, x : x + size] = image
    write_png(args.out, grid)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
