"""napari writers: Points layers to copick JSON, a Kaggle CSV or STAR.

They write through the one export service
(:func:`napari_cryopick.export.export_picks`), with its defaults.
"""

from __future__ import annotations

from napari_cryopick import picks as pk
from napari_cryopick.export import ExportSettings, export_picks
from napari_cryopick.layers import META_KEY, layer_data_to_picks


def _table(layer_data) -> tuple:
    tables = [layer_data_to_picks(d, a) for d, a, _ in layer_data]
    return pk.concat(tables)


def write_copick(path: str, layer_data: list) -> list[str]:
    """Write Points layers as a copick project folder at ``path``.

    The copick user and session are those the first layer was read with,
    else the export defaults.
    """
    meta = (layer_data[0][1].get('metadata') or {}).get(META_KEY, {})
    settings = ExportSettings(
        user_id=meta.get('user_id') or ExportSettings.user_id,
        session_id=meta.get('session_id') or ExportSettings.session_id,
    )
    files = export_picks(_table(layer_data), path, 'copick', settings)
    return [str(f) for f in files]


def write_kaggle_csv(path: str, layer_data: list) -> list[str]:
    """Write Points layers as one Kaggle submission CSV at ``path``."""
    settings = ExportSettings(include_score=True)
    files = export_picks(_table(layer_data), path, 'csv', settings)
    return [str(f) for f in files]


def write_star_relion5(path: str, layer_data: list) -> list[str]:
    """Write Points layers as a RELION 5 particles STAR file at ``path``.

    RELION 5 coordinates are centred on the tomogram, so its size comes
    from the tomogram open in the viewer (its Image layer).
    """
    from napari_cryopick._reader import viewer_geometries

    settings = ExportSettings(overwrite=True)
    files = export_picks(
        _table(layer_data),
        path,
        'star',
        settings,
        geometries=viewer_geometries(),
    )
    return [str(f) for f in files]
