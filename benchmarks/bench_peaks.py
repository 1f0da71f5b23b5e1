"""Which peak finder, and does TTA pay? Measured on held-out phantoms.

For each tomogram of the given projects the bundled network's
probabilities are computed once (with and without 4-view TTA); centres
come from local maxima or from connected components; per-class
thresholds are tuned for F4 on the same picks for every variant alike
(an upper bound, equally optimistic for all), and the weighted F4 is
printed per variant.

Run: ``python benchmarks/bench_peaks.py PROJECT [PROJECT...]``
(e.g. the projects ``bench_model.py`` writes under its work folder).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from napari_cryopick.io.project import tomogram_runs
from napari_cryopick.io.sources import open_tomogram, read_picks
from napari_cryopick.metric import best_thresholds, score_picks
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.model.infer import (
    InferenceSettings,
    predict_probabilities,
)
from napari_cryopick.model.normalize import normalize_volume, robust_stats
from napari_cryopick.model.peaks import PeakSettings
from napari_cryopick.model.predict import model_grid, probabilities_to_picks


def tuned_score(truth, found, classes):
    thresholds = best_thresholds(truth, found, classes)
    keep = found['particle_type'].map(thresholds).fillna(0.0)
    return score_picks(truth, found[found['score'] >= keep], classes)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('projects', type=Path, nargs='+')
    args = parser.parse_args()
    model = load_checkpoint()
    variants = {}
    truth = []
    for project in args.projects:
        reference = read_picks(project)
        for run in tomogram_runs(project):
            tomogram = open_tomogram(project, run)
            volume, factor = model_grid(tomogram, model.voxel_size)
            volume = normalize_volume(volume, robust_stats(volume))
            truth.append(reference[reference['run'] == run])
            for tta in (False, True):
                start = time.perf_counter()
                probs = predict_probabilities(
                    volume, [model.network], InferenceSettings(tta=tta)
                )
                seconds = time.perf_counter() - start
                for method in ('maxima', 'components'):
                    peaks = replace(PeakSettings(), method=method)
                    found = probabilities_to_picks(
                        probs, model.classes, tomogram, factor, peaks
                    )
                    key = (method, tta)
                    variants.setdefault(key, {'picks': [], 'seconds': 0.0})
                    variants[key]['picks'].append(found)
                    variants[key]['seconds'] += seconds
    truth = pd.concat(truth, ignore_index=True)
    print('| peaks | TTA | weighted F4 | network seconds |')
    print('|---|---|---:|---:|')
    for (method, tta), v in variants.items():
        found = pd.concat(v['picks'], ignore_index=True)
        result = tuned_score(truth, found, model.classes)
        print(
            f'| {method} | {"4 views" if tta else "off"} | '
            f'{result.score:.4f} | {v["seconds"]:.1f} |'
        )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
