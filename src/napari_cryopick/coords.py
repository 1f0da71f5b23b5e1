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


def level_to_level0(zyx: np.ndarray, factor) -> np.ndarray:
    """Map voxel indices of a binned or resampled grid to level-0 indices.

    A grid whose voxels are ``factor`` level-0 voxels wide covers the
    same extent as level 0: both start at the outer edge of voxel 0
    (level-0 index -0.5). Voxel ``i`` of the grid then spans level-0
    ``[i*factor - 0.5, (i + 1)*factor - 0.5)``, so its centre is at
    level-0 index ``i*factor + (factor - 1) / 2``. For the 2x2x2 block
    means of a pyramid (the CZII portal's and our own writer's) that is
    the mean of voxels ``2i`` and ``2i + 1``, centre ``2i + 0.5``; the
    NGFF metadata of those stores has no translation to say so, and
    ignoring it would shift every pick by half a binned voxel (5 Å at
    level 1). The same holds for any real factor (a 13.6 Å tomogram on a
    20 Å grid: factor 1.47), which is how
    :mod:`napari_cryopick.model.grid` resamples.

    Parameters
    ----------
    zyx : ndarray
        (N, 3) voxel coordinates on the grid.
    factor : float or sequence of 3 floats
        Grid voxel size over level-0 voxel size, one value or per axis
        (z, y, x); 2 for level 1, 4 for level 2.

    Returns
    -------
    ndarray
        (N, 3) level-0 voxel coordinates.
    """
    factor = _factor_zyx(factor)
    return np.asarray(zyx, dtype=float) * factor + (factor - 1) / 2


def level0_to_level(zyx: np.ndarray, factor) -> np.ndarray:
    """Map level-0 voxel indices to a grid (inverse of the above)."""
    factor = _factor_zyx(factor)
    return (np.asarray(zyx, dtype=float) - (factor - 1) / 2) / factor


# --- STAR files (RELION 5, RELION 4/3, Warp/M) -------------------------------
#
# RELION 5 stores ``rlnCenteredCoordinate{X,Y,Z}Angst``: Å from the
# tomogram centre, which RELION defines as (size / 2) pixels along each
# axis with float division (``TomogramSet::loadTomogram``:
# ``centre = (w0 / 2.0, h0 / 2.0, d0 / 2.0)``), pixel coordinates starting
# at 0 on the first voxel's centre (``ParticleSet::getPosition``). For an
# N-voxel axis that is voxel N / 2, not the geometric middle (N - 1) / 2:
# half a voxel apart, as copick and RELION's own C++ agree. RELION 4/3 and
# Warp store ``rlnCoordinate{X,Y,Z}`` in pixels from the first voxel's
# centre, which is our own convention times the pixel size.

#: Below this (RELION's ``16 * FLT_EPSILON``) sin(tilt) counts as zero and
#: the rotation as one about z.
_GIMBAL_EPS = 16 * float(np.finfo(np.float32).eps)


def tomogram_centre(
    shape_zyx: Sequence[int], voxel_size: float | Sequence[float]
) -> np.ndarray:
    """Return the RELION 5 tomogram centre, x, y, z in Å.

    Parameters
    ----------
    shape_zyx : sequence of 3 ints
        Tomogram size in voxels, (z, y, x).
    voxel_size : float or sequence of 3 floats
        Voxel size in Å, one value or (z, y, x).

    Returns
    -------
    ndarray
        (3,) x, y, z: ``size / 2 * voxel size`` per axis, as RELION 5
        computes it (the centre of voxel N / 2, not (N - 1) / 2).
    """
    shape = np.asarray(shape_zyx, dtype=float).reshape(3)
    return (shape / 2.0 * _scale_zyx(voxel_size))[::-1]


def centred_to_absolute(xyz: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """RELION 5 centred Å -> Å from the first voxel's centre.

    Parameters
    ----------
    xyz : ndarray
        (N, 3) ``rlnCenteredCoordinate{X,Y,Z}Angst``.
    centre : ndarray
        (3,) or (N, 3) tomogram centre in Å (:func:`tomogram_centre`).

    Returns
    -------
    ndarray
        (N, 3) x, y, z in Å.
    """
    return np.asarray(xyz, dtype=float).reshape(-1, 3) + centre


def absolute_to_centred(xyz: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Å from the first voxel's centre -> RELION 5 centred Å.

    Parameters
    ----------
    xyz : ndarray
        (N, 3) x, y, z in Å.
    centre : ndarray
        (3,) or (N, 3) tomogram centre in Å (:func:`tomogram_centre`).

    Returns
    -------
    ndarray
        (N, 3) ``rlnCenteredCoordinate{X,Y,Z}Angst``.
    """
    return np.asarray(xyz, dtype=float).reshape(-1, 3) - centre


def pixels_to_angstrom(xyz: np.ndarray, pixel_size) -> np.ndarray:
    """RELION 4/3 or Warp pixel coordinates -> Å.

    Parameters
    ----------
    xyz : ndarray
        (N, 3) ``rlnCoordinate{X,Y,Z}``, 0 at the first voxel's centre.
    pixel_size : float or ndarray
        Å per pixel, one value or one per row.

    Returns
    -------
    ndarray
        (N, 3) x, y, z in Å.
    """
    size = np.asarray(pixel_size, dtype=float).reshape(-1, 1)
    return np.asarray(xyz, dtype=float).reshape(-1, 3) * size


def angstrom_to_pixels(xyz: np.ndarray, pixel_size) -> np.ndarray:
    """Å -> RELION 4/3 pixel coordinates (inverse of the above).

    Parameters
    ----------
    xyz : ndarray
        (N, 3) x, y, z in Å.
    pixel_size : float or ndarray
        Å per pixel, one value or one per row.

    Returns
    -------
    ndarray
        (N, 3) ``rlnCoordinate{X,Y,Z}``.
    """
    size = np.asarray(pixel_size, dtype=float).reshape(-1, 1)
    return np.asarray(xyz, dtype=float).reshape(-1, 3) / size


def apply_origin_shift(
    xyz: np.ndarray, origin: np.ndarray, subtomogram: np.ndarray | None = None
) -> np.ndarray:
    """Apply RELION origin shifts: the particle is at coordinate - origin.

    RELION (``ParticleSet::getPosition``) and Warp both subtract
    ``rlnOrigin{X,Y,Z}Angst`` from the coordinate; RELION 5 first rotates
    the shift by the pseudo-subtomogram matrix
    (``rlnTomoSubtomogram{Rot,Tilt,Psi}``), since refinement measures it in
    the subtomogram's frame.

    Parameters
    ----------
    xyz : ndarray
        (N, 3) coordinates in Å.
    origin : ndarray
        (N, 3) ``rlnOrigin{X,Y,Z}Angst``.
    subtomogram : ndarray, optional
        (N, 3, 3) subtomogram matrices (:func:`relion_euler_to_matrix`).

    Returns
    -------
    ndarray
        (N, 3) particle positions in Å.
    """
    origin = np.asarray(origin, dtype=float).reshape(-1, 3)
    if subtomogram is not None:
        origin = np.einsum('nij,nj->ni', subtomogram, origin)
    return np.asarray(xyz, dtype=float).reshape(-1, 3) - origin


def relion_euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """RELION Euler angles (rot, tilt, psi; ZYZ, degrees) -> rotations.

    This is RELION's ``Euler_angles2matrix``: the matrix A that maps a
    point of the reference (particle frame) into the tomogram, so it is
    the rotation part of a copick ``transformation_`` (copick builds it as
    ``Rotation.from_euler('ZYZ', angles).inv()``). (0, 0, 0) is identity.

    Parameters
    ----------
    angles : ndarray
        (N, 3) rot, tilt, psi in degrees.

    Returns
    -------
    ndarray
        (N, 3, 3) rotation matrices.
    """
    rot, tilt, psi = np.deg2rad(np.asarray(angles, float).reshape(-1, 3)).T
    sa, ca = np.sin(rot), np.cos(rot)
    sb, cb = np.sin(tilt), np.cos(tilt)
    sg, cg = np.sin(psi), np.cos(psi)
    rows = [
        [cg * cb * ca - sg * sa, cg * cb * sa + sg * ca, -cg * sb],
        [-sg * cb * ca - cg * sa, -sg * cb * sa + cg * ca, sg * sb],
        [sb * ca, sb * sa, cb],
    ]
    return np.moveaxis(np.array(rows, dtype=float), -1, 0)


def matrix_to_relion_euler(matrices: np.ndarray) -> np.ndarray:
    """Rotation matrices -> RELION Euler angles (inverse of the above).

    RELION's ``Euler_matrix2angles``: tilt in [0, 180]; when sin(tilt) is
    0 the rotation is about z alone and rot is 0.

    Parameters
    ----------
    matrices : ndarray
        (N, 3, 3) rotations (the upper left of 4x4 transformations).

    Returns
    -------
    ndarray
        (N, 3) rot, tilt, psi in degrees.
    """
    a = np.asarray(matrices, dtype=float).reshape(-1, 3, 3)
    sin_tilt = np.hypot(a[:, 0, 2], a[:, 1, 2])
    regular = sin_tilt > _GIMBAL_EPS
    up = a[:, 2, 2] > 0
    rot = np.where(regular, np.arctan2(a[:, 2, 1], a[:, 2, 0]), 0.0)
    tilt = np.where(
        regular, np.arctan2(sin_tilt, a[:, 2, 2]), np.where(up, 0.0, np.pi)
    )
    psi = np.where(
        regular,
        np.arctan2(a[:, 1, 2], -a[:, 0, 2]),
        np.where(
            up,
            np.arctan2(-a[:, 1, 0], a[:, 0, 0]),
            np.arctan2(a[:, 1, 0], -a[:, 0, 0]),
        ),
    )
    # -0.0 prints as "-0.000000"; identity should read as zeros.
    return np.rad2deg(np.stack([rot, tilt, psi], axis=1)) + 0.0


def _factor_zyx(factor) -> np.ndarray:
    values = np.asarray(factor, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f'grid factor must be positive, got {factor!r}')
    return values
