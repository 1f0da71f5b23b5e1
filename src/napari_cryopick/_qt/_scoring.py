"""Live scoring of the session against reference picks (no Qt here).

:class:`LiveScore` rescores whenever the session or the reference
changes, colours each class layer's picks hit / false, and shows the
missed references as a ghost Points layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from napari_cryopick import picks as pk
from napari_cryopick.layers import META_KEY, layer_data_to_picks
from napari_cryopick.metric import best_thresholds, score_picks

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick._qt._state import ViewerState
    from napari_cryopick.metric import ScoreResult

HIT = (0.1, 0.9, 0.2, 0.45)
FALSE = (1.0, 0.15, 0.1, 0.45)
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
        state.session_changed.connect(self._follow)
        state.reference_changed.connect(self.rescore)
        self._follow(state.session)

    def detach(self) -> None:
        """Stop following the viewer's state."""
        self.state.session_changed.disconnect(self._follow)
        self.state.reference_changed.disconnect(self.rescore)
        self._follow(None, rescore=False)

    def _follow(self, session, rescore: bool = True) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self.rescore)
        if self.state.layers is not None:
            self.state.layers.updated.disconnect(self.rescore)
        self._session = session
        if session is not None:
            session.changed.connect(self.rescore)
            self.state.layers.updated.connect(self.rescore)
        if rescore:
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
        candidates = table[table['provenance'] != 'deleted']
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
        from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx

        viewer, missed = self.state.viewer, self.missed
        scale = self.state.voxel_size
        data = angstrom_xyz_to_voxel_zyx(pk.positions(missed), scale)
        if MISSED_LAYER in viewer.layers:
            viewer.layers[MISSED_LAYER].data = data.reshape(-1, 3)
            return
        viewer.add_points(
            data.reshape(-1, 3),
            ndim=3,
            name=MISSED_LAYER,
            scale=scale,
            size=12,
            symbol='cross',
            face_color='#ffffff80',
            border_width=0,
            opacity=0.7,
            projection_mode='rescale_spherical',
            metadata={META_KEY: {'role': 'missed'}},
        )
