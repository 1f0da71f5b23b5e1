"""Lipid membranes: vesicles and curved sheets, as bilayer caps.

A bilayer is two dense head-group leaflets about 40 Å apart. Each
membrane is a spherical cap: a whole sphere makes a vesicle, a small
part of a large sphere a gently curved sheet.
"""

from __future__ import annotations

import numpy as np

from napari_cryopick.simulate.placement import Cap
from napari_cryopick.simulate.render import clip_box

#: Distance between the two leaflets' head groups, Å.
LEAFLET_SPACING = 40.0
#: Gaussian width of one leaflet, Å.
LEAFLET_SIGMA = 9.0
#: Peak density of a leaflet, in protein units: a leaflet is thinner than
#: a protein, so at 10 Å voxels it reads lighter.
LEAFLET_DENSITY = 0.45
#: z planes rendered at a time.
_PLANES = 16


def draw_cap(
    rng: np.random.Generator,
    low: np.ndarray,
    high: np.ndarray,
    voxel_size: float,
) -> Cap:
    """Draw a vesicle or a sheet lying in the slab between low and high.

    Parameters
    ----------
    rng : Generator
        Random source.
    low, high : ndarray
        (3,) bounds (voxels) of the slab the membrane sits in.
    voxel_size : float
        Å per voxel.

    Returns
    -------
    Cap
        The membrane, in voxel units.
    """
    half_width = (LEAFLET_SPACING / 2 + 3 * LEAFLET_SIGMA) / voxel_size
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    if rng.uniform() < 0.5:
        thickness = float(high[0] - low[0])
        largest = max(0.45 * thickness, 200.0 / voxel_size)
        radius = rng.uniform(min(200.0 / voxel_size, largest), largest)
        lo = low + np.array([min(radius, thickness / 2), 0.0, 0.0])
        hi = high - np.array([min(radius, thickness / 2), 0.0, 0.0])
        centre = rng.uniform(lo, np.maximum(hi, lo))
        return Cap(centre, radius, axis, np.pi, half_width)
    radius = rng.uniform(1500.0, 4000.0) / voxel_size
    arc = rng.uniform(400.0, 1500.0) / voxel_size
    middle = rng.uniform(low, high)
    centre = middle - radius * axis
    return Cap(centre, radius, axis, min(arc / radius, np.pi), half_width)


def render_cap(
    volume: np.ndarray, cap: Cap, voxel_size: float, weight: float = 1.0
) -> None:
    """Add the bilayer density of ``cap`` into ``volume`` (in place).

    Parameters
    ----------
    volume : ndarray
        float32 (z, y, x) volume.
    cap : Cap
        The membrane, voxel units.
    voxel_size : float
        Å per voxel.
    weight : float
        Density multiplier.
    """
    clipped = _cap_box(cap, volume.shape)
    if clipped is None:
        return
    low, high = clipped
    # Slices of a few planes bound the temporaries: a sheet's box can be
    # most of the volume.
    for z0 in range(low[0], high[0], _PLANES):
        part_low = np.array([z0, low[1], low[2]])
        part_high = np.array([min(z0 + _PLANES, high[0]), high[1], high[2]])
        region = volume[tuple(map(slice, part_low, part_high))]
        _add_bilayer(region, part_low, cap, voxel_size, weight)


def _add_bilayer(
    region: np.ndarray,
    low: np.ndarray,
    cap: Cap,
    voxel_size: float,
    weight: float,
) -> None:
    grid = np.indices(region.shape, dtype=np.float32).reshape(3, -1)
    rel = grid.T + (low - cap.centre).astype(np.float32)
    norm = np.linalg.norm(rel, axis=1)
    radial = (norm - cap.radius) * voxel_size
    near = np.flatnonzero(np.abs(radial) < cap.half_width * voxel_size)
    if not len(near):
        return
    rel, norm, radial = rel[near], norm[near], radial[near]
    half = LEAFLET_SPACING / 2
    profile = np.exp(-0.5 * ((radial - half) / LEAFLET_SIGMA) ** 2)
    profile += np.exp(-0.5 * ((radial + half) / LEAFLET_SIGMA) ** 2)
    profile *= LEAFLET_DENSITY * weight * _rim_fade(cap, rel, norm)
    index = np.unravel_index(near, region.shape)
    region[index] += profile.astype(np.float32)


def _rim_fade(cap: Cap, rel: np.ndarray, norm: np.ndarray) -> np.ndarray:
    if cap.angle >= np.pi:
        return np.ones(len(norm), dtype=np.float32)
    cos = rel @ cap.axis.astype(np.float32) / np.maximum(norm, 1e-6)
    beyond = (np.arccos(np.clip(cos, -1.0, 1.0)) - cap.angle) * cap.radius
    # A two-voxel ramp at the rim: a hard cut would ring after filtering.
    return np.clip(0.5 - beyond / 2.0, 0.0, 1.0)


def _cap_box(
    cap: Cap, bounds: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    # Bound the cap by points spread over its surface (a Fibonacci
    # lattice), widened by the membrane's half width and the spacing.
    n = 4000
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5**0.5) * k
    rho = np.sqrt(1.0 - z**2)
    points = np.stack([z, rho * np.cos(phi), rho * np.sin(phi)], axis=1)
    points = points[points @ cap.axis >= np.cos(cap.angle + 0.05)]
    points = np.vstack([points, cap.axis])
    surface = cap.centre + cap.radius * points
    spacing = cap.radius * np.sqrt(4.0 * np.pi / n)
    margin = cap.half_width + spacing + 2.0
    low = np.floor(surface.min(axis=0) - margin).astype(int)
    high = np.ceil(surface.max(axis=0) + margin).astype(int) + 1
    return clip_box(low, tuple(high - low), bounds)


def render_lumen(volume: np.ndarray, cap: Cap, density: float) -> None:
    """Fill a vesicle's inside with a flat ``density`` (in place).

    Real vesicles hold cytosol or cargo: their lumen is not empty ice.
    Sheets (caps short of a sphere) have no inside and are left alone.
    """
    if cap.angle < np.pi or density <= 0:
        return
    reach = cap.radius - cap.half_width
    clipped = clip_box(
        np.floor(cap.centre - reach).astype(int),
        (int(np.ceil(2 * reach)) + 2,) * 3,
        volume.shape,
    )
    if clipped is None:
        return
    low, high = clipped
    grid = np.indices(tuple(high - low), dtype=np.float32)
    rel = grid + (low - cap.centre).astype(np.float32)[:, None, None, None]
    dist = np.sqrt(np.sum(rel**2, axis=0))
    inside = np.clip((reach - dist) / 2.0, 0.0, 1.0)
    volume[tuple(map(slice, low, high))] += np.float32(density) * inside
