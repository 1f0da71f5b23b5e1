"""Tomogram -> Picks table with a loaded model (DESIGN §2, §8)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.coords import level_to_level0, voxel_zyx_to_angstrom_xyz
from napari_cryopick.errors import input_error
from napari_cryopick.io.tomogram import Tomogram, block_mean
from napari_cryopick.model.infer import (
    InferenceSettings,
    predict_probabilities,
)
from napari_cryopick.model.normalize import normalize_volume, robust_stats
from napari_cryopick.model.peaks import PeakSettings, find_peaks
from napari_cryopick.picks import apply_thresholds

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PickSettings:
    """Everything :func:`predict_tomogram` needs besides the model."""

    inference: InferenceSettings = field(default_factory=InferenceSettings)
    peaks: PeakSettings = field(default_factory=PeakSettings)
    apply_thresholds: bool = True


def model_grid(tomogram: Tomogram, voxel_size: float):
    """Return the tomogram on the grid closest to ``voxel_size`` Å.

    Uses a stored pyramid level when one matches (the portal's level 1
    is 20 Å for 10 Å data), else block-means level 0 by the nearest
    integer factor.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    voxel_size : float
        Voxel size in Å the model was trained at.

    Returns
    -------
    tuple
        (float32 volume, integer binning factor relative to level 0).
    """
    factor = grid_factor(tomogram, voxel_size)
    for level, scale in zip(tomogram.levels, tomogram.scales, strict=True):
        if abs(scale[2] / tomogram.voxel_size - factor) < 0.01:
            return np.asarray(level, dtype=np.float32), factor
    volume = np.asarray(tomogram.levels[0], dtype=np.float32)
    for _ in range(int(np.log2(factor))):
        volume = block_mean(volume)
    if 2 ** int(np.log2(factor)) != factor:
        raise input_error(
            tomogram.source, f'binning by {factor} is not a power of 2'
        )
    return volume, factor


def grid_factor(tomogram: Tomogram, voxel_size: float) -> int:
    """Return the binning from level 0 to the grid nearest ``voxel_size``."""
    return max(1, int(round(voxel_size / tomogram.voxel_size)))


def predict_tomogram(
    tomogram: Tomogram,
    models,
    settings: PickSettings = PickSettings(),  # noqa: B008 - frozen
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    partial: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame | None:
    """Pick every class in ``tomogram``.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    models : LoadedModel or list of LoadedModel
        One model or an ensemble trained on the same classes and grid.
    settings : PickSettings
        Inference, peak and threshold settings.
    progress : callable, optional
        ``progress(done, total)`` per tile.
    cancel : callable, optional
        Polled between tiles; returns ``None`` when it says stop.
    partial : callable, optional
        Called with the picks found so far (thresholds not applied)
        each time a slab of the tomogram is finished, before the end.
        The returned table supersedes them: picks within a class radius
        of a slab boundary may move or merge.

    Returns
    -------
    DataFrame or None
        Picks (origin ``model``, score = peak probability), or ``None``
        if cancelled.
    """
    models = models if isinstance(models, list | tuple) else [models]
    first = models[0]
    volume, factor = model_grid(tomogram, first.voxel_size)
    _check_volume(tomogram, volume)
    volume = normalize_volume(volume, robust_stats(volume))
    probs = predict_probabilities(
        volume,
        [m.network for m in models],
        settings.inference,
        multiple=_stride_multiple(first.card),
        progress=progress,
        cancel=cancel,
        ready=None
        if partial is None
        else _SlabPicks(first.classes, tomogram, factor, settings, partial),
    )
    if probs is None:
        return None
    table = probabilities_to_picks(
        probs, first.classes, tomogram, factor, settings.peaks
    )
    if settings.apply_thresholds:
        table = apply_thresholds(table, first.thresholds)
    return table


def _check_volume(tomogram: Tomogram, volume: np.ndarray) -> None:
    finite = np.isfinite(volume[::4, ::4, ::4])
    if not finite.any():
        raise input_error(tomogram.source, 'holds no finite value (all NaN?)')
    if volume.min() == volume.max():
        raise input_error(tomogram.source, 'is constant: nothing to pick')


def _stride_multiple(card) -> int:
    return int(np.prod(card.network.strides or (2, 2)))


def probabilities_to_picks(
    probs: np.ndarray,
    classes,
    tomogram: Tomogram,
    factor: int,
    settings: PeakSettings = PeakSettings(),  # noqa: B008 - frozen
) -> pd.DataFrame:
    """Turn per-class probabilities on the model grid into picks in Å.

    Parameters
    ----------
    probs : ndarray
        (C, z, y, x) foreground probabilities, class order of ``classes``.
    classes : tuple of ParticleClass
        The model's classes.
    tomogram : Tomogram
        The tomogram (voxel size, run name).
    factor : int
        Binning of the grid relative to level 0.
    settings : PeakSettings
        Peak finding.

    Returns
    -------
    DataFrame
        Picks of every class, origin ``model``.
    """
    return _picks(probs, classes, tomogram, factor, settings)


def _picks(probs, classes, tomogram, factor, settings, offset=0, keep=None):
    """Return the peaks of each class as picks.

    ``offset`` is the grid index of ``probs[:, 0, 0, 0]``; ``keep``,
    given centres, returns a mask of those to keep.
    """
    tables = []
    grid_voxel = tomogram.voxel_size * factor
    for cls, prob in zip(classes, probs, strict=True):
        centres, scores = find_peaks(prob, cls.radius / grid_voxel, settings)
        centres = centres + offset
        if keep is not None:
            mask = keep(centres)
            centres, scores = centres[mask], scores[mask]
        level0 = level_to_level0(centres, factor)
        xyz = voxel_zyx_to_angstrom_xyz(level0, tomogram.scales[0])
        tables.append(
            pk.make_picks(
                tomogram.run, cls.name, xyz, score=scores, origin='model'
            )
        )
    return pk.concat(tables)


class _SlabPicks:
    """The ``ready`` callback of inference: picks of each final slab.

    Peaks near the far edge of a final slab depend on probabilities not
    yet computed, so the last class radius of each slab is left to the
    next one; each search reaches one radius back into what was already
    reported, as context, so a particle is reported once.
    """

    def __init__(self, classes, tomogram, factor, settings, partial):
        self.args = (classes, tomogram, factor, settings.peaks)
        grid_voxel = tomogram.voxel_size * factor
        self.margin = int(np.ceil(max(c.radius for c in classes) / grid_voxel))
        self.partial = partial
        self.found = []
        self.kept = 0  # picks before this grid index are reported

    def __call__(self, output, axis: int, lo: int, hi: int) -> None:
        end = hi - self.margin
        if hi >= output.shape[axis + 1] or end <= self.kept:
            return  # the whole result follows at the end
        start = max(0, self.kept - self.margin)
        region = [slice(None)] * output.ndim
        region[axis + 1] = slice(start, hi)
        offset = np.zeros(3)
        offset[axis] = start
        first = self.kept

        def keep(centres):
            along = centres[:, axis] + 0.5
            return (along >= first) & (along < end)

        self.found.append(
            _picks(output[tuple(region)], *self.args, offset=offset, keep=keep)
        )
        self.kept = end
        self.partial(pk.concat(self.found))
