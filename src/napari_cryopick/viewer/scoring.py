"""Live scoring of the session against reference picks (no Qt here).

:class:`LiveScore` rescores whenever the session or the reference
changes, colours each class layer's picks hit / false, and shows the
missed references as a Points layer of crosses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from napari_cryopick import picks as pk
from napari_cryopick.layers import (
    META_KEY,
    layer_data_to_picks,
    markers_layer_data,
)
from napari_cryopick.metric import best_thresholds, score_picks

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.metric import ScoreResult
    from napari_cryopick.viewer.state import Context, ViewerState

#: Fill of a pick that matches a reference, and of a false positive:
#: light and dark, not hues, so every reader tells them apart and none
#: is mistaken for a class colour (the ring keeps the class colour).
HIT = (1.0, 1.0, 1.0, 0.6)
FALSE = (0.0, 0.0, 0.0, 0.7)
MISSED_LAYER = 'missed (reference)'


def layers_reference(viewer, suffix: str) -> pd.DataFrame:
    """Return the Points layers named ``'* <suffix>'`` as a Picks table."""
    tables = []
    for layer in viewer.layers:
        if layer.metadata.get(META_KEY, {}).get('role'):
            continue  # our own picks, or the missed-references layer
        if layer.name.endswith(suffix) and hasattr(layer, 'features'):
            attrs = {
                'scale': layer.scale,
                'metadata': layer.metadata,
                'features': layer.features,
                'name': layer.name[: -len(suffix)].strip(),
            }
            tables.append(layer_data_to_picks(layer.data, attrs))
    return pk.concat(tables)


def reference_suffixes(viewer) -> list[str]:
    """Return the ``' (...)'`` name suffixes of tagged Points layers."""
    found = []
    for layer in viewer.layers:
        meta = layer.metadata.get(META_KEY, {})
        name = layer.name
        if meta.get('role') or 'object' not in meta or '(' not in name:
            continue
        suffix = name[name.rindex('(') :]
        if suffix not in found:
            found.append(suffix)
    return found


class LiveScore:
    """Score the current session against a reference, live.

    Parameters
    ----------
    state : ViewerState
        The viewer's shared cryopick state.

    Attributes
    ----------
    scored : Signal
        Emitted with the :class:`ScoreResult` (or ``None``) after each
        rescore.
    """

    scored = Signal(object)

    def __init__(self, state: ViewerState):
        self.state = state
        self.result: ScoreResult | None = None
        self.missed: pd.DataFrame | None = None
        self._session = None
        self._layers = None
        state.changed.connect(self._on_context)
        self._follow()

    def detach(self) -> None:
        """Stop following the viewer's state."""
        self.state.changed.disconnect(self._on_context)
        self._follow(attach=False)

    def _on_context(self, new: Context, old: Context) -> None:
        if new.session is not old.session:
            self._follow()
        elif new.reference is not old.reference:
            self.rescore()

    def _follow(self, attach: bool = True) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self.rescore)
        if self._layers is not None:
            self._layers.updated.disconnect(self.rescore)
        self._session = self.state.session if attach else None
        self._layers = self.state.layers if attach else None
        if self._session is not None:
            self._session.changed.connect(self.rescore)
        if self._layers is not None:
            self._layers.updated.connect(self.rescore)
        if attach:
            self.rescore()

    def reference(self) -> pd.DataFrame | None:
        """Return the reference, moved onto the session's run if needed."""
        ref, session = self.state.reference, self.state.session
        if ref is None or session is None:
            return None
        if ref['run'].nunique() == 1:
            ref = ref.assign(run=session.run)
        return ref[ref['run'] == session.run]

    def rescore(self, *args) -> ScoreResult | None:
        """Score the shown picks and recolour the layers."""
        reference, session = self.reference(), self.state.session
        if reference is None or session is None:
            self.result = None
            self.scored.emit(None)
            return None
        candidate = session.picks()
        self.result = score_picks(reference, candidate, session.classes)
        self._colour(candidate, self.result.candidate_hit)
        self.missed = reference[~self.result.reference_found]
        self._show_missed()
        self.scored.emit(self.result)
        return self.result

    def best_thresholds(self) -> dict[str, float]:
        """Set each class threshold to its F4-optimal value; return them."""
        reference, session = self.reference(), self.state.session
        if reference is None or session is None:
            return {}
        table = session.table
        candidates = table[table['origin'] != pk.DELETED]
        best = best_thresholds(
            reference, pk.normalize(candidates), session.classes
        )
        session.set_thresholds(best)
        return best

    def _colour(self, candidate, hit: np.ndarray) -> None:
        layers = self.state.layers
        if layers is None:
            return
        names = candidate['particle_type'].to_numpy()
        for name, layer in layers.layers.items():
            mask = hit[names == name]
            if len(mask) != len(layer.data) or not len(mask):
                continue
            colours = np.where(mask[:, None], HIT, FALSE)
            layer.face_color = colours.reshape(-1, 4)

    def _show_missed(self) -> None:
        viewer = self.state.viewer
        if viewer is None:
            return
        data, kwargs = markers_layer_data(
            self.missed,
            self.state.session.classes,
            self.state.context.voxel_size,
            'missed',
        )
        if MISSED_LAYER in viewer.layers:
            layer = viewer.layers[MISSED_LAYER]
            layer.data = data
            layer.size = kwargs['size']
            return
        viewer.add_points(data, ndim=3, name=MISSED_LAYER, **kwargs)
