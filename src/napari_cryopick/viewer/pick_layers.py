"""One Points layer per class, kept in step with a picking session.

The layers show the session (thresholds applied) and feed napari's own
edits (add, move, delete) back into it; every conversion goes through
:mod:`napari_cryopick.layers`.
"""

from __future__ import annotations

import functools
import weakref
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from napari_cryopick.layers import (
    META_KEY,
    class_layer_data,
    layer_data_to_picks,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from napari.components import ViewerModel

    from napari_cryopick.session import PickSession

#: ``metadata['cryopick']['role']`` of the layers made here.
ROLE = 'picks'
#: Session columns each point carries as features besides the table's.
EXTRA = ('uid',)


class PickLayers:
    """One Points layer per class, kept in step with a session.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer to add the layers to (held weakly).
    session : PickSession
        The session shown.
    voxel_size : tuple of float
        Level-0 (z, y, x) voxel size in Å of the tomogram.
    schedule : callable, optional
        ``schedule(fn)`` runs ``fn`` on a later turn of the event loop.
        Given, one layer is made or updated per turn: napari takes ~0.1 s
        to add a layer and ~0.05 s to redraw one with thousands of
        points, and six at once would freeze the GUI for over half a
        second. A new layer is also added hidden and shown a turn later:
        the first draw of a Points layer builds its shaders (~0.15 s in
        software OpenGL), and added and drawn in one turn the GUI froze
        for 0.25-0.4 s. Default: all at once.

    Attributes
    ----------
    updated : Signal
        Emitted with a class layer once it is made, and after a deferred
        update.
    """

    updated = Signal(object)

    def __init__(
        self,
        viewer: ViewerModel,
        session: PickSession,
        voxel_size,
        schedule: Callable[[Callable], None] | None = None,
    ):
        self._viewer = weakref.ref(viewer)
        self.session = session
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.particles = {c.name: c for c in session.classes}
        self._syncing = False
        self._schedule = schedule
        self._pending = list(session.class_names)
        self._hidden: set[str] = set()  # added, shown on the next turn
        self._queue: dict[str, None] = {}
        self._queued = False
        self.layers = {}
        session.changed.connect(self.refresh)
        if schedule is None:
            self._build()
        else:  # not in the caller's turn: it may have work of its own
            schedule(self._build)

    @property
    def viewer(self) -> ViewerModel | None:
        """The viewer, or ``None`` once it is gone."""
        return self._viewer()

    @property
    def complete(self) -> bool:
        """Whether every class layer is made and up to date."""
        return not (self._pending or self._queue or self._hidden)

    def _build(self) -> None:
        while self._pending and self.viewer is not None:
            name = self._pending.pop(0)
            self.layers[name] = self._layer(name)
            self.updated.emit(self.layers[name])
            if self._schedule is not None:
                if name in self._hidden:
                    self._schedule(functools.partial(self._show, name))
                elif self._pending:
                    self._schedule(self._build)
                return

    def _show(self, name: str) -> None:
        # The second turn of a new layer: its first draw (see schedule).
        self._hidden.discard(name)
        self.layers[name].visible = True
        if self._pending:
            self._schedule(self._build)

    def add_class(self, cls) -> None:
        """Make the (empty) layer of a class added to the session."""
        self.particles[cls.name] = cls
        self._pending.append(cls.name)
        self._build()

    def disconnect(self) -> None:
        """Stop following the session (the layers stay)."""
        self._pending.clear()  # a deferred build or update now does nothing
        self._queue.clear()
        self.session.changed.disconnect(self.refresh)
        for layer in self.layers.values():
            layer.events.data.disconnect(self._on_data)

    def refresh(self, names=None) -> None:
        """Show the session's picks of ``names`` (default all classes)."""
        if self._syncing:  # the layer already shows its own edit
            return
        names = [n for n in (names or self.layers) if n in self.layers]
        if self._schedule is None or len(names) == 1:
            for name in names:
                self._queue.pop(name, None)
                self._update(name)
            return
        self._queue.update(dict.fromkeys(names))
        if not self._queued:
            self._queued = True
            self._schedule(self._drain)

    def _drain(self) -> None:
        self._queued = False
        if not self._queue:
            return
        name = next(iter(self._queue))
        del self._queue[name]
        self._update(name)
        self.updated.emit(self.layers[name])
        if self._queue:
            self._queued = True
            self._schedule(self._drain)

    def _update(self, name: str) -> None:
        layer = self.layers[name]
        data, kwargs = self._data(name)
        self._syncing = True
        try:
            layer.data = data
            layer.features = kwargs['features']
        finally:
            self._syncing = False

    def selected_uids(self) -> np.ndarray:
        """Return the pick ids selected in the active picks layer."""
        viewer = self.viewer
        layer = None if viewer is None else viewer.layers.selection.active
        if layer is None or layer not in self.layers.values():
            return np.empty(0, dtype=np.int64)
        rows = sorted(layer.selected_data)
        return layer.features['uid'].to_numpy()[rows].astype(np.int64)

    def _data(self, name: str):
        rows = self.session.visible(name).reset_index()
        return class_layer_data(
            rows,
            self.particles[name],
            self.voxel_size,
            self.session.run,
            EXTRA,
        )

    def _layer(self, name: str):
        data, kwargs = self._data(name)
        kwargs['metadata'][META_KEY]['role'] = ROLE
        layer = self._reusable(name)
        if layer is None:
            hide = self._schedule is not None
            layer = self.viewer.add_points(
                data, ndim=3, visible=not hide, **kwargs
            )
            if hide:
                self._hidden.add(name)
        else:  # updating a layer is far cheaper than adding one
            self._syncing = True
            try:
                layer.data = data
                for key in ('features', 'scale', 'size', 'metadata'):
                    setattr(layer, key, kwargs[key])
            finally:
                self._syncing = False
        layer.events.data.connect(self._on_data)
        return layer

    def _reusable(self, name: str):
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY, {})
            if layer.name == name and meta.get('role') == ROLE:
                return layer
        return None

    def _on_data(self, event) -> None:
        if self._syncing or event.action not in (
            'added',
            'removed',
            'changed',
        ):
            return
        layer = event.source
        name = layer.metadata[META_KEY]['object']
        attrs = {
            'scale': layer.scale,
            'metadata': layer.metadata,
            'features': layer.features,
        }
        table = layer_data_to_picks(layer.data, attrs)
        uids = layer.features['uid'].to_numpy()
        xyz = table[['x', 'y', 'z']].to_numpy()
        self._syncing = True
        try:
            uids = self.session.sync_class(name, uids, xyz)
        finally:
            self._syncing = False
        features = layer.features.copy()
        rows = self.session.table.loc[uids]
        features['uid'] = uids
        for key in ('score', 'origin'):
            features[key] = rows[key].to_numpy()
        layer.features = features
