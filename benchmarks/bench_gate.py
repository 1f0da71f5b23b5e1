"""The learnt class's checks, with and without the second test.

Takes a model tuned by ``bench_newclass.py`` and its project, finds the
new class's candidates on tomogram B once (no check, no threshold;
stored beside the model as ``<model>.candidates-B.csv``), then scores
the class on B after the likeness check alone and after the likeness
check and the second test (:mod:`napari_cryopick.model.gate`), both at
the model's threshold and at the best threshold on B::

    python benchmarks/bench_gate.py /tmp/nc20 /tmp/nc20/pseudo-20.safetensors

The same network is scored both ways, so the difference is the test's
alone.

Then the gate is learnt again on tomogram A, as fine-tuning learns it,
from the clicks the benchmark gave (``clicks-<model stem>``) and the
class's unchecked candidates on A (``<model>.candidates-A.csv``):
against the candidates the clicks' own limit keeps, and against those
the wider limit of :func:`~napari_cryopick.model.gate.for_the_gate`
keeps (what fine-tuning does). B is scored with each at the model's
threshold.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from napari_cryopick.io.sources import open_tomogram, read_picks
from napari_cryopick.metric import best_thresholds, score_picks
from napari_cryopick.model.checkpoint import load_checkpoint
from napari_cryopick.model.finetune_labels import THRESHOLD_RANGE
from napari_cryopick.model.gate import RELAX, for_the_gate, gate_learnt
from napari_cryopick.model.likeness import (
    centre_clicks,
    in_clicked_tomograms,
)
from napari_cryopick.model.likeness_check import (
    check_and_centre,
    measure_picks,
)
from napari_cryopick.model.predict import PickSettings, predict_tomogram

RUN = 'TS_nc_B'
CLICKED = 'TS_nc_A'


def candidates(model, tomogram, name: str, path: Path) -> pd.DataFrame:
    """The class's candidates on the tomogram, unchecked (cached)."""
    if path.exists():
        return pd.read_csv(path)
    # Every class, as predict finds them: the class's peaks are scored
    # among the others'.
    found = predict_tomogram(
        tomogram, model, PickSettings(apply_thresholds=False, likeness=False)
    )
    found = found[found['particle_type'] == name].reset_index(drop=True)
    found.to_csv(path, index=False)
    return found


def f4(truth, found, cls, threshold) -> float:
    """F4 of the class on B, its picks kept from ``threshold`` up."""
    return score_picks(truth, found[found['score'] >= threshold], (cls,)).score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work', type=Path, help='bench_newclass --work')
    parser.add_argument('model', type=Path, help='the tuned checkpoint')
    args = parser.parse_args()
    model = load_checkpoint(args.model)
    (name,) = model.card.likeness
    cls = next(c for c in model.classes if c.name == name)
    project = next(args.work.glob('project-*'))
    truth = read_picks(project)
    truth = truth[truth['run'] == RUN]
    tomogram = open_tomogram(project, run=RUN)
    found = candidates(
        model, tomogram, name, args.model.with_suffix('.candidates-B.csv')
    )
    like = model.card.likeness[name]
    threshold = model.thresholds[name]
    print(f'{args.model.name}: {name} radius {cls.radius} Å, gate {like.gate}')
    for what, likeness in (
        ('likeness check only', replace(like, weights=None, gate=None)),
        ('likeness check + second test', like),
    ):
        drop, moved = check_and_centre(
            found, tomogram, {name: likeness}, {name: cls.radius}
        )
        kept = moved[~drop]
        best = best_thresholds(truth, kept, (cls,))[name]
        relaxed = max(THRESHOLD_RANGE[0], RELAX * threshold)
        print(
            f'{what}: F4 {f4(truth, kept, cls, threshold):.3f} at '
            f'{threshold:.3f}, {f4(truth, kept, cls, relaxed):.3f} at '
            f'{relaxed:.3f}, best {f4(truth, kept, cls, best):.3f}',
            flush=True,
        )

    relearnt(args, model, cls, project, truth, (tomogram, found))


def relearnt(args, model, cls, project, truth, on_b) -> None:
    """Score B with the gate learnt again on A, on two limits' candidates."""
    name, radii = cls.name, {cls.name: cls.radius}
    tomogram = open_tomogram(project, run=CLICKED)
    found = candidates(
        model, tomogram, name, args.model.with_suffix('.candidates-A.csv')
    )
    folder = args.work / f'clicks-{args.model.stem}'
    clicks = read_picks(next(folder.rglob('*.json')))
    clicks = centre_clicks([(tomogram, clicks)], cls.radius)[0]
    run = SimpleNamespace(tomogram=tomogram, picks=clicks)
    # The check as fine-tuning learns the gate with it, in the clicked
    # tomogram.
    own = replace(model.card.likeness[name], weights=None, gate=None)
    own = in_clicked_tomograms(own)
    read_a = measure_picks(found, tomogram, {name: own}, radii)
    tomogram_b, found_b = on_b
    read_b = measure_picks(found_b, tomogram_b, {name: own}, radii)
    threshold = model.thresholds[name]
    for what, limit in (
        ("the clicks' limit", own),
        ('the wider limit (fine-tuning)', for_the_gate(own)),
    ):
        drop, moved = check_and_centre(
            found, tomogram, {name: limit}, radii, read_a
        )
        gated, _ = gate_learnt({name: own}, [run], moved[~drop], radii)
        # B checked at the card's scale (1 in cards written before it).
        scale = model.card.likeness[name].scale
        gated = {name: replace(gated[name], scale=scale)}
        drop, moved = check_and_centre(
            found_b, tomogram_b, gated, radii, read_b
        )
        print(
            f"gate learnt on A on {what}'s candidates: F4 on B "
            f'{f4(truth, moved[~drop], cls, threshold):.3f} at '
            f'{threshold:.3f}',
            flush=True,
        )


if __name__ == '__main__':
    main()
