"""RELION 5 project files beside particles: tomogram and optimisation sets.

A RELION 5 job's particles give centred coordinates, which need each
tomogram's size: RELION keeps it in the tomogram set
(``tomograms.star``), which the job's optimisation set names.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from napari_cryopick.errors import CryopickError, input_error
from napari_cryopick.io.star_common import (
    TomogramGeometry,
    load_star,
    star_columns,
    star_head,
    star_numbers,
)


def read_relion_tomograms(path: str | Path) -> dict[str, TomogramGeometry]:
    """Read tomogram sizes from a RELION ``tomograms.star`` (tomogram set).

    RELION's own numbers, so centred coordinates convert exactly as RELION
    does: ``rlnTomoSize{X,Y,Z}`` (bin-1 pixels) and
    ``rlnTomoTiltSeriesPixelSize``.

    Parameters
    ----------
    path : str or Path
        The tomogram set STAR file.

    Returns
    -------
    dict of str to TomogramGeometry
        By ``rlnTomoName``, at the tilt-series pixel size.
    """
    path = Path(path)
    blocks = load_star(path)
    needed = ['rlnTomoName', *(f'rlnTomoSize{a}' for a in 'ZYX')]
    needed.append('rlnTomoTiltSeriesPixelSize')
    for block in blocks.values():
        if isinstance(block, pd.DataFrame) and set(needed) <= set(block):
            sizes = star_columns(path, block, needed[1:4]).astype(int)
            pixel = star_numbers(path, block, needed[4])
            return {
                str(name): TomogramGeometry(
                    str(name), tuple(int(v) for v in size), (p, p, p)
                )
                for name, size, p in zip(
                    block['rlnTomoName'], sizes, pixel, strict=True
                )
            }
    raise input_error(
        path,
        'not a RELION tomogram set (needs rlnTomoName, '
        'rlnTomoSize{X,Y,Z} and rlnTomoTiltSeriesPixelSize)',
    )


def is_tomogram_set(path: str | Path) -> bool:
    """Return whether ``path`` is a RELION ``tomograms.star`` (by header)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != '.star':
        return False
    head = star_head(path)
    return '_rlnTomoSizeX' in head and '_rlnTomoTiltSeriesPixelSize' in head


def is_optimisation_set(path: str | Path) -> bool:
    """Return whether ``path`` is a RELION optimisation set STAR file."""
    path = Path(path)
    return (
        path.is_file()
        and path.suffix.lower() == '.star'
        and '_rlnTomoTomogramsFile' in star_head(path)
    )


def tomograms_of_optimisation_set(path: str | Path) -> Path:
    """Return the ``tomograms.star`` a RELION optimisation set names.

    RELION writes ``rlnTomoTomogramsFile`` relative to its project folder,
    so the path is looked up from the working folder and from each folder
    above the optimisation set.

    Raises
    ------
    CryopickError
        If the file names none, or it cannot be found.
    """
    path = Path(path)
    simple = [b for b in load_star(path).values() if isinstance(b, dict)]
    named = [
        b['rlnTomoTomogramsFile']
        for b in simple
        if b.get('rlnTomoTomogramsFile')
    ]
    if not named:
        raise input_error(path, 'names no rlnTomoTomogramsFile')
    for base in (Path.cwd(), *path.resolve().parents):
        candidate = base / str(named[0])
        if candidate.is_file():
            return candidate
    raise input_error(path, f'its tomogram set {named[0]} is not found')


def relion_tomograms_beside(path: str | Path) -> Path | None:
    """Find the ``tomograms.star`` of a RELION job's particles file.

    RELION 5 jobs write ``<root>_optimisation_set.star`` beside
    ``<root>_data.star`` (or ``optimisation_set.star`` beside
    ``particles.star``), naming the tomogram set used.

    Parameters
    ----------
    path : str or Path
        A particles STAR file.

    Returns
    -------
    Path or None
        The tomogram set, or None when there is no readable one.
    """
    path = Path(path)
    root = path.name.removesuffix('data.star')
    sets = sorted(path.parent.glob('*optimisation_set.star'))
    sets.sort(key=lambda s: not s.name.startswith(root))
    for candidate in sets:
        try:
            return tomograms_of_optimisation_set(candidate)
        except CryopickError:
            continue
    return None
