"""The model's grid: any tomogram brought to the voxel size a model runs at.

A network sees particles at the size it was trained at (20 Å voxels for
the bundled model), so a tomogram at 13.6 or 31.4 Å is resampled by its
real factor, never by the nearest integer. Each axis is resampled by a
sparse matrix that evaluates, at every grid voxel's centre, the input
low-passed by a Gaussian matched to the factor (when shrinking) and
interpolated by cubic convolution (:mod:`napari_cryopick.model.resample`).
The matrices act on z-slabs, so a
tomogram of any size streams through a slab at a time
(:class:`GridReader`), and the normalisation statistics come from a
strided sample of grid rows (:func:`grid_stats`), never from the whole
volume.

The grid starts at the outer edge of the input's first voxel, so grid
voxel ``i`` is centred on level-0 index ``i * factor + (factor - 1) / 2``
(:func:`napari_cryopick.coords.level_to_level0`), exactly as the 2x2x2
block means of a stored pyramid are; picks map back to the input's Å by
that one formula whatever the factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.errors import input_error
from napari_cryopick.model.normalize import normalize_volume, robust_stats
from napari_cryopick.model.resample import lowpass_sigma, resample_matrix

if TYPE_CHECKING:
    from napari_cryopick.io.tomogram import Tomogram

#: A stored level within this fraction of the model's voxel size is used
#: as it is (the portal's 20.025 Å level 1 for a 20.02 Å model).
LEVEL_TOLERANCE = 0.01

#: The smallest class radius, in input voxels, a model can still find:
#: under 1.5 voxels a particle is a 3-voxel blur (apo-ferritin, 60 Å, at
#: 40 Å voxels), below what the input's sampling can tell from noise.
MIN_RADIUS_VOXELS = 1.5

#: Input bytes one resampling step reads at most (a few z-slices of a
#: large tomogram).
SLAB_BYTES = 128 * 2**20

#: A grid this large or smaller is computed whole; a larger one streams
#: in z-slabs.
WHOLE_GRID_BYTES = 256 * 2**20


@dataclass(frozen=True)
class GridPlan:
    """How a tomogram is brought onto a model's grid.

    Attributes
    ----------
    level : int
        The pyramid level read.
    factor : tuple of 3 floats
        Grid voxel size over level-0 voxel size, (z, y, x): what maps
        grid indices to level-0 indices.
    step : tuple of 3 floats
        Grid voxel size over the read level's voxel size (1: used as
        stored).
    shape : tuple of 3 ints
        Grid shape (z, y, x).
    voxel_size : tuple of 3 floats
        Grid voxel size in Å, (z, y, x).
    """

    level: int
    factor: tuple[float, float, float]
    step: tuple[float, float, float]
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]

    @property
    def resampled(self) -> bool:
        """Whether any axis is resampled (not a stored level as it is)."""
        return any(s != 1.0 for s in self.step)

    def describe(self, input_voxel: float) -> str:
        """One line for the log: input voxel size, factor, grid."""
        how = (
            f'resampled from level {self.level} by {_fmt(self.step)}'
            if self.resampled
            else f'stored level {self.level} used as it is'
        )
        return (
            f'{input_voxel:.4g} Å voxels -> model grid '
            f'{_fmt(self.voxel_size)} Å (factor {_fmt(self.factor)}, '
            f'{how}), grid {self.shape[2]}x{self.shape[1]}x{self.shape[0]}'
        )

    def to_dict(self) -> dict:
        """JSON-ready description, for run metadata and cards."""
        return {
            'level': self.level,
            'factor_zyx': list(self.factor),
            'resample_zyx': list(self.step),
            'grid_shape_zyx': list(self.shape),
            'grid_voxel_size_zyx': list(self.voxel_size),
            'method': _method(self.step),
        }


def _method(step) -> str:
    """Name the resampling :func:`resample_matrix` does for ``step``."""
    if all(s == 1.0 for s in step):
        return 'stored'
    shrunk = any(lowpass_sigma(s) > 0 for s in step)
    return 'gaussian-cubic' if shrunk else 'cubic'


def _fmt(values) -> str:
    values = [float(f'{v:.4g}') for v in values]
    return f'{values[0]:g}' if len(set(values)) == 1 else str(tuple(values))


def plan_grid(tomogram: Tomogram, voxel_size: float) -> GridPlan:
    """Plan how ``tomogram`` reaches a grid of ``voxel_size`` Å.

    A stored level within :data:`LEVEL_TOLERANCE` of ``voxel_size`` is
    used as it is; otherwise the coarsest level still finer than
    ``voxel_size`` (the least to read) is resampled, or level 0 is
    enlarged when the tomogram is coarser than the grid.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    voxel_size : float
        The model's voxel size in Å.

    Returns
    -------
    GridPlan
        Level, factors and grid shape.
    """
    target = float(voxel_size)
    scales = [np.asarray(s, float) for s in tomogram.scales]
    base = scales[0]
    for k, scale in enumerate(scales):
        if np.all(np.abs(target / scale - 1) <= LEVEL_TOLERANCE):
            shape = tuple(int(n) for n in tomogram.levels[k].shape)
            return GridPlan(
                k, _floats(scale / base), (1.0,) * 3, shape, _floats(scale)
            )
    finer = [
        k
        for k, s in enumerate(scales)
        if np.all(s <= target * (1 + LEVEL_TOLERANCE))
    ]
    k = max(finer, key=lambda i: scales[i].max()) if finer else 0
    step = target / scales[k]
    shape = tuple(
        _grid_size(int(n), s)
        for n, s in zip(tomogram.levels[k].shape, step, strict=True)
    )
    return GridPlan(
        k, _floats(target / base), _floats(step), shape, (target,) * 3
    )


def _floats(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values)


def _grid_size(n: int, step: float) -> int:
    # Enough grid voxels to cover the input (315 voxels by 2 -> 158).
    return max(1, math.ceil(n / step - 1e-9))


def check_voxel_size(tomogram: Tomogram, classes, force: bool = False):
    """Refuse an unset voxel size, or one too coarse for ``classes``.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram (its level-0 voxel size is checked).
    classes : sequence of ParticleClass
        The classes to pick.
    force : bool
        Skip the check.

    Raises
    ------
    CryopickError
        When the voxel size is 1 Å or less (unset: a layer without a
        scale), or the smallest class's radius spans fewer than
        :data:`MIN_RADIUS_VOXELS` input voxels.
    """
    voxel = max(tomogram.scales[0])
    if min(tomogram.scales[0]) <= 1.0:
        # 1 Å is what a file or layer without a voxel size says (MRC
        # cells equal to the grid, napari's default scale).
        raise input_error(
            tomogram.source,
            f'voxel size {min(tomogram.scales[0]):g} Å looks unset; give '
            "it with --voxel-size Å (or the Image layer's scale)",
        )
    if force or not classes:
        return
    smallest = min(classes, key=lambda c: c.radius)
    if smallest.radius / voxel < MIN_RADIUS_VOXELS:
        raise input_error(
            tomogram.source,
            f'voxel size {voxel:.4g} Å is too coarse for {smallest.name} '
            f'(radius {smallest.radius:g} Å is '
            f'{smallest.radius / voxel:.2f} voxels, under '
            f'{MIN_RADIUS_VOXELS}); choose larger classes (--classes) or '
            'force it (--allow-coarse)',
        )


class GridReader:
    """Rows of a tomogram on a model's grid, computed slab by slab.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    plan : GridPlan
        From :func:`plan_grid`.
    slab_bytes : int, optional
        Input bytes read at once, at most (at least one z-slice);
        default :data:`SLAB_BYTES`.
    """

    def __init__(self, tomogram: Tomogram, plan: GridPlan, slab_bytes=None):
        self.level = tomogram.levels[plan.level]
        self.source = tomogram.source
        self.plan = plan
        self.shape = plan.shape
        self.slab_bytes = slab_bytes or SLAB_BYTES
        sizes = self.level.shape
        self.matrices = [
            None if s == 1.0 else resample_matrix(int(n), s, m).tocsr()
            for n, s, m in zip(sizes, plan.step, plan.shape, strict=True)
        ]
        self.whole = None

    @property
    def nbytes(self) -> int:
        """Bytes of the whole grid in float32."""
        return 4 * int(np.prod(self.shape, dtype=np.int64))

    @property
    def large(self) -> bool:
        """Whether the grid streams rather than being computed whole."""
        return self.nbytes > WHOLE_GRID_BYTES

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Return grid rows ``lo:hi`` (along z) as float32.

        Parameters
        ----------
        lo, hi : int
            Grid z range.

        Returns
        -------
        ndarray
            (hi - lo, Y, X) float32, not normalised.
        """
        if self.whole is not None:
            return self.whole[lo:hi]
        per_row = self._input_row_bytes()
        out = np.empty((hi - lo, *self.shape[1:]), np.float32)
        start = lo
        while start < hi:
            end = self._rows_within(start, hi, per_row)
            out[start - lo : end - lo] = self._compute(start, end)
            start = end
        return out

    def read_whole(self) -> np.ndarray:
        """Compute the whole grid once and keep it (small grids)."""
        if self.whole is None:
            self.whole = self.rows(0, self.shape[0])
        return self.whole

    def _input_row_bytes(self) -> int:
        _, y, x = self.level.shape
        return 4 * int(y) * int(x)

    def _input_range(self, lo: int, hi: int) -> tuple[int, int]:
        matrix = self.matrices[0]
        if matrix is None:
            return lo, hi
        cols = matrix[lo:hi].indices
        return int(cols.min()), int(cols.max()) + 1

    def _rows_within(self, lo: int, hi: int, per_row: int) -> int:
        """Return the end of the longest run of rows within the budget."""
        end = lo + 1
        while end < hi:
            a, b = self._input_range(lo, end + 1)
            if (b - a) * per_row > self.slab_bytes:
                break
            end += 1
        return end

    def _compute(self, lo: int, hi: int) -> np.ndarray:
        a, b = self._input_range(lo, hi)
        data = np.asarray(self.level[a:b], dtype=np.float32)
        mz, my, mx = self.matrices
        if mz is not None:
            flat = data.reshape(b - a, -1)
            data = (mz[lo:hi, a:b] @ flat).reshape(hi - lo, *data.shape[1:])
        if my is not None:
            n, y, x = data.shape
            moved = data.transpose(1, 0, 2).reshape(y, n * x)
            data = (my @ moved).reshape(-1, n, x).transpose(1, 0, 2)
        if mx is not None:
            n, y, x = data.shape
            data = (mx @ data.reshape(n * y, x).T).T.reshape(n, y, -1)
        return np.ascontiguousarray(data, dtype=np.float32)


def grid_stats(reader: GridReader, step: int = 3) -> tuple[float, float]:
    """Return the normalisation (centre, spread) of the grid, streaming.

    A small grid is computed whole (and kept) and every ``step``-th
    voxel counts, as :func:`~napari_cryopick.model.normalize.robust_stats`
    does; a large one is sampled on about 48 evenly spaced grid rows,
    every ``step``-th voxel of each, so the cost is a sliver of one pass.

    Raises
    ------
    CryopickError
        If the sample holds no finite value, or is constant.
    """
    if not reader.large:
        sample = reader.read_whole()[::step, ::step, ::step]
    else:
        rows = reader.shape[0]
        every = max(step, rows // 48)
        sample = np.stack(
            [
                reader.rows(i, i + 1)[0, ::step, ::step]
                for i in range(0, rows, every)
            ]
        )
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        raise input_error(reader.source, 'holds no finite value (all NaN?)')
    if finite.min() == finite.max():
        raise input_error(reader.source, 'is constant: nothing to pick')
    return robust_stats(sample, step=1)


class NormalisedGrid:
    """Grid rows normalised with fixed statistics, for the tiler."""

    def __init__(self, reader: GridReader, stats: tuple[float, float]):
        self.reader = reader
        self.stats = stats
        self.shape = reader.shape
        self.large = reader.large

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Return normalised float32 grid rows ``lo:hi``."""
        return normalize_volume(self.reader.rows(lo, hi), self.stats)
