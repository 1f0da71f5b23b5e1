"""Moving a viewer to picks, and drawing the picks near the slice (no Qt).

Shared by the review actions (:class:`~napari_cryopick.viewer.state.
ViewerState`) and the Score widget's list of missed particles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari.components import ViewerModel

#: Half-thickness in Å of the z slab whose picks are drawn on a slice:
#: the largest CZII radius, so every particle cut by the slice is marked.
PICK_SLAB = 150.0


def show_nearby_picks(viewer: ViewerModel | None) -> None:
    """Draw picks within :data:`PICK_SLAB` Å of the z slice.

    napari 0.9 replaced ``out_of_slice_display`` by thick slices:
    Points layers with ``projection_mode='rescale_spherical'`` (set
    by :mod:`napari_cryopick.layers`) show the disc where each
    particle's sphere meets the slice, for points within the dims
    margins. Images keep ``projection_mode='none'`` and still show
    the one slice. A margin the user has already set is left alone.
    """
    dims = None if viewer is None else viewer.dims
    if dims is None or dims.ndim < 3:
        return
    if dims.margin_left[0] or dims.margin_right[0]:
        return
    dims.margin_left = (PICK_SLAB, *dims.margin_left[1:])
    dims.margin_right = (PICK_SLAB, *dims.margin_right[1:])


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
