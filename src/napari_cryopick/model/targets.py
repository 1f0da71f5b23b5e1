"""Training targets: class spheres around picks, on the model's grid.

Each pick paints a ball of ``fraction`` x its class radius with the
class label (0 stays background). Small spheres at the centre, rather
than the whole particle, teach the network to mark centres, which keeps
neighbouring particles apart (the 2nd-place CZII recipe used 0.4 r; the
cited write-ups found r/2 to r/3 better than full radii).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx, level0_to_level

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.classes import ParticleClass

IGNORE = 255


def pick_voxels(table: pd.DataFrame, voxel_size, factor) -> np.ndarray:
    """Return (N, 3) z, y, x positions of picks on a pyramid level grid.

    Parameters
    ----------
    table : DataFrame
        Picks (Å).
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size in Å.
    factor : float or sequence of 3 floats
        Grid voxel over level-0 voxel (1 = level 0, 2 = level 1; any real
        factor for a resampled grid), one value or (z, y, x).
    """
    xyz = table[['x', 'y', 'z']].to_numpy(float)
    return level0_to_level(angstrom_xyz_to_voxel_zyx(xyz, voxel_size), factor)


def sphere_labels(
    shape: tuple[int, int, int],
    table: pd.DataFrame,
    classes: tuple[ParticleClass, ...],
    voxel_size,
    factor=1,
    fraction: float = 0.5,
    min_radius: float = 1.0,
    negatives: pd.DataFrame | None = None,
) -> np.ndarray:
    """Paint class spheres for ``table`` into a uint8 label volume.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) shape of the grid (the level the model runs at).
    table : DataFrame
        Picks of one run, in Å.
    classes : tuple of ParticleClass
        Class ``i`` gets label ``i + 1``; picks of other classes are
        skipped.
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size in Å.
    factor : float or sequence of 3 floats
        Grid voxel over level-0 voxel (see :func:`pick_voxels`).
    fraction : float
        Sphere radius as a fraction of the class radius.
    min_radius : float
        Smallest sphere radius in grid voxels.
    negatives : DataFrame, optional
        Positions known to hold no particle (e.g. picks a user deleted):
        painted as background explicitly, over anything else.

    Returns
    -------
    ndarray
        uint8 labels.
    """
    labels = np.zeros(shape, dtype=np.uint8)
    # Grid voxel in Å, averaged over axes (the factor may be per axis).
    spacing = float(
        np.mean(
            np.broadcast_to(voxel_size, (3,)) * np.broadcast_to(factor, (3,))
        )
    )
    # Larger particles first, so a small one touching a large one keeps
    # its centre.
    order = sorted(range(len(classes)), key=lambda i: -classes[i].radius)
    for index in order:
        cls = classes[index]
        rows = table[table['particle_type'] == cls.name]
        radius = max(min_radius, fraction * cls.radius / spacing)
        centres = pick_voxels(rows, voxel_size, factor)
        _paint(labels, centres, radius, index + 1)
    if negatives is not None and len(negatives):
        centres = pick_voxels(negatives, voxel_size, factor)
        _paint(labels, centres, 2.0, 0)
    return labels


def _paint(labels, centres, radius: float, value: int) -> None:
    r = int(np.ceil(radius))
    offsets = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1].reshape(3, -1).T
    for centre in centres:
        base = np.round(centre).astype(int)
        points = base + offsets
        inside = np.sum((points - centre) ** 2, axis=1) <= radius**2
        points = points[inside]
        valid = np.all((points >= 0) & (points < labels.shape), axis=1)
        z, y, x = points[valid].T
        labels[z, y, x] = value
