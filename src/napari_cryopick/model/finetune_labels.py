"""Sparse labels and new classes: checks, negatives, thresholds.

What the sparse fine-tuning path
(:mod:`napari_cryopick.model.finetune_sparse`) needs from the labels:

* the labels' classes are checked first (a new class needs a radius; a
  name must not clash with a known class of another radius; every
  labelled class needs a click; clicks must lie in their tomogram), so
  bad input fails before anything is written (:func:`plan_labels`);
* negatives are painted into the targets (:func:`paint_negatives`),
  among them the starting model's sure picks of the classes nobody
  labelled (:func:`confident_others`);
* the threshold of a class labelled by clicks comes from the scores the
  tuned model gives those clicks (:func:`click_thresholds`), not from F4
  against labels that miss most particles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.errors import CryopickError, input_error
from napari_cryopick.model.sparse import NEGATIVE
from napari_cryopick.model.targets import _paint, pick_voxels

if TYPE_CHECKING:
    from napari_cryopick.classes import ParticleClass

#: Share of the clicks' scores below the threshold's anchor: their
#: median, so the few clicks a model fits badly on hard data do not pull
#: the threshold to its floor. Measured on nine benchmark models
#: (`benchmarks/bench_newclass.py`, docs/changelog.md, ninth session):
#: where the clicks all score about 1.0 the median gives the threshold
#: the 10 % quantile gave (0.2); where a tenth score low (a small protein,
#: albumin, the noisy and crowded looks) the 10 % quantile fell to 0.05-0.14
#: and the median set 0.16-0.20, F4 on the other tomogram +0.02 to +0.06.
CLICK_QUANTILE = 0.5
#: The threshold is this fraction of that anchor: the clicks were trained
#: on, so the model is surer of them than of the particles it has to
#: find, and F4 pays 16x more for recall than for precision. Measured
#: (`benchmarks/bench_newclass.py`): with 20 clicks the best threshold on
#: the other tomogram was 0.12-0.33 in four variants of the loss, F4
#: within 0.01 of its best from 0.1 to 0.2, and half the anchor (0.5)
#: lost 0.04-0.12. With 5 / 10 / 50 clicks the best lay at 0.06 / 0.38 /
#: 0.81.
CLICK_FRACTION = 0.2
#: Bounds of a threshold set from clicks.
THRESHOLD_RANGE = (0.05, 0.9)
#: The starting model's picks of the classes nobody labelled that count
#: as "not the new class": scored at least this (and over their class
#: threshold), so a doubtful pick that may be the new particle is not.
CONFIDENT = 0.5
#: Those picks are painted negative over this fraction of their class
#: radius: a new class's false peaks sat on the rims of other particles,
#: outside the cores the starting model was taught.
MINED_FRACTION = 1.0


@dataclass(frozen=True)
class LabelPlan:
    """What the labels cover, checked against the model.

    Parameters
    ----------
    labelled : tuple of str
        Classes the labels cover.
    new : tuple of ParticleClass
        Those the model lacks, with their definitions (labels 0 until
        they join the model).
    counts : dict
        Clicks per labelled class, all runs together.
    """

    labelled: tuple[str, ...]
    new: tuple[ParticleClass, ...]
    counts: dict[str, int]


def plan_labels(model, runs, labelled=None, definitions=()) -> LabelPlan:
    """Check the labels of ``runs`` and say which classes are new.

    Parameters
    ----------
    model : LoadedModel
        The starting model.
    runs : list of LabelledRun
        Labelled runs.
    labelled : sequence of str, optional
        Classes the labels cover (``--classes``); default every class
        with a pick.
    definitions : sequence of ParticleClass
        Known definitions of classes (``--class``, a copick config):
        where a new class gets its radius and colour.

    Returns
    -------
    LabelPlan
        The labelled classes, the new ones and the clicks per class.

    Raises
    ------
    CryopickError
        One line for: a new class without a radius, a definition whose
        radius differs from the model's class of that name, a labelled
        class without clicks, a click outside its tomogram.
    """
    from napari_cryopick.classes import check_class_name

    if not runs:
        raise CryopickError('fine-tuning needs at least one labelled run')
    known = {c.name: c for c in model.classes}
    defined = {c.name: c for c in definitions}
    for name, cls in defined.items():
        if name in known and not np.isclose(cls.radius, known[name].radius):
            raise CryopickError(
                f'class {name!r}: radius {cls.radius:g} Å clashes with the '
                f"model's {name!r} of radius {known[name].radius:g} Å"
            )
    picks = pd.concat([r.picks for r in runs], ignore_index=True)
    if labelled is None:
        labelled = sorted(set(picks['particle_type']))
    labelled = tuple(check_class_name(n, '--classes') for n in labelled)
    new = []
    for name in labelled:
        if name in known:
            continue
        if name not in defined:
            raise CryopickError(
                f'class {name!r} is new to the model and has no radius: '
                f'define it (--class {name}:RADIUS_Å, or a copick config '
                'listing it)'
            )
        new.append(defined[name])
    counts = picks['particle_type'].value_counts()
    counts = {name: int(counts.get(name, 0)) for name in labelled}
    for run in runs:
        chosen = run.picks[run.picks['particle_type'].isin(labelled)]
        _check_inside(run.tomogram, chosen)
    missing = [n for n, count in counts.items() if count == 0]
    if missing:
        raise CryopickError(
            f'no clicks of {", ".join(map(repr, missing))} in the labels: '
            'nothing to learn it from'
        )
    return LabelPlan(labelled, tuple(new), counts)


def _check_inside(tomogram, table: pd.DataFrame) -> None:
    """Raise if a pick lies outside ``tomogram`` (by half a voxel)."""
    from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx

    if not len(table):
        return
    voxels = angstrom_xyz_to_voxel_zyx(pk.positions(table), tomogram.scales[0])
    shape = np.asarray(tomogram.shape, float)
    outside = np.any((voxels < -0.5) | (voxels > shape - 0.5), axis=1)
    if outside.any():
        row = table.iloc[int(np.flatnonzero(outside)[0])]
        raise input_error(
            tomogram.source,
            f'{int(outside.sum())} pick(s) lie outside the tomogram, e.g. '
            f'{row["particle_type"]} at x={row["x"]:.0f} y={row["y"]:.0f} '
            f'z={row["z"]:.0f} Å ({tomogram.run}, '
            f'{" x ".join(str(int(s)) for s in tomogram.shape)} voxels)',
        )


def paint_negatives(
    labels, negatives, classes, voxel_size, factor, fraction, code=NEGATIVE
):
    """Mark ``negatives`` as ``code`` in ``labels`` (in place).

    Each negative gets a sphere of ``fraction`` x its class radius (the
    smallest class radius for a class the model lacks), over anything
    else: the user said what is there.
    """
    if negatives is None or not len(negatives):
        return labels
    radius = {c.name: c.radius for c in classes}
    smallest = min(radius.values())
    spacing = float(np.mean(np.broadcast_to(voxel_size, (3,)))) * float(
        np.mean(factor)
    )
    for name, rows in negatives.groupby('particle_type'):
        size = max(1.0, fraction * radius.get(name, smallest) / spacing)
        _paint(labels, pick_voxels(rows, voxel_size, factor), size, code)
    return labels


def confident_others(found, clicks, classes, labelled, thresholds):
    """Return the starting model's sure picks of other classes, off clicks.

    Parameters
    ----------
    found : DataFrame
        The starting model's candidates on the labelled runs.
    clicks : DataFrame
        The labels (positives of the ``labelled`` classes).
    classes : tuple of ParticleClass
        The tuned model's classes (radii).
    labelled : sequence of str
        Classes the labels cover.
    thresholds : dict
        The starting model's thresholds.

    Returns
    -------
    DataFrame
        Candidates of the classes nobody labelled, scored over their
        threshold and :data:`CONFIDENT`, farther from every click than
        their radius plus the clicked class's: negatives of the labelled
        classes (the starting model's knowledge, used as the issue asks).
    """
    from scipy.spatial import cKDTree

    radius = {c.name: c.radius for c in classes}
    others = found[~found['particle_type'].isin(list(labelled))]
    floor = others['particle_type'].map(thresholds).fillna(1.0)
    others = others[others['score'] >= np.maximum(floor, CONFIDENT)]
    keep = np.ones(len(others), bool)
    reach = others['particle_type'].map(radius).to_numpy(float)
    for run, rows in clicks.groupby('run'):
        mine = (others['run'] == run).to_numpy()
        if not mine.any():
            continue
        tree = cKDTree(pk.positions(rows))
        distance, index = tree.query(pk.positions(others[mine]))
        clicked = rows['particle_type'].map(radius).to_numpy(float)[index]
        keep[mine] = distance > reach[mine] + clicked
    return others[keep]


def click_thresholds(found, clicks, classes, names) -> dict[str, float]:
    """Thresholds of classes labelled by clicks, from the clicks' scores.

    Each click's score is that of the best candidate of its class within
    the metric's radius (half the class radius), 0 if none; the
    threshold is :data:`CLICK_FRACTION` of their :data:`CLICK_QUANTILE`
    quantile, within :data:`THRESHOLD_RANGE`.

    Parameters
    ----------
    found : DataFrame
        The tuned model's candidates on the labelled runs (no
        thresholds applied).
    clicks : DataFrame
        The labels.
    classes : tuple of ParticleClass
        The model's classes.
    names : sequence of str
        Classes to set.

    Returns
    -------
    dict
        ``{class: threshold}``.
    """
    from scipy.spatial import cKDTree

    radius = {c.name: c.radius for c in classes}
    out = {}
    for name in names:
        scores = []
        mine = found[found['particle_type'] == name]
        for run, rows in clicks[clicks['particle_type'] == name].groupby(
            'run'
        ):
            candidates = mine[mine['run'] == run]
            if not len(candidates):
                scores.extend([0.0] * len(rows))
                continue
            tree = cKDTree(pk.positions(candidates))
            near = tree.query_ball_point(
                pk.positions(rows), 0.5 * radius[name]
            )
            values = candidates['score'].to_numpy(float)
            scores.extend(
                max((values[i] for i in hit), default=0.0) for hit in near
            )
        if not scores:
            continue
        anchor = float(np.quantile(scores, CLICK_QUANTILE))
        out[name] = float(np.clip(CLICK_FRACTION * anchor, *THRESHOLD_RANGE))
    return out
