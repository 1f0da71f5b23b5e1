"""Read and write MRC tomograms (.mrc, .rec, .map, ...).

Reading is lazy: a dask array whose chunks are a few sections each, read
from the file on demand with ordinary reads rather than a memory map, so
streaming through a 3 GB tomogram holds one slab in memory, not every
page it has touched. Modes 0 (int8; IMOD's unsigned bytes when its
header says so), 1 (int16), 2 (float32), 6 (uint16) and 12 (float16)
are read as they are. The voxel size comes from the header (cell size /
grid size, in Å); a header that says 0 or 1 Å (what software writes
when it does not know) is refused rather than silently used, since every
pick position depends on it, unless the caller gives the voxel size.
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

#: Header voxel sizes that mean "not set": 0, and the 1 Å that a cell
#: size equal to the grid size gives (IMOD's and mrcfile's default).
UNSET_VOXEL_SIZES = (0.0, 1.0)

#: IMOD's header stamp; with it, bit 0 of ``imod_flags`` clear means
#: mode-0 bytes are unsigned (IMOD's default since 4.2.23).
_IMOD_STAMP = 1146047817

#: Bytes per chunk of the lazy array (whole sections, at least one).
_CHUNK_BYTES = 64 * 2**20

#: The flag that sets the voxel size when a file's header does not.
VOXEL_SIZE_FLAG = '--voxel-size'


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


def _dtype(path: Path, header: np.recarray) -> np.dtype:
    try:
        dtype = mrcfile.utils.data_dtype_from_header(header)
    except ValueError as err:
        raise input_error(path, f'unsupported MRC data ({err})') from None
    if dtype.kind == 'i' and dtype.itemsize == 1:
        stamp, flags = _imod_words(header)
        if stamp == _IMOD_STAMP and not flags & 1:
            return np.dtype(np.uint8)
    return dtype


def _imod_words(header: np.recarray) -> tuple[int, int]:
    """Return IMOD's (imodStamp, imodFlags), header bytes 152-159."""
    order = header.mode.dtype.byteorder
    word = np.dtype(np.int32).newbyteorder(order if order in '<>' else '=')
    stamp, flags = np.frombuffer(header.tobytes()[152:160], word)
    return int(stamp), int(flags)


def _data_offset(path: Path, header: np.recarray) -> int:
    """Check the file length against the header; return the data start."""
    # Checked here so a short file says "truncated", not a read error.
    dtype = _dtype(path, header)
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
    if actual > expected:
        raise input_error(
            path,
            f'MRC header disagrees with the file length: {actual} bytes, '
            f'the header implies {expected} (shape {shape}, {dtype})',
        )
    return start


def _voxel_size(path: Path, header: np.recarray) -> tuple[float, ...]:
    cell = [float(header.cella[axis]) for axis in ('z', 'y', 'x')]
    grid = [int(header[axis]) for axis in ('mz', 'my', 'mx')]
    sizes = [c / g if g > 0 else 0.0 for c, g in zip(cell, grid, strict=True)]
    unset = [s for s in sizes if not s > 0 or s in UNSET_VOXEL_SIZES]
    if unset:
        raise input_error(
            path,
            f'voxel size is unset in the MRC header ({unset[0]:g} Å: cell '
            f'{tuple(cell[::-1])} Å over grid {tuple(grid[::-1])}); give '
            f"it with {VOXEL_SIZE_FLAG} Å (in napari: the Open widget's "
            'voxel size)',
        )
    # The header holds the cell in float32 (7 significant digits): 8.66 Å
    # over 64 voxels reads back as 8.659999847 and 17.2 over 6 as
    # 17.199999; keep the digits float32 can hold.
    return tuple(
        float(f'{c / g:.7g}') for c, g in zip(cell, grid, strict=True)
    )


class _Sections:
    """An MRC data block read section by section with plain reads.

    Indexing reads only the sections it needs (each one separately for
    a strided index), so nothing stays mapped after a slab is used.
    """

    def __init__(self, path: Path, offset: int, shape, dtype: np.dtype):
        self.path = path
        self.offset = offset
        self.shape = tuple(int(n) for n in shape)
        self.file_dtype = dtype
        self.dtype = dtype.newbyteorder('=')
        self.ndim = len(self.shape)
        self.section = int(np.prod(self.shape[1:], dtype=np.int64))

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, int | np.integer):
            index = int(first) % self.shape[0]
            return self._read(index, index + 1)[(0, *rest)]
        if not isinstance(first, slice):
            return self._read(0, self.shape[0])[key]
        start, stop, step = first.indices(self.shape[0])
        if step == 1 or stop <= start:
            data = self._read(start, max(start, stop))
        else:
            data = np.stack(
                [self._read(i, i + 1)[0] for i in range(start, stop, step)]
            )
        return data[(slice(None), *rest)]

    def _read(self, lo: int, hi: int) -> np.ndarray:
        count = (hi - lo) * self.section
        if count == 0:
            return np.empty((0, *self.shape[1:]), self.dtype)
        offset = self.offset + lo * self.section * self.file_dtype.itemsize
        try:
            with self.path.open('rb') as file:
                file.seek(offset)
                data = np.fromfile(file, self.file_dtype, count)
        except OSError as err:
            raise input_error(self.path, f'cannot read ({err})') from None
        if data.size != count:
            raise input_error(self.path, 'truncated MRC file')
        data = data.reshape(hi - lo, *self.shape[1:])
        return data.astype(self.dtype, copy=False)


def _axis_order(path: Path, header: np.recarray) -> list[int] | None:
    """Return the transpose that makes the data (z, y, x), if one is needed."""
    # Data axes run (section, row, column) = (maps, mapr, mapc), each
    # naming a spatial axis: 1 = x, 2 = y, 3 = z.
    mapping = [int(header.maps), int(header.mapr), int(header.mapc)]
    if sorted(mapping) != [1, 2, 3]:
        raise input_error(path, f'bad MRC axis mapping {mapping}')
    order = [mapping.index(axis) for axis in (3, 2, 1)]
    return None if order == [0, 1, 2] else order


def read_mrc(
    path: str | Path,
    run: str | None = None,
    voxel_size: float | None = None,
) -> Tomogram:
    """Read an MRC tomogram lazily.

    Parameters
    ----------
    path : str or Path
        The MRC file.
    run : str, optional
        Run name; by default from :func:`run_name_for`.
    voxel_size : float, optional
        Voxel size in Å to use instead of the header's (which is then
        not checked).

    Returns
    -------
    Tomogram
        One level, a dask array of whole sections read on demand, with
        the header's voxel size in Å (or ``voxel_size``).

    Raises
    ------
    CryopickError
        If the file is missing, not an MRC file, truncated or longer
        than its header says, not a 3-D volume, or its header's voxel
        size is unset (0 or 1 Å) and ``voxel_size`` is not given.
    """
    path = Path(path)
    header = _header(path)
    offset = _data_offset(path, header)
    shape = mrcfile.utils.data_shape_from_header(header)
    sections = _Sections(path, offset, shape, _dtype(path, header))
    per_section = max(1, sections.section * sections.dtype.itemsize)
    chunk = max(1, min(shape[0], _CHUNK_BYTES // per_section))
    array = da.from_array(
        sections,
        chunks=(chunk, *shape[1:]),
        meta=np.empty((0,) * len(shape), sections.dtype),
        name=f'mrc-{path.resolve()}-{path.stat().st_mtime_ns}',
    )
    array = as_zyx(array, path)
    order = _axis_order(path, header)
    if order is not None:
        array = array.transpose(order)
    if voxel_size is None:
        scale = _voxel_size(path, header)
    else:
        scale = voxel_size_zyx(VOXEL_SIZE_FLAG, voxel_size)
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
