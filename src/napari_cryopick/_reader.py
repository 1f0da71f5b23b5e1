"""napari readers: tomograms (OME-Zarr, MRC, projects) and picks.

Readers sniff cheaply and return ``None`` for paths they do not own, so
napari-ome-zarr and napari's built-ins keep theirs (STYLE §3.3).
"""

from __future__ import annotations

import json
from pathlib import Path

from napari_cryopick.errors import CryopickError
from napari_cryopick.io.sources import MRC_SUFFIXES


def get_tomogram_reader(path):
    """Return a reader for a 3-D tomogram at ``path``, or ``None``."""
    if isinstance(path, list) or not _looks_like_tomogram(Path(path)):
        return None
    return read_tomogram_layers


def _looks_like_tomogram(path: Path) -> bool:
    from napari_cryopick.io.project import is_project

    if path.is_file():
        return path.suffix.lower() in MRC_SUFFIXES
    if not path.is_dir():
        return False
    return _is_3d_ngff(path) or is_project(path)


def _is_3d_ngff(path: Path) -> bool:
    for name, key in (('.zattrs', None), ('zarr.json', 'attributes')):
        try:
            attrs = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        attrs = attrs.get(key, {}) if key else attrs
        multiscales = attrs.get('ome', attrs).get('multiscales') or [{}]
        axes = multiscales[0].get('axes') or []
        names = [a.get('name') if isinstance(a, dict) else a for a in axes]
        return [n for n in names if n in ('z', 'y', 'x')] == [
            'z',
            'y',
            'x',
        ] and len(names) == 3
    return False


def read_tomogram_layers(path) -> list[tuple]:
    """Read a tomogram as a multiscale Image layer in Å scale."""
    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.session_io import tomogram_layer_data

    return [tomogram_layer_data(open_tomogram(path))]


def get_picks_reader(path):
    """Return a reader for copick/Kaggle picks JSON or CSV, or ``None``."""
    if isinstance(path, list):
        return None
    path = Path(path)
    if path.suffix.lower() == '.json' and _is_picks_json(path):
        return read_picks_layers
    if path.suffix.lower() == '.csv' and _is_picks_csv(path):
        return read_picks_layers
    return None


def _is_picks_json(path: Path) -> bool:
    try:
        head = path.read_text(encoding='utf-8')[:4096]
    except (OSError, UnicodeDecodeError):
        return False
    return '"pickable_object_name"' in head


def _is_picks_csv(path: Path) -> bool:
    try:
        header = path.open(encoding='utf-8').readline()
    except (OSError, UnicodeDecodeError):
        return False
    columns = {c.strip() for c in header.split(',')}
    return {'x', 'y', 'z', 'particle_type'} <= columns


def read_picks_layers(path) -> list[tuple]:
    """Read picks as one Points layer per class (voxel size 10.012444 Å).

    A picks file carries no tomogram, so the layers use the CZII voxel
    size; ``scale`` makes them line up with a CZII tomogram either way.
    """
    from napari_cryopick.io.sources import read_picks
    from napari_cryopick.layers import picks_to_layer_data

    try:
        table = read_picks(path)
    except CryopickError:
        return []
    return picks_to_layer_data(table, 10.012444)
