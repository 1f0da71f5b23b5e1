"""copick project config (``copick_config.json``) writing and reading."""

from __future__ import annotations

import json
from pathlib import Path

from napari_cryopick.classes import ParticleClass, default_classes
from napari_cryopick.errors import input_error
from napari_cryopick.io.atomic import write_text

CONFIG_NAME = 'copick_config.json'


def copick_config(
    overlay_root: str | Path,
    classes: tuple[ParticleClass, ...] | None = None,
    static_root: str | Path | None = None,
    name: str = 'napari-cryopick',
) -> dict:
    """Return a filesystem copick config as a dict.

    Parameters
    ----------
    overlay_root : str or Path
        Folder that holds (or will hold) ``ExperimentRuns`` with picks.
    classes : tuple of ParticleClass, optional
        Pickable objects (default: the CZII classes).
    static_root : str or Path, optional
        Read-only folder holding the tomograms, when separate.
    name : str
        Project name.

    Returns
    -------
    dict
        The config, ready for ``json.dumps``.
    """
    config = {
        'config_type': 'filesystem',
        'name': name,
        'description': 'Written by napari-cryopick',
        'version': '1.0.0',
        'pickable_objects': [
            c.to_copick() for c in classes or default_classes()
        ],
        'overlay_root': _local(overlay_root),
        'overlay_fs_args': {'auto_mkdir': True},
    }
    if static_root is not None:
        config['static_root'] = _local(static_root)
    return config


def _local(path: str | Path) -> str:
    return 'local://' + str(Path(path).resolve())


def write_copick_config(
    root: str | Path,
    classes: tuple[ParticleClass, ...] | None = None,
    static_root: str | Path | None = None,
) -> Path:
    """Write ``root/copick_config.json`` so ``root`` opens in copick.

    An existing config is kept: objects it lacks are added to its
    ``pickable_objects`` and everything else it says is left as it was.

    Parameters
    ----------
    root : str or Path
        The overlay root.
    classes : tuple of ParticleClass, optional
        Pickable objects (default: the CZII classes).
    static_root : str or Path, optional
        Folder holding the tomograms, when it is not ``root``.

    Returns
    -------
    Path
        The config file.
    """
    path = Path(root) / CONFIG_NAME
    config = copick_config(root, classes, static_root)
    if path.exists():
        config = _merge(path, config)
    return write_text(path, json.dumps(config, indent=4) + '\n')


def _merge(path: Path, new: dict) -> dict:
    try:
        old = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        raise input_error(
            path, f'existing config is not JSON ({err})'
        ) from None
    if not isinstance(old, dict):
        raise input_error(path, 'existing config is not a JSON object')
    objects = old.setdefault('pickable_objects', [])
    known = {obj.get('name') for obj in objects if isinstance(obj, dict)}
    objects += [o for o in new['pickable_objects'] if o['name'] not in known]
    for key in ('config_type', 'overlay_root'):
        old.setdefault(key, new[key])
    return old


def config_roots(path: str | Path) -> tuple[Path, Path | None]:
    """Return (overlay_root, static_root) of a filesystem copick config.

    Parameters
    ----------
    path : str or Path
        ``copick_config.json``.

    Returns
    -------
    tuple of Path
        The overlay root and the static root (``None`` when absent).
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        raise input_error(
            path, f'not a readable copick config ({err})'
        ) from None
    if not isinstance(config, dict) or 'overlay_root' not in config:
        raise input_error(path, 'copick config without "overlay_root"')
    if config.get('config_type', 'filesystem') != 'filesystem':
        raise input_error(
            path, f'config_type {config["config_type"]!r} is not supported'
        )
    overlay = _fs_path(path, config['overlay_root'])
    static = config.get('static_root')
    return overlay, (_fs_path(path, static) if static else None)


def _fs_path(config: Path, url: str) -> Path:
    for prefix in ('local://', 'file://'):
        if url.startswith(prefix):
            url = url[len(prefix) :]
            break
    else:
        if '://' in url:
            raise input_error(config, f'remote root {url!r} is not supported')
    root = Path(url)
    return root if root.is_absolute() else (config.parent / root).resolve()
