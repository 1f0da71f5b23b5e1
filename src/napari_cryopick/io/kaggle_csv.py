"""Kaggle CSV picks: ``id,experiment,particle_type,x,y,z`` in Å."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.errors import exists_error, input_error
from napari_cryopick.io.atomic import write_text

KAGGLE_COLUMNS = ('id', 'experiment', 'particle_type', 'x', 'y', 'z')
# Accepted spellings of the run and class columns: Kaggle's, copick's and
# the Picks table's own.
_RUN_COLUMNS = ('experiment', 'run', 'run_name')
_CLASS_COLUMNS = ('particle_type', 'pickable_object_name', 'object')


def read_picks_csv(path: str | Path, origin: str = 'user') -> pd.DataFrame:
    """Read picks from a Kaggle-style CSV.

    Needs columns x, y, z (Å), a run column (``experiment``, ``run`` or
    ``run_name``) and a class column (``particle_type``,
    ``pickable_object_name`` or ``object``); ``score`` and
    ``instance_id`` are read when present.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    origin : str
        Value of the ``origin`` column.

    Returns
    -------
    DataFrame
        A Picks table.
    """
    path = Path(path)
    frame = _load(path)
    run = _pick_column(path, frame, _RUN_COLUMNS)
    kind = _pick_column(path, frame, _CLASS_COLUMNS)
    missing = [c for c in 'xyz' if c not in frame]
    if missing:
        raise input_error(path, f'CSV has no {missing[0]!r} column')
    try:
        xyz = frame[['x', 'y', 'z']].astype(float).to_numpy()
    except ValueError:
        raise input_error(path, 'x, y or z holds a non-number') from None
    if not pd.notna(xyz).all():
        raise input_error(path, 'x, y or z has an empty or NaN value')
    extra = {c: frame[c].to_numpy() for c in ('score',) if c in frame}
    if 'instance_id' in frame:
        extra['instance_id'] = frame['instance_id'].fillna(0).astype(int)
    return pk.make_picks(
        run=frame[run].astype(str).to_numpy(),
        particle_type=frame[kind].astype(str).to_numpy(),
        xyz=xyz,
        origin=origin,
        **extra,
    )


def _load(path: Path) -> pd.DataFrame:
    if not path.is_file():
        problem = (
            'is a folder, not a CSV file'
            if path.is_dir()
            else ('no such file')
        )
        raise input_error(path, problem)
    try:
        # pandas >= 3 parses each number to the float its text names
        # exactly (round trip), so CSV -> table -> CSV keeps every digit;
        # tests hold this.
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise input_error(path, f'not a readable CSV ({err})') from None
    except UnicodeDecodeError:
        raise input_error(path, 'not a text CSV file') from None


def _pick_column(path: Path, frame: pd.DataFrame, names: tuple) -> str:
    for name in names:
        if name in frame:
            return name
    raise input_error(path, f'CSV needs one of the columns {", ".join(names)}')


def picks_to_csv(table: pd.DataFrame, include_score: bool = False) -> str:
    """Return the Kaggle submission CSV text for a Picks table.

    Parameters
    ----------
    table : DataFrame
        The picks.
    include_score : bool
        Add a ``score`` column after the Kaggle ones.

    Returns
    -------
    str
        CSV text; floats written with ``repr`` so they read back exactly.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    header = list(KAGGLE_COLUMNS) + (['score'] if include_score else [])
    writer.writerow(header)
    rows = table[['run', 'particle_type', 'x', 'y', 'z', 'score']]
    for i, row in enumerate(rows.itertuples(index=False)):
        line = [i, row.run, row.particle_type]
        line += [repr(float(v)) for v in (row.x, row.y, row.z)]
        if include_score:
            line.append(repr(float(row.score)))
        writer.writerow(line)
    return buffer.getvalue()


def write_picks_csv(
    table: pd.DataFrame,
    path: str | Path,
    *,
    include_score: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a Picks table as a Kaggle submission CSV, atomically.

    Parameters
    ----------
    table : DataFrame
        The picks.
    path : str or Path
        Destination file.
    include_score : bool
        Add a ``score`` column.
    overwrite : bool
        Replace an existing file; otherwise that is an error.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise exists_error(path)
    return write_text(path, picks_to_csv(table, include_score))
