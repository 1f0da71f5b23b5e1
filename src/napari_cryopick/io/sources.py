"""Open whatever the user points at: a tomogram or a set of picks.

These two functions are what the command line and the napari widgets
call; they dispatch on the kind of path and give one clear error for
anything they cannot read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from napari_cryopick import picks as pk
from napari_cryopick.errors import input_error
from napari_cryopick.io import project as prj
from napari_cryopick.io.copick_json import read_picks_json
from napari_cryopick.io.kaggle_csv import read_picks_csv

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram

MRC_SUFFIXES = ('.mrc', '.rec', '.map', '.mrcs', '.st', '.ali')


def open_tomogram(
    source: str | Path,
    run: str | None = None,
    tomo_type: str = prj.DEFAULT_TOMO_TYPE,
) -> Tomogram:
    """Open a tomogram from a store, a file, or a run in a project.

    Parameters
    ----------
    source : str or Path
        An OME-Zarr store (NGFF 0.4 on zarr v2, or 0.5 on zarr v3), an
        MRC file, or a copick / Kaggle-layout project.
    run : str, optional
        Run to open in a project (needed when it holds several runs).
    tomo_type : str
        Tomogram type in a project (default ``denoised``).

    Returns
    -------
    Tomogram
        Lazy levels, voxel size in Å from the metadata, run name.
    """
    from napari_cryopick.io.mrc import read_mrc
    from napari_cryopick.io.ome_zarr import read_ome_zarr

    path = Path(source)
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if path.is_file() and path.suffix.lower() in MRC_SUFFIXES:
        return read_mrc(path)
    if prj.is_project(path) and not prj.is_zarr_store(path):
        run = run or _only_run(path)
        return read_ome_zarr(prj.tomogram_path(path, run, tomo_type), run)
    if path.is_file():
        return read_mrc(path)
    return read_ome_zarr(path)


def _only_run(project: Path) -> str:
    runs = prj.tomogram_runs(project)
    if len(runs) != 1:
        shown = ', '.join(runs[:10]) or 'none'
        raise input_error(
            project, f'holds {len(runs)} runs; choose one ({shown})'
        )
    return runs[0]


def read_picks(
    source: str | Path,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    origin: str = 'user',
) -> pd.DataFrame:
    """Read picks from a JSON file, a CSV file, or a folder of picks.

    Parameters
    ----------
    source : str or Path
        A copick/Kaggle picks JSON file, a Kaggle CSV, a ``Picks`` folder,
        a run folder, or a project (``ExperimentRuns`` itself, under
        ``overlay/``, or a ``copick_config.json``).
    user_id, session_id : str, optional
        Keep only the picks of this copick user / session.
    origin : str
        Value of the ``origin`` column.

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
    path = Path(source)
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if path.is_file() and path.suffix.lower() == '.csv':
        return read_picks_csv(path, origin=origin)
    if path.is_file() and path.name != prj.CONFIG_NAME:
        table = read_picks_json(path, origin=origin)
    else:
        files = _picks_files(path)
        table = pk.concat(read_picks_json(f, origin=origin) for f in files)
    return _select(path, table, user_id, session_id)


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
