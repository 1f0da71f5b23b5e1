"""The CZII Kaggle metric, exact, plus per-pick hit flags (DESIGN §7).

Per run of the reference and per class, a candidate within ``radius x
distance_multiplier`` (inclusive) of a reference finds it. TP counts the
distinct references found, FP = |C| - TP and FN = |R| - TP, so a second
pick on one particle is a false positive. TP, FP and FN are summed over
runs per class before precision, recall and F-beta (0 where undefined);
the score is ``sum(weight x F) / sum(all weights)``.

What is left out: candidate rows of runs absent from the reference, and
rows of either table whose class is not in the class table. A class of
the table that the reference lacks still counts its candidates (in the
reference's runs) as false positives; Kaggle skips such a class instead,
which gives the same score since its F is 0 either way.

Kaggle's matching is not one-to-one: a candidate within the radius of
two references finds both (2 TP, and FP may go negative); the counts
keep that. The display flags mark, for each found reference, its nearest
candidate within the radius; a candidate nearest to two references is
marked once, so there ``candidate_hit.sum()`` falls short of TP.
Non-overlapping particles cannot do this, annotation duplicates can: the
CZII training labels hold one apo-ferritin pair 29.5 Å apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick.classes import CZII_CLASSES, ParticleClass
from napari_cryopick.errors import CryopickError

if TYPE_CHECKING:
    from collections.abc import Sequence

_COUNT_COLUMNS = ('particle_type', 'predicted', 'true', 'hit', 'miss', 'fp')
TABLE_COLUMNS = (*_COUNT_COLUMNS, 'precision', 'recall', 'fbeta', 'weight')
_XYZ = ['x', 'y', 'z']


@dataclass(frozen=True)
class ScoreResult:
    """Outcome of :func:`score_picks`.

    Parameters
    ----------
    table : DataFrame
        One row per class of the class table, in table order, with
        columns ``particle_type``, ``predicted``, ``true``, ``hit``,
        ``miss``, ``fp``, ``precision``, ``recall``, ``fbeta``,
        ``weight``.
    score : float
        ``sum(weight x fbeta) / sum(all weights of the class table)``.
    candidate_hit : ndarray of bool
        Per candidate row (by position): the nearest candidate within
        the radius of a found reference.
    candidate_scored : ndarray of bool
        Per candidate row: False for rows of runs absent from the
        reference or of classes absent from the class table.
    reference_found : ndarray of bool
        Per reference row (by position): at least one candidate lies
        within the radius.
    beta : float
        The F-beta parameter used.
    """

    table: pd.DataFrame
    score: float
    candidate_hit: np.ndarray
    candidate_scored: np.ndarray
    reference_found: np.ndarray
    beta: float


@dataclass(frozen=True)
class _Side:
    """One table encoded for matching: positions and group keys."""

    xyz: np.ndarray
    cls: np.ndarray  # index into the class table, -1 when unknown
    key: np.ndarray  # cls * n_runs + run, -1 when the row is not scored
    n_runs: int  # runs of the reference


def score_picks(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    classes: Sequence[ParticleClass] | None = None,
    distance_multiplier: float = 0.5,
    beta: float = 4.0,
) -> ScoreResult:
    """Score candidate picks against reference picks (CZII metric).

    Parameters
    ----------
    reference : DataFrame
        Picks table (columns ``run``, ``particle_type``, ``x``, ``y``,
        ``z`` in Å at least) of the true particles.
    candidate : DataFrame
        Picks table to score.
    classes : sequence of ParticleClass, optional
        Class table giving radii and weights (default: the CZII six).
    distance_multiplier : float
        Match radius as a fraction of the class radius.
    beta : float
        F-beta parameter (4 on Kaggle).

    Returns
    -------
    ScoreResult
        Per-class table, score and per-row flags.

    Raises
    ------
    CryopickError
        If a table lacks a column or the arguments are invalid.
    """
    classes = _class_table(classes, distance_multiplier)
    ref, cand = _encode(reference, candidate, classes)
    ref_rows, cand_rows, dist = _pairs(ref, cand, classes, distance_multiplier)
    found = np.zeros(len(ref.xyz), dtype=bool)
    found[ref_rows] = True
    hit = np.zeros(len(cand.xyz), dtype=bool)
    hit[_nearest(ref_rows, cand_rows, dist)] = True
    n = len(classes)
    tp = np.bincount(ref.cls[found], minlength=n)
    true = np.bincount(ref.cls[ref.key >= 0], minlength=n)
    predicted = np.bincount(cand.cls[cand.key >= 0], minlength=n)
    table = _score_table(classes, predicted, true, tp, beta)
    return ScoreResult(
        table=table,
        score=_weighted_score(table),
        candidate_hit=hit,
        candidate_scored=cand.key >= 0,
        reference_found=found,
        beta=float(beta),
    )


def best_thresholds(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    classes: Sequence[ParticleClass] | None = None,
    distance_multiplier: float = 0.5,
    beta: float = 4.0,
    tolerance: float = 0.0,
) -> dict[str, float]:
    """Return, per class, the score threshold that maximises its F-beta.

    Keeping candidates with ``score >= threshold``, every distinct score
    of the class is tried; among equal F-beta the highest threshold
    (fewest picks) wins. A pick with a NaN score is never kept.

    With ``tolerance`` > 0, every threshold whose F-beta is within
    ``tolerance`` of the best counts as good and the lowest of them is
    returned: on a small tuning set the exact optimum often sits on a
    knife edge (one false positive less), and a lower threshold keeps
    recall, which F4 values 16x more, on data not yet seen.

    Parameters
    ----------
    reference, candidate : DataFrame
        As for :func:`score_picks`; ``candidate`` needs a ``score``
        column.
    classes, distance_multiplier, beta
        As for :func:`score_picks`.
    tolerance : float
        F-beta a lower threshold may give up to be preferred.

    Returns
    -------
    dict of str to float
        Threshold per class name of the class table, NaN for a class
        without scored candidates.

    Raises
    ------
    CryopickError
        If a table lacks a column or the arguments are invalid.
    """
    classes = _class_table(classes, distance_multiplier)
    require_columns(candidate, 'candidate', ['score'])
    score = candidate['score'].to_numpy(dtype=float)
    ref, cand = _encode(reference, candidate, classes)
    # A NaN score passes no threshold, so such a pick is never kept.
    cand = replace(cand, key=np.where(np.isnan(score), -1, cand.key))
    ref_rows, cand_rows, _ = _pairs(ref, cand, classes, distance_multiplier)
    # A reference is found at threshold t iff its best-scored candidate
    # within the radius has score >= t.
    best = np.full(len(ref.xyz), -np.inf)
    np.maximum.at(best, ref_rows, score[cand_rows])
    result = {}
    for i, particle in enumerate(classes):
        in_ref = (ref.cls == i) & (ref.key >= 0)
        scores = score[(cand.cls == i) & (cand.key >= 0)]
        result[particle.name] = _best_threshold(
            scores, best[in_ref], beta, tolerance
        )
    return result


def _best_threshold(scores, best, beta: float, tolerance: float = 0.0):
    if scores.size == 0:
        return float('nan')
    thresholds = np.unique(scores)
    kept = scores.size - np.searchsorted(np.sort(scores), thresholds)
    tp = best.size - np.searchsorted(np.sort(best), thresholds)
    fbeta = _rates(tp, kept - tp, best.size - tp, beta)[2]
    if tolerance > 0:
        good = np.flatnonzero(fbeta >= fbeta.max() - tolerance)
        return float(thresholds[good[0]])
    # Last maximum: the highest threshold among equally good ones.
    return float(thresholds[fbeta.size - 1 - np.argmax(fbeta[::-1])])


def _class_table(classes, distance_multiplier: float):
    classes = tuple(CZII_CLASSES if classes is None else classes)
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise CryopickError(f'class table repeats a name: {names}')
    if not distance_multiplier >= 0:
        raise CryopickError(
            f'distance multiplier must be 0 or more, not {distance_multiplier}'
        )
    return classes


def require_columns(table: pd.DataFrame, name: str, columns) -> None:
    """Raise one line naming the ``name`` table's missing ``columns``."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CryopickError(
            f'{name} picks lack column(s): {", ".join(missing)}'
        )


def _encode(reference, candidate, classes: tuple[ParticleClass, ...]):
    columns = ['run', 'particle_type', *_XYZ]
    require_columns(reference, 'reference', columns)
    require_columns(candidate, 'candidate', columns)
    runs = pd.Index(pd.unique(reference['run'].to_numpy()))
    names = pd.Index([c.name for c in classes])
    return _side(reference, runs, names), _side(candidate, runs, names)


def _side(table: pd.DataFrame, runs: pd.Index, names: pd.Index) -> _Side:
    run = runs.get_indexer(table['run'])
    cls = names.get_indexer(table['particle_type'])
    key = np.where((run >= 0) & (cls >= 0), cls * len(runs) + run, -1)
    xyz = table[_XYZ].to_numpy(dtype=float)
    return _Side(xyz, cls, key, len(runs))


def _groups(key: np.ndarray, n_keys: int):
    """Return rows sorted by group key and each group's bounds."""
    rows = np.flatnonzero(key >= 0)
    rows = rows[np.argsort(key[rows], kind='stable')]
    bounds = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(key[rows], minlength=n_keys), out=bounds[1:])
    return rows, bounds


def _pairs(ref: _Side, cand: _Side, classes, distance_multiplier: float):
    """Return all (reference row, candidate row, distance) within r."""
    # Imported here: the Score widget imports this module as it docks,
    # and SciPy's libraries would load on the GUI thread.
    from scipy.spatial import cKDTree

    n_runs = ref.n_runs
    n_keys = len(classes) * n_runs
    ref_rows, ref_bounds = _groups(ref.key, n_keys)
    cand_rows, cand_bounds = _groups(cand.key, n_keys)
    both = (np.diff(ref_bounds) > 0) & (np.diff(cand_bounds) > 0)
    parts = [(np.empty(0, int), np.empty(0, int), np.empty(0))]
    for k in np.flatnonzero(both):
        r_idx = ref_rows[ref_bounds[k] : ref_bounds[k + 1]]
        c_idx = cand_rows[cand_bounds[k] : cand_bounds[k + 1]]
        radius = classes[k // n_runs].radius * distance_multiplier
        # Same pairs as Kaggle's query_ball_tree (distance <= radius),
        # with the distances the hit flags need.
        pairs = cKDTree(ref.xyz[r_idx]).sparse_distance_matrix(
            cKDTree(cand.xyz[c_idx]), radius, output_type='ndarray'
        )
        parts.append((r_idx[pairs['i']], c_idx[pairs['j']], pairs['v']))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _nearest(ref_rows, cand_rows, dist) -> np.ndarray:
    """Return, per found reference, its nearest candidate row."""
    order = np.lexsort((cand_rows, dist, ref_rows))
    refs = ref_rows[order]
    first = np.ones(refs.size, dtype=bool)
    first[1:] = refs[1:] != refs[:-1]
    return cand_rows[order][first]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # 0 where the denominator is 0, as Kaggle defines it.
    out = np.zeros(np.shape(num), dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _rates(tp, fp, fn, beta: float):
    """Return precision, recall and F-beta as Kaggle computes them."""
    tp = np.asarray(tp, dtype=float)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    b2 = beta**2
    num = (1 + b2) * (precision * recall)
    den = np.where(precision + recall > 0, b2 * precision + recall, 0.0)
    return precision, recall, _ratio(num, den)


def _score_table(classes, predicted, true, tp, beta: float) -> pd.DataFrame:
    fp, fn = predicted - tp, true - tp
    precision, recall, fbeta = _rates(tp, fp, fn, beta)
    names = [c.name for c in classes]
    weights = np.array([float(c.weight) for c in classes])
    values = [names, predicted, true, tp, fn, fp, precision, recall, fbeta]
    values.append(weights)
    return pd.DataFrame(dict(zip(TABLE_COLUMNS, values, strict=True)))


def _weighted_score(table: pd.DataFrame) -> float:
    total = table['weight'].sum()
    if total <= 0:
        # Kaggle divides by zero here; an all-unweighted table scores 0.
        return 0.0
    return float((table['weight'] * table['fbeta']).sum() / total)
