"""Open whatever the user points at: a tomogram or a set of picks.

These two functions are what the command line and the napari widgets
call; they dispatch on the kind of path and give one clear error for
anything they cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from napari_cryopick import picks as pk
from napari_cryopick.errors import input_error
from napari_cryopick.io import project as prj
from napari_cryopick.io.copick_json import read_picks_json
from napari_cryopick.io.kaggle_csv import read_picks_csv

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.classes import ParticleClass
    from napari_cryopick.io.star_common import TomogramGeometry
    from napari_cryopick.io.tomogram import Tomogram

STAR_SUFFIX = '.star'


def open_tomogram(
    source: str | Path,
    run: str | None = None,
    tomo_type: str = prj.DEFAULT_TOMO_TYPE,
    voxel_size: float | None = None,
) -> Tomogram:
    """Open a tomogram from a store, a file, or a run in a project.

    Parameters
    ----------
    source : str or Path
        An OME-Zarr store (NGFF 0.4 on zarr v2, or 0.5 on zarr v3), an
        MRC file (.mrc, .rec, .map, ...), a multi-page TIFF, or a copick
        / Kaggle-layout project.
    run : str, optional
        Run to open in a project (needed when it holds several runs).
    tomo_type : str
        Tomogram type in a project (default ``denoised``).
    voxel_size : float, optional
        Level-0 voxel size in Å that overrides the file's (``--voxel-size``);
        the other levels keep their ratio to level 0.

    Returns
    -------
    Tomogram
        Lazy levels, voxel size in Å from the metadata (or
        ``voxel_size``), run name.
    """
    from napari_cryopick.io.mrc import read_mrc
    from napari_cryopick.io.ome_zarr import read_ome_zarr
    from napari_cryopick.io.sniff import TIFF_SUFFIXES, check_tomogram
    from napari_cryopick.io.tiff import read_tiff

    path = check_tomogram(source)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in TIFF_SUFFIXES:
        return read_tiff(path, voxel_size=voxel_size)
    if path.is_file():
        return read_mrc(path, voxel_size=voxel_size)
    if prj.is_project(path) and not prj.is_zarr_store(path):
        run = run or _only_run(path)
        path = prj.tomogram_path(path, run, tomo_type)
    return with_voxel_size(read_ome_zarr(path, run), voxel_size)


def with_voxel_size(tomogram: Tomogram, voxel_size: float | None):
    """Return ``tomogram`` with level 0 at ``voxel_size`` Å (None: as is).

    Every level is scaled by the same factor per axis, so a pyramid
    keeps its binning.
    """
    from dataclasses import replace

    from napari_cryopick.io.tomogram import voxel_size_zyx

    if voxel_size is None:
        return tomogram
    new = voxel_size_zyx('--voxel-size', voxel_size)
    base = tomogram.scales[0]
    scales = tuple(
        tuple(
            float(n * (s / b))
            for n, s, b in zip(new, scale, base, strict=True)
        )
        for scale in tomogram.scales
    )
    return replace(tomogram, scales=scales)


def _only_run(project: Path) -> str:
    runs = prj.tomogram_runs(project)
    if len(runs) != 1:
        shown = ', '.join(runs[:10]) or 'none'
        raise input_error(
            project, f'holds {len(runs)} runs; choose one ({shown})'
        )
    return runs[0]


def tomogram_geometries(
    source: str | Path, tomo_type: str = prj.DEFAULT_TOMO_TYPE
) -> dict[str, TomogramGeometry]:
    """Size and voxel size of each tomogram in ``source``, from headers.

    Only metadata is read (MRC headers, OME-Zarr attributes), never the
    voxels.

    Parameters
    ----------
    source : str or Path
        A project (every run with a ``tomo_type`` tomogram), a tomogram
        (MRC file or OME-Zarr store), a folder of them, a RELION
        ``tomograms.star``, or a RELION optimisation set naming one.
    tomo_type : str
        Tomogram type in a project.

    Returns
    -------
    dict of str to TomogramGeometry
        By run name.
    """
    from napari_cryopick.io.relion_sets import (
        is_optimisation_set,
        is_tomogram_set,
        read_relion_tomograms,
        tomograms_of_optimisation_set,
    )

    path = Path(source)
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if is_optimisation_set(path):
        path = tomograms_of_optimisation_set(path)
    if is_tomogram_set(path):
        return read_relion_tomograms(path)
    if prj.is_project(path) and not prj.is_zarr_store(path):
        runs = prj.tomogram_runs(path)
        tomograms = [open_tomogram(path, run, tomo_type) for run in runs]
    elif path.is_dir() and not prj.is_zarr_store(path):
        tomograms = [open_tomogram(p) for p in _tomogram_files(path)]
    else:
        tomograms = [open_tomogram(path)]
    return _by_run(path, tomograms)


def _tomogram_files(folder: Path) -> list[Path]:
    from napari_cryopick.io.sniff import tomogram_files

    found = tomogram_files(folder)
    if not found:
        raise input_error(
            folder, 'no tomograms here (MRC files or OME-Zarr stores)'
        )
    return found


def _by_run(path: Path, tomograms) -> dict[str, TomogramGeometry]:
    from napari_cryopick.io.star_common import geometry_of

    out = {}
    for tomogram in tomograms:
        if tomogram.run in out:
            raise input_error(
                path, f'holds two tomograms named {tomogram.run!r}'
            )
        out[tomogram.run] = geometry_of(tomogram)
    return out


def read_picks(
    source: str | Path,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    origin: str = 'user',
    tomograms: str | Path | Mapping[str, TomogramGeometry] | None = None,
    voxel_size: float | None = None,
    classes: tuple[ParticleClass, ...] | None = None,
) -> pd.DataFrame:
    """Read picks from a JSON, CSV or STAR file, or a folder of picks.

    Parameters
    ----------
    source : str or Path
        A copick/Kaggle picks JSON file, a Kaggle CSV, a RELION 5 / RELION
        4 / Warp STAR file, a folder of STAR files, a ``Picks`` folder, a
        run folder, or a project (``ExperimentRuns`` itself, under
        ``overlay/``, or a ``copick_config.json``).
    user_id, session_id : str, optional
        Keep only the picks of this copick user / session.
    origin : str
        Value of the ``origin`` column.
    tomograms : str, Path or mapping of str to TomogramGeometry, optional
        Where STAR coordinates get their tomogram sizes and voxel sizes
        (see :func:`tomogram_geometries`), or those geometries by run.
    voxel_size : float, optional
        Pixel size in Å of STAR pixel coordinates.
    classes : tuple of ParticleClass, optional
        Class table for STAR ``rlnClassNumber`` (default: CZII).

    Returns
    -------
    DataFrame
        A Picks table.

    Raises
    ------
    CryopickError
        If nothing can be read, or the folder mixes several users or
        sessions and none was chosen.
    """
    from napari_cryopick.io.sniff import check_picks

    path = check_picks(source)
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if path.is_file() and path.suffix.lower() == '.csv':
        return read_picks_csv(path, origin=origin)
    stars = _star_files(path)
    if stars:
        from napari_cryopick.io.star import read_star

        geometries = _geometries(tomograms)
        return pk.concat(
            read_star(
                f,
                geometries,
                voxel_size=voxel_size,
                classes=classes,
                origin=origin,
            )
            for f in stars
        )
    if path.is_file() and path.name != prj.CONFIG_NAME:
        table = read_picks_json(path, origin=origin)
    else:
        files = _picks_files(path)
        table = pk.concat(read_picks_json(f, origin=origin) for f in files)
    return _select(path, table, user_id, session_id)


def _geometries(tomograms) -> Mapping[str, TomogramGeometry] | None:
    if tomograms is None or isinstance(tomograms, Mapping):
        return tomograms
    return tomogram_geometries(tomograms)


def _star_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() == STAR_SUFFIX else []
    if prj.is_project(path) or (path / 'Picks').is_dir():
        return []
    from napari_cryopick.io.star import is_particles_star

    # A RELION job folder also holds optimiser, sampling and tomogram-set
    # STAR files: only those with particle coordinates are picks.
    return [
        p
        for p in sorted(path.glob(f'[!.]*{STAR_SUFFIX}'))
        if is_particles_star(p)
    ]


def _picks_files(path: Path) -> list[Path]:
    if path.is_dir() and path.name == 'Picks':
        return sorted(path.glob('[!.]*.json'))
    if path.is_dir() and (path / 'Picks').is_dir():
        return sorted((path / 'Picks').glob('[!.]*.json'))
    _, runs_dir = prj.project_roots(path)
    if runs_dir is None:
        raise input_error(path, 'no picks here (no ExperimentRuns or Picks)')
    files = sorted(runs_dir.glob('*/Picks/[!.]*.json'))
    if not files:
        raise input_error(path, f'no picks files under {runs_dir}')
    return files


def _select(path, table, user_id, session_id) -> pd.DataFrame:
    for column, wanted in (('user_id', user_id), ('session_id', session_id)):
        if wanted is None:
            continue
        chosen = table[column] == wanted
        if len(table) and not chosen.any():
            # A mistyped id would otherwise read as "no picks", score 0.
            here = ', '.join(sorted(set(table[column]))[:10])
            kind = column.replace('_id', '')
            raise input_error(
                path, f'no picks of {kind} {wanted!r} (its {kind}s: {here})'
            )
        table = table[chosen]
    owners = table[['run', 'particle_type', 'user_id', 'session_id']]
    per_file = owners.drop_duplicates().groupby(['run', 'particle_type'])
    if len(table) and per_file.size().max() > 1:
        mixed = owners[['user_id', 'session_id']].drop_duplicates()
        shown = ', '.join(f'{u}/{s}' for u, s in mixed.itertuples(index=False))
        raise input_error(
            path,
            f'holds picks of several users/sessions ({shown}); '
            'choose one user id and session id',
        )
    return pk.normalize(table)


def source_classes(source: str | Path | None) -> tuple[ParticleClass, ...]:
    """Class table of a project (its copick config), else the CZII one.

    Parameters
    ----------
    source : str or Path, optional
        A project folder or ``copick_config.json``; anything else (a
        tomogram, a folder of them, None) gives the CZII classes.

    Returns
    -------
    tuple of ParticleClass
        The classes that STAR ``rlnClassNumber`` values refer to.
    """
    from napari_cryopick.classes import (
        classes_from_copick_config,
        default_classes,
    )

    if source is not None:
        path = Path(source)
        config = (
            path if path.name == prj.CONFIG_NAME else path / prj.CONFIG_NAME
        )
        if config.is_file():
            return classes_from_copick_config(config)
    return default_classes()
