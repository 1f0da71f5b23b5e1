"""Would a low-pass before the network help noisy tomograms, and when?

The bundled model's weighted F4 on one full-size phantom per look (the
CZII-like look at growing noise, the fixed looks of ``bench_model.py``
and the kinds of ``cryopick simulate --look``; held-out seeds 95 000+),
each predicted with the model grid low-passed by a Gaussian of 0, 0.5,
0.7, 1.0 and 1.4 grid voxels (then normalised, as predict does), beside
the grid's lag-1 autocorrelation along x, y and z (the noise measure an
earlier session proposed for choosing the filter)::

    python benchmarks/bench_lowpass.py --work /tmp/lowpass [LOOK ...]

One JSON line per look and filter is printed and appended to
``WORK/results.jsonl``. The filter is not shipped (docs/benchmarks.md,
"A low-pass for noisy tomograms"); this measures it by replacing the
grid reader's whole-grid read, which holds every tomogram of this size.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_model import LOOKS as FIXED
from bench_model import simulate_project
from scipy import ndimage

from napari_cryopick.io.sources import open_tomogram, read_picks
from napari_cryopick.metric import score_picks
from napari_cryopick.model import grid
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.model.predict import model_grid, predict_tomogram
from napari_cryopick.simulate import PhantomLook

SIGMAS = (0.0, 0.5, 0.7, 1.0, 1.4)
NOISES = (0.35, 0.7, 1.0, 1.4, 2.0, 2.8)
KINDS = ('crowded', 'noisy', 'wbp', 'cellular')


class LowPassed:
    """Whole-grid reads low-passed by ``sigma`` grid voxels (0: none)."""

    sigma = 0.0

    @classmethod
    def install(cls) -> None:
        def read_whole(reader):
            if reader.whole is None:
                whole = reader.rows(0, reader.shape[0])
                if cls.sigma > 0:
                    whole = ndimage.gaussian_filter(whole, cls.sigma)
                reader.whole = whole
            return reader.whole

        grid.GridReader.read_whole = read_whole


def autocorrelation(volume: np.ndarray) -> dict:
    """Lag-1 autocorrelation of the grid along x, y and z."""
    v = volume.astype(np.float64)
    v = v - np.median(v)
    power = np.mean(v * v)
    out = {}
    for axis, name in ((2, 'x'), (1, 'y'), (0, 'z')):
        n = v.shape[axis]
        a = np.take(v, range(n - 1), axis=axis)
        b = np.take(v, range(1, n), axis=axis)
        out[f'rho_{name}'] = round(float(np.mean(a * b) / power), 3)
    return out


def looks() -> dict:
    """Every look measured, by name (the index sets the seed)."""
    chosen = {f'noise-{n:g}': replace(PhantomLook(), noise=n) for n in NOISES}
    chosen.update({k: v for k, v in FIXED.items() if k != 'czii'})
    chosen.update({k: k for k in KINDS})
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', type=Path, default=Path('/tmp/lowpass'))
    parser.add_argument('only', nargs='*', help='looks to measure (all)')
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    LowPassed.install()
    model = load_checkpoint()
    for index, (name, look) in enumerate(looks().items()):
        if args.only and name not in args.only:
            continue
        root = simulate_project(args.work / name, look, 1, 95_000 + index)
        truth = read_picks(root)
        tomogram = open_tomogram(root, run=truth['run'].iloc[0])
        measured = autocorrelation(model_grid(tomogram, model.voxel_size)[0])
        for sigma in SIGMAS:
            LowPassed.sigma = sigma
            start = time.perf_counter()
            found = predict_tomogram(tomogram, model)
            row = {
                'look': name,
                'sigma': sigma,
                'f4': round(score_picks(truth, found).score, 4),
                'picks': len(found),
                'seconds': round(time.perf_counter() - start, 1),
                **measured,
            }
            print(json.dumps(row), flush=True)
            with open(args.work / 'results.jsonl', 'a') as out:
                out.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
