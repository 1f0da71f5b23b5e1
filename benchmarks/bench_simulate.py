"""Time and peak memory of a full-size (CZII-sized) phantom tomogram.

Usage: python benchmarks/bench_simulate.py [--repeat N] [--shape Z Y X]

Prints one line per run and a summary: wall time and the process's peak
resident memory (``resource.getrusage``; on Linux ``ru_maxrss`` is KiB).
The first run also loads and caches the templates.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from napari_cryopick.simulate import (
    CZII_SHAPE,
    PhantomParams,
    simulate_tomogram,
)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--shape', type=int, nargs=3, default=CZII_SHAPE)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    shape = tuple(args.shape)
    before = peak_mib()
    print(
        f'shape {shape}, {os.cpu_count()} CPUs, peak before {before:.0f} MiB'
    )
    times = []
    for index in range(args.repeat):
        start = time.perf_counter()
        phantom = simulate_tomogram(
            PhantomParams(shape=shape), args.seed + index
        )
        times.append(time.perf_counter() - start)
        print(
            f'run {index}: {times[-1]:.2f} s, {len(phantom.picks)} picks, '
            f'{len(phantom.distractors)} distractors, '
            f'peak {peak_mib():.0f} MiB'
        )
        del phantom
    volume_mib = 4 * float(shape[0] * shape[1] * shape[2]) / 2**20
    print(
        f'simulate_tomogram {shape}: best {min(times):.2f} s, '
        f'mean {sum(times) / len(times):.2f} s, peak memory '
        f'{peak_mib():.0f} MiB ({peak_mib() / volume_mib:.1f}x the '
        f'{volume_mib:.0f} MiB float32 volume)'
    )


if __name__ == '__main__':
    main()
