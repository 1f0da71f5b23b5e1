"""Density templates of the CZII proteins, shipped with the package.

The maps are PolNet's 10 Å densities computed from PDB models (see
``data/templates/ATTRIBUTION.md``). A :class:`Template` is one map,
cropped to its density, with its centre of mass: the simulator puts that
centre on the pick, so a pick is the density centre of its particle.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import mrcfile
import numpy as np
from scipy import ndimage

from napari_cryopick.errors import CryopickError

#: Class name -> shipped map. ``albumin`` is a distractor, never picked.
TEMPLATE_FILES = {
    'apo-ferritin': '8cpv.mrc',
    'beta-amylase': '1fa2.mrc',
    'beta-galactosidase': '6drv.mrc',
    'ribosome': '6qzp.mrc',
    'thyroglobulin': '7n4y.mrc',
    'virus-like-particle': '6n4v.mrc',
    'albumin': '8vaf.mrc',
}

#: The maps are in one common unit (PolNet sums atomic scattering per
#: voxel); protein interiors peak at 17-22 of it. Dividing all maps by one
#: constant puts protein near 1 and keeps their relative densities.
DENSITY_UNIT = 20.0

#: Fraction of the maximum that outlines a particle (its real extent).
EXTENT_LEVEL = 0.1

#: Density below this fraction of the maximum is cropped away.
_CROP_LEVEL = 1e-3

#: Below this relative voxel-size change, rendering absorbs the scale
#: exactly in its affine matrix; above it, the map is resampled first so
#: that boxes keep their size and a coarser grid gets anti-aliased.
_RESAMPLE_TOLERANCE = 0.05


@dataclass(frozen=True, eq=False)
class Template:
    """One density map, ready to render.

    Parameters
    ----------
    name : str
        Class name (a key of :data:`TEMPLATE_FILES`).
    density : ndarray
        Read-only float32 (z, y, x) density, cropped, in protein units.
    voxel_size : float
        Voxel size of ``density`` in Å.
    centre : ndarray
        (3,) centre of mass of ``density``, (z, y, x) voxel indices.
    radius : float
        Å from the centre to the farthest voxel above
        :data:`EXTENT_LEVEL` of the maximum (half a voxel added).
    """

    name: str
    density: np.ndarray
    voxel_size: float
    centre: np.ndarray
    radius: float

    @property
    def box_radius(self) -> float:
        """Å from the centre that holds the whole cropped map."""
        corners = np.array(np.meshgrid(*[(0, s - 1) for s in self.shape]))
        corners = corners.reshape(3, -1).T
        span = np.linalg.norm(corners - self.centre, axis=1).max()
        return float(span + 1.0) * self.voxel_size

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of ``density``."""
        return self.density.shape


def template_names() -> tuple[str, ...]:
    """Return the names of the shipped templates."""
    return tuple(TEMPLATE_FILES)


@functools.lru_cache(maxsize=64)
def load_template(name: str, voxel_size: float | None = None) -> Template:
    """Load a shipped template, resampled near ``voxel_size``.

    Cached: repeated calls return the same (read-only) object.

    Parameters
    ----------
    name : str
        Class name, one of :func:`template_names`.
    voxel_size : float, optional
        Target voxel size in Å. The map is resampled with
        :func:`scipy.ndimage.zoom` when its own voxel size differs by more
        than 5 %; smaller differences are left to the renderer, which
        scales exactly. Default: the map's own voxel size.

    Returns
    -------
    Template
        The cropped map with its centre and extent.

    Raises
    ------
    CryopickError
        If ``name`` is not a shipped template.
    """
    if name not in TEMPLATE_FILES:
        known = ', '.join(TEMPLATE_FILES)
        raise CryopickError(f'no template for {name!r}; known: {known}')
    density, own_size = _read_map(TEMPLATE_FILES[name])
    if voxel_size is not None:
        density, own_size = resample_density(
            density, own_size, float(voxel_size)
        )
    density = _crop(density)
    density.setflags(write=False)
    return Template(
        name=name,
        density=density,
        voxel_size=own_size,
        centre=_centre_of_mass(density),
        radius=_extent_radius(density, own_size),
    )


def _read_map(filename: str) -> tuple[np.ndarray, float]:
    source = resources.files('napari_cryopick') / 'data' / 'templates'
    with (
        resources.as_file(source / filename) as path,
        mrcfile.open(path, permissive=True) as mrc,
    ):
        density = np.asarray(mrc.data, dtype=np.float32).copy()
        size = np.array(mrc.voxel_size.tolist(), dtype=float)
    if not np.all(size > 0) or not np.allclose(size, size[0]):
        raise CryopickError(f'{filename}: voxel size {size} is not cubic')
    # Atomic-model maps carry tiny negative rounding residues; a negative
    # weight would bias the centre of mass.
    density = np.clip(density, 0.0, None) / DENSITY_UNIT
    return density, float(size[0])


def resample_density(
    density: np.ndarray, size: float, target: float
) -> tuple[np.ndarray, float]:
    """Return ``density`` (``size`` Å voxels) resampled near ``target`` Å.

    Within 5 % of ``target`` it is returned as it is (the renderer scales
    exactly); else blurred to the new Nyquist limit when coarser, zoomed
    linearly and clipped at 0. The second value is the new voxel size.
    """
    ratio = size / target
    if abs(ratio - 1.0) <= _RESAMPLE_TOLERANCE:
        return density, size
    if ratio < 1.0:
        # Going coarser: blur to the new Nyquist limit first, else the
        # linear resampling aliases fine detail into noise.
        sigma = 0.5 * np.sqrt(1.0 / ratio**2 - 1.0)
        density = ndimage.gaussian_filter(density, sigma)
    shape = np.maximum(np.round(np.array(density.shape) * ratio), 2)
    factors = tuple(shape / density.shape)
    out = ndimage.zoom(density, factors, output=np.float32, order=1)
    out = np.clip(out, 0.0, None)
    # zoom maps corner voxel to corner voxel, so its true step follows
    # from the shapes, not from ``ratio``.
    step = size * (density.shape[0] - 1) / (shape[0] - 1)
    return out, float(step)


def _crop(density: np.ndarray) -> np.ndarray:
    inside = np.argwhere(density > _CROP_LEVEL * density.max())
    lo = np.maximum(inside.min(axis=0) - 1, 0)
    hi = np.minimum(inside.max(axis=0) + 2, density.shape)
    return np.ascontiguousarray(density[tuple(map(slice, lo, hi))])


def _centre_of_mass(density: np.ndarray) -> np.ndarray:
    centre = np.array(ndimage.center_of_mass(density), dtype=float)
    centre.setflags(write=False)
    return centre


def _extent_radius(density: np.ndarray, size: float) -> float:
    centre = _centre_of_mass(density)
    inside = np.argwhere(density > EXTENT_LEVEL * density.max())
    farthest = np.linalg.norm(inside - centre, axis=1).max()
    return float(farthest + 0.5) * size


def template_from_density(
    name: str, density: np.ndarray, voxel_size: float
) -> Template:
    """Make a :class:`Template` of any density (a protein not shipped).

    Parameters
    ----------
    name : str
        Class name the simulator picks it under.
    density : ndarray
        (z, y, x) density, protein ~1 (e.g.
        :func:`~napari_cryopick.simulate.crowding.pseudo_protein`).
    voxel_size : float
        Å per voxel of ``density``.

    Returns
    -------
    Template
        Cropped, with its centre of mass and extent.
    """
    density = _crop(np.clip(np.asarray(density, np.float32), 0.0, None))
    density.setflags(write=False)
    return Template(
        name=name,
        density=density,
        voxel_size=float(voxel_size),
        centre=_centre_of_mass(density),
        radius=_extent_radius(density, float(voxel_size)),
    )
