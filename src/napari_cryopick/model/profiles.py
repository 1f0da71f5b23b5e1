"""Density around picks: rotational profiles, and centring on the particle.

What :mod:`napari_cryopick.model.likeness` compares. Each pick's
density is read on the tomogram's coarsest stored level with voxels of
at most :data:`FINEST` of the class radius, normalised as the network's
input is, by blocks of rows so a large tomogram stays within
:data:`BLOCK_VOXELS`. A pick may first be moved to the centre of mass
of its particle's density (:func:`measure`); the profile is the mean
density on spheres of :data:`SHELLS` class radii.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    level0_to_level,
    level_to_level0,
    voxel_zyx_to_angstrom_xyz,
)
from napari_cryopick.model.normalize import CLIP, robust_stats

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram

#: Shells of the profile, as fractions of the class radius.
SHELLS = np.linspace(0.0, 1.2, 13)
#: Directions sampled on each shell.
DIRECTIONS = 192
#: A pick's centre is searched this far (class radii) along each axis:
#: a network's peak is not exactly a user's click.
SEARCH = 0.1
#: Finest voxel the profile needs, as a fraction of the class radius.
FINEST = 0.1
#: Farthest one move goes, in class radii.
RECENTRE_STEP = 0.25
#: Points along the class radius for the centre of mass, at most.
BALL_POINTS = 12
#: Voxels sampled per axis for a tomogram's intensity statistics.
STATS_SAMPLE = 160
#: Voxels read at once (besides the rows around them): 512 MB.
BLOCK_VOXELS = 2**27


def profiles_at(
    tomogram: Tomogram,
    table: pd.DataFrame,
    radius: float,
    search: bool = True,
    recentre: int = 0,
    polarity: float = -1.0,
) -> np.ndarray:
    """Return rotational averages around picks.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram (read by blocks of rows around the picks).
    table : DataFrame
        Picks (Å).
    radius : float
        Class radius in Å.
    search : bool
        Also measure around the 26 neighbours at :data:`SEARCH` class
        radii; else at the picks only.
    recentre : int
        Moves of each pick to the centre of mass of its density first.
    polarity : float
        -1 for particles darker than their surroundings, else 1.

    Returns
    -------
    ndarray
        (picks, places, shells) profiles of the normalised density.
    """
    return measure(tomogram, table, radius, search, recentre, polarity)[0]


def measure(
    tomogram, table, radius, search=True, recentre=0, polarity=-1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the profiles around picks, their spreads, where they were read.

    Parameters
    ----------
    tomogram, table, radius, search, recentre, polarity
        As :func:`profiles_at`.

    Returns
    -------
    profiles : ndarray
        (picks, places, shells), as :func:`profiles_at`.
    spreads : ndarray
        (picks, shells) standard deviation of the density over each
        shell's directions at the pick's centre: how uneven the particle
        is at that radius, whatever its orientation.
    centres : ndarray
        (picks, 3) x, y, z in Å after the moves, inside the volume.
    """
    level = level_for(tomogram, radius)
    data = tomogram.levels[level]
    voxel = np.asarray(tomogram.scales[level], float)
    centre, spread = level_stats(data)
    level0 = angstrom_xyz_to_voxel_zyx(
        table[['x', 'y', 'z']].to_numpy(float), tomogram.scales[0]
    )
    centres = level0_to_level(level0, _factor(tomogram, level))
    steps = (-1, 0, 1) if search else (0,)
    shifts = np.array(
        [(a, b, c) for a in steps for b in steps for c in steps], float
    ) * (SEARCH * radius / voxel)
    points = _sphere_points(radius / voxel)
    ball = _ball(radius / voxel)
    travel = recentre * RECENTRE_STEP * radius / voxel.min()
    reach = np.abs(points).max() + np.abs(shifts).max() + travel
    reach = int(np.ceil(reach)) + 1
    step = RECENTRE_STEP * radius / voxel
    out = np.empty((len(centres), len(shifts), len(SHELLS)))
    spreads = np.empty((len(centres), len(SHELLS)))
    moved = centres.copy()
    last = np.asarray(data.shape, float) - 1
    for block, first, rows in _blocks(data, centres, reach):
        block -= centre
        block /= spread
        np.clip(block, -CLIP, CLIP, out=block)
        for i in rows:
            here = centres[i] - (first, 0, 0)
            for _ in range(recentre):
                here = _recentred(block, here, ball, polarity, step)
            out[i], spreads[i] = _profiles(block, here, shifts, points)
            moved[i] = np.clip(here + (first, 0, 0), 0, last)
    level0 = level_to_level0(moved, _factor(tomogram, level))
    return out, spreads, voxel_zyx_to_angstrom_xyz(level0, tomogram.scales[0])


def _ball(radius_voxels: np.ndarray) -> np.ndarray:
    """(points, 3) z, y, x offsets of a grid within the radius.

    One point per voxel, or per :data:`BALL_POINTS` of the radius where
    the voxels are finer (a single-level tomogram at a few Å would give
    a hundred thousand points a pick).
    """
    spacing = max(1.0, float(np.min(radius_voxels)) / BALL_POINTS)
    axes = [np.arange(0.0, r + 1e-9, spacing) for r in radius_voxels]
    axes = [np.concatenate([-a[:0:-1], a]) for a in axes]
    grid = np.stack(np.meshgrid(*axes, indexing='ij'), -1).reshape(-1, 3)
    return grid[((grid / radius_voxels) ** 2).sum(axis=1) <= 1.0]


def _recentred(box, centre, ball, polarity, step) -> np.ndarray:
    """Move ``centre`` to the centre of mass of the density around it.

    Only density of the particle's sign (``polarity``) weighs; the move
    is at most ``step`` voxels per axis, so a pick between two particles
    does not jump onto one of them.
    """
    from scipy import ndimage

    values = ndimage.map_coordinates(
        box, (centre + ball).T, order=1, mode='nearest'
    )
    weight = np.clip(polarity * values, 0.0, None)
    total = weight.sum()
    if not total > 0:
        return centre
    move = (weight[:, None] * ball).sum(axis=0) / total
    return centre + np.clip(move, -step, step)


def _profiles(box, centre, shifts, points) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``box`` over each shell, around each shifted centre.

    Also the standard deviation over each shell's directions around the
    unshifted centre (the middle of ``shifts``). Edge voxels stand in
    for what lies outside the volume.
    """
    from scipy import ndimage

    where = centre + shifts[:, None, None, :] + points[None]
    values = ndimage.map_coordinates(
        box, where.reshape(-1, 3).T, order=1, mode='nearest'
    )
    values = values.reshape(len(shifts), *points.shape[:2])
    return values.mean(axis=2), values[len(shifts) // 2].std(axis=1)


def _sphere_points(radius_voxels: float) -> np.ndarray:
    """(shells, directions, 3) z, y, x offsets in voxels (Fibonacci)."""
    k = np.arange(DIRECTIONS) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / DIRECTIONS)
    azimuth = np.pi * (1.0 + 5**0.5) * k
    unit = np.stack(
        [
            np.cos(polar),
            np.sin(polar) * np.sin(azimuth),
            np.sin(polar) * np.cos(azimuth),
        ],
        axis=1,
    )
    return SHELLS[:, None, None] * radius_voxels * unit[None]


def _blocks(data, centres: np.ndarray, reach: int):
    """Yield (rows of ``data`` as float32, first row, picks within).

    Blocks of rows hold at most :data:`BLOCK_VOXELS` voxels besides the
    ``reach`` rows read around them, so memory stays bounded on a large
    tomogram, and every stored chunk is read about once.
    """
    rows = data.shape[0]
    plane = int(np.prod(data.shape[1:]))
    per = max(1, BLOCK_VOXELS // plane - 2 * reach)
    along = np.clip(np.floor(centres[:, 0]).astype(int), 0, rows - 1)
    for lo in range(0, rows, per):
        hi = min(rows, lo + per)
        inside = np.flatnonzero((along >= lo) & (along < hi))
        if inside.size:
            a, b = max(0, lo - reach), min(rows, hi + reach + 1)
            yield np.array(data[a:b], dtype=np.float32), a, inside


def level_stats(data) -> tuple[float, float]:
    """Return (centre, spread) of a stored level from a strided sample."""
    step = max(1, int(np.ceil(max(data.shape) / STATS_SAMPLE)))
    return robust_stats(data, step)


def level_for(tomogram: Tomogram, radius: float) -> int:
    """Return the coarsest stored level with voxels no larger than needed.

    The level :func:`~napari_cryopick.model.grid.plan_grid` reads for a
    grid of a tenth of the class radius (level 0 when that is finer).
    """
    from napari_cryopick.model.grid import plan_grid

    return plan_grid(tomogram, FINEST * radius).level


def _factor(tomogram: Tomogram, level: int) -> np.ndarray:
    """Level-0 voxels per voxel of ``level``, per axis."""
    return np.asarray(tomogram.scales[level], float) / np.asarray(
        tomogram.scales[0], float
    )
