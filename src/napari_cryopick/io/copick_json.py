"""copick picks JSON: read and write (DESIGN §6).

A copick picks file holds the picks of one object, one run, one user
and one session, in Å. The Kaggle overlay files are the same schema,
named ``<object>.json`` and without ``score`` keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.errors import exists_error, input_error
from napari_cryopick.io.atomic import write_text
from napari_cryopick.io.names import (
    parse_picks_file_name,
    picks_file_name,
    sanitize_name,
)

if TYPE_CHECKING:
    import pandas as pd

_REQUIRED = ('pickable_object_name', 'points')


def read_picks_json(
    path: str | Path, run: str | None = None, origin: str = 'user'
) -> pd.DataFrame:
    """Read one copick (or Kaggle overlay) picks JSON file.

    Parameters
    ----------
    path : str or Path
        The ``.json`` file.
    run : str, optional
        Run name to use when the file has no ``run_name`` and does not sit
        in ``ExperimentRuns/<run>/Picks/``.
    origin : str
        Value of the ``origin`` column (``user``, ``model`` or
        ``reference``).

    Returns
    -------
    DataFrame
        A Picks table.

    Raises
    ------
    CryopickError
        If the file is missing, not JSON, or not a picks file.
    """
    path = Path(path)
    body = _load(path)
    user, session, name = _identity(path, body)
    run_name = body.get('run_name') or run or _run_from_path(path)
    if not run_name:
        raise input_error(path, 'no run_name in file and no run given')
    points = body['points']
    if not isinstance(points, list):
        raise input_error(path, '"points" is not a list')
    columns = _point_columns(path, points)
    return pk.make_picks(
        run=str(run_name),
        particle_type=name,
        origin=origin,
        user_id=user,
        session_id=session,
        **columns,
    )


def _load(path: Path) -> dict:
    if not path.exists():
        raise input_error(path, 'no such file')
    if path.is_dir():
        raise input_error(path, 'is a folder, not a picks JSON file')
    try:
        body = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise input_error(path, f'not valid JSON ({err})') from None
    if not isinstance(body, dict):
        raise input_error(path, 'not a copick picks file (not an object)')
    missing = [key for key in _REQUIRED if key not in body]
    if missing:
        raise input_error(path, f'not a copick picks file (no {missing[0]!r})')
    unit = body.get('unit', 'angstrom')
    if unit not in ('angstrom', None):
        raise input_error(path, f'unsupported unit {unit!r} (need angstrom)')
    return body


def _identity(path: Path, body: dict) -> tuple[str, str, str]:
    try:
        user, session, _ = parse_picks_file_name(path.stem)
    except ValueError as err:
        raise input_error(path, str(err)) from None
    name = str(body['pickable_object_name'])
    user = user if user is not None else str(body.get('user_id', ''))
    session = session if session is not None else body.get('session_id', '')
    return user, str(session), name


def _run_from_path(path: Path) -> str | None:
    parts = path.resolve().parts
    if (
        len(parts) >= 4
        and parts[-2] == 'Picks'
        and parts[-4] == ('ExperimentRuns')
    ):
        return parts[-3]
    return None


def _point_columns(path: Path, points: list) -> dict:
    n = len(points)
    xyz = np.empty((n, 3))
    transforms = np.tile(np.eye(4), (n, 1, 1))
    scores = np.ones(n)
    instances = np.zeros(n, dtype=np.int64)
    for i, point in enumerate(points):
        try:
            loc = point['location']
            xyz[i] = (loc['x'], loc['y'], loc['z'])
            if point.get('transformation_') is not None:
                transforms[i] = point['transformation_']
            scores[i] = point.get('score', 1.0)
            instances[i] = point.get('instance_id', 0) or 0
        except (KeyError, TypeError, ValueError) as err:
            raise input_error(
                path, f'point {i} is malformed ({type(err).__name__}: {err})'
            ) from None
    if not np.all(np.isfinite(xyz)):
        raise input_error(path, 'a point location is not a finite number')
    return {
        'xyz': xyz,
        'score': scores,
        'instance_id': instances,
        'transformation': transforms,
    }


def picks_to_json(
    table: pd.DataFrame,
    object_name: str,
    run: str,
    user_id: str,
    session_id: str,
    voxel_spacing: float | None = None,
    with_score: bool = True,
) -> str:
    """Serialise the rows of one run and object as a copick picks file.

    Parameters
    ----------
    table : DataFrame
        Picks table holding (at least) the rows to write.
    object_name, run, user_id, session_id : str
        Identify the file; only rows of ``run`` and ``object_name`` are
        written.
    voxel_spacing : float, optional
        Voxel spacing of the tomogram the picks were made on.
    with_score : bool
        Write each point's ``score``; the Kaggle overlay files have none.

    Returns
    -------
    str
        The JSON text, laid out as copick writes it (``indent=4``).
    """
    rows = table[
        (table['run'] == run) & (table['particle_type'] == object_name)
    ]
    body = {
        'pickable_object_name': object_name,
        'user_id': sanitize_name(user_id),
        'session_id': sanitize_name(session_id),
        'run_name': run,
        'voxel_spacing': voxel_spacing,
        'unit': 'angstrom',
        'points': [
            _point(row, with_score) for row in rows.itertuples(index=False)
        ],
        'trust_orientation': _has_orientation(rows),
    }
    return json.dumps(body, indent=4) + '\n'


def _point(row, with_score: bool = True) -> dict:
    point = {
        'location': {'x': float(row.x), 'y': float(row.y), 'z': float(row.z)},
        'transformation_': np.asarray(row.transformation, float).tolist(),
        'instance_id': int(row.instance_id),
    }
    if with_score:
        point['score'] = float(row.score)
    return point


def _has_orientation(rows: pd.DataFrame) -> bool:
    rotations = [np.asarray(t)[:3, :3] for t in rows['transformation']]
    return any(not np.allclose(r, np.eye(3)) for r in rotations)


def write_picks_json(
    table: pd.DataFrame,
    root: str | Path,
    user_id: str,
    session_id: str,
    *,
    object_names=None,
    runs=None,
    voxel_spacing: float | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a Picks table as copick picks files under ``root``.

    One file per run and object:
    ``root/ExperimentRuns/<run>/Picks/<user>_<session>_<object>.json``.

    Parameters
    ----------
    table : DataFrame
        The picks.
    root : str or Path
        copick overlay root (the folder that holds ``ExperimentRuns``).
    user_id, session_id : str
        copick user and session; sanitised (no underscores).
    object_names : iterable of str, optional
        Objects to write a file for in every run, even with no picks
        (default: the objects present in each run).
    runs : iterable of str, optional
        Runs to write, even with no picks (default: the runs present).
    voxel_spacing : float, optional
        Recorded in each file.
    overwrite : bool
        Replace existing files; otherwise an existing file is an error
        and nothing is written.

    Returns
    -------
    list of Path
        The files written.
    """
    root = Path(root)
    runs = set(table['run']) | set(runs or ())
    names = set(object_names or ())
    jobs = _file_jobs(table, root, (user_id, session_id), runs, names)
    if not overwrite:
        for path, *_ in jobs:
            if path.exists():
                raise exists_error(path)
    for path, run, name in jobs:
        text = picks_to_json(
            table, name, run, user_id, session_id, voxel_spacing
        )
        write_text(path, text)
    return [path for path, *_ in jobs]


def _file_jobs(table, root, identity, runs, names):
    jobs = []
    for run in sorted(runs):
        present = table.loc[table['run'] == run, 'particle_type']
        for name in sorted(names | set(present)):
            fname = picks_file_name(*identity, name)
            path = root / 'ExperimentRuns' / run / 'Picks' / fname
            jobs.append((path, run, name))
    return jobs


def write_kaggle_overlay(
    table: pd.DataFrame, root: str | Path, object_names=(), runs=()
) -> list[Path]:
    """Write picks as Kaggle overlay files, as the CZII training data has.

    ``root/ExperimentRuns/<run>/Picks/<object>.json`` with user
    ``curation``, session ``0``, no scores and a null voxel spacing.

    Parameters
    ----------
    table : DataFrame
        The picks.
    root : str or Path
        The overlay root.
    object_names : iterable of str
        Objects to write a file for in every run even with no picks.
    runs : iterable of str
        Runs to write even with no picks.

    Returns
    -------
    list of Path
        The files written.
    """
    root = Path(root)
    written = []
    for run in sorted(set(table['run']) | set(runs)):
        present = set(table.loc[table['run'] == run, 'particle_type'])
        for name in sorted(present | set(object_names)):
            path = root / 'ExperimentRuns' / run / 'Picks' / f'{name}.json'
            text = picks_to_json(
                table, name, run, 'curation', '0', with_score=False
            )
            written.append(write_text(path, text))
    return written
