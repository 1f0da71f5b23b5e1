"""Read multi-page TIFF tomograms (ImageJ hyperstacks, OME-TIFF, plain).

One page per z-section, read lazily through tifffile's zarr view, so a
slab reads its pages only. The voxel size comes from the OME metadata
(``PhysicalSize{X,Y,Z}`` and their units, micrometre by default) or
from ImageJ's (``unit`` and ``spacing`` for z, the X/YResolution tags
for x and y); a TIFF with neither, or with the unit ``pixel``, is
refused unless the caller gives the voxel size.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import dask.array as da
import numpy as np

from napari_cryopick.errors import input_error
from napari_cryopick.io.tomogram import (
    UNIT_TO_ANGSTROM,
    Tomogram,
    as_zyx,
    run_name_for,
    voxel_size_zyx,
)

#: Bytes per chunk of the lazy array (whole pages, at least one).
_CHUNK_BYTES = 64 * 2**20


def read_tiff(
    path: str | Path,
    run: str | None = None,
    voxel_size: float | None = None,
) -> Tomogram:
    """Read a multi-page TIFF tomogram lazily.

    Parameters
    ----------
    path : str or Path
        The TIFF file, one page per z-section.
    run : str, optional
        Run name; by default from :func:`run_name_for`.
    voxel_size : float, optional
        Voxel size in Å to use instead of the file's metadata.

    Returns
    -------
    Tomogram
        One level, a dask array reading pages on demand.

    Raises
    ------
    CryopickError
        If the file is missing, not a TIFF, not a 3-D volume, or has no
        voxel size and ``voxel_size`` is not given.
    """
    import tifffile
    import zarr

    path = Path(path)
    if not path.is_file():
        raise input_error(path, 'no such file')
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            scale = _metadata_scale(tif)
            axes, shape = series.axes, series.shape
        store = tifffile.imread(path, aszarr=True)
        array = da.from_zarr(zarr.open(store, mode='r'))
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as err:
        raise input_error(path, f'not a readable TIFF file ({err})') from None
    if len(shape) < 3 or sum(n > 1 for n in shape) > 3:
        raise input_error(
            path, f'expected a 3-D tomogram, got shape {shape} ({axes})'
        )
    array = as_zyx(array, path)
    plane = max(1, int(np.prod(array.shape[1:])) * array.dtype.itemsize)
    array = array.rechunk((max(1, _CHUNK_BYTES // plane), -1, -1))
    if voxel_size is not None:
        scale = voxel_size_zyx('--voxel-size', voxel_size)
    elif scale is None:
        raise input_error(
            path,
            'no voxel size in the TIFF metadata; give it with --voxel-size Å',
        )
    return Tomogram((array,), (scale,), run or run_name_for(path), path)


def _metadata_scale(tif) -> tuple[float, float, float] | None:
    """Return the (z, y, x) voxel size in Å the file states, or None."""
    if tif.is_ome and tif.ome_metadata:
        scale = _ome_scale(tif.ome_metadata)
        if scale is not None:
            return scale
    if tif.is_imagej and tif.imagej_metadata:
        return _imagej_scale(tif.imagej_metadata, tif.pages[0])
    return None


def _ome_scale(xml: str) -> tuple[float, float, float] | None:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((e for e in root.iter() if e.tag.endswith('Pixels')), None)
    if pixels is None:
        return None
    sizes = []
    for axis in 'ZYX':
        value = pixels.get(f'PhysicalSize{axis}')
        unit = pixels.get(f'PhysicalSize{axis}Unit', 'µm')
        factor = UNIT_TO_ANGSTROM.get(unit.strip().lower())
        if value is None or factor is None:
            return None
        sizes.append(_round(float(value) * factor))
    return _valid(sizes)


def _imagej_scale(meta: dict, page) -> tuple[float, float, float] | None:
    unit = str(meta.get('unit', '')).replace('\\u00B5', 'µ').strip().lower()
    factor = UNIT_TO_ANGSTROM.get(unit)
    if factor is None:
        return None
    per_unit = []
    for tag in ('YResolution', 'XResolution'):
        value = page.tags.get(tag)
        if value is None:
            return None
        num, den = value.value
        per_unit.append(num / den if den else 0.0)
    if not all(p > 0 for p in per_unit):
        return None
    spacing = float(meta.get('spacing', 1.0 / per_unit[1]))
    sizes = [spacing, 1.0 / per_unit[0], 1.0 / per_unit[1]]
    return _valid([float(_round(s * factor)) for s in sizes])


def _round(value: float) -> float:
    # Resolution tags are 32-bit rationals: 1.052 nm reads back as
    # 1.05200000004 nm; keep the digits the writer meant.
    return float(f'{value:.9g}')


def _valid(sizes) -> tuple[float, float, float] | None:
    if all(math.isfinite(s) and s > 0 for s in sizes):
        return tuple(float(s) for s in np.asarray(sizes, float))
    return None
