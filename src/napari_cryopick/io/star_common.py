"""STAR basics that reading and writing share (DESIGN §6).

Column names, the :class:`TomogramGeometry` a conversion needs, matching
the names RELION and Warp give tomograms to runs, and loading a STAR file
with the ``starfile`` library into checked numbers. Particle reading is
:mod:`napari_cryopick.io.star`, writing :mod:`napari_cryopick.io.star_write`,
RELION's tomogram and optimisation sets :mod:`napari_cryopick.io.relion_sets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import coords
from napari_cryopick.errors import input_error
from napari_cryopick.io.tomogram import _SUFFIXES as TOMOGRAM_SUFFIXES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from napari_cryopick.io.tomogram import Tomogram

RELION5 = 'relion5'
RELION4 = 'relion4'
FLAVOURS = (RELION5, RELION4)

#: Our class-name column. RELION defines no label for a class name; it
#: keeps columns it does not know ("will ignore (but maintain)"), so the
#: name survives RELION jobs without changing what RELION does.
NAME_COLUMN = 'cryopickClassName'
NAME_COLUMNS = (NAME_COLUMN, 'particle_type', 'pickable_object_name')
RUN_COLUMNS = ('rlnTomoName', 'rlnMicrographName')
_STRING_COLUMNS = [*RUN_COLUMNS, *NAME_COLUMNS, 'rlnTomoParticleName']

CENTRED = tuple(f'rlnCenteredCoordinate{a}Angst' for a in 'XYZ')
PIXELS = tuple(f'rlnCoordinate{a}' for a in 'XYZ')
ANGLES = ('rlnAngleRot', 'rlnAngleTilt', 'rlnAnglePsi')
SUBTOMOGRAM = tuple(f'rlnTomoSubtomogram{a}' for a in ('Rot', 'Tilt', 'Psi'))
ORIGIN_ANGSTROM = tuple(f'rlnOrigin{a}Angst' for a in 'XYZ')
ORIGIN_PIXELS = tuple(f'rlnOrigin{a}' for a in 'XYZ')
SCORE = 'rlnAutopickFigureOfMerit'
CLASS_NUMBER = 'rlnClassNumber'

#: Warp names its reconstructions ``<tilt series>_<pixel>Apx.mrc`` and
#: RELION 5 ``rec_<tomo>.mrc``; both should match ``<tomo>`` in a STAR.
_WARP_SUFFIX = re.compile(r'_\d+(?:\.\d+)?Apx$')


@dataclass(frozen=True)
class TomogramGeometry:
    """What a STAR conversion needs to know about one tomogram.

    Attributes
    ----------
    run : str
        Run (tomogram) name.
    shape_zyx : tuple of 3 ints
        Size in voxels (z, y, x).
    voxel_size_zyx : tuple of 3 floats
        Voxel size in Å (z, y, x).
    """

    run: str
    shape_zyx: tuple[int, int, int]
    voxel_size_zyx: tuple[float, float, float]

    @property
    def centre(self) -> np.ndarray:
        """RELION 5 centre, x, y, z in Å (:func:`coords.tomogram_centre`)."""
        return coords.tomogram_centre(self.shape_zyx, self.voxel_size_zyx)

    @property
    def extent(self) -> np.ndarray:
        """Size in Å, x, y, z (what Warp's fractions are fractions of)."""
        return 2.0 * self.centre

    @property
    def voxel_size(self) -> float:
        """Voxel size along x in Å."""
        return float(self.voxel_size_zyx[2])


def geometry_of(tomogram: Tomogram) -> TomogramGeometry:
    """Return the :class:`TomogramGeometry` of an opened tomogram.

    Only its level-0 shape and voxel size, both metadata: no voxels are
    read.
    """
    return TomogramGeometry(
        tomogram.run,
        tuple(int(n) for n in tomogram.shape),
        tuple(float(v) for v in tomogram.scales[0]),
    )


def _strip_suffix(name: str) -> str:
    for suffix in TOMOGRAM_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _aliases(name: str) -> set[str]:
    name = str(name)
    base = name[:-9] if name.endswith('.tomostar') else name
    # RELION 3 micrograph names are paths, sometimes 'x.st:mrc'.
    base = base.split(':')[0].rsplit('/', 1)[-1]
    out = {name, base}
    for candidate in (base, _WARP_SUFFIX.sub('', base)):
        out |= {candidate, _strip_suffix(candidate)}
    out |= {n[4:] for n in list(out) if n.startswith('rec_')}
    return out


def match_geometry(
    name: str, geometries: Mapping[str, TomogramGeometry]
) -> TomogramGeometry | None:
    """Find the tomogram a STAR names (``TS_01``, ``TS_01.tomostar``...).

    Parameters
    ----------
    name : str
        ``rlnTomoName`` or ``rlnMicrographName``.
    geometries : mapping of str to TomogramGeometry
        The tomograms given, by run name.

    Returns
    -------
    TomogramGeometry or None
        The tomogram, matched exactly or after removing Warp's
        ``.tomostar`` and ``_<pixel>Apx`` and RELION's ``rec_``.
    """
    if name in geometries:
        return geometries[name]
    wanted = _aliases(name)
    found = [g for key, g in geometries.items() if _aliases(key) & wanted]
    return found[0] if len(found) == 1 else None


def run_from_star_name(name: str) -> str:
    """Return the run a ``rlnTomoName`` / ``rlnMicrographName`` refers to.

    ``TS_01`` stays; Warp's ``TS_01.tomostar`` and RELION 3's
    ``tomograms/TS_01/TS_01.mrc`` give ``TS_01``.
    """
    name = str(name)
    if name.endswith('.tomostar'):
        name = name[:-9]
    return _strip_suffix(name.split(':')[0].rsplit('/', 1)[-1])


def load_star(path: Path) -> dict:
    """Read every block of the STAR file ``path`` (one-line errors)."""
    import starfile

    if not path.is_file():
        raise input_error(
            path,
            'is a folder, not a STAR file'
            if path.is_dir()
            else 'no such file',
        )
    try:
        blocks = starfile.read(
            path, always_dict=True, parse_as_string=_STRING_COLUMNS
        )
    except Exception as err:  # the parser raises many kinds on bad text
        problem = f'{type(err).__name__}: {err}'.splitlines()[0]
        raise input_error(
            path, f'not a readable STAR file ({problem})'
        ) from None
    return blocks


def star_numbers(path, table, column) -> np.ndarray:
    """Return ``table[column]`` as floats; raise naming ``path`` if not."""
    values = pd.to_numeric(table[column], errors='coerce').to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise input_error(path, f'{column} holds a value that is not a number')
    return values


def star_columns(path, table, names) -> np.ndarray:
    """Return ``table``'s ``names`` columns as an (N, len(names)) array."""
    return np.stack([star_numbers(path, table, c) for c in names], axis=1)


def star_head(path: Path) -> str:
    """Return the first 16 kB of ``path`` ('' if unreadable): for sniffing."""
    try:
        with path.open(encoding='utf-8', errors='replace') as handle:
            return handle.read(16384)
    except OSError:
        return ''
