"""Read OME-Zarr tomograms (NGFF 0.4 on zarr v2, 0.5 on zarr v3).

The reader takes what the CZII data portal serves (NGFF 0.4, zarr v2,
"/" chunk keys, axes z/y/x in angstrom, one ``scale`` per level) and
NGFF 0.5 stores on zarr v3. The voxel size is the level-0 ``scale``,
exactly as written: the Kaggle stores say 10.012444 Å although their
folder is named ``VoxelSpacing10.000`` (DESIGN §4).

Writing lives in :mod:`napari_cryopick.io.ome_zarr_write`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import dask.array as da
import zarr
from zarr.errors import BaseZarrError

from napari_cryopick.errors import input_error
from napari_cryopick.io.tomogram import (
    UNIT_TO_ANGSTROM,
    Tomogram,
    run_name_for,
)

_ZYX = ('z', 'y', 'x')
_ZARR_ERRORS = (OSError, ValueError, KeyError, TypeError, BaseZarrError)


def _load_json(file: Path) -> dict[str, Any]:
    try:
        content = json.loads(file.read_text(encoding='utf-8'))
    except OSError as err:
        raise input_error(file, f'cannot read ({err.strerror})') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise input_error(file, f'broken JSON ({err})') from None
    if not isinstance(content, dict):
        raise input_error(file, 'broken metadata: not a JSON object')
    return content


def _group_attrs(path: Path) -> tuple[dict[str, Any], int]:
    """Return the OME attributes of the store at ``path`` and its format."""
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if not path.is_dir():
        raise input_error(path, 'not an OME-Zarr store (a file, not a folder)')
    if not any(path.iterdir()):
        raise input_error(path, 'empty folder, not an OME-Zarr store')
    if (path / 'zarr.json').is_file():
        attrs = _load_json(path / 'zarr.json').get('attributes') or {}
        # NGFF 0.5 nests everything under "ome"; accept 0.4-style too.
        ome = attrs.get('ome') if isinstance(attrs, dict) else None
        return (ome if isinstance(ome, dict) else attrs), 3
    if (path / '.zgroup').is_file() or (path / '.zattrs').is_file():
        if (path / '.zgroup').is_file():
            _load_json(path / '.zgroup')
        zattrs = path / '.zattrs'
        return (_load_json(zattrs) if zattrs.is_file() else {}), 2
    if (path / '.zarray').is_file():
        raise input_error(path, 'a bare zarr array, no multiscales metadata')
    raise input_error(path, 'not a zarr store (no .zgroup or zarr.json)')


def _multiscale(attrs: Any, path: Path) -> dict[str, Any]:
    multiscales = attrs.get('multiscales') if isinstance(attrs, dict) else 0
    if not isinstance(multiscales, list) or not multiscales:
        raise input_error(path, 'no OME-Zarr multiscales metadata')
    multiscale = multiscales[0]
    datasets = isinstance(multiscale, dict) and multiscale.get('datasets')
    if not isinstance(datasets, list) or not datasets:
        raise input_error(path, 'multiscales metadata lists no datasets')
    if not all(isinstance(d, dict) and 'path' in d for d in datasets):
        raise input_error(path, 'a multiscales dataset has no path')
    return multiscale


def _unit_factor(name: str, unit: Any, path: Path) -> float:
    if name not in _ZYX or unit is None:
        return 1.0  # no unit: the cryo-ET convention, angstrom
    factor = UNIT_TO_ANGSTROM.get(str(unit).strip().lower())
    if factor is None:
        known = 'angstrom, nanometer, micrometer (or nm, µm)'
        raise input_error(
            path, f'axis {name} has unit {unit!r}, expected one of {known}'
        )
    return factor


def _axes(multiscale: dict, ndim: int, path: Path) -> list[tuple[str, float]]:
    """Return (name, unit factor to Å) per axis."""
    axes = multiscale.get('axes')
    if axes is None:  # NGFF 0.1 and 0.2: always (t, c, z, y, x)
        axes = list('tczyx')[-ndim:]
    if not isinstance(axes, list):
        raise input_error(path, f'unreadable multiscales axes {axes!r}')
    named = []
    for axis in axes:
        # NGFF 0.3 gives bare names; 0.4 and later give objects.
        name, unit = (axis, None) if isinstance(axis, str) else (None, None)
        if isinstance(axis, dict):
            name, unit = axis.get('name'), axis.get('unit')
        if not isinstance(name, str):
            raise input_error(path, f'unreadable multiscales axis {axis!r}')
        named.append((name.lower(), _unit_factor(name.lower(), unit, path)))
    if len(named) != ndim or not set(_ZYX) <= {n for n, _ in named}:
        names = tuple(n for n, _ in named)
        raise input_error(
            path, f'axes {names} do not name z, y, x of a {ndim}-D array'
        )
    return named


def _scale(owner: dict, n: int, where: str, path: Path) -> list[float] | None:
    """Multiply the ``scale`` transforms of ``owner``; None if it has none."""
    transforms = owner.get('coordinateTransformations') or []
    scales = [t for t in transforms if isinstance(t, dict)]
    scales = [t for t in scales if t.get('type') == 'scale']
    if not scales:
        return None
    total = [1.0] * n
    for transform in scales:
        values = transform.get('scale')
        if not isinstance(values, list) or len(values) != n:
            raise input_error(path, f'{where}: unreadable scale {values!r}')
        if not all(_positive(v) for v in values):
            raise input_error(path, f'{where}: scale {values} not positive')
        total = [a * b for a, b in zip(total, values, strict=True)]
    return total


def _positive(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def _open_level(path: Path, name: str, zarr_format: int) -> da.Array:
    meta = '.zarray' if zarr_format == 2 else 'zarr.json'
    level = path / name
    if not (level / meta).is_file():
        raise input_error(path, f'dataset {name!r} has no {meta}')
    _load_json(level / meta)
    try:
        array = zarr.open_array(
            store=str(level), mode='r', zarr_format=zarr_format
        )
    except _ZARR_ERRORS as err:
        raise input_error(level, f'unreadable zarr array ({err!r})') from None
    if array.ndim < 3:
        raise input_error(
            path, f'expected a 3-D tomogram, got shape {array.shape}'
        )
    # from_zarr keeps the store's chunks, so a slice reads only its chunks.
    return da.from_zarr(array)


def _to_zyx(array: da.Array, axes: list, path: Path) -> da.Array:
    names = [name for name, _ in axes]
    extra = [i for i, name in enumerate(names) if name not in _ZYX]
    if any(array.shape[i] != 1 for i in extra):
        raise input_error(
            path, f'expected a 3-D tomogram, got shape {tuple(array.shape)}'
        )
    array = array[tuple(0 if n not in _ZYX else slice(None) for n in names)]
    kept = [name for name in names if name in _ZYX]
    order = [kept.index(name) for name in _ZYX]
    return array if order == [0, 1, 2] else array.transpose(order)


def read_ome_zarr(path: str | Path, run: str | None = None) -> Tomogram:
    """Read an OME-Zarr tomogram lazily.

    Parameters
    ----------
    path : str or Path
        The store (NGFF 0.4 on zarr v2 or NGFF 0.5 on zarr v3).
    run : str, optional
        Run name; by default from :func:`run_name_for`.

    Returns
    -------
    Tomogram
        All levels as dask arrays, with per-level (z, y, x) scales in Å.

    Raises
    ------
    CryopickError
        If ``path`` is missing, not an OME-Zarr store, has broken or
        incomplete metadata, or does not hold a 3-D volume.
    """
    path = Path(path)
    attrs, zarr_format = _group_attrs(path)
    multiscale = _multiscale(attrs, path)
    levels, scales = [], []
    for i, dataset in enumerate(multiscale['datasets']):
        array = _open_level(path, str(dataset['path']), zarr_format)
        axes = _axes(multiscale, array.ndim, path)
        levels.append(_to_zyx(array, axes, path))
        scales.append(_level_scale(multiscale, dataset, i, axes, path))
    return Tomogram(
        tuple(levels), tuple(scales), run or run_name_for(path), path
    )


def _level_scale(
    multiscale: dict, dataset: dict, i: int, axes: list, path: Path
) -> tuple[float, float, float]:
    where = f'datasets[{i}]'
    scale = _scale(dataset, len(axes), where, path)
    if scale is None:
        raise input_error(
            path, f'{where} has no scale transform, so no voxel size'
        )
    # A multiscale-wide transform applies on top of every level's.
    common = _scale(multiscale, len(axes), 'multiscales', path)
    common = common or [1.0] * len(axes)
    by_name = {
        name: s * c * factor
        for (name, factor), s, c in zip(axes, scale, common, strict=True)
    }
    return tuple(float(by_name[name]) for name in _ZYX)
