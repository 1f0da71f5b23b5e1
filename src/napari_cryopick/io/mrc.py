"""Read and write MRC tomograms.

Reading is memory-mapped, so opening a tomogram and showing one slice
does not load the whole file. The voxel size comes from the header
(cell size / grid size, in Å); a header that says 0 is an error rather
than a silent guess, since every pick position depends on it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import dask.array as da
import mrcfile
import numpy as np

from napari_cryopick.errors import exists_error, input_error
from napari_cryopick.io.atomic import check_parent
from napari_cryopick.io.tomogram import (
    Tomogram,
    as_zyx,
    run_name_for,
    volume_zyx,
    voxel_size_zyx,
)

#: The dtypes an MRC file stores (modes 0, 1, 2, 6 and 12); other float
#: or bool data is converted, anything else is refused.
_MRC_DTYPES = ('int8', 'int16', 'float32', 'uint16', 'float16', 'uint8')


def _header(path: Path) -> np.recarray:
    if not path.exists():
        raise input_error(path, 'no such file')
    if path.is_dir():
        raise input_error(path, 'a folder, not an MRC file')
    try:
        with mrcfile.open(path, header_only=True, permissive=False) as mrc:
            return mrc.header.copy()
    except (ValueError, OSError, EOFError) as err:
        raise input_error(path, f'not a readable MRC file ({err})') from None


def _check_size(path: Path, header: np.recarray) -> None:
    # Checked here so a short file says "truncated", not an mmap error.
    dtype = mrcfile.utils.data_dtype_from_header(header)
    shape = mrcfile.utils.data_shape_from_header(header)
    start = header.nbytes + int(header.nsymbt)
    expected = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size
    if actual < expected:
        raise input_error(
            path,
            f'truncated MRC file: {actual} bytes, the header implies '
            f'{expected}',
        )


def _voxel_size(path: Path, header: np.recarray) -> tuple[float, ...]:
    cell = [float(header.cella[axis]) for axis in ('z', 'y', 'x')]
    grid = [int(header[axis]) for axis in ('mz', 'my', 'mx')]
    if not all(c > 0 for c in cell) or not all(g > 0 for g in grid):
        raise input_error(
            path,
            'voxel size is 0 in the MRC header (cell size '
            f'{tuple(cell[::-1])} Å over grid {tuple(grid[::-1])}); set '
            'it in the file, e.g. IMOD alterheader -del',
        )
    # The header holds float32; its shortest decimal reads 8.66, not
    # 8.659999847.
    return tuple(
        float(str(np.float32(np.float32(c) / np.float32(g))))
        for c, g in zip(cell, grid, strict=True)
    )


def _axis_order(path: Path, header: np.recarray) -> list[int] | None:
    """Return the transpose that makes the data (z, y, x), if one is needed."""
    # Data axes run (section, row, column) = (maps, mapr, mapc), each
    # naming a spatial axis: 1 = x, 2 = y, 3 = z.
    mapping = [int(header.maps), int(header.mapr), int(header.mapc)]
    if sorted(mapping) != [1, 2, 3]:
        raise input_error(path, f'bad MRC axis mapping {mapping}')
    order = [mapping.index(axis) for axis in (3, 2, 1)]
    return None if order == [0, 1, 2] else order


def read_mrc(path: str | Path, run: str | None = None) -> Tomogram:
    """Read an MRC tomogram, memory-mapped.

    Parameters
    ----------
    path : str or Path
        The MRC file.
    run : str, optional
        Run name; by default from :func:`run_name_for`.

    Returns
    -------
    Tomogram
        One level, a dask array over the memory-mapped data, with the
        header's voxel size in Å.

    Raises
    ------
    CryopickError
        If the file is missing, not an MRC file, truncated, not a 3-D
        volume, or its header gives a voxel size of 0.
    """
    path = Path(path)
    header = _header(path)
    _check_size(path, header)
    try:
        with mrcfile.mmap(path, mode='r', permissive=False) as mrc:
            # The memmap holds its own mapping and outlives the file.
            data = mrc.data
    except (ValueError, OSError) as err:
        raise input_error(path, f'unreadable MRC data ({err})') from None
    array = as_zyx(da.from_array(data, chunks='auto', asarray=True), path)
    order = _axis_order(path, header)
    if order is not None:
        array = array.transpose(order)
    scale = _voxel_size(path, header)
    return Tomogram((array,), (scale,), run or run_name_for(path), path)


def _mrc_data(path: Path, volume: np.ndarray) -> np.ndarray:
    data = volume_zyx(path, volume)
    if data.dtype == np.bool_:
        data = data.astype(np.int8)
    elif np.issubdtype(data.dtype, np.floating) and data.dtype.itemsize > 4:
        data = data.astype(np.float32)
    if data.dtype.name not in _MRC_DTYPES:
        raise input_error(path, f'MRC cannot store {data.dtype} data')
    return np.ascontiguousarray(data)


def write_mrc(
    path: str | Path,
    volume: np.ndarray,
    voxel_size: float | tuple[float, float, float],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a (z, y, x) volume as an MRC file, atomically.

    Parameters
    ----------
    path : str or Path
        The file to create.
    volume : ndarray
        The (z, y, x) volume; float64 is stored as float32.
    voxel_size : float or tuple of 3 floats
        Voxel size in Å, one value or (z, y, x).
    overwrite : bool
        Replace an existing file; otherwise an existing path is an error.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    CryopickError
        For a bad volume or voxel size, or an existing ``path`` when
        ``overwrite`` is False. A failed write leaves nothing.
    """
    path = check_parent(path)
    if path.is_dir() or (path.exists() and not overwrite):
        raise exists_error(path)
    voxel = voxel_size_zyx(path, voxel_size)
    data = _mrc_data(path, volume)
    # Not mkstemp: its 0600 mode would stay on the renamed file.
    tmp = path.with_name(f'.{path.name}.{secrets.token_hex(6)}.tmp')
    try:
        with mrcfile.new(tmp) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = voxel[::-1]  # mrcfile wants (x, y, z)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
