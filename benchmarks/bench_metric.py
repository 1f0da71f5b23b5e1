"""Time score_picks and best_thresholds as the viewer's live rescoring does.

About 1,300 references over 7 runs and the 6 CZII classes (the size of
the CZII training labels) against 10,000 and 100,000 candidates: one
pick near most references, a few duplicates, the rest false positives
spread through a 6300 x 6300 x 1840 Å tomogram. Prints the median of
repeated runs.

Run: ``python benchmarks/bench_metric.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.metric import best_thresholds, score_picks
from napari_cryopick.picks import make_picks

RUNS = [f'TS_{i}' for i in range(7)]
BOX = np.array([6300.0, 6300.0, 1840.0])
N_REFERENCE = 1300


def synthetic(n_candidates: int, seed: int = 0):
    """Return (reference, candidate) Picks tables of the stated sizes."""
    rng = np.random.default_rng(seed)
    run = rng.choice(RUNS, N_REFERENCE)
    cls = rng.choice([c.name for c in CZII_CLASSES], N_REFERENCE)
    ref_xyz = rng.uniform(0, 1, (N_REFERENCE, 3)) * BOX
    reference = make_picks(run, cls, ref_xyz, origin='reference')
    near = rng.random(N_REFERENCE) < 0.9
    near_xyz = ref_xyz[near] + rng.normal(0, 12, (near.sum(), 3))
    n_fp = n_candidates - near.sum()
    xyz = np.vstack([near_xyz, rng.uniform(0, 1, (n_fp, 3)) * BOX])
    run = np.concatenate([run[near], rng.choice(RUNS, n_fp)])
    cls = np.concatenate(
        [cls[near], rng.choice([c.name for c in CZII_CLASSES], n_fp)]
    )
    score = rng.random(n_candidates).round(3)
    candidate = make_picks(run, cls, xyz, score=score, origin='model')
    return reference, candidate


def median_ms(func, repeats: int) -> float:
    func()  # warm caches and imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=21)
    args = parser.parse_args()
    print(f'references: {N_REFERENCE}, median of {args.repeats} runs')
    for n in (10_000, 100_000):
        reference, candidate = synthetic(n)
        score = score_picks(reference, candidate).score
        t_score = median_ms(
            lambda r=reference, c=candidate: score_picks(r, c), args.repeats
        )
        t_best = median_ms(
            lambda r=reference, c=candidate: best_thresholds(r, c),
            args.repeats,
        )
        print(
            f'{n:>7} candidates: score_picks {t_score:7.1f} ms, '
            f'best_thresholds {t_best:7.1f} ms (score {score:.4f})'
        )


if __name__ == '__main__':
    main()
