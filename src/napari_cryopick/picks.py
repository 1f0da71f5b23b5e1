"""The Picks table: the one in-memory type for particle positions.

A pandas DataFrame, one row a particle (DESIGN §3):

=================  =======  ============================================
column             dtype    meaning
=================  =======  ============================================
``run``            str      run (tomogram) name
``particle_type``  str      class name
``x``, ``y``, ``z``  float  position in Å
``score``          float    confidence, 1.0 for manual or reference picks
``instance_id``    int      copick instance id, 0 when unused
``origin``         str      the pick's state, one of :data:`ORIGINS`
``transformation`` object   4x4 float array (object to tomogram space)
``user_id``        str      copick user id the pick was read from / for
``session_id``     str      copick session id
=================  =======  ============================================

``user_id`` and ``session_id`` extend DESIGN §3 so that picks read from a
copick project keep their provenance when written back.

``origin`` is the one vocabulary for a pick's state: where it came from
and what the user did with it. The picking session, the napari layers
and fine-tuning all use it:

=============  ========================================================
``model``      a model candidate nobody touched
``kept``       a model candidate the user confirmed
``moved``      a model candidate the user moved or gave another class
``user``       a pick the user added, or one read from a picks file
``deleted``    a model candidate the user deleted (kept as a negative)
``reference``  a reference pick (ground truth) to score against
=============  ========================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MODEL, KEPT, MOVED, USER, DELETED, REFERENCE = ORIGINS = (
    'model',
    'kept',
    'moved',
    'user',
    'deleted',
    'reference',
)
#: Shown whatever the threshold: the user vouched for them.
CONFIRMED = (KEPT, MOVED, USER)
#: Optional columns ``prob_<class>``: the model's probability of each of
#: its classes at a model pick (why it was made), NaN where unknown.
PROB_PREFIX = 'prob_'
COLUMNS = (
    'run',
    'particle_type',
    'x',
    'y',
    'z',
    'score',
    'instance_id',
    'origin',
    'transformation',
    'user_id',
    'session_id',
)
_DEFAULTS = {
    'score': 1.0,
    'instance_id': 0,
    'origin': USER,
    'user_id': '',
    'session_id': '',
}


def identity() -> np.ndarray:
    """Return a fresh 4x4 identity transformation."""
    return np.eye(4)


def empty_picks() -> pd.DataFrame:
    """Return a Picks table with no rows and the right dtypes."""
    return make_picks(run=[], particle_type=[], xyz=np.empty((0, 3)))


def make_picks(
    run,
    particle_type,
    xyz: np.ndarray,
    **columns,
) -> pd.DataFrame:
    """Build a Picks table from columns, filling defaults.

    Parameters
    ----------
    run : str or sequence of str
        Run name, one for all rows or one per row.
    particle_type : str or sequence of str
        Class name, one for all rows or one per row.
    xyz : ndarray
        (N, 3) positions in Å, columns x, y, z.
    **columns
        Any other column of the table (``score``, ``instance_id``,
        ``origin``, ``transformation``, ``user_id``, ``session_id``),
        one value for all rows or one per row.

    Returns
    -------
    DataFrame
        A valid Picks table.
    """
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    n = len(xyz)
    data = {
        'run': _broadcast(run, n),
        'particle_type': _broadcast(particle_type, n),
        'x': xyz[:, 0],
        'y': xyz[:, 1],
        'z': xyz[:, 2],
    }
    for name, default in _DEFAULTS.items():
        data[name] = _broadcast(columns.pop(name, default), n)
    transforms = columns.pop('transformation', None)
    if columns:
        raise TypeError(f'unknown Picks columns: {sorted(columns)}')
    data['transformation'] = _transforms(transforms, n)
    return normalize(pd.DataFrame(data))


def _broadcast(value, n: int) -> list:
    if isinstance(value, str) or np.ndim(value) == 0:
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f'expected {n} values, got {len(values)}')
    return values


def _transforms(value, n: int) -> list:
    if value is None:
        return [identity() for _ in range(n)]
    array = np.asarray(value, dtype=float)
    if array.shape == (4, 4):
        return [array.copy() for _ in range(n)]
    if array.shape != (n, 4, 4):
        raise ValueError(
            f'transformations must be (N, 4, 4), not {array.shape}'
        )
    return list(array)


def probability_columns(table: pd.DataFrame) -> list[str]:
    """Return the ``prob_<class>`` columns of ``table``, in their order."""
    return [c for c in table.columns if str(c).startswith(PROB_PREFIX)]


def normalize(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` with the Picks columns, order and dtypes.

    Missing optional columns get their defaults; the index is reset.
    Class-probability columns (``prob_<class>``) are kept, last; every
    other column is dropped.
    """
    table = table.reset_index(drop=True).copy()
    for name, default in _DEFAULTS.items():
        if name not in table:
            table[name] = default
    if 'transformation' not in table:
        table['transformation'] = [identity() for _ in range(len(table))]
    out = pd.DataFrame(
        {
            'run': table['run'].astype(str),
            'particle_type': table['particle_type'].astype(str),
            'x': table['x'].astype(float),
            'y': table['y'].astype(float),
            'z': table['z'].astype(float),
            'score': table['score'].astype(float),
            'instance_id': table['instance_id'].astype(np.int64),
            'origin': table['origin'].astype(str),
            'transformation': pd.Series(
                list(table['transformation']), dtype=object
            ),
            'user_id': table['user_id'].astype(str),
            'session_id': table['session_id'].astype(str),
        }
    )
    for column in probability_columns(table):
        out[column] = table[column].astype(float)
    return out


def positions(table: pd.DataFrame) -> np.ndarray:
    """Return the (N, 3) x, y, z positions of ``table`` in Å."""
    return table[['x', 'y', 'z']].to_numpy(dtype=float)


def concat(tables) -> pd.DataFrame:
    """Concatenate Picks tables (an empty list gives an empty table)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty_picks()
    return normalize(pd.concat(tables, ignore_index=True))


def over_thresholds(table: pd.DataFrame, thresholds: dict) -> np.ndarray:
    """Return which picks reach their class's score threshold.

    The one threshold filter of the package (the session, inference and
    fine-tuning share it).

    Parameters
    ----------
    table : DataFrame
        Picks table (any index).
    thresholds : dict
        ``{class name: threshold}``; a class not named has threshold 0.

    Returns
    -------
    ndarray of bool
        One flag per row: ``score >= threshold``.
    """
    # factorize, not Series.map: with pyarrow installed pandas maps an
    # empty string column to strings, which do not compare with floats.
    codes, names = pd.factorize(table['particle_type'])
    limits = np.array(
        [float(thresholds.get(n, 0.0)) for n in names], dtype=float
    )
    return table['score'].to_numpy(float) >= limits[codes]


def apply_thresholds(table: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """Return the picks of ``table`` that reach their class's threshold."""
    if not thresholds or not len(table):
        return table
    return normalize(table[over_thresholds(table, thresholds)])
