"""Does peak resident memory grow with a tomogram's depth?

Cuts the first N sections of a y x x window from a large MRC (from
``make_large_mrc.py``) into MRC files, one per depth, and picks each in a
fresh process with the bundled model, streaming forced and tiles
``--tile-depth`` deep; prints each run's peak resident memory
(``ru_maxrss``). Run it under ``MALLOC_MMAP_THRESHOLD_=1048576`` too: the
difference is the C allocator's, not arrays the code keeps.

Run: ``python benchmarks/bench_memory_depth.py BIG.mrc --work DIR
[--depths 96 192 384] [--plane 700] [--tile-depth 32]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path


def cut(big: Path, work: Path, depths, plane: int) -> list[Path]:
    """Write the first ``depth`` sections of a ``plane``² window."""
    import mrcfile
    import numpy as np

    files = []
    with mrcfile.mmap(big, mode='r') as src:
        for depth in depths:
            path = work / f'd{depth}.mrc'
            files.append(path)
            if path.exists():
                continue
            with mrcfile.new(path) as out:
                out.set_data(
                    np.ascontiguousarray(src.data[:depth, :plane, :plane])
                )
                out.voxel_size = src.voxel_size
    return files


def pick(path: str, tile_depth: int) -> None:
    """Pick one file in this process; print its peak resident memory."""
    from napari_cryopick.io.mrc import read_mrc
    from napari_cryopick.model import grid
    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.infer import InferenceSettings
    from napari_cryopick.model.predict import PickSettings, predict_tomogram

    grid.WHOLE_GRID_BYTES = 2**20  # stream whatever the size
    inference = InferenceSettings(patch=(tile_depth, 128, 128))
    table = predict_tomogram(
        read_mrc(path), load_checkpoint(), PickSettings(inference=inference)
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f'{Path(path).name}: {len(table)} picks, peak RSS {peak:.2f} GiB')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('big', type=Path)
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument(
        '--depths', type=int, nargs='+', default=[96, 192, 384]
    )
    parser.add_argument('--plane', type=int, default=700)
    parser.add_argument('--tile-depth', type=int, default=32)
    parser.add_argument('--one', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        pick(args.one, args.tile_depth)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    for path in cut(args.big, args.work, args.depths, args.plane):
        command = [sys.executable, __file__, str(args.big), '--work']
        command += [str(args.work), '--tile-depth', str(args.tile_depth)]
        subprocess.run([*command, '--one', str(path)], check=True)


if __name__ == '__main__':
    main()
