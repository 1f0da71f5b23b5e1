"""Picks table <-> napari Points layer data (the one conversion module).

Layers hold (z, y, x) level-0 voxel indices with ``scale`` = voxel size
in Å (DESIGN §4), one Points layer per class, tagged with serialisable
metadata under ``metadata['cryopick']``. No Qt and no viewer here: these
are pure functions on layer-data tuples, used by readers, writers and
widgets alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.classes import ParticleClass, class_map, display_color
from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    voxel_zyx_to_angstrom_xyz,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

META_KEY = 'cryopick'
FEATURES = ('score', 'instance_id', 'origin')
#: How reference picks differ from the model's and the user's rings:
#: a square in the class colour, so they are told apart without colour.
REFERENCE_STYLE = {'symbol': 'square', 'border_width': 0.08, 'opacity': 0.85}


def picks_to_layer_data(
    table: pd.DataFrame,
    voxel_size: float | Sequence[float],
    classes: tuple[ParticleClass, ...] | None = None,
    name_suffix: str = '',
) -> list[tuple]:
    """Return one Points layer-data tuple per (run, class) of ``table``.

    Parameters
    ----------
    table : DataFrame
        Picks table.
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size (z, y, x) of the tomogram the layers overlay.
    classes : tuple of ParticleClass, optional
        Colours and radii (default: CZII; unknown classes get grey and
        a 100 Å radius).
    name_suffix : str
        Appended to each layer name (e.g. ``' (reference)'``).

    Returns
    -------
    list of tuple
        ``(data, kwargs, 'points')`` tuples for napari.
    """
    known = class_map(classes)
    layers = []
    for (run, name), rows in table.groupby(['run', 'particle_type']):
        particle = known.get(name, ParticleClass(name, 99, 100.0))
        data, kwargs = class_layer_data(rows, particle, voxel_size, run)
        kwargs['name'] = f'{name}{name_suffix}'
        layers.append((data, kwargs, 'points'))
    return layers


def class_layer_data(
    rows: pd.DataFrame,
    particle: ParticleClass,
    voxel_size: float | Sequence[float],
    run: str,
    extra_features: Sequence[str] = (),
) -> tuple[np.ndarray, dict]:
    """Return Points ``(data, kwargs)`` for the picks of one class.

    Unlike :func:`picks_to_layer_data` this also works for no rows, so a
    widget can keep an (empty) layer per class.

    Parameters
    ----------
    rows : DataFrame
        Picks table rows of one class and run.
    particle : ParticleClass
        The class (colour, radius).
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size (z, y, x) in Å.
    run : str
        Run name for the layer metadata.
    extra_features : sequence of str
        Further columns of ``rows`` kept as layer features (e.g. a pick
        id); hand-added points get ``-1``.

    Returns
    -------
    tuple
        ``(data, kwargs)``: (N, 3) z, y, x voxels and layer keywords.
    """
    scale = np.broadcast_to(np.asarray(voxel_size, float), (3,))
    data = angstrom_xyz_to_voxel_zyx(pk.positions(rows), scale)
    kwargs = _layer_kwargs(rows, particle, scale, run, tuple(extra_features))
    kwargs['name'] = particle.name
    if len(rows) and (rows['origin'] == pk.REFERENCE).all():
        kwargs.update(REFERENCE_STYLE)
    return data.reshape(-1, 3), kwargs


_EXTRA_DEFAULTS = {'uid': -1}


def _layer_kwargs(rows, particle, scale, run: str, extra=()) -> dict:
    first = rows.iloc[0] if len(rows) else {'user_id': '', 'session_id': ''}
    defaults = {'score': 1.0, 'instance_id': 0, 'origin': pk.USER}
    defaults.update({k: _EXTRA_DEFAULTS.get(k, '') for k in extra})
    # The model's class probabilities at each pick, when known.
    probs = pk.probability_columns(rows)
    defaults.update(dict.fromkeys(probs, float('nan')))
    return {
        'scale': tuple(float(s) for s in scale),
        'size': 2 * particle.radius / float(scale[-1]),
        'face_color': 'transparent',
        # A hex string, not an RGBA tuple: napari reads a 4-tuple given
        # with no points as 4 colours.
        'border_color': '#'
        + ''.join(f'{c:02x}' for c in display_color(particle)),
        'border_width': 0.12,
        'features': rows[[*FEATURES, *extra, *probs]].reset_index(drop=True),
        'feature_defaults': defaults,
        'metadata': {
            META_KEY: {
                'object': particle.name,
                'run': str(run),
                'user_id': str(first['user_id']),
                'session_id': str(first['session_id']),
            }
        },
        # Drawn as the disc where the particle's sphere meets the slice,
        # for picks within the viewer's z margins (napari >= 0.9 thick
        # slices; the cryopick widgets set those margins).
        'projection_mode': 'rescale_spherical',
    }


def layer_data_to_picks(
    data: np.ndarray, attributes: dict, run: str | None = None
) -> pd.DataFrame:
    """Convert one Points layer's data and attributes to a Picks table.

    Parameters
    ----------
    data : ndarray
        (N, 3) z, y, x voxel coordinates.
    attributes : dict
        The layer's attributes (``scale``, ``metadata``, ``features``,
        ``name``), as napari hands them to writers.
    run : str, optional
        Run name when the layer's metadata has none.

    Returns
    -------
    DataFrame
        A Picks table in Å.
    """
    meta = (attributes.get('metadata') or {}).get(META_KEY, {})
    scale = np.asarray(attributes.get('scale', (1.0, 1.0, 1.0)), float)[-3:]
    xyz = voxel_zyx_to_angstrom_xyz(np.asarray(data)[:, -3:], scale)
    features = pd.DataFrame(attributes.get('features', {}))
    columns = {k: features[k].to_numpy() for k in FEATURES if k in features}
    return pk.make_picks(
        run=meta.get('run') or run or 'run',
        particle_type=meta.get('object') or attributes.get('name', 'object'),
        xyz=xyz,
        user_id=meta.get('user_id', ''),
        session_id=meta.get('session_id', ''),
        **columns,
    )


def markers_layer_data(
    table: pd.DataFrame,
    classes: tuple[ParticleClass, ...] | None,
    voxel_size: float | Sequence[float],
    role: str,
) -> tuple[np.ndarray, dict]:
    """Return Points ``(data, kwargs)`` marking picks of any class.

    A cross the size of each pick's particle, for picks shown beside the
    class layers (the missed references of live scoring).

    Parameters
    ----------
    table : DataFrame
        Picks table.
    classes : tuple of ParticleClass, optional
        Radii (default: CZII; unknown classes get 100 Å).
    voxel_size : float or sequence of 3 floats
        Level-0 voxel size (z, y, x) in Å.
    role : str
        ``metadata['cryopick']['role']`` of the layer.

    Returns
    -------
    tuple
        ``(data, kwargs)``: (N, 3) z, y, x voxels and layer keywords.
    """
    scale = np.broadcast_to(np.asarray(voxel_size, float), (3,))
    data = angstrom_xyz_to_voxel_zyx(pk.positions(table), scale)
    known = class_map(classes)
    radii = np.array(
        [
            known[n].radius if n in known else 100.0
            for n in table.particle_type
        ],
        dtype=float,
    )
    return data.reshape(-1, 3), {
        'scale': tuple(float(s) for s in scale),
        'size': 2 * radii / float(scale[-1]),
        'symbol': 'cross',
        'face_color': '#ffffff80',
        'border_width': 0,
        'opacity': 0.7,
        'projection_mode': 'rescale_spherical',
        'metadata': {META_KEY: {'role': role}},
    }
