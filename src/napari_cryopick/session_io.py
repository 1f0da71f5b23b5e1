"""Tomograms and picks to and from napari layer data, for the widgets.

Pure functions (no Qt, no viewer): the Open widget, the sample data and
the Pick widget share them, so a tomogram looks the same however it was
opened and any Image layer can be picked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.errors import CryopickError
from napari_cryopick.io import project as prj
from napari_cryopick.io.copick_json import read_picks_json
from napari_cryopick.io.tomogram import Tomogram
from napari_cryopick.layers import META_KEY

if TYPE_CHECKING:
    import pandas as pd


def percentile_contrast(level, low=0.5, high=99.5) -> tuple[float, float]:
    """Return contrast limits at two percentiles of (a coarse) ``level``.

    Percentiles are robust to the tiny (~1e-5) or huge intensity scales
    tomograms come in; a large level (a single-level MRC) is strided to
    about two million voxels rather than read whole.
    """
    step = max(1, round((level.size / 2e6) ** (1 / 3)))
    values = np.asarray(level[::step, ::step, ::step], dtype=np.float32)
    lo, hi = np.nanpercentile(values, (low, high))
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def tomogram_layer_data(tomogram: Tomogram) -> tuple:
    """Return an Image layer-data tuple for ``tomogram``.

    Multiscale and lazy (the dask levels), ``scale`` = level-0 voxel size
    in Å, contrast from percentiles of the coarsest level.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.

    Returns
    -------
    tuple
        ``(data, kwargs, 'image')``.
    """
    levels = list(tomogram.levels)
    kwargs = {
        'name': tomogram.run,
        'scale': tuple(tomogram.scales[0]),
        'multiscale': len(levels) > 1,
        'contrast_limits': percentile_contrast(levels[-1]),
        # Thick slices (set so picks near the slice show) must not
        # average the image: it shows the one slice.
        'projection_mode': 'none',
        'metadata': {
            META_KEY: {'run': tomogram.run, 'source': str(tomogram.source)}
        },
    }
    return (levels if len(levels) > 1 else levels[0], kwargs, 'image')


def tomogram_from_layer(
    data,
    scale,
    name: str,
    metadata: dict | None = None,
    multiscale: bool = False,
) -> Tomogram:
    """Rebuild a :class:`Tomogram` from an Image layer's data.

    Parameters
    ----------
    data : array or list of arrays
        The layer's data (one array, or the levels of a multiscale).
    scale : sequence of float
        The layer's (level-0) scale in Å.
    name : str
        Layer name, the run name when the metadata has none.
    metadata : dict, optional
        The layer's metadata.
    multiscale : bool
        Whether ``data`` is a list of levels.

    Returns
    -------
    Tomogram
        Levels as dask arrays, scales doubling per level.
    """
    meta = (metadata or {}).get(META_KEY, {})
    arrays = list(data) if multiscale else [data]
    levels = tuple(da.asarray(a) for a in arrays)
    base = np.asarray(scale, float)[-3:]
    scales = tuple(
        tuple(float(s) for s in base * np.asarray(levels[0].shape) / lv.shape)
        for lv in levels
    )
    source = Path(meta.get('source') or name)
    return Tomogram(levels, scales, str(meta.get('run') or name), source)


def run_picks(project: str | Path, run: str) -> pd.DataFrame:
    """Return every picks file of ``run`` in ``project`` as one table.

    Files that cannot be read are skipped; an empty table when the run
    has no picks.
    """
    _, overlay = prj.project_roots(project)
    if overlay is None:
        return pk.empty_picks()
    tables = []
    for path in sorted((overlay / run / 'Picks').glob('[!.]*.json')):
        try:
            tables.append(read_picks_json(path, run=run))
        except CryopickError:
            continue
    return pk.concat(tables)
