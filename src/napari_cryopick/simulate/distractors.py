"""Things in a real tomogram that are not the particles to pick.

Gold fiducial beads, the edge of the carbon support film, and the small
unnamed proteins of the cell lysate. Albumin, a real protein, is rendered
from its template with the particles.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_cryopick.simulate.placement import Carbon, Occupancy
from napari_cryopick.simulate.render import add_box

#: Gold is ~14x denser than protein; after the filters of imaging the
#: beads still dominate, as in real tomograms.
GOLD_DENSITY = 6.0
#: Amorphous carbon against ice, relative to protein against ice.
CARBON_DENSITY = 1.2
#: Small lysate proteins per CZII-sized tomogram at ``clutter=1``.
CLUTTER_PER_TOMOGRAM = 3000
#: Shapes of small proteins drawn per phantom.
_CLUTTER_SHAPES = 32
_CLUTTER_REACH = 5


def gold_radius(rng: np.random.Generator, voxel_size: float) -> float:
    """Draw a bead radius in voxels (diameter 90-120 Å)."""
    return rng.uniform(45.0, 60.0) / voxel_size


def gold_centre(
    rng: np.random.Generator, low: np.ndarray, high: np.ndarray, radius
) -> np.ndarray:
    """Draw a bead centre on the top or bottom surface of the slab."""
    centre = rng.uniform(low, high)
    surface = low[0] if rng.uniform() < 0.5 else high[0]
    centre[0] = surface + rng.uniform(-1.0, 1.0) * radius
    return centre


def render_gold(
    volume: np.ndarray, centre: np.ndarray, radius: float, weight=1.0
) -> None:
    """Add a dense ball with a half-voxel soft edge (in place)."""
    reach = int(np.ceil(radius + 3))
    corner = np.round(centre).astype(int) - reach
    grid = np.indices((2 * reach + 1,) * 3, dtype=np.float32)
    rel = grid + (corner - centre).astype(np.float32)[:, None, None, None]
    dist = np.sqrt(np.sum(rel**2, axis=0))
    ball = 0.5 * (1.0 - np.tanh((dist - radius) / 0.5))
    add_box(volume, (GOLD_DENSITY * weight * ball).astype(np.float32), corner)


def draw_carbon(
    rng: np.random.Generator, shape: tuple[int, ...], low, high
) -> Carbon:
    """Draw a film covering 10-35 % of the field, at a slab surface.

    Parameters
    ----------
    rng : Generator
        Random source.
    shape : tuple of int
        Volume shape.
    low, high : ndarray
        (3,) bounds of the slab, voxels.

    Returns
    -------
    Carbon
        The film, voxel units.
    """
    angle = rng.uniform(0.0, 2.0 * np.pi)
    normal = np.array([np.sin(angle), np.cos(angle)])
    corners = np.array([[0, 0], [0, shape[2]], [shape[1], 0], shape[1:]])
    reach = corners @ normal
    offset = reach.max() - rng.uniform(0.1, 0.35) * np.ptp(reach)
    thickness = min(rng.uniform(10.0, 25.0), 0.4 * (high[0] - low[0]))
    if rng.uniform() < 0.5:
        z_range = (float(low[0]), float(low[0] + thickness))
    else:
        z_range = (float(high[0] - thickness), float(high[0]))
    return Carbon(normal, float(offset), z_range)


def render_carbon(
    volume: np.ndarray, carbon: Carbon, rng: np.random.Generator
) -> None:
    """Add the film, with the grain of amorphous carbon (in place)."""
    z0 = max(int(np.floor(carbon.z_range[0])) - 2, 0)
    z1 = min(int(np.ceil(carbon.z_range[1])) + 3, volume.shape[0])
    if z1 <= z0:
        return
    region = volume[z0:z1]
    zz = np.arange(z0, z1, dtype=np.float32)[:, None, None]
    yy = np.arange(region.shape[1], dtype=np.float32)[None, :, None]
    xx = np.arange(region.shape[2], dtype=np.float32)[None, None, :]
    side = yy * carbon.normal[0] + xx * carbon.normal[1] - carbon.offset
    # Soft ramps (two voxels) on every face: hard steps ring after the
    # band-pass of imaging.
    inside = np.clip(0.5 + side / 2.0, 0.0, 1.0)
    inside = inside * np.clip(0.5 + (zz - carbon.z_range[0]) / 2.0, 0, 1)
    inside = inside * np.clip(0.5 + (carbon.z_range[1] - zz) / 2.0, 0, 1)
    grain = rng.standard_normal(region.shape, dtype=np.float32)
    grain = ndimage.gaussian_filter(grain, 1.0)
    grain *= 0.5 / max(float(grain.std()), 1e-6)
    region += (CARBON_DENSITY * inside * (1.0 + grain)).astype(np.float32)


def clutter_shapes(rng: np.random.Generator) -> list[np.ndarray]:
    """Draw small lumpy blobs: proteins of 30-90 Å, 0.3-0.7 density."""
    size = 2 * _CLUTTER_REACH + 1
    grid = np.indices((size,) * 3, dtype=np.float32) - _CLUTTER_REACH
    shapes = []
    for _ in range(_CLUTTER_SHAPES):
        blob = np.zeros((size,) * 3, dtype=np.float32)
        spread = rng.uniform(0.5, 2.5)
        for _lump in range(rng.integers(1, 6)):
            at = rng.normal(0.0, spread, size=3)[:, None, None, None]
            sigma = rng.uniform(1.0, 1.8)
            dist2 = np.sum((grid - at) ** 2, axis=0)
            blob += np.exp(-0.5 * dist2 / sigma**2)
        blob *= rng.uniform(0.3, 0.7) / blob.max()
        shapes.append(blob)
    return shapes


def render_clutter(
    volume: np.ndarray,
    count: int,
    low: np.ndarray,
    high: np.ndarray,
    occupancy: Occupancy,
    rng: np.random.Generator,
) -> None:
    """Scatter ``count`` small proteins where nothing else is (in place)."""
    shapes = clutter_shapes(rng)
    points = rng.uniform(low, high, size=(count, 3))
    keep = np.concatenate(
        [
            occupancy.fits(chunk, 2.0)
            for chunk in np.array_split(points, max(1, count // 512))
        ]
    )
    which = rng.integers(0, len(shapes), size=count)
    for point, shape_index in zip(points[keep], which[keep], strict=True):
        corner = np.round(point).astype(int) - _CLUTTER_REACH
        add_box(volume, shapes[shape_index], corner)
