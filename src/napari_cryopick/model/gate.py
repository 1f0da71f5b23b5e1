"""A second test for picks of a learnt class, against what else was found.

The likeness check (:mod:`napari_cryopick.model.likeness`) keeps a pick
whose rotational profile is near any one click's. For a protein of the
size of the lysate's small unnamed proteins, or in a crowd, that lets
many through: of the 444 false picks of a 120 Å protein the check kept
on the benchmark, 429 lay away from every labelled particle.

After fine-tuning, the tuned network's candidates on the labelled
tomograms that lie farther than the class radius from every click are
mostly such densities (the unclicked copies of the class are a minority
among them), so they can stand for "not this" as they are
(positive-unlabelled learning without weights). A Fisher discriminant
between the clicks and them, on each density's rotational profile and
its spread over the directions of each shell (both blind to the
particle's orientation), gives each pick a score; the gate is the
lowest of the clicks' own scores, each left out of the fit in turn,
less :data:`MARGIN` of their standard deviation.

Measured on the stored candidates of the benchmark's tuned models
(docs/benchmarks.md "Second test"), new-class F4 on the second tomogram
with 20 clicks: 0.587 -> 0.622 (120 Å protein), albumin 0.464 -> 0.551,
crowded look 0.459 -> 0.615, noisy look 0.309 -> 0.394, the 150 Å
protein at 13.48 Å 0.955 -> 0.977; 170 Å protein with 5 / 10 / 20 / 50
clicks 0.638 / 0.879 / 0.829 / 0.848 -> 0.639 / 0.846 / 0.833 / 0.860.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.model.likeness import descriptors
from napari_cryopick.model.profiles import measure

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.model.likeness import Likeness

#: Weight of the identity in the shrunk covariance (26 descriptors, a
#: few dozen clicks; 0.1 and 0.5 measured lower on average).
SHRINK = 0.3
#: The gate sits this many standard deviations of the clicks'
#: left-out scores below the lowest (0 lost true picks with 10 clicks;
#: 1 kept more false ones in a crowd).
MARGIN = 0.5
#: Fewer other candidates than this: nothing to learn against, no gate.
MIN_OTHERS = 10


def learn_gate(like: Likeness, others: np.ndarray) -> Likeness:
    """Return ``like`` with a gate learnt against other densities.

    Parameters
    ----------
    like : Likeness
        The clicks' likeness, with their spreads.
    others : ndarray
        (densities, 2 x shells) descriptors
        (:func:`~napari_cryopick.model.likeness.descriptors`) of
        candidates that are mostly not of the class.

    Returns
    -------
    Likeness
        ``like`` with ``weights`` and ``gate``; ``like`` unchanged
        without spreads (an older card) or with fewer than
        :data:`MIN_OTHERS` others.
    """
    if like.spreads is None or len(others) < MIN_OTHERS:
        return like
    clicks = descriptors(like.profiles, like.spreads)
    weights = _fisher(clicks, others)
    left_out = np.array(
        [
            clicks[i] @ _fisher(np.delete(clicks, i, axis=0), others)
            for i in range(len(clicks))
        ]
    )
    gate = left_out.min() - MARGIN * left_out.std()
    return replace(like, weights=weights, gate=float(gate))


def gate_learnt(
    likeness: dict[str, Likeness],
    runs,
    found: pd.DataFrame,
    radii: dict[str, float],
) -> tuple[dict[str, Likeness], pd.DataFrame]:
    """Learn each class's gate from the tuned model's candidates.

    Parameters
    ----------
    likeness : dict
        :class:`~napari_cryopick.model.likeness.Likeness` by class name.
    runs : sequence of LabelledRun
        The labelled runs: tomograms and clicks.
    found : DataFrame
        The tuned model's candidates on ``runs`` (checked and centred).
    radii : dict
        Class radius in Å by class name.

    Returns
    -------
    likeness : dict
        With gates where there was enough to learn from.
    found : DataFrame
        ``found`` without the candidates below their class's gate.
    """
    drop = np.zeros(len(found), bool)
    out = dict(likeness)
    for name, like in likeness.items():
        parts = [
            _descriptors_of(run, found, name, radii[name], like)
            for run in runs
        ]
        parts = [part for part in parts if part is not None]
        if not parts:
            continue
        others = np.concatenate([seen[far] for _, seen, far in parts])
        out[name] = learn_gate(like, others)
        for rows, seen, _ in parts:
            drop[rows] = out[name].below_gate(seen)
    return out, found[~drop].reset_index(drop=True)


def _descriptors_of(run, found, name, radius, like):
    """(rows of ``found``, their descriptors, which lie far from clicks).

    None when ``run`` has no candidate of the class.
    """
    from scipy.spatial import cKDTree

    rows = np.flatnonzero(
        (
            (found['run'] == run.tomogram.run)
            & (found['particle_type'] == name)
        ).to_numpy()
    )
    if not rows.size:
        return None
    # Already centred by the likeness check: read where they are.
    profiles, spreads, _ = measure(
        run.tomogram,
        found.iloc[rows],
        radius,
        search=False,
        polarity=like.polarity,
    )
    clicks = run.picks[run.picks['particle_type'] == name]
    far = np.ones(rows.size, bool)
    if len(clicks):
        distance, _ = cKDTree(pk.positions(clicks)).query(
            pk.positions(found.iloc[rows])
        )
        far = distance > radius
    return rows, descriptors(profiles[:, 0], spreads), far


def _fisher(positive: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Fisher's discriminant direction with a shrunk pooled covariance."""
    cov = 0.5 * np.cov(positive.T) + 0.5 * np.cov(other.T)
    size = len(cov)
    cov = (1 - SHRINK) * cov + SHRINK * np.trace(cov) / size * np.eye(size)
    return np.linalg.solve(cov, positive.mean(axis=0) - other.mean(axis=0))
