"""Adding rotated templates and small boxes into a volume.

Rotations follow copick: a 3x3 matrix acting on (x, y, z) that takes the
template (object) frame to the tomogram frame. Arrays are (z, y, x), so
the matrix is conjugated by the axis reversal before use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from napari_cryopick.simulate.templates import Template


def zyx_matrix(rotation_xyz: np.ndarray) -> np.ndarray:
    """Return the (z, y, x) form of an (x, y, z) rotation matrix."""
    return np.asarray(rotation_xyz, dtype=float)[::-1, ::-1]


def clip_box(
    corner: np.ndarray, shape: tuple[int, ...], bounds: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Intersect a box with a volume.

    Parameters
    ----------
    corner : ndarray
        (3,) integer index of the box's first voxel (may be negative).
    shape : tuple of int
        Box shape.
    bounds : tuple of int
        Volume shape.

    Returns
    -------
    tuple of ndarray or None
        ``(low, high)`` volume indices of the overlap, or ``None`` when
        the box lies outside the volume.
    """
    corner = np.asarray(corner, dtype=int)
    low = np.maximum(corner, 0)
    high = np.minimum(corner + np.asarray(shape), bounds)
    if np.any(high <= low):
        return None
    return low, high


def add_box(volume: np.ndarray, box: np.ndarray, corner) -> None:
    """Add ``box`` into ``volume`` with its first voxel at ``corner``.

    Parts outside the volume are dropped.
    """
    clipped = clip_box(corner, box.shape, volume.shape)
    if clipped is None:
        return
    low, high = clipped
    inner = tuple(map(slice, low - corner, high - corner))
    volume[tuple(map(slice, low, high))] += box[inner]


def add_template(
    volume: np.ndarray,
    template: Template,
    centre: np.ndarray,
    rotation_xyz: np.ndarray,
    voxel_size: float,
    weight: float = 1.0,
) -> None:
    """Render ``template`` rotated, with its centre of mass at ``centre``.

    Only the template's box is resampled (trilinear): the cost does not
    depend on the volume size.

    Parameters
    ----------
    volume : ndarray
        float32 (z, y, x) volume, changed in place.
    template : Template
        Map to render.
    centre : ndarray
        (3,) position of the template's centre of mass, (z, y, x)
        voxels of ``volume`` (sub-voxel).
    rotation_xyz : ndarray
        3x3 rotation, template frame to volume frame, (x, y, z).
    voxel_size : float
        Voxel size of ``volume`` in Å.
    weight : float
        Density multiplier.
    """
    centre = np.asarray(centre, dtype=float)
    reach = int(np.ceil(template.box_radius / voxel_size))
    corner = np.round(centre).astype(int) - reach
    clipped = clip_box(corner, (2 * reach + 1,) * 3, volume.shape)
    if clipped is None:
        return
    low, high = clipped
    # Output voxel o maps to template voxel c + s R^T (o - p): the
    # inverse rotation, scaled from volume to template voxels.
    step = voxel_size / template.voxel_size
    matrix = step * zyx_matrix(rotation_xyz).T
    offset = template.centre + matrix @ (low - centre)
    box = ndimage.affine_transform(
        template.density,
        matrix,
        offset=offset,
        output_shape=tuple(high - low),
        output=np.float32,
        order=1,
        mode='constant',
        cval=0.0,
    )
    if weight != 1.0:
        box *= np.float32(weight)
    volume[tuple(map(slice, low, high))] += box
