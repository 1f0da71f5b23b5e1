"""napari readers: tomograms (OME-Zarr, MRC, projects) and picks.

Readers sniff cheaply and return ``None`` for paths they do not own, so
napari-ome-zarr and napari's built-ins keep theirs (STYLE §3.3). The one
exception: a CSV or TIFF that is not picks or a tomogram goes to napari's
own reader, since those patterns are napari's too and a user who made
cryopick napari's choice for them (``cryopick readers``, or *Remember my
choice* in napari's dialog) must still be able to open napari's files.
"""

from __future__ import annotations

import json
from pathlib import Path

from napari_cryopick.errors import CryopickError
from napari_cryopick.io.sniff import MRC_SUFFIXES, TIFF_SUFFIXES
from napari_cryopick.io.star import is_particles_star


def get_tomogram_reader(path):
    """Return a reader for a 3-D tomogram at ``path``, or ``None``."""
    if isinstance(path, list):
        return None
    if _looks_like_tomogram(Path(path)):
        return read_tomogram_layers
    if Path(path).suffix.lower() in TIFF_SUFFIXES:
        return _napari_reader(path)
    return None


def _looks_like_tomogram(path: Path) -> bool:
    from napari_cryopick.io.project import is_project

    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        return _is_tiff_tomogram(path)
    if path.is_file():
        return path.suffix.lower() in MRC_SUFFIXES
    if not path.is_dir():
        return False
    return _is_3d_ngff(path) or is_project(path)


def _is_tiff_tomogram(path: Path) -> bool:
    # Only a 3-D TIFF that states its voxel size: others are left to
    # napari's own TIFF reader (a photo, a 2-D micrograph, a stack that
    # needs --voxel-size from the command line).
    from napari_cryopick.io.tiff import read_tiff

    try:
        read_tiff(path)
    except CryopickError:
        return False
    return True


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
    """Return a reader for picks JSON, CSV or STAR, or ``None``."""
    if isinstance(path, list):
        return None
    path = Path(path)
    if path.suffix.lower() == '.json' and _is_picks_json(path):
        return read_picks_layers
    if path.suffix.lower() == '.csv':
        if _is_picks_csv(path):
            return read_picks_layers
        return _napari_reader(str(path))
    if path.suffix.lower() == '.star' and is_particles_star(path):
        return read_star_layers
    return None


def _napari_reader(path: str):
    # napari's own reader for its formats (a points CSV, a 2-D TIFF).
    from napari_builtins.io import napari_get_reader

    return napari_get_reader(path) if Path(path).is_file() else None


def viewer_geometries() -> dict:
    """Tomogram geometries of the 3-D Image layers in the current viewer.

    A STAR file's centred coordinates need the tomogram's size, which a
    reader or writer is not handed; the tomogram open in the viewer is the
    one the user means. Keyed by the run in the layer's cryopick metadata,
    else the layer name.
    """
    import napari

    from napari_cryopick.io.star_common import TomogramGeometry
    from napari_cryopick.layers import META_KEY

    viewer = napari.current_viewer()
    out = {}
    for layer in viewer.layers if viewer is not None else ():
        if not isinstance(layer, napari.layers.Image) or layer.ndim < 3:
            continue
        run = (layer.metadata.get(META_KEY) or {}).get('run') or layer.name
        shape = tuple(int(n) for n in layer.level_shapes[0][-3:])
        scale = tuple(float(s) for s in layer.scale[-3:])
        out[str(run)] = TomogramGeometry(str(run), shape, scale)
    return out


def read_star_layers(path) -> list[tuple]:
    """Read a RELION 5 / RELION 4 / Warp STAR file as Points layers.

    Centred (RELION 5) coordinates take the tomogram size from the
    tomogram open in the viewer, else from the RELION tomogram set the
    job's optimisation set names; an error says so when neither is.
    """
    from napari_cryopick.io.relion_sets import (
        read_relion_tomograms,
        relion_tomograms_beside,
    )
    from napari_cryopick.io.star import read_star
    from napari_cryopick.io.star_common import match_geometry
    from napari_cryopick.layers import picks_to_layer_data

    geometries = viewer_geometries()
    beside = relion_tomograms_beside(path)
    if beside is not None:
        # RELION's own tomogram set, for tomograms not open in the viewer.
        geometries = {**read_relion_tomograms(beside), **geometries}
    table = read_star(path, geometries)
    runs = [match_geometry(r, geometries) for r in table['run'].unique()]
    known = [g for g in runs if g is not None]
    voxel = known[0].voxel_size_zyx if known else 10.012444
    return picks_to_layer_data(table, voxel)


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
    """Read picks as one Points layer per class (on the CZII voxel size).

    A picks file carries no tomogram, so the layers use the CZII voxel
    size; ``scale`` makes them line up with a CZII tomogram either way.
    """
    from napari_cryopick.classes import CZII_VOXEL_SIZE
    from napari_cryopick.io.sources import read_picks
    from napari_cryopick.layers import picks_to_layer_data

    try:
        table = read_picks(path)
    except CryopickError:
        return []
    return picks_to_layer_data(table, CZII_VOXEL_SIZE)
