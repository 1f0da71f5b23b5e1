"""STAR particle files: RELION 5, RELION 4/3 and Warp/M (DESIGN §6).

Read with the ``starfile`` library (writing is in
:mod:`napari_cryopick.io.star_write`, shared names and loading in
:mod:`napari_cryopick.io.star_common`, RELION's tomogram sets in
:mod:`napari_cryopick.io.relion_sets`). What each flavour means
(conventions in :mod:`napari_cryopick.coords`, worked example in
``docs/formats.md``):

- **RELION 5**: ``rlnTomoName`` and ``rlnCenteredCoordinate{X,Y,Z}Angst``,
  Å from the tomogram centre, so reading and writing need the tomogram's
  size and voxel size (a :class:`TomogramGeometry` per run).
- **RELION 4/3**: ``rlnCoordinate{X,Y,Z}`` in pixels, 0 at the first
  voxel's centre, with ``rlnTomoName`` (RELION 4) or ``rlnMicrographName``
  (RELION 3, Warp). The pixel size is given, or RELION 4's
  ``rlnTomoTiltSeriesPixelSize`` in the optics table, or the tomogram's.
- **Warp/M**: ``rlnCoordinate{X,Y,Z}`` with ``rlnMicrographName``
  ``<tilt series>.tomostar``, in pixels of ``rlnPixelSize`` when Warp
  exported them; Warp's template matching writes them as fractions of the
  tomogram's extent (all within [0, 1]).

Every flavour: ``rlnOrigin{X,Y,Z}Angst`` (or ``rlnOrigin{X,Y,Z}`` in
pixels) is subtracted from the coordinate, after rotating it by
``rlnTomoSubtomogram{Rot,Tilt,Psi}`` when present (RELION 5);
``rlnAngle{Rot,Tilt,Psi}`` (ZYZ) become the 4x4 transformation;
``rlnAutopickFigureOfMerit`` is the score; the class comes from a name
column or ``rlnClassNumber`` through the class table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import coords
from napari_cryopick import picks as pk
from napari_cryopick.classes import ParticleClass, default_classes
from napari_cryopick.errors import input_error
from napari_cryopick.io.star_common import (
    ANGLES,
    CENTRED,
    CLASS_NUMBER,
    NAME_COLUMNS,
    ORIGIN_ANGSTROM,
    ORIGIN_PIXELS,
    PIXELS,
    RUN_COLUMNS,
    SCORE,
    SUBTOMOGRAM,
    TomogramGeometry,
    load_star,
    match_geometry,
    run_from_star_name,
    star_columns,
    star_head,
    star_numbers,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def read_star(
    path: str | Path,
    geometries: Mapping[str, TomogramGeometry] | None = None,
    *,
    voxel_size: float | None = None,
    classes: Sequence[ParticleClass] | None = None,
    origin: str = 'user',
) -> pd.DataFrame:
    """Read a RELION 5, RELION 4/3 or Warp/M particles STAR file.

    Parameters
    ----------
    path : str or Path
        The STAR file.
    geometries : mapping of str to TomogramGeometry, optional
        The tomograms, by run name: needed for centred (RELION 5) and
        fractional (Warp) coordinates, and for pixel coordinates when no
        pixel size is given or in the file.
    voxel_size : float, optional
        Pixel size in Å of ``rlnCoordinate{X,Y,Z}`` (RELION 4/3, Warp);
        overrides the file's ``rlnTomoTiltSeriesPixelSize``.
    classes : sequence of ParticleClass, optional
        Class table for ``rlnClassNumber`` (default: the CZII classes).
    origin : str
        Value of the Picks ``origin`` column.

    Returns
    -------
    DataFrame
        A Picks table, positions in Å from the first voxel's centre.

    Raises
    ------
    CryopickError
        One line naming the file and what is missing: no coordinate
        columns, no tomogram for centred coordinates, no voxel size for
        pixel coordinates, a tomogram name not among those given, a class
        number with no class.
    """
    path = Path(path)
    blocks = load_star(path)
    particles, optics = _particle_block(path, blocks)
    runs = _runs(path, particles, geometries)
    xyz, pixel_size = _positions(
        path, particles, optics, runs, geometries, voxel_size
    )
    subtomogram = _angles(path, particles, SUBTOMOGRAM)
    xyz = _apply_origins(path, particles, optics, xyz, subtomogram, pixel_size)
    rotation = _angles(path, particles, ANGLES)
    if subtomogram is not None and rotation is not None:
        rotation = subtomogram @ rotation
    elif rotation is None:
        rotation = subtomogram
    n = len(particles)
    transforms = np.tile(np.eye(4), (n, 1, 1))
    if rotation is not None:
        transforms[:, :3, :3] = rotation
    score = star_numbers(path, particles, SCORE) if SCORE in particles else 1.0
    return pk.make_picks(
        run=runs,
        particle_type=_class_names(path, particles, classes),
        xyz=np.round(xyz, coords.ANGSTROM_DECIMALS),
        score=score,
        transformation=transforms,
        origin=origin,
    )


def _particle_block(path: Path, blocks: dict):
    tables = {k: v for k, v in blocks.items() if isinstance(v, pd.DataFrame)}
    optics = tables.get('optics')
    with_coords = [
        t
        for t in tables.values()
        if set(CENTRED) <= set(t.columns) or set(PIXELS) <= set(t.columns)
    ]
    named = tables.get('particles')
    if named is not None and any(t is named for t in with_coords):
        return named, optics
    if with_coords:
        return with_coords[0], optics
    raise input_error(
        path,
        'no coordinate columns (need rlnCenteredCoordinate{X,Y,Z}Angst '
        'or rlnCoordinate{X,Y,Z})',
    )


def _runs(path, particles, geometries) -> list[str]:
    for column in RUN_COLUMNS:
        if column in particles:
            return [run_from_star_name(v) for v in particles[column]]
    if geometries and len(geometries) == 1:
        return [next(iter(geometries))] * len(particles)
    raise input_error(
        path,
        'no rlnTomoName or rlnMicrographName column to say which tomogram '
        'each particle is in (give one tomogram to use it for all)',
    )


def _geometry_rows(path, particles, runs, geometries, why: str) -> list:
    if not geometries:
        raise input_error(
            path, f'{why}: give the tomograms (--tomograms) to convert them'
        )
    names = _star_names(particles, runs)
    rows, cache = [], {}
    for name in names:
        if name not in cache:
            cache[name] = match_geometry(name, geometries)
        if cache[name] is None:
            known = ', '.join(sorted(geometries)[:10])
            raise input_error(
                path,
                f'tomogram {name!r} is not among the tomograms given '
                f'({known})',
            )
        rows.append(cache[name])
    return rows


def _star_names(particles, runs) -> list[str]:
    for column in RUN_COLUMNS:
        if column in particles:
            return [str(v) for v in particles[column]]
    return list(runs)


def _positions(path, particles, optics, runs, geometries, voxel_size):
    if set(CENTRED) <= set(particles.columns):
        rows = _geometry_rows(
            path,
            particles,
            runs,
            geometries,
            'coordinates are centred on the tomogram (RELION 5)',
        )
        centre = np.array([g.centre for g in rows]).reshape(-1, 3)
        xyz = coords.centred_to_absolute(
            star_columns(path, particles, CENTRED), centre
        )
        return xyz, np.array([g.voxel_size for g in rows])
    xyz = star_columns(path, particles, PIXELS)
    if _is_fractional(particles, xyz):
        rows = _geometry_rows(
            path,
            particles,
            runs,
            geometries,
            'coordinates are fractions of the tomogram (Warp template '
            'matching)',
        )
        extent = np.array([g.extent for g in rows]).reshape(-1, 3)
        return xyz * extent, np.array([g.voxel_size for g in rows])
    pixel = _pixel_size(path, particles, optics, runs, geometries, voxel_size)
    return coords.pixels_to_angstrom(xyz, pixel), pixel


def _is_warp(particles) -> bool:
    names = particles.get('rlnMicrographName')
    return names is not None and all(
        str(n).endswith('.tomostar') for n in names
    )


def _is_fractional(particles, xyz) -> bool:
    # Warp's template matching divides by the tomogram's extent; pixel
    # coordinates all within one voxel of the corner are not a real case.
    warp = _is_warp(particles)
    return bool(warp and len(xyz) and np.all((xyz >= 0) & (xyz <= 1)))


def _pixel_size(path, particles, optics, runs, geometries, voxel_size):
    n = len(particles)
    if voxel_size is not None:
        if not np.isfinite(voxel_size) or voxel_size <= 0:
            raise input_error(
                path, f'voxel size must be positive Å, not {voxel_size}'
            )
        return np.full(n, float(voxel_size))
    stated = _optics_value(particles, optics, 'rlnTomoTiltSeriesPixelSize')
    if stated is None and _is_warp(particles):
        # WarpTools ts_export_particles writes coordinate = Å / output
        # pixel size and that size as rlnPixelSize.
        stated = _optics_value(particles, optics, 'rlnPixelSize')
    if stated is not None:
        return stated
    if geometries:
        rows = _geometry_rows(path, particles, runs, geometries, '')
        return np.array([g.voxel_size for g in rows])
    raise input_error(
        path,
        'coordinates are in pixels (rlnCoordinate{X,Y,Z}) with no voxel '
        'size: give --voxel-size or the tomograms (--tomograms)',
    )


def _optics_value(particles, optics, column) -> np.ndarray | None:
    if column in particles:
        values = pd.to_numeric(particles[column], errors='coerce')
        return values.to_numpy(float) if values.notna().all() else None
    if optics is None or column not in optics:
        return None
    by_group = dict(
        zip(optics.get('rlnOpticsGroup', [1]), optics[column], strict=False)
    )
    groups = particles.get('rlnOpticsGroup', pd.Series([1] * len(particles)))
    values = [by_group.get(g) for g in groups]
    if any(v is None for v in values):
        return None
    return np.asarray(values, dtype=float)


def _apply_origins(path, particles, optics, xyz, subtomogram, pixel_size):
    if set(ORIGIN_ANGSTROM) <= set(particles.columns):
        shift = star_columns(path, particles, ORIGIN_ANGSTROM)
    elif set(ORIGIN_PIXELS) <= set(particles.columns):
        # RELION 3.0 / Warp: pixels of the particle images, as Warp reads
        # them (rlnPixelSize, else the optics rlnImagePixelSize).
        size = _optics_value(particles, optics, 'rlnPixelSize')
        if size is None:
            size = _optics_value(particles, optics, 'rlnImagePixelSize')
        size = pixel_size if size is None else size
        shift = coords.pixels_to_angstrom(
            star_columns(path, particles, ORIGIN_PIXELS), size
        )
    else:
        return xyz
    return coords.apply_origin_shift(xyz, shift, subtomogram)


def _angles(path, particles, names) -> np.ndarray | None:
    present = [c for c in names if c in particles]
    if not present:
        return None
    angles = np.zeros((len(particles), 3))
    for i, column in enumerate(names):
        if column in particles:
            angles[:, i] = star_numbers(path, particles, column)
    return coords.relion_euler_to_matrix(angles)


def _class_names(path, particles, classes) -> list[str] | str:
    for column in NAME_COLUMNS:
        if column in particles:
            return [str(v) for v in particles[column]]
    if CLASS_NUMBER not in particles:
        # One class per file is the usual hand-off; the file names it.
        return path.stem
    by_label = {c.label: c.name for c in classes or default_classes()}
    numbers = star_numbers(path, particles, CLASS_NUMBER).astype(int)
    missing = sorted(set(numbers) - set(by_label))
    if missing:
        known = ', '.join(f'{k}={v}' for k, v in sorted(by_label.items()))
        raise input_error(
            path,
            f'rlnClassNumber {missing[0]} has no class in the class table '
            f'({known})',
        )
    return [by_label[int(n)] for n in numbers]


def is_particles_star(path: str | Path) -> bool:
    """Return whether ``path`` is a STAR file with particle coordinates.

    Looks at the labels in the first 16 kB only (a cheap sniff for
    readers and folder listings).
    """
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != '.star':
        return False
    labels = set(
        re.findall(r'^\s*_(\w+)', star_head(path), flags=re.MULTILINE)
    )
    return CENTRED[0] in labels or PIXELS[0] in labels
