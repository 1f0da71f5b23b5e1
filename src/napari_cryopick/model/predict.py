"""Tomogram -> Picks table with a loaded model (DESIGN §2, §8)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.coords import level_to_level0, voxel_zyx_to_angstrom_xyz
from napari_cryopick.errors import input_error
from napari_cryopick.model.grid import (
    GridReader,
    NormalisedGrid,
    check_voxel_size,
    grid_stats,
    plan_grid,
)
from napari_cryopick.model.infer import (
    InferenceSettings,
    stream_probabilities,
)
from napari_cryopick.model.likeness_check import check_and_centre
from napari_cryopick.model.newclass import known_channels
from napari_cryopick.model.peaks import PeakSettings, find_peaks
from napari_cryopick.model.signal import SignalCheck, nothing_stands_out
from napari_cryopick.picks import apply_thresholds

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PickSettings:
    """Everything :func:`predict_tomogram` needs besides the model.

    Attributes
    ----------
    inference : InferenceSettings
        Tiling, TTA, threads.
    peaks : PeakSettings
        Peak finding.
    apply_thresholds : bool
        Keep only picks over the model's per-class thresholds.
    classes : tuple of str, optional
        Names of the classes to pick (default: all the model's).
    allow_coarse : bool
        Pick a tomogram too coarse for its smallest class anyway.
    signal : SignalCheck
        Drop every pick of a tomogram where none stands out from the
        tomogram's own noise (pure noise, a failed reconstruction).
    likeness : bool
        Drop picks of a class learnt from clicks that do not look like
        the clicks (:mod:`napari_cryopick.model.likeness`).
    """

    inference: InferenceSettings = field(default_factory=InferenceSettings)
    peaks: PeakSettings = field(default_factory=PeakSettings)
    apply_thresholds: bool = True
    classes: tuple[str, ...] | None = None
    allow_coarse: bool = False
    signal: SignalCheck = field(default_factory=SignalCheck)
    likeness: bool = True


def model_grid(tomogram: Tomogram, voxel_size: float):
    """Return the whole tomogram on the grid of ``voxel_size`` Å.

    For training and benchmarks on tomograms that fit in memory;
    prediction streams the grid instead (:class:`GridReader`).

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    voxel_size : float
        Voxel size in Å the model was trained at.

    Returns
    -------
    tuple
        (float32 volume, factor): the factor is the grid voxel over the
        level-0 voxel, a float, or (z, y, x) floats when they differ.
    """
    plan = plan_grid(tomogram, voxel_size)
    volume = GridReader(tomogram, plan).rows(0, plan.shape[0])
    return volume, grid_factor(tomogram, voxel_size, plan)


def grid_factor(tomogram: Tomogram, voxel_size: float, plan=None):
    """Return the grid voxel over the level-0 voxel (a real factor).

    A float when every axis has the same factor, else (z, y, x).
    """
    plan = plan or plan_grid(tomogram, voxel_size)
    factor = plan.factor
    return factor[0] if len(set(factor)) == 1 else factor


def chosen_classes(model, names=None) -> tuple:
    """Return the model's classes named in ``names`` (all when None).

    Raises
    ------
    CryopickError
        If a name is not one of the model's classes; the message lists
        them.
    """
    classes = model.classes
    if not names:
        return classes
    known = {c.name: c for c in classes}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise input_error(
            getattr(model, 'path', 'model'),
            f'has no class {", ".join(map(repr, unknown))}; its classes: '
            f'{", ".join(known)}',
        )
    return tuple(c for c in classes if c.name in set(names))


def predict_tomogram(
    tomogram: Tomogram,
    models,
    settings: PickSettings = PickSettings(),  # noqa: B008 - frozen
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    partial: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame | None:
    """Pick the chosen classes in ``tomogram``, in bounded memory.

    The tomogram is brought onto the model's grid by its real factor
    (:mod:`napari_cryopick.model.grid`), normalised with statistics of a
    strided sample, and run through the network slab by slab; each
    finished slab's peaks are found and its probabilities dropped, so
    memory grows with a slab of tiles, not with the tomogram.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    models : LoadedModel or list of LoadedModel
        One model or an ensemble trained on the same classes and grid.
    settings : PickSettings
        Inference, peak, threshold and class settings.
    progress : callable, optional
        ``progress(done, total)`` per tile.
    cancel : callable, optional
        Polled between tiles; returns ``None`` when it says stop.
    partial : callable, optional
        Called with the picks found so far (thresholds not applied)
        each time a slab of the tomogram is finished, before the end;
        each call holds the previous one's picks and more.

    Returns
    -------
    DataFrame or None
        Picks (origin ``model``, score = peak probability), or ``None``
        if cancelled.

    Raises
    ------
    CryopickError
        For an unknown class, a voxel size too coarse for the smallest
        chosen class, or a tomogram without finite or varying values.
    """
    models = models if isinstance(models, list | tuple) else [models]
    first = models[0]
    classes = chosen_classes(first, settings.classes)
    check_voxel_size(tomogram, classes, settings.allow_coarse)
    plan = plan_grid(tomogram, first.voxel_size)
    log.info('%s: %s', tomogram.run, plan.describe(tomogram.voxel_size))
    reader = GridReader(tomogram, plan)
    grid = NormalisedGrid(reader, grid_stats(reader))
    slabs = _SlabPicks(classes, tomogram, plan, settings, partial)
    finished = stream_probabilities(
        grid,
        [m.network for m in models],
        settings.inference,
        multiple=_stride_multiple(first.card),
        channels=[c.label for c in classes],
        known=known_channels(first),
        on_slab=slabs,
        progress=progress,
        cancel=cancel,
    )
    if not finished:
        return None
    table = slabs.table()
    radii = {c.name: c.radius for c in classes}
    if nothing_stands_out(table, reader, tomogram, settings.signal, radii):
        table = table.iloc[:0]
    if settings.likeness and first.card.likeness and len(table):
        drop, table = check_and_centre(
            table, tomogram, first.card.likeness, radii
        )
        log.info(
            '%s: %d candidate(s) unlike the clicks of their class dropped '
            '(or one particle twice, once centred on its density; '
            '--no-likeness-check keeps them as found)',
            tomogram.run,
            int(drop.sum()),
        )
        table = table[~drop].reset_index(drop=True)
    if settings.apply_thresholds:
        table = apply_thresholds(table, first.thresholds)
    return table


def _stride_multiple(card) -> int:
    return int(np.prod(card.network.strides or (2, 2)))


def probabilities_to_picks(
    probs: np.ndarray,
    classes,
    tomogram: Tomogram,
    factor,
    settings: PeakSettings = PeakSettings(),  # noqa: B008 - frozen
) -> pd.DataFrame:
    """Turn per-class probabilities on the model grid into picks in Å.

    Parameters
    ----------
    probs : ndarray
        (C, z, y, x) foreground probabilities, class order of ``classes``.
    classes : tuple of ParticleClass
        The classes of ``probs``.
    tomogram : Tomogram
        The tomogram (voxel size, run name).
    factor : float or sequence of 3 floats
        Grid voxel over level-0 voxel (:func:`grid_factor`).
    settings : PeakSettings
        Peak finding.

    Returns
    -------
    DataFrame
        Picks of every class, origin ``model``.
    """
    return _picks(_Region(probs), classes, tomogram, factor, settings)


class _Region:
    """Per-class probabilities: a kept tail, then a slab, along ``axis``.

    Neither is concatenated for every class at once (6 x 72 x 700 x 700
    floats for a 400 x 1400 x 1400 tomogram would be the run's largest
    array): :meth:`of` joins one class's, :meth:`at` samples every class
    at given voxels.
    """

    def __init__(self, probs, tail=None, axis: int = 0):
        self.probs = probs
        self.tail = tail
        self.axis = axis
        self.cut = 0 if tail is None else tail[0].shape[axis]

    def of(self, i: int) -> np.ndarray:
        """Return class ``i``'s probabilities over tail and slab."""
        if self.tail is None:
            return self.probs[i]
        return np.concatenate([self.tail[i], self.probs[i]], axis=self.axis)

    def at(self, voxels: np.ndarray) -> np.ndarray:
        """Return (C, N) probabilities of every class at (N, 3) voxels."""
        along = voxels[:, self.axis]
        out = np.empty((len(self.probs), len(voxels)), np.float32)
        for part, rows, shift in (
            (self.tail, along < self.cut, 0),
            (self.probs, along >= self.cut, self.cut),
        ):
            if part is None or not rows.any():
                continue
            index = voxels[rows].copy()
            index[:, self.axis] -= shift
            for i in range(len(self.probs)):
                out[i, rows] = part[i][tuple(index.T)]
        return out


def _picks(region, classes, tomogram, factor, settings, offset=0, keep=None):
    """Return the peaks of each class as picks.

    ``region`` is a :class:`_Region`; ``offset`` is the grid index of its
    first voxel; ``keep``, given centres, returns a mask of those to keep.
    """
    tables = []
    grid_voxel = float(np.max(np.multiply(tomogram.scales[0], factor)))
    for i, cls in enumerate(classes):
        prob = region.of(i)
        centres, scores = find_peaks(prob, cls.radius / grid_voxel, settings)
        # Every class's probability at the pick: why it was made.
        voxel = np.clip(
            np.round(centres).astype(int), 0, np.subtract(prob.shape, 1)
        )
        del prob
        seen = region.at(voxel)
        centres = centres + offset
        if keep is not None:
            mask = keep(centres)
            centres, scores, seen = centres[mask], scores[mask], seen[:, mask]
        level0 = level_to_level0(centres, factor)
        xyz = voxel_zyx_to_angstrom_xyz(level0, tomogram.scales[0])
        table = pk.make_picks(
            tomogram.run, cls.name, xyz, score=scores, origin='model'
        )
        for other, values in zip(classes, seen, strict=True):
            table[f'{pk.PROB_PREFIX}{other.name}'] = values.astype(float)
        tables.append(table)
    return pk.concat(tables)


class _SlabPicks:
    """The ``on_slab`` callback of inference: picks of each final slab.

    Peaks near the far edge of a final slab depend on probabilities not
    yet computed, so the last class radius of each slab is left to the
    next one; each search reaches one radius back into what was already
    reported, as context, so a particle is reported once. Only those
    rows (a margin of a class radius) are kept between slabs.
    """

    def __init__(self, classes, tomogram, plan, settings, partial):
        self.classes = classes
        self.shape = plan.shape
        self.args = (tomogram, plan.factor, settings.peaks)
        grid_voxel = min(plan.voxel_size)
        self.margin = int(np.ceil(max(c.radius for c in classes) / grid_voxel))
        self.partial = partial
        self.found = []
        self.kept = 0  # picks before this grid index are reported
        self.tail = None  # per class, final probabilities from tail_lo
        self.tail_lo = 0

    def __call__(self, probs, axis: int, lo: int, hi: int) -> None:
        last = hi >= self.shape[axis]
        start = self.tail_lo
        end = None if last else hi - self.margin
        region = _Region(probs, self.tail, axis)
        if end is None or end > self.kept:
            first, stop = self.kept, np.inf if end is None else end

            def keep(centres):
                along = centres[:, axis] + 0.5
                return (along >= first) & (along < stop)

            offset = np.zeros(3)
            offset[axis] = start
            self.found.append(
                _picks(
                    region, self.classes, *self.args, offset=offset, keep=keep
                )
            )
            if last:
                return
            self.kept = end
            if self.partial is not None:
                self.partial(pk.concat(self.found))
        # Keep the rows the next search needs as context, class by class.
        keep_from = max(start, self.kept - self.margin)
        index = [slice(None)] * 3
        index[axis] = slice(keep_from - start, hi - start)
        self.tail = [
            region.of(i)[tuple(index)].copy() for i in range(len(probs))
        ]
        self.tail_lo = keep_from

    def table(self) -> pd.DataFrame:
        """All picks found, every slab: by class, highest score first."""
        if not self.found:
            return pk.empty_picks()
        table = pk.concat(self.found)
        order = {c.name: i for i, c in enumerate(self.classes)}
        table = table.assign(_class=table['particle_type'].map(order))
        table = table.sort_values(
            ['_class', 'score'], ascending=[True, False], kind='stable'
        )
        return pk.normalize(table.drop(columns='_class'))
