"""Probability maps to particle centres with a score.

Per class: local maxima of the probability above a low candidate
threshold, refined to sub-voxel precision by the probability-weighted
centroid of their neighbourhood, then duplicates within the class radius
suppressed (the highest score wins). Per-class score thresholds are
applied later, so a slider can move them without recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


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
    """

    candidate_threshold: float = 0.05
    window_fraction: float = 0.5
    refine_radius: int = 1
    nms_fraction: float = 1.0
    method: str = 'maxima'


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
    points = np.argwhere(mask)
    centres = _refine(probability, points, settings.refine_radius)
    return centres, probability[mask]


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
