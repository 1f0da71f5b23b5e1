"""napari writers: Points layers to copick JSON, a Kaggle CSV or STAR."""

from __future__ import annotations

from pathlib import Path

from napari_cryopick import picks as pk
from napari_cryopick.io.copick_config import write_copick_config
from napari_cryopick.io.copick_json import write_picks_json
from napari_cryopick.io.kaggle_csv import write_picks_csv
from napari_cryopick.layers import META_KEY, layer_data_to_picks


def _table(layer_data) -> tuple:
    tables = [layer_data_to_picks(d, a) for d, a, _ in layer_data]
    return pk.concat(tables)


def write_copick(path: str, layer_data: list) -> list[str]:
    """Write Points layers as a copick project folder at ``path``."""
    table = _table(layer_data)
    meta = (layer_data[0][1].get('metadata') or {}).get(META_KEY, {})
    user = meta.get('user_id') or 'napari'
    session = meta.get('session_id') or '0'
    files = write_picks_json(table, Path(path), user, session)
    write_copick_config(path)
    return [str(f) for f in files]


def write_kaggle_csv(path: str, layer_data: list) -> list[str]:
    """Write Points layers as one Kaggle submission CSV at ``path``."""
    table = _table(layer_data)
    return [str(write_picks_csv(table, path, include_score=True))]


def write_star_relion5(path: str, layer_data: list) -> list[str]:
    """Write Points layers as a RELION 5 particles STAR file at ``path``.

    RELION 5 coordinates are centred on the tomogram, so its size comes
    from the tomogram open in the viewer (its Image layer).
    """
    from napari_cryopick._reader import viewer_geometries
    from napari_cryopick.io.star import RELION5
    from napari_cryopick.io.star_write import write_star

    table = _table(layer_data)
    files = write_star(
        table, path, RELION5, viewer_geometries(), overwrite=True
    )
    return [str(f) for f in files]
