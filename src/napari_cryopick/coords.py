"""The one place where coordinates change units or axis order.

Conventions (DESIGN §4): arrays are (z, y, x); a voxel's centre sits at
its integer index; position in Å = index x voxel size. copick and the
Kaggle CSV store (x, y, z) in Å; napari layers hold (z, y, x) level-0
voxel indices with ``scale`` = voxel size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Positions in Å are rounded to this many decimals on the way back from
#: voxels, a millionth of an Ångström: far below any physical meaning, and
#: it makes Å -> voxel -> Å return the very digits a file held (x / s * s
#: alone can be one unit in the last place off).
ANGSTROM_DECIMALS = 6


def _scale_zyx(voxel_size: float | Sequence[float]) -> np.ndarray:
    scale = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,))
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError(f'voxel size must be positive, got {voxel_size!r}')
    return scale


def angstrom_xyz_to_voxel_zyx(
    xyz: np.ndarray, voxel_size: float | Sequence[float]
) -> np.ndarray:
    """Convert (N, 3) x, y, z in Å to (N, 3) z, y, x voxel indices.

    Parameters
    ----------
    xyz : ndarray
        Positions in Å, columns x, y, z.
    voxel_size : float or sequence of 3 floats
        Voxel size in Å, one value or per axis in (z, y, x) order.

    Returns
    -------
    ndarray
        Float voxel coordinates, columns z, y, x.
    """
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    return xyz[:, ::-1] / _scale_zyx(voxel_size)


def voxel_zyx_to_angstrom_xyz(
    zyx: np.ndarray, voxel_size: float | Sequence[float]
) -> np.ndarray:
    """Convert (N, 3) z, y, x voxel indices to (N, 3) x, y, z in Å.

    Parameters
    ----------
    zyx : ndarray
        Voxel coordinates, columns z, y, x.
    voxel_size : float or sequence of 3 floats
        Voxel size in Å, one value or per axis in (z, y, x) order.

    Returns
    -------
    ndarray
        Positions in Å, columns x, y, z, rounded to
        :data:`ANGSTROM_DECIMALS` decimals.
    """
    zyx = np.asarray(zyx, dtype=float).reshape(-1, 3)
    xyz = (zyx * _scale_zyx(voxel_size))[:, ::-1]
    return np.round(xyz, ANGSTROM_DECIMALS)


def level_to_level0(zyx: np.ndarray, factor: int) -> np.ndarray:
    """Map voxel indices of a pyramid level to level-0 indices.

    Pyramid levels are 2x2x2 block means (the CZII portal's and our own
    writer's): voxel ``i`` of a level binned by ``factor`` averages
    level-0 voxels ``i*factor .. i*factor + factor - 1``, so its centre is
    at level-0 index ``i*factor + (factor - 1) / 2``. The NGFF metadata of
    those stores has no translation to say so; ignoring it would shift
    every pick by half a binned voxel (5 Å at level 1).

    Parameters
    ----------
    zyx : ndarray
        (N, 3) voxel coordinates at the binned level.
    factor : int
        Binning factor of that level (2 for level 1, 4 for level 2).

    Returns
    -------
    ndarray
        (N, 3) level-0 voxel coordinates.
    """
    return np.asarray(zyx, dtype=float) * factor + (factor - 1) / 2


def level0_to_level(zyx: np.ndarray, factor: int) -> np.ndarray:
    """Map level-0 voxel indices to a binned level (inverse of above)."""
    return (np.asarray(zyx, dtype=float) - (factor - 1) / 2) / factor
