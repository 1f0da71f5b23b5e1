"""Move the view to a position in Å (public ViewerModel API only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari.components import ViewerModel


def jump_to(viewer: ViewerModel, zyx_angstrom) -> None:
    """Show the slice through ``zyx_angstrom`` and centre the camera on it.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer.
    zyx_angstrom : sequence of 3 float
        World position (z, y, x) in Å (layers use ``scale`` = voxel
        size, so world units are Å).
    """
    z, y, x = (float(v) for v in zyx_angstrom)
    viewer.dims.set_point(0, z)
    # napari 0.9 moved the camera to ``viewer.scene``.
    scene = getattr(viewer, 'scene', viewer)
    scene.camera.center = (z, y, x)
