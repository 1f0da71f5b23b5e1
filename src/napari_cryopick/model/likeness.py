"""Whether a pick of a class learnt from clicks looks like the clicks.

A network taught a new protein from a few clicks has seen it in a few
orientations only, and calls other densities of about its size the new
class too. The density around a pick tells many of them apart without
knowing the orientation: its rotational average (the mean density on
spheres of growing radius, :data:`SHELLS`, on the tomogram's coarsest
stored level with voxels of at most a tenth of the class radius,
normalised as the network's input is) is compared with the clicks'. A
pick whose profile is farther from every click's than :data:`SPREAD`
times the clicks' own spread (the 90 % quantile of each click's distance
to its nearest other click) is not of the class. The profiles and that
limit go into the model card.

Clicks and picks are first moved :data:`RECENTRE` times to the centre of
mass of the particle's density within the class radius: a network taught
by 20 clicks places its peaks 16-31 Å (RMS, 3D) from the particle's
centre, where the profile is blurred and no longer like the centred
clicks'. The picks kept are written at those centres
(:func:`check_and_centre`): 9-15 Å from the true centre instead of
16-31 Å on the benchmark's clean phantoms.

Measured on the candidates of the benchmark's tuned models
(``benchmarks/bench_newclass.py``, docs/benchmarks.md "New classes"):
new-class F4 on the second tomogram at the clicks' threshold with 5 / 10
/ 20 / 50 clicks, 0.603 / 0.743 / 0.786 / 0.716 without the check and
0.617 / 0.827 / 0.821 / 0.834 with it; a second protein 0.875 -> 0.911,
a smaller third 0.475 -> 0.535, albumin 0.312 -> 0.423. With 20 clicks
it dropped 45 of the 57 false picks that lay away from every labelled
particle and none of the true ones; the false picks beside apo-ferritins
stay (their profiles are within the clicks' spread). Centring (the
check and the picks), 20 clicks: 0.821 -> 0.829 (170 Å protein), 0.911
-> 0.945 (140 Å), 0.554 -> 0.587 (120 Å), 0.749 -> 0.955 (150 Å at
13.48 Å voxels), crowded look 0.451 -> 0.459, noisy look 0.287 -> 0.309;
albumin 0.482 -> 0.464.
"""

from __future__ import annotations

from dataclasses import dataclass
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

#: A pick is like the clicks within this many times their own spread.
SPREAD = 1.25
#: Fewer clicks than this give no spread to measure: no check.
MIN_CLICKS = 3
#: Shells of the profile, as fractions of the class radius.
SHELLS = np.linspace(0.0, 1.2, 13)
#: Directions sampled on each shell.
DIRECTIONS = 192
#: A pick's centre is searched this far (class radii) along each axis:
#: a network's peak is not exactly a user's click.
SEARCH = 0.1
#: Finest voxel the profile needs, as a fraction of the class radius.
FINEST = 0.1
#: Times a centre moves to its density's centre of mass (one move
#: measured less, four no better: the centre wanders to a neighbour).
RECENTRE = 2
#: Farthest one move goes, in class radii.
RECENTRE_STEP = 0.25
#: Points along the class radius for the centre of mass, at most.
BALL_POINTS = 12
#: Voxels sampled per axis for a tomogram's intensity statistics.
STATS_SAMPLE = 160
#: Voxels read at once (besides the rows around them): 512 MB.
BLOCK_VOXELS = 2**27


@dataclass(frozen=True)
class Likeness:
    """What the clicks of one class look like.

    Attributes
    ----------
    profiles : ndarray
        (clicks, shells) rotational averages of the normalised density
        at :data:`SHELLS` x the class radius.
    limit : float
        Largest distance (RMS over shells) a pick's profile may have
        from its nearest click's.
    recentre : int
        Moves to the density's centre of mass before a profile is read
        (0 in cards written before recentring, which keep their check).
    """

    profiles: np.ndarray
    limit: float
    recentre: int = 0

    @property
    def polarity(self) -> float:
        """-1 when the clicks' particles are darker than around them."""
        contrast = self.profiles[:, 0] - self.profiles[:, -1]
        return -1.0 if np.median(contrast) < 0 else 1.0

    def to_dict(self) -> dict:
        """JSON form for the model card."""
        return {
            'shells': [round(float(s), 4) for s in SHELLS],
            'profiles': np.round(self.profiles, 4).tolist(),
            'limit': round(float(self.limit), 5),
            'recentre': self.recentre,
        }

    @classmethod
    def from_dict(cls, entry: dict) -> Likeness:
        """Read :meth:`to_dict`'s form (raises ValueError if malformed)."""
        shells = np.asarray(entry['shells'], float)
        profiles = np.asarray(entry['profiles'], float)
        if (
            shells.shape != SHELLS.shape
            or not np.allclose(shells, SHELLS)
            or profiles.ndim != 2
            or profiles.shape[1] != len(SHELLS)
        ):
            raise ValueError('likeness profiles of another shape')
        recentre = int(entry.get('recentre', 0))
        return cls(profiles, float(entry['limit']), recentre)


def learn_likeness(pairs, radius: float) -> Likeness | None:
    """Return the :class:`Likeness` of clicks of one class.

    Parameters
    ----------
    pairs : sequence of (Tomogram, DataFrame)
        Each tomogram with its clicks of the class (Å).
    radius : float
        Class radius in Å.

    Returns
    -------
    Likeness or None
        None with fewer than :data:`MIN_CLICKS` clicks.
    """
    pairs = [(tomogram, clicks) for tomogram, clicks in pairs if len(clicks)]
    if sum(len(clicks) for _, clicks in pairs) < MIN_CLICKS:
        return None
    # The clicks as they are tell which way the particles' contrast goes,
    # which recentring needs.
    plain = Likeness(_click_profiles(pairs, radius, 0, -1.0), 0.0)
    profiles = _click_profiles(pairs, radius, RECENTRE, plain.polarity)
    distance = _rms(profiles[:, None], profiles[None])
    np.fill_diagonal(distance, np.inf)
    spread = float(np.quantile(distance.min(axis=1), 0.9))
    return Likeness(profiles, SPREAD * spread, RECENTRE)


def _click_profiles(pairs, radius, recentre, polarity) -> np.ndarray:
    """(clicks, shells) profiles at the clicks, no search around them."""
    found = [
        profiles_at(tomogram, clicks, radius, False, recentre, polarity)[:, 0]
        for tomogram, clicks in pairs
    ]
    return np.concatenate(found)


def unlike(
    table: pd.DataFrame,
    tomogram: Tomogram,
    likeness: dict[str, Likeness],
    radii: dict[str, float],
) -> np.ndarray:
    """Return which picks do not look like their class's clicks.

    Parameters
    ----------
    table : DataFrame
        Picks of one tomogram.
    tomogram : Tomogram
        The tomogram.
    likeness : dict
        :class:`Likeness` by class name; other classes are kept.
    radii : dict
        Class radius in Å by class name.

    Returns
    -------
    ndarray of bool
        True for a pick to drop (row order of ``table``).
    """
    return check_and_centre(table, tomogram, likeness, radii)[0]


def check_and_centre(
    table: pd.DataFrame,
    tomogram: Tomogram,
    likeness: dict[str, Likeness],
    radii: dict[str, float],
) -> tuple[np.ndarray, pd.DataFrame]:
    """Check picks of learnt classes and move them to their particle's centre.

    A network taught by a few clicks places its peaks 16-31 Å from the
    particle's centre (RMS, 3D); the centre of mass the check moves to
    is 9-15 Å from it on the benchmark's clean phantoms (24 Å in real
    noise, from 29), so the picks go there (never outside the volume).
    Two moved picks of a class closer than its radius are one particle:
    the lower score is dropped.

    Parameters
    ----------
    table : DataFrame
        Picks of one tomogram.
    tomogram : Tomogram
        The tomogram.
    likeness : dict
        :class:`Likeness` by class name; other classes are left as they
        are.
    radii : dict
        Class radius in Å by class name.

    Returns
    -------
    drop : ndarray of bool
        True for a pick unlike the clicks, or a duplicate once moved.
    table : DataFrame
        ``table`` with the learnt classes' picks at their new centres.
    """
    drop = np.zeros(len(table), bool)
    xyz = table[['x', 'y', 'z']].to_numpy(float).copy()
    for name, like in likeness.items():
        rows = np.flatnonzero((table['particle_type'] == name).to_numpy())
        if not rows.size:
            continue
        found, centres = _measure(
            tomogram,
            table.iloc[rows],
            radii[name],
            recentre=like.recentre,
            polarity=like.polarity,
        )
        distance = _rms(found[:, :, None], like.profiles[None, None])
        drop[rows] = distance.min(axis=(1, 2)) > like.limit
        if like.recentre:
            xyz[rows] = centres
            drop[rows] |= _duplicates(
                xyz[rows],
                table['score'].to_numpy(float)[rows],
                drop[rows],
                radii[name],
            )
    moved = table.copy()
    moved[['x', 'y', 'z']] = xyz
    return drop, moved


def _duplicates(xyz, scores, dropped, radius) -> np.ndarray:
    """Kept picks within ``radius`` of a better kept one (bool by row)."""
    from napari_cryopick.model.peaks import suppress_duplicates

    rows = np.flatnonzero(~dropped)
    rows = rows[np.argsort(-scores[rows], kind='stable')]
    out = np.zeros(len(xyz), bool)
    out[rows] = True
    out[rows[suppress_duplicates(xyz[rows], radius)]] = False
    return out


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
    return _measure(tomogram, table, radius, search, recentre, polarity)[0]


def _measure(
    tomogram, table, radius, search=True, recentre=0, polarity=-1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(profiles as :func:`profiles_at`, (picks, 3) x, y, z centres in Å)."""
    level = _level_for(tomogram, radius)
    data = tomogram.levels[level]
    voxel = np.asarray(tomogram.scales[level], float)
    centre, spread = _stats(data)
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
            out[i] = _profiles(block, here, shifts, points)
            moved[i] = np.clip(here + (first, 0, 0), 0, last)
    level0 = level_to_level0(moved, _factor(tomogram, level))
    return out, voxel_zyx_to_angstrom_xyz(level0, tomogram.scales[0])


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


def _profiles(box, centre, shifts, points) -> np.ndarray:
    """Mean of ``box`` over each shell, around each shifted centre.

    Edge voxels stand in for what lies outside the volume.
    """
    from scipy import ndimage

    where = centre + shifts[:, None, None, :] + points[None]
    values = ndimage.map_coordinates(
        box, where.reshape(-1, 3).T, order=1, mode='nearest'
    )
    return values.reshape(len(shifts), *points.shape[:2]).mean(axis=2)


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


def _stats(data) -> tuple[float, float]:
    """(centre, spread) of a level from a strided sample."""
    step = max(1, int(np.ceil(max(data.shape) / STATS_SAMPLE)))
    return robust_stats(data, step)


def _level_for(tomogram: Tomogram, radius: float) -> int:
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


def _rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((a - b) ** 2, axis=-1))
