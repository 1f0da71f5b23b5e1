"""Training samples and patch sampling around picks and background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.model.normalize import normalize_volume
from napari_cryopick.model.targets import pick_voxels, sphere_labels

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.classes import ParticleClass


@dataclass
class TrainingSample:
    """One tomogram ready for training, on the model's grid.

    Parameters
    ----------
    run : str
        Run name.
    volume : ndarray
        Normalised float32 (z, y, x).
    labels : ndarray
        uint8 class labels, same shape.
    centres : ndarray
        (N, 3) grid positions of the positive picks.
    centre_labels : ndarray
        (N,) class label of each centre.
    negatives : ndarray
        (M, 3) grid positions known to hold no particle.
    """

    run: str
    volume: np.ndarray
    labels: np.ndarray
    centres: np.ndarray
    centre_labels: np.ndarray
    negatives: np.ndarray


def make_sample(
    volume: np.ndarray,
    picks: pd.DataFrame,
    classes: tuple[ParticleClass, ...],
    voxel_size,
    factor: int,
    fraction: float = 0.5,
    negatives: pd.DataFrame | None = None,
    run: str = '',
) -> TrainingSample:
    """Build a :class:`TrainingSample` from a volume on the model's grid.

    Parameters
    ----------
    volume : ndarray
        The tomogram at the model's level (not yet normalised).
    picks : DataFrame
        Positive picks of this run (Å).
    classes : tuple of ParticleClass
        The model's classes, in label order.
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size in Å.
    factor : int
        Binning of ``volume`` relative to level 0.
    fraction : float
        Target sphere radius over class radius.
    negatives : DataFrame, optional
        Picks known to be wrong (hard negatives).
    run : str
        Run name.
    """
    names = [c.name for c in classes]
    picks = picks[picks['particle_type'].isin(names)]
    labels = sphere_labels(
        volume.shape,
        picks,
        classes,
        voxel_size,
        factor,
        fraction,
        negatives=negatives,
    )
    neg = negatives if negatives is not None else picks.iloc[:0]
    return TrainingSample(
        run=run,
        volume=normalize_volume(volume),
        labels=labels,
        centres=pick_voxels(picks, voxel_size, factor),
        centre_labels=picks['particle_type']
        .map({n: i + 1 for i, n in enumerate(names)})
        .to_numpy(int),
        negatives=pick_voxels(neg, voxel_size, factor),
    )


class PatchSampler:
    """Draw (volume, label) patches: around picks, negatives or anywhere.

    Parameters
    ----------
    samples : list of TrainingSample
        The training tomograms.
    patch : tuple of int
        Patch shape (z, y, x).
    pick_fraction : float
        Share of patches that contain a pick (classes drawn uniformly,
        so rare classes are seen as often as common ones).
    negative_fraction : float
        Share of patches centred on a known negative, when there are any.
    seed : int
        Random seed.
    """

    def __init__(
        self, samples, patch, pick_fraction=0.7, negative_fraction=0.1, seed=0
    ):
        self.samples = list(samples)
        self.patch = np.asarray(patch, int)
        self.pick_fraction = pick_fraction
        self.negative_fraction = negative_fraction
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (B, 1, Z, Y, X) float32 images and (B, 1, ...) labels."""
        pairs = [self._one() for _ in range(size)]
        images = np.stack([p[0] for p in pairs])[:, None]
        labels = np.stack([p[1] for p in pairs])[:, None]
        return images, labels

    def _one(self):
        sample = self.samples[self.rng.integers(len(self.samples))]
        centre = self._centre(sample)
        jitter = self.rng.uniform(-0.35, 0.35, 3) * self.patch
        start = np.round(centre + jitter - self.patch / 2).astype(int)
        return _crop(sample.volume, start, self.patch), _crop(
            sample.labels, start, self.patch
        )

    def _centre(self, sample: TrainingSample) -> np.ndarray:
        draw = self.rng.random()
        if draw < self.pick_fraction and len(sample.centres):
            kinds = np.unique(sample.centre_labels)
            kind = self.rng.choice(kinds)
            options = np.flatnonzero(sample.centre_labels == kind)
            return sample.centres[self.rng.choice(options)]
        negative = self.pick_fraction + self.negative_fraction
        if draw < negative and len(sample.negatives):
            index = self.rng.integers(len(sample.negatives))
            return sample.negatives[index]
        return self.rng.uniform(0, 1, 3) * np.asarray(sample.volume.shape)


def _crop(array: np.ndarray, start: np.ndarray, size: np.ndarray):
    """Crop ``size`` at ``start``, zero-padding what falls outside."""
    out = np.zeros(tuple(size), dtype=array.dtype)
    lo = np.maximum(start, 0)
    hi = np.minimum(start + size, array.shape)
    if np.any(hi <= lo):
        return out
    src = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dst = tuple(
        slice(a - s, b - s) for a, b, s in zip(lo, hi, start, strict=True)
    )
    out[dst] = array[src]
    return out
