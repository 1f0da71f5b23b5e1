"""The crowd of a real cell or lysate: proteins nobody asked to pick.

Real cytoplasm holds thousands of proteins of every size and shape
between the ones a user picks; they are what makes the mid-sized classes
(beta-galactosidase, thyroglobulin) hard. Here they are procedural
pseudo-proteins: clusters of Gaussian lumps (globular, elongated,
hollow, dimeric) from 40 to 300 Å across, at a chosen volume fraction,
placed after the target particles in the room they leave. Filaments
(actin and microtubules) are curved chains of lumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from napari_cryopick.simulate.render import add_box

if TYPE_CHECKING:
    from napari_cryopick.simulate.placement import Occupancy

#: Diameter range of the pseudo-proteins, Å (log-uniform).
DIAMETER_RANGE = (40.0, 300.0)
#: Distinct shapes drawn per tomogram; each instance is one of them,
#: turned by one of the 48 axis permutations and flips.
SHAPES_PER_TOMOGRAM = 48
#: Gaussian width of one lump (a domain of ~25-50 Å), Å.
_LUMP_SIGMA = (9.0, 16.0)
#: Actin: 70 Å across, lumps every 27.5 Å on a two-start helix.
ACTIN_RADIUS = 35.0
#: Microtubule: 250 Å across, 13 protofilaments, hollow lumen of 150 Å.
MICROTUBULE_RADIUS = 125.0


@dataclass(frozen=True)
class Filament:
    """A filament: its axis as (N, 3) voxel points and its kind."""

    points: np.ndarray
    kind: str


def pseudo_protein(
    rng: np.random.Generator, diameter: float, voxel_size: float
) -> np.ndarray:
    """Draw one pseudo-protein density box (protein ~1).

    Parameters
    ----------
    rng : Generator
        Random source.
    diameter : float
        Overall size in Å.
    voxel_size : float
        Å per voxel.

    Returns
    -------
    ndarray
        float32 cube, odd size, the protein centred.
    """
    radius = diameter / 2.0
    sigma = rng.uniform(*_LUMP_SIGMA)
    kind = str(rng.choice(_kinds(diameter)))
    lumps = _lump_centres(rng, kind, radius, sigma)
    reach = int(np.ceil((radius + 2.0 * sigma) / voxel_size))
    size = 2 * reach + 1
    grid = (np.indices((size,) * 3, dtype=np.float32) - reach) * voxel_size
    box = np.zeros((size,) * 3, dtype=np.float32)
    for centre in lumps:
        dist2 = np.sum((grid - centre[:, None, None, None]) ** 2, axis=0)
        box += np.exp(-0.5 * dist2 / sigma**2).astype(np.float32)
    peak = float(box.max())
    if peak > 0:
        # Real proteins saturate at protein density where domains touch.
        box = np.float32(rng.uniform(0.6, 1.0)) * np.tanh(box / (0.6 * peak))
    return box.astype(np.float32)


def _kinds(diameter: float) -> tuple[str, ...]:
    """Shapes a pseudo-protein of ``diameter`` Å may take.

    A crowd protein must not be a copy of a class to pick, or the labels
    contradict the data: no hollow shells at apo-ferritin's or the
    virus-like particle's size (those are above 100 Å), and nothing
    round at the ribosome's (above 200 Å, only elongated or dimeric
    complexes).
    """
    if diameter > 200.0:
        return ('elongated', 'dimer')
    if diameter > 100.0:
        return ('globular', 'elongated', 'dimer')
    return ('globular', 'elongated', 'hollow', 'dimer')


def _lump_centres(rng, kind: str, radius: float, sigma: float) -> np.ndarray:
    inner = max(radius - sigma, sigma * 0.5)
    volume = (inner / sigma) ** 3
    count = int(np.clip(volume * rng.uniform(0.6, 1.2), 1, 60))
    if kind == 'hollow':
        directions = rng.standard_normal((max(count, 8), 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return directions * inner
    points = _in_ball(rng, count) * inner
    if kind == 'elongated':
        points *= np.array([1.0, 0.45, 0.45])
        points = points @ _random_rotation(rng)
    elif kind == 'dimer':
        half = points * 0.5
        shift = _random_rotation(rng)[0] * inner * 0.5
        points = np.vstack([half + shift, half - shift])
    return points


def _in_ball(rng: np.random.Generator, count: int) -> np.ndarray:
    points = rng.standard_normal((count, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points * rng.uniform(0, 1, (count, 1)) ** (1 / 3)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def _turned(box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    box = np.transpose(box, rng.permutation(3))
    flips = tuple(np.flatnonzero(rng.integers(0, 2, 3)))
    return np.flip(box, flips) if flips else box


def render_crowd(
    volume: np.ndarray,
    fraction: float,
    low: np.ndarray,
    high: np.ndarray,
    occupancy: Occupancy,
    rng: np.random.Generator,
    voxel_size: float,
) -> np.ndarray:
    """Fill the free room of the slab with pseudo-proteins (in place).

    Parameters
    ----------
    volume : ndarray
        float32 (z, y, x) density.
    fraction : float
        Target volume fraction of the slab they fill (cytoplasm: 0.1-0.3
        with the other contents).
    low, high : ndarray
        (3,) bounds of the slab, voxels.
    occupancy : Occupancy
        What is already there; the crowd avoids it (it is not updated:
        nothing is placed after the crowd except small clutter).
    rng : Generator
        Random source.
    voxel_size : float
        Å per voxel.

    Returns
    -------
    ndarray
        (N, 3) centres of the proteins placed (voxels), for use as
        hard negatives.
    """
    if fraction <= 0:
        return np.empty((0, 3))
    diameters = np.exp(
        rng.uniform(*np.log(DIAMETER_RANGE), SHAPES_PER_TOMOGRAM)
    )
    shapes = [pseudo_protein(rng, d, voxel_size) for d in diameters]
    radii = diameters / 2.0 / voxel_size
    slab = np.prod(np.asarray(high) - np.asarray(low))
    mean_volume = np.mean(4.0 / 3.0 * np.pi * radii**3)
    count = int(fraction * slab / mean_volume)
    which = rng.integers(0, len(shapes), size=count * 2)
    points = rng.uniform(low, high, size=(count * 2, 3))
    keep = _free(points, radii[which], occupancy)
    points, which = points[keep][:count], which[keep][:count]
    keep = _apart(points, radii[which])
    for point, index in zip(points[keep], which[keep], strict=True):
        box = _turned(shapes[index], rng)
        corner = np.round(point).astype(int) - box.shape[0] // 2
        add_box(volume, box, corner)
    return points[keep]


def _free(points, radii, occupancy: Occupancy) -> np.ndarray:
    # Tested in chunks, each against its largest radius (conservative).
    keep = np.zeros(len(points), dtype=bool)
    order = np.argsort(radii)
    for chunk in np.array_split(order, max(1, len(order) // 256)):
        if len(chunk):
            keep[chunk] = occupancy.fits(points[chunk], radii[chunk].max())
    return keep


def _apart(points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Greedy: drop the smaller of two pseudo-proteins that overlap."""
    if len(points) < 2:
        return np.ones(len(points), dtype=bool)
    tree = cKDTree(points)
    pairs = tree.query_pairs(2.0 * float(radii.max()), output_type='ndarray')
    keep = np.ones(len(points), dtype=bool)
    gaps = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    clash = pairs[gaps < 0.8 * (radii[pairs[:, 0]] + radii[pairs[:, 1]])]
    for i, j in clash:
        if keep[i] and keep[j]:
            keep[j if radii[j] <= radii[i] else i] = False
    return keep


def draw_filament(
    rng: np.random.Generator,
    low: np.ndarray,
    high: np.ndarray,
    voxel_size: float,
    kind: str,
) -> Filament:
    """Draw a gently curved filament lying in the slab.

    Parameters
    ----------
    rng : Generator
        Random source.
    low, high : ndarray
        (3,) bounds of the slab, voxels.
    voxel_size : float
        Å per voxel.
    kind : str
        ``'actin'`` or ``'microtubule'``.

    Returns
    -------
    Filament
        Axis points one voxel apart.
    """
    length = rng.uniform(1000.0, 4000.0) / voxel_size
    persistence = (5000.0 if kind == 'actin' else 50000.0) / voxel_size
    direction = rng.standard_normal(3)
    direction[0] *= 0.2  # filaments lie mostly flat in a thin lamella
    direction /= np.linalg.norm(direction)
    point = rng.uniform(low, high)
    points = [point]
    for _ in range(int(length)):
        direction = direction + rng.standard_normal(3) / np.sqrt(persistence)
        direction[0] *= 0.9
        direction /= np.linalg.norm(direction)
        point = point + direction
        points.append(point)
    return Filament(np.array(points), kind)


def filament_radius(kind: str, voxel_size: float) -> float:
    """Return the outer radius of a filament kind, voxels."""
    size = ACTIN_RADIUS if kind == 'actin' else MICROTUBULE_RADIUS
    return size / voxel_size


def render_filament(
    volume: np.ndarray, filament: Filament, voxel_size: float
) -> None:
    """Add the filament's density: lumps along its axis (in place)."""
    points = filament.points
    tangents = np.gradient(points, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    if filament.kind == 'actin':
        step, ring, sigma = 27.5, 2, 18.0
        radius = ACTIN_RADIUS - sigma
    else:
        step, ring, sigma = 40.0, 13, 16.0
        radius = MICROTUBULE_RADIUS - sigma
    every = max(1, int(round(step / voxel_size)))
    blob = _gauss_box(sigma, voxel_size)
    half = blob.shape[0] // 2
    normal = np.cross(tangents[0], [1.0, 0.0, 0.0])
    if np.linalg.norm(normal) < 1e-3:
        normal = np.cross(tangents[0], [0.0, 1.0, 0.0])
    for n, index in enumerate(range(0, len(points), every)):
        t = tangents[index]
        # Carry the normal along the curve (parallel transport).
        normal = normal - (normal @ t) * t
        normal /= np.linalg.norm(normal)
        binormal = np.cross(t, normal)
        twist = n * (np.pi if ring == 2 else 0.0) + n * 0.3
        for k in range(ring):
            angle = twist + 2.0 * np.pi * k / ring
            offset = (
                radius
                / voxel_size
                * (np.cos(angle) * normal + np.sin(angle) * binormal)
            )
            corner = np.round(points[index] + offset).astype(int) - half
            add_box(volume, blob, corner)


def _gauss_box(sigma: float, voxel_size: float) -> np.ndarray:
    reach = int(np.ceil(2.5 * sigma / voxel_size))
    grid = (np.indices((2 * reach + 1,) * 3, dtype=np.float32) - reach) * (
        voxel_size
    )
    dist2 = np.sum(grid**2, axis=0)
    return (0.8 * np.exp(-0.5 * dist2 / sigma**2)).astype(np.float32)
