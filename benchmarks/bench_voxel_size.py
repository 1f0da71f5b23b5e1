"""Does the picker hold its F4 at other voxel sizes, and which resampling?

The phantoms of ``cryopick simulate`` (10.012 Å) are brought to another
voxel size the way a tomogram reconstructed at that sampling would be:
Fourier cropping (or zero-padding) of the whole volume, sample 0 on the
same spot, so the ground-truth picks keep their Å. Each is written as an
MRC file and picked by the bundled model in two ways:

* ``gaussian``: what ``cryopick predict`` does (``model/grid.py``): a
  Gaussian low-pass matched to the factor, then cubic interpolation,
  streamed slab by slab;
* ``fourier``: the whole volume Fourier-cropped onto the model's grid
  (shifted by the grid's half-voxel convention), as a reference that
  cannot stream.

Each is scored with the CZII metric against the phantoms' own picks.
The stored 20 Å level of the OME-Zarr phantom is the baseline.

Run: ``python benchmarks/bench_voxel_size.py PROJECT --out DIR
[--voxel-sizes 10.012444 13.6 27] [--methods gaussian fourier]``
where PROJECT comes from ``cryopick simulate``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick.io.mrc import read_mrc, write_mrc
from napari_cryopick.io.project import tomogram_runs
from napari_cryopick.io.sources import open_tomogram, read_picks
from napari_cryopick.metric import score_picks
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.model.infer import (
    InferenceSettings,
    predict_probabilities,
)
from napari_cryopick.model.normalize import normalize_volume, robust_stats
from napari_cryopick.model.predict import (
    PickSettings,
    predict_tomogram,
    probabilities_to_picks,
)
from napari_cryopick.picks import apply_thresholds


def fourier_resample(volume: np.ndarray, shape, shift=(0.0, 0.0, 0.0)):
    """Resample ``volume`` to ``shape`` by cropping or padding its spectrum.

    Output sample ``j`` lies at input index ``j * n / m + shift`` (per
    axis), so ``shift = 0`` keeps voxel 0's centre in place.
    """
    from scipy import fft

    spectrum = fft.fftn(np.asarray(volume, np.float32))
    sizes = zip(volume.shape, shape, shift, strict=True)
    for axis, (n, m, s) in enumerate(sizes):
        if s:
            phase = np.exp(2j * np.pi * fft.fftfreq(n) * s)
            along = [-1 if i == axis else 1 for i in range(3)]
            spectrum *= phase.reshape(along)
        spectrum = _crop_or_pad(spectrum, axis, n, m)
    out = fft.ifftn(spectrum).real
    return (out * (np.prod(shape) / np.prod(volume.shape))).astype(np.float32)


def _crop_or_pad(spectrum, axis, n, m):
    from scipy import fft

    spectrum = fft.fftshift(spectrum, axes=axis)
    centre_in = n // 2
    centre_out = m // 2
    if m <= n:
        lo = centre_in - centre_out
        index = [slice(None)] * 3
        index[axis] = slice(lo, lo + m)
        spectrum = spectrum[tuple(index)]
    else:
        pad = [(0, 0)] * 3
        pad[axis] = (centre_out - centre_in, m - n - (centre_out - centre_in))
        spectrum = np.pad(spectrum, pad)
    return fft.ifftshift(spectrum, axes=axis)


def make_inputs(project: Path, out: Path, voxel: float) -> list[Path]:
    """Write every run of ``project`` as an MRC at ``voxel`` Å."""
    files = []
    for run in tomogram_runs(project):
        path = out / f'{voxel:g}A' / f'{run}.mrc'
        files.append(path)
        if path.exists():
            continue
        tomogram = open_tomogram(project, run)
        volume = np.asarray(tomogram.data, np.float32)
        base = np.asarray(tomogram.scales[0])
        shape = tuple(
            max(1, round(n * b / voxel))
            for n, b in zip(volume.shape, base, strict=True)
        )
        resampled = fourier_resample(volume, shape)
        sizes = base * np.asarray(volume.shape) / np.asarray(shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mrc(path, resampled, tuple(sizes))
    return files


def pick_fourier(tomogram, model):
    """The whole volume Fourier-resampled onto the model's grid."""
    volume = np.asarray(tomogram.data, np.float32)
    scale = np.asarray(tomogram.scales[0])
    shape = tuple(
        max(1, round(n * s / model.voxel_size))
        for n, s in zip(volume.shape, scale, strict=True)
    )
    factor = np.asarray(volume.shape) / np.asarray(shape)
    shift = (factor - 1) / 2  # the grid's centres: i * f + (f - 1) / 2
    grid = fourier_resample(volume, shape, tuple(shift))
    grid = normalize_volume(grid, robust_stats(grid))
    strides = model.card.network.strides or (2, 2)
    probs = predict_probabilities(
        grid, [model.network], InferenceSettings(), int(np.prod(strides))
    )
    table = probabilities_to_picks(probs, model.classes, tomogram, factor)
    return apply_thresholds(table, model.thresholds)


def score(truth, found, classes) -> dict:
    result = score_picks(truth, found, classes)
    per_class = (
        result.table.set_index('particle_type')['fbeta'].round(4).to_dict()
    )
    return {'score': round(result.score, 4), 'f4': per_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('project', type=Path)
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument(
        '--voxel-sizes', type=float, nargs='+', default=[10.012444, 13.6, 27]
    )
    parser.add_argument(
        '--methods', nargs='+', default=['gaussian', 'fourier']
    )
    parser.add_argument(
        '--skip-stored', action='store_true', help='no stored-level baseline'
    )
    args = parser.parse_args()
    model = load_checkpoint()
    truth = read_picks(args.project)
    results = []
    if not args.skip_stored:
        found = pd.concat(
            [
                predict_tomogram(open_tomogram(args.project, run), model)
                for run in tomogram_runs(args.project)
            ]
        )
        row = {'voxel': 'stored', **score(truth, found, model.classes)}
        results.append(row)
        print(json.dumps(row), flush=True)
    for voxel in args.voxel_sizes:
        files = make_inputs(args.project, args.out, voxel)
        for method in args.methods:
            start = time.perf_counter()
            tables = []
            for path in files:
                tomogram = read_mrc(path)
                if method == 'gaussian':
                    # Forced: the table shows where F4 goes past the limit.
                    settings = PickSettings(allow_coarse=True)
                    tables.append(predict_tomogram(tomogram, model, settings))
                else:
                    tables.append(pick_fourier(tomogram, model))
            row = {
                'voxel': voxel,
                'method': method,
                'seconds_per_run': round(
                    (time.perf_counter() - start) / len(files), 1
                ),
                **score(truth, pd.concat(tables), model.classes),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    name = f'results-{"-".join(args.methods)}.json'
    (args.out / name).write_text(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
