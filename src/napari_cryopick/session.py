"""Picking session: every candidate of one run, thresholds, corrections.

The state behind the napari widgets, with no Qt and no viewer. It holds
all model candidates (so per-class thresholds filter without re-running
the model), the user's corrections, the picks the user deleted
(negatives for fine-tuning) and an undo stack. Each pick's state is its
``origin``, in the one vocabulary of :mod:`napari_cryopick.picks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from psygnal import Signal

from napari_cryopick import picks as pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from napari_cryopick.classes import ParticleClass

UNDO_DEPTH = 50
#: Å: a layer position this close to the stored one has not moved.
_MOVE_TOLERANCE = 1e-3


@dataclass
class _State:
    table: pd.DataFrame
    thresholds: dict[str, float] = field(default_factory=dict)
    #: The model's candidates as it gave them (never edited).
    candidates: pd.DataFrame = field(default_factory=pk.empty_picks)


class PickSession:
    """Candidates, corrections and thresholds of one run.

    Parameters
    ----------
    run : str
        Run name.
    classes : tuple of ParticleClass
        The pickable classes, in display order.

    Attributes
    ----------
    changed : Signal
        Emitted with the set of class names whose shown picks changed.
    """

    changed = Signal(object)

    def __init__(self, run: str, classes: tuple[ParticleClass, ...]):
        self.run = run
        self.classes = tuple(classes)
        self._state = _State(_with_ids(pk.empty_picks(), [], pk.MODEL))
        self._undo: list[_State] = []
        self._partial = False
        self._next_uid = 0

    @property
    def table(self) -> pd.DataFrame:
        """All picks (deleted ones too), indexed by pick id."""
        return self._state.table

    @property
    def thresholds(self) -> dict[str, float]:
        """Per-class score threshold (0 for a class not set)."""
        return dict(self._state.thresholds)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in display order."""
        return tuple(c.name for c in self.classes)

    def set_candidates(
        self, table: pd.DataFrame, thresholds=None, partial: bool = False
    ) -> None:
        """Replace every pick by the model's candidates (undoable).

        ``partial``: the candidates found so far by a model still
        running; the next call replaces them within the same undo step.
        """
        if not self._partial:
            self._push()
        self._partial = partial
        new = _with_ids(table, self._take_uids(len(table)), pk.MODEL)
        self._state = _State(
            new, {**self._state.thresholds}, pk.normalize(table)
        )
        if thresholds is not None:
            self._state.thresholds = dict(thresholds)
        self.changed.emit(set(self.class_names))

    def add_class(self, cls: ParticleClass) -> None:
        """Add a pickable class (a new particle the user will click).

        Raises
        ------
        CryopickError
            If the session already has a class of that name.
        """
        from napari_cryopick.errors import CryopickError

        if cls.name in self.class_names:
            raise CryopickError(f'class {cls.name!r} is already here')
        self.classes = (*self.classes, cls)
        self._state.thresholds.setdefault(cls.name, 0.0)
        self.changed.emit({cls.name})

    def set_class_candidates(
        self, name: str, table: pd.DataFrame, threshold: float
    ) -> None:
        """Replace one class's untouched model picks by new ones (undoable).

        What the user did stays: picks they added, kept, moved or
        deleted. A new candidate within half the class radius of one of
        those is dropped (the model found what the user already said).

        Parameters
        ----------
        name : str
            The class.
        table : DataFrame
            The new model's candidates of ``name`` (no threshold applied).
        threshold : float
            The class's score threshold.
        """
        self._push()
        current = self._state.table
        mine = current['particle_type'] == name
        untouched = mine & (current['origin'] == pk.MODEL)
        rest = current[~untouched]
        table = table[table['particle_type'] == name]
        said = rest[rest['particle_type'] == name]
        if len(said) and len(table):
            from scipy.spatial import cKDTree

            radius = {c.name: c.radius for c in self.classes}[name]
            distance, _ = cKDTree(pk.positions(said)).query(
                pk.positions(table)
            )
            table = table[distance > 0.5 * radius]
        new = _with_ids(table, self._take_uids(len(table)), pk.MODEL)
        self._state.table = pd.concat([rest, new])
        self._state.thresholds[name] = float(threshold)
        self.changed.emit({name})

    def end_partial(self) -> bool:
        """Keep the partial candidates of a model that stopped early.

        Returns whether there were partial candidates.
        """
        was, self._partial = self._partial, False
        return was

    def set_threshold(self, name: str, value: float) -> None:
        """Set one class's threshold (live; not undoable)."""
        self._state.thresholds[name] = float(value)
        self.changed.emit({name})

    def set_thresholds(self, values: dict[str, float]) -> None:
        """Set several thresholds at once (undoable)."""
        self._push()
        finite = {k: float(v) for k, v in values.items() if np.isfinite(v)}
        self._state.thresholds.update(finite)
        self.changed.emit(set(finite))

    def visible(self, name: str | None = None) -> pd.DataFrame:
        """Return the shown picks: not deleted, confirmed or over threshold.

        Parameters
        ----------
        name : str, optional
            One class; default all classes.

        Returns
        -------
        DataFrame
            Rows of :attr:`table` in pick-id order.
        """
        table = self.table
        if name is not None:
            table = table[table['particle_type'] == name]
        over = pk.over_thresholds(table, self._state.thresholds)
        origin = table['origin']
        shown = origin.isin(pk.CONFIRMED) | ((origin == pk.MODEL) & over)
        return table[shown]

    def picks(self) -> pd.DataFrame:
        """Return the shown picks as a Picks table (for score, export)."""
        return pk.normalize(self.visible())

    def negatives(self) -> pd.DataFrame:
        """Return the deleted model candidates as a Picks table."""
        table = self.table
        return pk.normalize(table[table['origin'] == pk.DELETED])

    def proposals(self) -> pd.DataFrame:
        """Return the model's candidates as it gave them (no thresholds).

        Whatever the user did with them since: what the model predicts
        on this run, without predicting it again.
        """
        return self._state.candidates

    def add(self, table: pd.DataFrame) -> np.ndarray:
        """Add user picks (undoable); return their pick ids."""
        self._push()
        uids = self._take_uids(len(table))
        self._append(_with_ids(table, uids, pk.USER))
        self.changed.emit(set(table['particle_type']))
        return uids

    def set_origin(self, uids: Iterable[int], value: str) -> None:
        """Mark picks ``kept`` or ``deleted`` (undoable)."""
        self._push()
        self._mark(np.asarray(list(uids), dtype=np.int64), value)

    def mark_negative(self, uids: Iterable[int]) -> None:
        """Mark picks "not this" (undoable): negatives, whoever made them.

        Unlike deleting, a pick the user added is kept, as a place the
        user said holds no particle of its class.
        """
        uids = np.intersect1d(
            np.asarray(list(uids), np.int64), self.table.index
        )
        if not len(uids):
            return
        self._push()
        table = self._state.table.copy()
        table.loc[uids, 'origin'] = pk.DELETED
        self._state.table = table
        self.changed.emit(set(table.loc[uids, 'particle_type']))

    def move_class(self, uids: Iterable[int], name: str) -> None:
        """Give picks another class (undoable)."""
        uids = np.asarray(list(uids), dtype=np.int64)
        if not len(uids):
            return
        self._push()
        table = self._state.table.copy()
        touched = set(table.loc[uids, 'particle_type']) | {name}
        table.loc[uids, 'particle_type'] = name
        self._state.table = _moved(table, uids)
        self.changed.emit(touched)

    def sync_class(
        self, name: str, uids: np.ndarray, xyz: np.ndarray
    ) -> np.ndarray:
        """Take a class layer's state after a napari edit (undoable).

        Parameters
        ----------
        name : str
            The class the layer shows.
        uids : ndarray
            Pick id of each layer point, ``-1`` for points napari added.
            napari gives added points the features of the last selected
            point, so a repeated id, or one not shown, also means new.
        xyz : ndarray
            (N, 3) positions in Å of the layer's points.

        Returns
        -------
        ndarray
            The pick ids of the layer's points, new ones filled in.
        """
        uids = np.asarray(uids, dtype=np.int64).copy()
        shown = self.visible(name).index.to_numpy()
        first = np.zeros(len(uids), dtype=bool)
        first[np.unique(uids, return_index=True)[1]] = True
        new = ~first | ~np.isin(uids, shown)
        gone = np.setdiff1d(shown, uids[~new])
        known = uids[~new]
        old = pk.positions(self.table.loc[known])
        moved = known[np.abs(old - xyz[~new]).max(axis=1) > _MOVE_TOLERANCE]
        if not (len(gone) or new.any() or len(moved)):
            return uids
        self._push()
        self._delete(gone)
        self._move(moved, xyz[~new][np.isin(known, moved)])
        uids[new] = self._take_uids(int(new.sum()))
        rows = pk.make_picks(self.run, name, xyz[new])
        self._append(_with_ids(rows, uids[new], pk.USER))
        self.changed.emit({name})
        return uids

    def undo(self) -> bool:
        """Undo the last undoable change; return whether there was one."""
        if not self._undo:
            return False
        self._state = self._undo.pop()
        self.changed.emit(set(self.class_names))
        return True

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has something to undo."""
        return bool(self._undo)

    def review_queue(self, names=None) -> pd.DataFrame:
        """Return shown picks not yet reviewed, least confident first.

        ``names``: only picks of these classes (default: every class).
        """
        table = self.visible()
        table = table[table['origin'] == pk.MODEL]
        if names is not None:
            table = table[table['particle_type'].isin(list(names))]
        return table.sort_values('score', kind='stable')

    def _mark(self, uids: np.ndarray, value: str) -> None:
        uids = np.intersect1d(uids, self.table.index)
        names = set(self.table.loc[uids, 'particle_type'])
        if value == pk.DELETED:
            self._delete(uids)
        else:
            table = self._state.table.copy()
            table.loc[uids, 'origin'] = value
            self._state.table = table
        self.changed.emit(names)

    def _delete(self, uids: np.ndarray) -> None:
        table = self._state.table
        added = (table.loc[uids, 'origin'] == pk.USER).to_numpy()
        table = table.drop(index=uids[added])
        table.loc[uids[~added], 'origin'] = pk.DELETED
        self._state.table = table

    def _move(self, uids: np.ndarray, xyz: np.ndarray) -> None:
        table = self._state.table.copy()
        table.loc[uids, ['x', 'y', 'z']] = xyz
        self._state.table = _moved(table, uids)

    def _append(self, rows: pd.DataFrame) -> None:
        self._state.table = pd.concat([self._state.table, rows])

    def _take_uids(self, n: int) -> np.ndarray:
        uids = np.arange(self._next_uid, self._next_uid + n, dtype=np.int64)
        self._next_uid += n
        return uids

    def _push(self) -> None:
        self._partial = False  # an edit ends a preview
        state = _State(
            self._state.table.copy(),
            dict(self._state.thresholds),
            self._state.candidates,
        )
        self._undo = [*self._undo[-(UNDO_DEPTH - 1) :], state]


def _with_ids(table: pd.DataFrame, uids, origin: str) -> pd.DataFrame:
    table = pk.normalize(table)
    table['origin'] = origin
    table.index = pd.Index(np.asarray(uids, dtype=np.int64), name='uid')
    return table


def _moved(table: pd.DataFrame, uids: np.ndarray) -> pd.DataFrame:
    """Mark model picks ``moved`` (a user's own pick stays ``user``)."""
    origin = table.loc[uids, 'origin']
    table.loc[uids, 'origin'] = origin.where(origin == pk.USER, pk.MOVED)
    return table
