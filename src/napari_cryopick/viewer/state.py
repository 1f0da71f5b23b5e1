"""What the cryopick widgets of one viewer share (no Qt here).

A :class:`ViewerState` holds the :class:`Context` the widgets work on
(the tomogram with its true level scales, the picking session, the model
and the reference picks), replaced in one step and announced by one
signal; the :class:`PickLayers` that show the session; and the review
actions with their keys on every class layer. It holds the viewer
weakly: a closed viewer is freed with its layers, and the state with
the widgets that use it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from napari_cryopick import picks as pk
from napari_cryopick.errors import CryopickError
from napari_cryopick.viewer.navigation import jump_to, show_nearby_picks
from napari_cryopick.viewer.pick_layers import PickLayers

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pandas as pd
    from napari.components import ViewerModel

    from napari_cryopick.export import ExportSettings
    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.checkpoint import LoadedModel
    from napari_cryopick.session import PickSession


@dataclass(frozen=True, eq=False)
class Context:
    """What the widgets of one viewer work on; replaced, never edited.

    Parameters
    ----------
    tomogram : Tomogram, optional
        The tomogram picked, with its level scales as read.
    session : PickSession, optional
        The picks of that tomogram's run and the user's corrections.
    model : LoadedModel, optional
        The model the next Pick (and fine-tuning) starts from.
    reference : DataFrame, optional
        Reference picks to score against.
    """

    tomogram: Tomogram | None = None
    session: PickSession | None = None
    model: LoadedModel | None = None
    reference: pd.DataFrame | None = None

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Level-0 (z, y, x) voxel size in Å (1 Å with no tomogram)."""
        if self.tomogram is None:
            return (1.0, 1.0, 1.0)
        return tuple(float(s) for s in self.tomogram.scales[0])


class ViewerState:
    """The shared, Qt-free state of the cryopick widgets of one viewer.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer (held weakly).
    schedule : callable, optional
        ``schedule(fn)`` runs ``fn`` on a later turn of the event loop;
        passed on to :class:`PickLayers`.

    Attributes
    ----------
    changed : Signal
        Emitted with the new and the old :class:`Context` after each
        change of context.
    focused : Signal
        Emitted with the pick id :meth:`show_pick` went to.
    layers : PickLayers or None
        The class layers of the current session.
    move_target : str or None
        The class the ``m`` key moves the selected picks to.
    """

    changed = Signal(object, object)
    focused = Signal(int)

    def __init__(
        self,
        viewer: ViewerModel,
        schedule: Callable[[Callable], None] | None = None,
    ):
        # napari hands each dock widget its own PublicOnlyProxy of the
        # viewer: keep the viewer behind it (wrapt's ``__wrapped__``).
        viewer = getattr(viewer, '__wrapped__', viewer)
        self._viewer = weakref.ref(viewer)
        self._schedule = schedule
        self._context = Context()
        self.layers: PickLayers | None = None
        self.move_target: str | None = None
        viewer.layers.events.inserted.connect(self._show_nearby_picks)
        self._show_nearby_picks()

    @property
    def viewer(self) -> ViewerModel | None:
        """The viewer, or ``None`` once it is gone."""
        return self._viewer()

    @property
    def context(self) -> Context:
        """The current :class:`Context`."""
        return self._context

    @property
    def tomogram(self) -> Tomogram | None:
        """The tomogram of the context."""
        return self._context.tomogram

    @property
    def session(self) -> PickSession | None:
        """The picking session of the context."""
        return self._context.session

    @property
    def model(self) -> LoadedModel | None:
        """The model of the context."""
        return self._context.model

    @property
    def reference(self) -> pd.DataFrame | None:
        """The reference picks of the context."""
        return self._context.reference

    def update(self, **changes) -> Context:
        """Replace fields of the context in one step; return the new one.

        A new session gets its class layers (reusing same-named ones).
        :attr:`changed` is emitted once, after the layers exist.
        """
        old = self._context
        new = replace(old, **changes)
        if new.session is not old.session:
            self._show(new)
        self._context = new
        self.changed.emit(new, old)
        return new

    def roll_back(self, before: Context) -> None:
        """Return to ``before`` after a failed job, leaving nothing it made.

        The partial picks of a model that failed are undone, the
        context is ``before`` again, and class layers made for a session
        that is dropped are removed (those of the restored session's
        classes are reused to show it).
        """
        session = self.session
        if session is not None and session.end_partial():
            session.undo()
        made = {} if self.layers is None else dict(self.layers.layers)
        self.update(
            tomogram=before.tomogram,
            session=before.session,
            model=before.model,
        )
        kept = () if before.session is None else before.session.class_names
        viewer = self.viewer
        for name, layer in made.items():
            if (
                viewer is not None
                and name not in kept
                and layer in (viewer.layers)
            ):
                viewer.layers.remove(layer)

    def set_model(self, model: LoadedModel | None) -> None:
        """Use ``model`` for the next Pick."""
        self.update(model=model)

    def add_class(self, name: str, radius: float, color=None):
        """Add a new particle class to click: an empty Points layer.

        Parameters
        ----------
        name : str
            Class name (a copick object name: no underscores).
        radius : float
            Radius in Å.
        color : tuple of int, optional
            RGBA 0-255; default the next free new-class colour.

        Returns
        -------
        ParticleClass
            The class, with its label and colour.

        Raises
        ------
        CryopickError
            Without a picking session, or for a bad or taken name, or a
            radius that is not a positive number of Å.
        """
        from napari_cryopick.classes import ParticleClass, extend_classes
        from napari_cryopick.errors import CryopickError

        session = self.session
        if session is None or self.layers is None:
            raise CryopickError('open a tomogram and pick first')
        if not radius or radius <= 0:
            raise CryopickError(f'class {name!r}: radius must be > 0 Å')
        known = session.classes
        if self.model is not None:
            extra = [c for c in self.model.classes if c not in known]
            known = (*known, *extra)
        given = ParticleClass(name, 0, float(radius), 1.0, color or (0,) * 4)
        (cls,) = extend_classes(known, (given,), 'New class')
        session.add_class(cls)
        self.layers.add_class(cls)
        return cls

    def set_reference(self, table: pd.DataFrame | None) -> None:
        """Score against ``table`` (``None``: stop scoring)."""
        self.update(reference=table)

    def _show(self, context: Context) -> None:
        if self.layers is not None:
            self.layers.disconnect()
            self.layers.updated.disconnect(self._bind_keys)
        self.layers = None
        viewer = self.viewer
        if context.session is None or viewer is None:
            return
        self.layers = PickLayers(
            viewer, context.session, context.voxel_size, self._schedule
        )
        for layer in self.layers.layers.values():
            self._bind_keys(layer)
        self.layers.updated.connect(self._bind_keys)

    def _bind_keys(self, layer) -> None:
        for key, action in (
            ('k', self.keep_selected),
            ('m', self.move_selected),
            ('n', self.next_in_queue),
            ('u', self.undo),
        ):
            layer.bind_key(key, lambda _layer, a=action: a(), overwrite=True)

    def selected(self) -> np.ndarray:
        """Return the ids of the picks selected in the active layer."""
        if self.layers is None:
            return np.empty(0, dtype=np.int64)
        return self.layers.selected_uids()

    def keep_selected(self) -> None:
        """Mark the selected picks as reviewed and kept (``k``)."""
        if self.session is not None:
            self.session.set_origin(self.selected(), pk.KEPT)

    def not_this_selected(self) -> None:
        """Mark the selected picks "not this": negatives for training."""
        if self.session is not None:
            self.session.mark_negative(self.selected())

    def move_selected(self, name: str | None = None) -> None:
        """Move the selected picks to class ``name`` (``m``).

        Default: :attr:`move_target`.
        """
        name = name or self.move_target
        if self.session is not None and name:
            self.session.move_class(self.selected(), name)

    def undo(self) -> bool:
        """Undo the last change of the session (``u``); whether one was."""
        return self.session is not None and self.session.undo()

    def next_in_queue(self, names=None) -> None:
        """Go to the least confident pick not yet reviewed (``n``).

        ``names``: of these classes only (default: of any class).
        """
        if self.session is None:
            return
        queue = self.session.review_queue(names)
        if len(queue):
            self.show_pick(int(queue.index[0]))

    def show_pick(self, uid: int) -> None:
        """Select pick ``uid`` in its class layer and move the view to it."""
        viewer, session = self.viewer, self.session
        if viewer is None or session is None or self.layers is None:
            return
        pick = session.table.loc[uid]
        layer = self.layers.layers[pick['particle_type']]
        index = np.flatnonzero(layer.features['uid'].to_numpy() == uid)
        viewer.layers.selection.active = layer
        layer.selected_data = set(index.tolist())
        jump_to(viewer, (pick['z'], pick['y'], pick['x']))
        self.focused.emit(int(uid))

    def export(
        self, out: str | Path, fmt: str, settings: ExportSettings
    ) -> list[Path]:
        """Write the shown picks of the session (see :func:`export_picks`).

        Raises
        ------
        CryopickError
            Nothing to export, or the export service's errors.
        """
        from napari_cryopick.export import export_picks

        session, tomogram = self.session, self.tomogram
        if session is None:
            raise CryopickError('nothing to export: pick first')
        geometries = None
        if tomogram is not None and fmt in ('star', 'relion4'):
            from napari_cryopick.io.star_common import geometry_of

            # STAR coordinates are centred on the tomogram: the one open.
            geometries = {session.run: geometry_of(tomogram)}
        return export_picks(
            session.picks(),
            out,
            fmt,
            settings,
            classes=session.classes,
            runs=[session.run],
            voxel_size=None if tomogram is None else tomogram.voxel_size,
            geometries=geometries,
        )

    def tomogram_for(self, layer) -> Tomogram:
        """Return the tomogram an Image layer shows.

        The context's own tomogram (with every level's scale as read)
        when the layer shows it, else one rebuilt from the layer.
        """
        from napari_cryopick.layers import META_KEY
        from napari_cryopick.session_io import tomogram_from_layer

        tomogram = self.tomogram
        meta = layer.metadata.get(META_KEY, {})
        if (
            tomogram is not None
            and meta.get('run') == tomogram.run
            and meta.get('source') == str(tomogram.source)
        ):
            return tomogram
        return tomogram_from_layer(
            layer.data,
            layer.scale,
            layer.name,
            layer.metadata,
            layer.multiscale,
        )

    def _show_nearby_picks(self, event=None) -> None:
        """On a new layer: thick slices, so picks near the slice show."""
        show_nearby_picks(self.viewer)
