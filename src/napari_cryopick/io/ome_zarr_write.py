"""Write OME-Zarr tomograms (NGFF 0.4 on zarr v2, 0.5 on zarr v3).

The 0.4 writer reproduces the CZII portal's stores: zarr v2 with "/"
keys, blosc lz4 clevel 5 with shuffle, float32, chunks of at most 256³,
and a pyramid of 2x2x2 block means whose sizes round up (630 -> 315 ->
158).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc

from napari_cryopick.errors import input_error
from napari_cryopick.io.atomic import atomic_dir
from napari_cryopick.io.tomogram import pyramid, volume_zyx, voxel_size_zyx

_ZYX = ('z', 'y', 'x')


def _metadata(scales: list[tuple], paths: list[str], ngff: str) -> dict:
    axes = [{'name': n, 'type': 'space', 'unit': 'angstrom'} for n in _ZYX]
    datasets = [
        {
            'coordinateTransformations': [
                {'scale': list(scale), 'type': 'scale'}
            ],
            'path': name,
        }
        for scale, name in zip(scales, paths, strict=True)
    ]
    multiscale = {'axes': axes, 'datasets': datasets, 'metadata': {}}
    multiscale['name'] = '/'
    if ngff == '0.4':
        multiscale['version'] = '0.4'
        return {'multiscales': [multiscale]}
    # NGFF 0.5 moves the version out of multiscales into "ome".
    return {'ome': {'version': '0.5', 'multiscales': [multiscale]}}


def write_ome_zarr(
    path: str | Path,
    volume: np.ndarray,
    voxel_size: float | tuple[float, float, float],
    *,
    ngff: str = '0.4',
    levels: int = 3,
    chunks: int = 256,
    overwrite: bool = False,
) -> Path:
    """Write a (z, y, x) volume as a multiscale OME-Zarr store.

    Parameters
    ----------
    path : str or Path
        The store to create.
    volume : ndarray
        The (z, y, x) volume; written as float32.
    voxel_size : float or tuple of 3 floats
        Level-0 voxel size in Å, one value or (z, y, x).
    ngff : {'0.4', '0.5'}
        '0.4': zarr v2 exactly as the CZII portal writes it (levels
        "0", "1", ...); '0.5': zarr v3 (levels "s0", "s1", ...).
    levels : int
        Number of pyramid levels; level k has voxel size x 2**k.
    chunks : int
        Chunk edge; each axis uses min(chunks, its size).
    overwrite : bool
        Replace an existing store; otherwise an existing path is an error.

    Returns
    -------
    Path
        The store written.

    Raises
    ------
    CryopickError
        For a bad volume, voxel size or option, or an existing ``path``
        when ``overwrite`` is False. A failed write leaves nothing.
    """
    path = Path(path)
    if ngff not in ('0.4', '0.5'):
        raise input_error(path, f'NGFF {ngff!r} not supported, use 0.4 or 0.5')
    for option, value in (('levels', levels), ('chunks', chunks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise input_error(path, f'{option} must be >= 1, got {value!r}')
    voxel = voxel_size_zyx(path, voxel_size)
    data = volume_zyx(path, volume).astype(np.float32, copy=False)
    arrays = pyramid(data, levels)
    scales = [tuple(v * 2**k for v in voxel) for k in range(levels)]
    paths = [f'{k}' if ngff == '0.4' else f's{k}' for k in range(levels)]
    with atomic_dir(path, overwrite=overwrite) as tmp:
        _write_store(tmp, arrays, paths, chunks, ngff)
        _write_attrs(tmp, _metadata(scales, paths, ngff), ngff)
    return path


def _codec_options(ngff: str) -> dict[str, Any]:
    if ngff == '0.4':
        # Plain v2 metadata (numcodecs blosc) so zarr 2 and copick read it.
        blosc = Blosc(cname='lz4', clevel=5, shuffle=Blosc.SHUFFLE)
        return {
            'zarr_format': 2,
            'compressors': blosc,
            'chunk_key_encoding': {'name': 'v2', 'separator': '/'},
        }
    blosc = zarr.codecs.BloscCodec(cname='lz4', clevel=5, shuffle='shuffle')
    # NGFF 0.5 requires dimension_names equal to the axes' names.
    return {'zarr_format': 3, 'compressors': blosc, 'dimension_names': _ZYX}


def _write_store(
    root: Path, arrays: list, paths: list[str], chunks: int, ngff: str
) -> None:
    for name, array in zip(paths, arrays, strict=True):
        out = zarr.create_array(
            store=str(root / name),
            shape=array.shape,
            chunks=tuple(min(chunks, n) for n in array.shape),
            dtype='<f4',
            fill_value=0.0,
            # Write every chunk, as the portal does, even all-zero ones.
            config={'write_empty_chunks': True},
            **_codec_options(ngff),
        )
        out[...] = array
        # zarr-python 3 adds an empty .zattrs per v2 array; the portal's
        # stores have none.
        empty = root / name / '.zattrs'
        if empty.is_file() and not json.loads(empty.read_text() or '{}'):
            empty.unlink()


def _write_attrs(root: Path, attrs: dict, ngff: str) -> None:
    if ngff == '0.4':
        (root / '.zgroup').write_text(json.dumps({'zarr_format': 2}) + '\n')
        (root / '.zattrs').write_text(json.dumps(attrs, indent=2) + '\n')
        return
    group = {'attributes': attrs, 'zarr_format': 3, 'node_type': 'group'}
    (root / 'zarr.json').write_text(json.dumps(group, indent=2) + '\n')
