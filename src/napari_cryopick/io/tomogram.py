"""The Tomogram type that every tomogram reader returns.

A tomogram is a pyramid of lazy (z, y, x) dask arrays, level 0 first,
each with its voxel size in Å exactly as the file's metadata says it
(DESIGN §4: never from a folder name), and the name of the run it
belongs to.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.errors import input_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da

#: The folder that holds one folder per run in copick and Kaggle projects.
RUNS_FOLDER = 'ExperimentRuns'

#: Suffixes stripped from a file name to make a run name, longest first so
#: that ``x.ome.zarr`` gives ``x`` rather than ``x.ome``.
_SUFFIXES = (
    '.ome.zarr',
    '.ome.tiff',
    '.ome.tif',
    '.tiff',
    '.tif',
    '.zarr',
    '.mrcs',
    '.mrc',
    '.map',
    '.rec',
    '.st',
    '.ali',
)

#: Length units to Å, lower case: the UDUNITS names NGFF asks for and the
#: abbreviations TIFF writers and some NGFF writers use.
UNIT_TO_ANGSTROM = {
    'angstrom': 1.0,
    'a': 1.0,
    '\u00e5': 1.0,  # å
    '\u212b': 1.0,  # the Ångström sign
    'nanometer': 10.0,
    'nanometre': 10.0,
    'nm': 10.0,
    'micrometer': 1e4,
    'micrometre': 1e4,
    'micron': 1e4,
    'um': 1e4,
    '\u00b5m': 1e4,  # micro sign
    '\u03bcm': 1e4,  # Greek mu
    'millimeter': 1e7,
    'mm': 1e7,
}


@dataclass(frozen=True, eq=False)
class Tomogram:
    """A lazily read tomogram: a pyramid of (z, y, x) levels.

    Attributes
    ----------
    levels : tuple of dask.array.Array
        The (z, y, x) levels, level 0 (full resolution) first.
    scales : tuple of tuple of float
        Voxel size in Å per level, (z, y, x) order, as the metadata says.
    run : str
        The run (tomogram) name that picks refer to.
    source : Path
        The file or store the tomogram was read from.
    """

    levels: tuple[da.Array, ...]
    scales: tuple[tuple[float, float, float], ...]
    run: str
    source: Path

    def __post_init__(self) -> None:
        if not self.levels or len(self.levels) != len(self.scales):
            raise ValueError(
                f'{len(self.levels)} levels but {len(self.scales)} scales'
            )
        for level in self.levels:
            if level.ndim != 3:
                raise ValueError(f'level of shape {level.shape} is not 3-D')

    @property
    def voxel_size(self) -> float:
        """Level-0 voxel size along x in Å, the value to display."""
        return self.scales[0][2]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Level-0 shape, (z, y, x)."""
        return tuple(int(n) for n in self.levels[0].shape)

    @property
    def data(self) -> da.Array:
        """Level 0, the full-resolution (z, y, x) array."""
        return self.levels[0]

    def level(self, i: int) -> da.Array:
        """Return pyramid level ``i`` (0 is full resolution).

        Parameters
        ----------
        i : int
            Level index; negative values count from the coarsest level.

        Returns
        -------
        dask.array.Array
            The (z, y, x) array of that level.
        """
        return self.levels[i]


def run_name_for(path: str | Path) -> str:
    """Name the run a tomogram file or store belongs to.

    Parameters
    ----------
    path : str or Path
        A tomogram file or store.

    Returns
    -------
    str
        The ``<run>`` of an enclosing ``ExperimentRuns/<run>/`` folder,
        else the file name without its tomogram suffix (``x.zarr`` and
        ``x.mrc`` both give ``x``).
    """
    # abspath (not resolve) so '..' and '.' are named after the folder
    # the user meant without following symbolic links elsewhere.
    parts = Path(os.path.abspath(path)).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == RUNS_FOLDER:
            return parts[i + 1]
    name = parts[-1]
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return Path(name).stem or name


def as_zyx(array: da.Array, path: str | Path) -> da.Array:
    """Drop leading size-1 axes (channel, time) from a tomogram array.

    Parameters
    ----------
    array : dask.array.Array
        An array whose last three axes are (z, y, x).
    path : str or Path
        The input it came from, named in the error.

    Returns
    -------
    dask.array.Array
        The (z, y, x) array.

    Raises
    ------
    CryopickError
        If the array is not 3-D once size-1 leading axes are dropped.
    """
    extra = array.ndim - 3
    if extra < 0 or any(n != 1 for n in array.shape[:extra]):
        raise input_error(
            path, f'expected a 3-D tomogram, got shape {tuple(array.shape)}'
        )
    return array[(0,) * extra] if extra else array


def voxel_size_zyx(
    path: str | Path, voxel_size: float | Sequence[float]
) -> tuple[float, float, float]:
    """Check a voxel size given to a writer and spread it over (z, y, x).

    Parameters
    ----------
    path : str or Path
        The file being written, named in the error.
    voxel_size : float or sequence of 3 floats
        Voxel size in Å, one value or (z, y, x).

    Returns
    -------
    tuple of 3 floats
        The (z, y, x) voxel size.

    Raises
    ------
    CryopickError
        If it is not one or three finite positive numbers.
    """
    try:
        values = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    except (TypeError, ValueError):
        values = np.array([math.nan])
    if values.shape != (3,) or not all(
        math.isfinite(v) and v > 0 for v in values
    ):
        raise input_error(
            path,
            f'voxel size must be positive Å, one value or (z, y, x), '
            f'got {voxel_size!r}',
        )
    return tuple(float(v) for v in values)


def volume_zyx(path: str | Path, volume: np.ndarray) -> np.ndarray:
    """Check that a volume given to a writer is 3-D.

    Parameters
    ----------
    path : str or Path
        The file being written, named in the error.
    volume : array-like
        The (z, y, x) volume (a dask array is computed).

    Returns
    -------
    ndarray
        The volume as a NumPy array.

    Raises
    ------
    CryopickError
        If it is not 3-D or is empty.
    """
    array = np.asarray(volume)
    if array.ndim != 3 or array.size == 0:
        raise input_error(
            path, f'expected a 3-D volume, got shape {array.shape}'
        )
    return array


def block_mean(volume: np.ndarray) -> np.ndarray:
    """Halve a (z, y, x) volume by 2x2x2 block means, rounding sizes up.

    An odd axis ends in a half block, averaged over the voxels it has
    (not padded with zeros), so 45 -> 23 and 315 -> 158.

    Parameters
    ----------
    volume : ndarray
        The (z, y, x) volume.

    Returns
    -------
    ndarray
        The halved volume, float32.
    """
    padded = np.pad(volume, [(0, n % 2) for n in volume.shape])
    z, y, x = (n // 2 for n in padded.shape)
    blocks = padded.reshape(z, 2, y, 2, x, 2)
    sums = blocks.sum(axis=(1, 3, 5), dtype=np.float64)
    counts = [np.full(m, 2.0) for m in (z, y, x)]
    for count, n in zip(counts, volume.shape, strict=True):
        count[-1] = 2.0 - n % 2
    sums /= counts[0][:, None, None]
    sums /= counts[1][None, :, None]
    sums /= counts[2][None, None, :]
    return sums.astype(np.float32)


def pyramid(volume: np.ndarray, levels: int) -> list[np.ndarray]:
    """Return ``volume`` and ``levels - 1`` successive block-mean halvings.

    Parameters
    ----------
    volume : ndarray
        Level 0, (z, y, x).
    levels : int
        Number of levels wanted, at least 1.

    Returns
    -------
    list of ndarray
        Level 0 first.
    """
    out = [volume]
    for _ in range(levels - 1):
        out.append(block_mean(out[-1]))
    return out
