"""Placing objects in a volume without overlap.

Everything here works in voxel units, (z, y, x) order. Particles are
spheres of their real extent; membranes are spherical caps with a
thickness; the carbon film is a slab over part of the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_cryopick.errors import CryopickError

#: Candidate positions drawn per batch; one batch usually suffices.
_BATCH = 64
#: Batches tried before giving up on one object.
_MAX_BATCHES = 40


@dataclass(frozen=True)
class Cap:
    """A spherical cap (a vesicle when ``angle`` is pi).

    Parameters
    ----------
    centre : ndarray
        (3,) centre of the sphere, voxels.
    radius : float
        Sphere radius, voxels.
    axis : ndarray
        (3,) unit vector from the centre to the middle of the cap.
    angle : float
        Half opening angle of the cap, radians.
    half_width : float
        Half the thickness of the bilayer, voxels.
    """

    centre: np.ndarray
    radius: float
    axis: np.ndarray
    angle: float
    half_width: float

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Return the distance of (N, 3) ``points`` to the cap surface."""
        rel = np.atleast_2d(points) - self.centre
        norm = np.linalg.norm(rel, axis=1)
        cos = rel @ self.axis / np.maximum(norm, 1e-9)
        on_cap = cos >= np.cos(self.angle)
        # Off the cap, the nearest surface point lies on its rim circle.
        theta = np.arccos(np.clip(cos, -1.0, 1.0)) - self.angle
        rim = np.sqrt(
            norm**2
            + self.radius**2
            - 2.0 * norm * self.radius * np.cos(np.maximum(theta, 0.0))
        )
        return np.where(on_cap, np.abs(norm - self.radius), rim)


@dataclass(frozen=True)
class Carbon:
    """A carbon film over the part of the field where n . (y, x) >= d.

    Parameters
    ----------
    normal : ndarray
        (2,) unit normal in the (y, x) plane, pointing into the film.
    offset : float
        ``d``, voxels.
    z_range : tuple of float
        Bottom and top of the film, voxels.
    """

    normal: np.ndarray
    offset: float
    z_range: tuple[float, float]

    def clearance(self, points: np.ndarray) -> np.ndarray:
        """Return how far (N, 3) ``points`` lie outside the film."""
        points = np.atleast_2d(points)
        side = self.offset - points[:, 1:] @ self.normal
        below = self.z_range[0] - points[:, 0]
        above = points[:, 0] - self.z_range[1]
        return np.maximum(side, np.maximum(below, above))


@dataclass
class Occupancy:
    """What already fills a volume, to test new objects against."""

    centres: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    radii: np.ndarray = field(default_factory=lambda: np.empty(0))
    caps: list[Cap] = field(default_factory=list)
    carbon: Carbon | None = None

    def add(self, centre: np.ndarray, radius: float) -> None:
        """Record a sphere of ``radius`` voxels at ``centre``."""
        self.centres = np.vstack([self.centres, centre])
        self.radii = np.append(self.radii, radius)

    def add_many(self, centres: np.ndarray, radius: float) -> None:
        """Record spheres of one ``radius`` at (N, 3) ``centres``."""
        centres = np.reshape(centres, (-1, 3))
        self.centres = np.vstack([self.centres, centres])
        self.radii = np.append(self.radii, np.full(len(centres), radius))

    def fits(self, points: np.ndarray, radius: float) -> np.ndarray:
        """Return which (N, 3) ``points`` leave room for ``radius``."""
        ok = np.ones(len(points), dtype=bool)
        if len(self.radii):
            gap = np.linalg.norm(
                points[:, None, :] - self.centres[None], axis=2
            )
            ok &= np.all(gap >= radius + self.radii, axis=1)
        for cap in self.caps:
            ok &= cap.distance(points) >= radius + cap.half_width
        if self.carbon is not None:
            ok &= self.carbon.clearance(points) >= radius
        return ok


def place_spheres(
    radii: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    occupancy: Occupancy,
    rng: np.random.Generator,
) -> np.ndarray:
    """Place spheres one by one, uniformly, where they overlap nothing.

    Parameters
    ----------
    radii : ndarray
        (N,) radii in voxels, placed in the given order (put the largest
        first: they are the hardest to fit).
    low, high : ndarray
        (3,) bounds of the centres, voxels.
    occupancy : Occupancy
        Existing objects; updated with the new spheres.
    rng : Generator
        Random source.

    Returns
    -------
    ndarray
        (N, 3) centres, voxels, (z, y, x).

    Raises
    ------
    CryopickError
        If a sphere finds no free room: too many particles for the volume.
    """
    centres = np.empty((len(radii), 3))
    for i, radius in enumerate(radii):
        for _ in range(_MAX_BATCHES):
            points = rng.uniform(low, high, size=(_BATCH, 3))
            free = np.flatnonzero(occupancy.fits(points, radius))
            if len(free):
                break
        else:
            raise CryopickError(
                f'no room for particle {i + 1} of {len(radii)} (radius '
                f'{radius:.1f} voxels): lower the counts or enlarge the shape'
            )
        centres[i] = points[free[0]]
        occupancy.add(centres[i], radius)
    return centres
