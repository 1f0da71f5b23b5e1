"""Probability maps to particle centres with a score.

Per class: local maxima of the probability above a low candidate
threshold, refined to sub-voxel precision by the probability-weighted
centroid of their neighbourhood, then duplicates within the class radius
suppressed (the highest score wins). Per-class score thresholds are
applied later, so a slider can move them without recomputing anything.

A pick's score is its peak probability, less a thousandth of the share
of its core (a ball of half the class radius, where a pick counts as a
hit) that is not sure: a confident network's float32 probability is
exactly 1.0 over whole particles (more than half of the picks of a
phantom), so peak values alone tie and rank nothing; the core breaks the
ties while thresholds keep their meaning. A plateau of equal maxima is
one peak, at its middle. Across classes, one particle gets one class
(:func:`suppress_across_classes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PeakSettings:
    """How to turn one class's probability map into candidates.

    Parameters
    ----------
    candidate_threshold : float
        Lowest probability a peak may have to be kept as a candidate.
    window_fraction : float
        Local-maximum window radius as a fraction of the class radius.
    refine_radius : int
        Half-width in voxels of the centroid refinement neighbourhood.
    nms_fraction : float
        Duplicates closer than this fraction of the class radius are
        suppressed.
    method : {'maxima', 'components'}
        ``maxima``: local maxima of the probability; ``components``:
        probability-weighted centroids of connected regions above the
        candidate threshold (the CZII 2nd place's choice), score = the
        region's peak.
    score : {'peak', 'core'}
        For ``maxima``: ``peak`` scores a pick by its peak probability
        less ``core_weight`` times the share of its core that is not
        sure (1 - the core's mean probability), so that picks the
        network is sure of (peak 1.0) still rank by their core; ``core``
        by the core's mean probability alone. The core is a ball around
        the peak voxel (voxels outside the volume left out).
    core_fraction : float
        Radius of the core ball as a fraction of the class radius (at
        least one voxel).
    core_weight : float
        See ``score``; 0 gives the bare peak probability. Small enough
        that per-class thresholds keep their meaning (they move by at
        most this much).
    """

    candidate_threshold: float = 0.05
    window_fraction: float = 0.5
    refine_radius: int = 1
    nms_fraction: float = 1.0
    method: str = 'maxima'
    score: str = 'peak'
    core_fraction: float = 0.5
    core_weight: float = 1e-3


def find_peaks(
    probability: np.ndarray,
    radius_voxels: float,
    settings: PeakSettings = PeakSettings(),  # noqa: B008 - frozen
) -> tuple[np.ndarray, np.ndarray]:
    """Return candidate centres and scores of one class.

    Parameters
    ----------
    probability : ndarray
        (z, y, x) probability of the class.
    radius_voxels : float
        Class radius in voxels of this grid.
    settings : PeakSettings
        Thresholds and windows.

    Returns
    -------
    tuple of ndarray
        (N, 3) z, y, x sub-voxel centres and (N,) scores, highest first.
    """
    if settings.method == 'components':
        centres, scores = _components(probability, settings)
    else:
        centres, scores = _maxima(probability, radius_voxels, settings)
    order = np.argsort(-scores, kind='stable')
    centres, scores = centres[order], scores[order]
    keep = suppress_duplicates(centres, settings.nms_fraction * radius_voxels)
    return centres[keep], scores[keep].astype(float)


def _maxima(probability, radius_voxels: float, settings: PeakSettings):
    size = 2 * max(1, int(round(settings.window_fraction * radius_voxels)))
    maxima = ndimage.maximum_filter(
        probability, size=size + 1, mode='constant'
    )
    mask = (probability == maxima) & (
        probability >= settings.candidate_threshold
    )
    points = _plateau_points(mask)
    centres = _refine(probability, points, settings.refine_radius)
    radius = max(1.0, settings.core_fraction * radius_voxels)
    core = ball_means(probability, points, radius)
    if settings.score == 'core':
        return centres, core
    peak = probability[tuple(points.T)].astype(np.float64)
    return centres, peak - settings.core_weight * (1.0 - core)


def ball_means(volume: np.ndarray, points: np.ndarray, radius: float):
    """Return the mean of ``volume`` over a ball around each point.

    Parameters
    ----------
    volume : ndarray
        (z, y, x) values.
    points : ndarray
        (N, 3) integer voxel indices.
    radius : float
        Ball radius in voxels; voxels outside the volume are left out.

    Returns
    -------
    ndarray
        (N,) float64 means.
    """
    if len(points) == 0:
        return np.empty(0)
    r = int(np.floor(radius))
    offsets = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1].reshape(3, -1).T
    offsets = offsets[(offsets**2).sum(axis=1) <= radius**2]
    coords = points[:, None, :] + offsets[None]
    upper = np.asarray(volume.shape) - 1
    clipped = np.clip(coords, 0, upper)
    inside = np.all(coords == clipped, axis=2)
    values = volume[tuple(clipped.transpose(2, 0, 1))] * inside
    return values.sum(axis=1, dtype=np.float64) / inside.sum(axis=1)


def _plateau_points(mask: np.ndarray) -> np.ndarray:
    """Return one voxel per connected set of maxima: nearest its middle.

    Where the network is sure, its float32 probability is 1.0 over a
    whole block of voxels, each of them a maximum; taken one by one they
    would leave several picks on one particle. Sets are found among the
    maxima themselves (26-neighbours), not on a label volume, so memory
    stays with the number of maxima.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    points = np.argwhere(mask)
    if len(points) < 2:
        return points
    pairs = cKDTree(points).query_pairs(
        np.sqrt(3) + 1e-6, output_type='ndarray'
    )
    n = len(points)
    graph = coo_matrix(
        (np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    count, owner = connected_components(graph, directed=False)
    middle = np.zeros((count, 3))
    np.add.at(middle, owner, points)
    middle /= np.bincount(owner, minlength=count)[:, None]
    distance = np.linalg.norm(points - middle[owner], axis=1)
    # Per set, the voxel nearest its middle (first in scan order on ties).
    order = np.lexsort((distance, owner))
    first = np.ones(len(order), bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    return points[order[first]]


def _components(probability, settings: PeakSettings):
    mask = probability >= settings.candidate_threshold
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if count == 0:
        return np.empty((0, 3)), np.empty(0)
    index = np.arange(1, count + 1)
    centres = ndimage.center_of_mass(probability, labels, index)
    scores = ndimage.maximum(probability, labels, index)
    return np.asarray(centres, float).reshape(-1, 3), np.asarray(scores)


def _refine(probability, points, radius: int) -> np.ndarray:
    if len(points) == 0:
        return np.empty((0, 3))
    r = radius
    offsets = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1].reshape(3, -1).T
    coords = points[:, None, :] + offsets[None]
    upper = np.asarray(probability.shape) - 1
    clipped = np.clip(coords, 0, upper)
    inside = np.all(coords == clipped, axis=2)
    values = probability[tuple(clipped.transpose(2, 0, 1))] * inside
    weights = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-12)
    return np.einsum('nk,nkd->nd', weights, coords.astype(float))


def suppress_duplicates(centres: np.ndarray, distance: float) -> np.ndarray:
    """Return indices of centres kept by greedy non-maximum suppression.

    ``centres`` must be sorted by decreasing score; a centre closer than
    ``distance`` to an already kept one is dropped.
    """
    if len(centres) == 0 or distance <= 0:
        return np.arange(len(centres))
    tree = cKDTree(centres)
    removed = np.zeros(len(centres), bool)
    keep = []
    for i in range(len(centres)):
        if removed[i]:
            continue
        keep.append(i)
        removed[tree.query_ball_point(centres[i], distance)] = True
    return np.asarray(keep, dtype=int)


def suppress_across_classes(
    table: pd.DataFrame, classes, fraction: float = 1.0
) -> pd.DataFrame:
    """Keep one class per particle: the most probable of close picks.

    Two picks of different classes closer than ``fraction`` times the
    larger of their radii cannot be two particles (particles do not
    overlap: their centres are at least the sum of the radii apart), so
    the one with the lower score is dropped. Picks of one class are left
    alone (their own suppression is per class, in :func:`find_peaks`).

    Parameters
    ----------
    table : DataFrame
        Picks table with scores, of any runs.
    classes : sequence of ParticleClass
        Radii by class name; picks of other classes are kept as they are.
    fraction : float
        Share of the larger radius within which picks compete.

    Returns
    -------
    DataFrame
        The kept rows, in their order.
    """
    from napari_cryopick import picks as pk

    radius = {c.name: c.radius for c in classes}
    reach = table['particle_type'].map(radius).to_numpy(float) * fraction
    known = np.isfinite(reach)
    if not len(table) or known.sum() < 2 or fraction <= 0:
        return table
    keep = np.ones(len(table), bool)
    for rows in table.groupby('run', sort=False).indices.values():
        rows = rows[known[rows]]
        keep[rows] = _one_per_particle(table, rows, reach[rows])
    return pk.normalize(table[keep])


def _one_per_particle(table, rows, reach) -> np.ndarray:
    """Greedy cross-class suppression of ``rows`` of one run."""
    scores = table['score'].to_numpy(float)[rows]
    names = table['particle_type'].to_numpy()[rows]
    xyz = table[['x', 'y', 'z']].to_numpy(float)[rows]
    order = np.argsort(-scores, kind='stable')
    tree = cKDTree(xyz)
    removed = np.zeros(len(rows), bool)
    for i in order:
        if removed[i]:
            continue
        near = np.asarray(tree.query_ball_point(xyz[i], reach.max()), int)
        close = np.linalg.norm(xyz[near] - xyz[i], axis=1) < np.maximum(
            reach[near], reach[i]
        )
        rivals = near[close & (names[near] != names[i])]
        removed[rivals[scores[rivals] <= scores[i]]] = True
    return ~removed
