"""Write a large float32 MRC tomogram for the memory benchmark.

Tiles the level 0 of a simulated phantom (``cryopick simulate``) to the
shape asked, mirrored at each seam so the contrast stays continuous, and
writes it section by section (never the whole volume in memory), with
the phantom's voxel size. Then measure, e.g.::

    /usr/bin/time -v cryopick predict big.mrc --out out/

Run: ``python benchmarks/make_large_mrc.py PROJECT OUT.mrc
[--shape 400 1400 1400]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mrcfile
import numpy as np

from napari_cryopick.io.project import tomogram_runs
from napari_cryopick.io.sources import open_tomogram


def mirrored(n: int, size: int) -> np.ndarray:
    """Indices 0..size-1 of a tile of length ``n`` mirrored at each seam."""
    index = np.arange(size) % (2 * n)
    return np.where(index < n, index, 2 * n - 1 - index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('project', type=Path)
    parser.add_argument('out', type=Path)
    parser.add_argument(
        '--shape', type=int, nargs=3, default=(400, 1400, 1400)
    )
    args = parser.parse_args()
    run = tomogram_runs(args.project)[0]
    tomogram = open_tomogram(args.project, run)
    tile = np.asarray(tomogram.data, np.float32)
    z, y, x = args.shape
    rows = mirrored(tile.shape[1], y)
    cols = mirrored(tile.shape[2], x)
    sections = mirrored(tile.shape[0], z)
    with mrcfile.new_mmap(args.out, (z, y, x), mrc_mode=2) as mrc:
        for i, k in enumerate(sections):
            mrc.data[i] = tile[k][np.ix_(rows, cols)]
        mrc.voxel_size = tomogram.scales[0][::-1]
        mrc.update_header_stats()
    print(f'wrote {args.out}: {z}x{y}x{x} float32 at {tomogram.voxel_size} Å')


if __name__ == '__main__':
    main()
