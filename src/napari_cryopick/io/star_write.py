"""Write picks as RELION 5 or RELION 4 particle STAR files.

The conventions are :mod:`napari_cryopick.io.star`'s (reading) and
:mod:`napari_cryopick.coords`'; ``docs/formats.md`` has a worked example.
What is written: ``rlnTomoName``, the coordinates (centred Å for RELION 5,
pixels for RELION 4), ``rlnAngle{Rot,Tilt,Psi}`` from each pick's
transformation, ``rlnClassNumber`` and ``cryopickClassName``, and
``rlnAutopickFigureOfMerit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import coords
from napari_cryopick import picks as pk
from napari_cryopick.classes import ParticleClass, default_classes
from napari_cryopick.errors import exists_error, input_error
from napari_cryopick.io.atomic import write_text
from napari_cryopick.io.star_common import (
    ANGLES,
    CENTRED,
    CLASS_NUMBER,
    FLAVOURS,
    NAME_COLUMN,
    PIXELS,
    RELION5,
    SCORE,
    TomogramGeometry,
    match_geometry,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def class_numbers(
    names: Sequence[str], classes: Sequence[ParticleClass] | None = None
) -> dict[str, int]:
    """Return each class's ``rlnClassNumber``: its label, or a new number.

    Parameters
    ----------
    names : sequence of str
        Class names present.
    classes : sequence of ParticleClass, optional
        Class table (default: the CZII classes).

    Returns
    -------
    dict of str to int
        ``rlnClassNumber`` for each name.
    """
    table = {c.name: c.label for c in classes or default_classes()}
    numbers = {n: table[n] for n in names if n in table}
    following = max(table.values(), default=0) + 1
    for name in sorted(set(names) - set(numbers)):
        numbers[name] = following
        following += 1
    return numbers


def star_frame(
    table: pd.DataFrame,
    flavour: str = RELION5,
    geometries: Mapping[str, TomogramGeometry] | None = None,
    *,
    voxel_size: float | None = None,
    classes: Sequence[ParticleClass] | None = None,
    where: str | Path = 'STAR',
) -> pd.DataFrame:
    """Return the particles table of a RELION 5 or RELION 4 STAR file.

    Parameters
    ----------
    table : DataFrame
        Picks table.
    flavour : {'relion5', 'relion4'}
        Centred Å coordinates, or pixel coordinates.
    geometries : mapping of str to TomogramGeometry, optional
        Tomograms by run: needed for RELION 5, and for RELION 4 when no
        ``voxel_size`` is given.
    voxel_size : float, optional
        RELION 4 pixel size in Å (default: each tomogram's).
    classes : sequence of ParticleClass, optional
        Class table for ``rlnClassNumber`` (default: the CZII classes).
    where : str or Path
        The file being written, named in errors.

    Returns
    -------
    DataFrame
        Columns ``rlnTomoName``, the coordinates, ``rlnAngle{Rot,Tilt,Psi}``,
        ``rlnClassNumber``, ``cryopickClassName``,
        ``rlnAutopickFigureOfMerit``.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f'unknown STAR flavour {flavour!r}')
    transforms = (
        np.stack(list(table['transformation'])) if len(table) else None
    )
    # A translation in the transformation moves the particle (copick's
    # reading of transformation_); STAR has only the position for it.
    xyz = pk.positions(table)
    if transforms is not None:
        xyz = xyz + transforms[:, :3, 3]
    runs = list(table['run'])
    out = {'rlnTomoName': runs}
    if flavour == RELION5:
        centre = _centres(where, runs, geometries)
        columns = CENTRED
        values = coords.absolute_to_centred(xyz, centre)
    else:
        pixel = _write_pixel_size(where, runs, geometries, voxel_size)
        columns = PIXELS
        values = coords.angstrom_to_pixels(xyz, pixel)
    for i, name in enumerate(columns):
        out[name] = values[:, i]
    angles = (
        coords.matrix_to_relion_euler(transforms[:, :3, :3])
        if transforms is not None
        else np.empty((0, 3))
    )
    for i, name in enumerate(ANGLES):
        out[name] = angles[:, i]
    numbers = class_numbers(list(table['particle_type']), classes)
    out[CLASS_NUMBER] = [numbers[n] for n in table['particle_type']]
    out[NAME_COLUMN] = list(table['particle_type'])
    out[SCORE] = table['score'].to_numpy(float)
    return pd.DataFrame(out)


def _geometry_of(where, run, geometries) -> TomogramGeometry:
    found = match_geometry(run, geometries or {})
    if found is None:
        known = ', '.join(sorted(geometries or {})[:10]) or 'none'
        raise input_error(
            where, f'no tomogram for run {run!r} among those given ({known})'
        )
    return found


def _centres(where, runs, geometries) -> np.ndarray:
    if not geometries:
        raise input_error(
            where, 'centred coordinates (RELION 5) need the tomograms'
        )
    centres = {r: _geometry_of(where, r, geometries).centre for r in set(runs)}
    return np.array([centres[r] for r in runs]).reshape(-1, 3)


def _write_pixel_size(where, runs, geometries, voxel_size) -> np.ndarray:
    if voxel_size is not None:
        if not np.isfinite(voxel_size) or voxel_size <= 0:
            raise input_error(
                where, f'voxel size must be positive, not {voxel_size}'
            )
        return np.full(len(runs), float(voxel_size))
    if not geometries:
        raise input_error(
            where,
            'pixel coordinates (RELION 4) need a voxel size or the tomograms',
        )
    sizes = {
        r: _geometry_of(where, r, geometries).voxel_size for r in set(runs)
    }
    return np.array([sizes[r] for r in runs])


def star_text(frame: pd.DataFrame) -> str:
    """Serialise a particles table as STAR text (``data_particles``)."""
    import starfile

    return starfile.to_string({'particles': frame})


def write_star(
    table: pd.DataFrame,
    path: str | Path,
    flavour: str = RELION5,
    geometries: Mapping[str, TomogramGeometry] | None = None,
    *,
    voxel_size: float | None = None,
    classes: Sequence[ParticleClass] | None = None,
    split_classes: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write picks as a RELION 5 or RELION 4 particles STAR file.

    Every file is converted before any is written, then each is written
    to a temporary file and renamed, so a bad input writes nothing.

    Parameters
    ----------
    table : DataFrame
        Picks table.
    path : str or Path
        Destination; with ``split_classes``, ``<stem>_<class>.star``
        beside it, one per class.
    flavour : {'relion5', 'relion4'}
        See :func:`star_frame`.
    geometries, voxel_size, classes
        See :func:`star_frame`.
    split_classes : bool
        One file per class (averaging runs per class).
    overwrite : bool
        Replace existing files; otherwise an existing one is an error.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    if split_classes:
        jobs = [
            (
                path.with_name(f'{path.stem}_{name}{path.suffix or ".star"}'),
                rows,
            )
            for name, rows in table.groupby('particle_type', sort=True)
        ]
    else:
        jobs = [(path, table)]
    texts = [
        (
            out,
            star_text(
                star_frame(
                    rows,
                    flavour,
                    geometries,
                    voxel_size=voxel_size,
                    classes=classes,
                    where=out,
                )
            ),
        )
        for out, rows in jobs
    ]
    if not overwrite:
        for out, _ in texts:
            if out.exists():
                raise exists_error(out)
    return [write_text(out, text) for out, text in texts]
