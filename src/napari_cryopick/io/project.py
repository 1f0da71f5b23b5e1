"""Find runs, tomograms and picks in copick and Kaggle-layout projects.

A project is a folder that holds ``ExperimentRuns/`` itself (copick), or
under ``static/`` (tomograms) and ``overlay/`` (picks) as in the Kaggle
layout, or a ``copick_config.json`` that names those roots::

    static/ExperimentRuns/<run>/VoxelSpacing10.000/denoised.zarr
    overlay/ExperimentRuns/<run>/Picks/<object>.json
"""

from __future__ import annotations

import re
from pathlib import Path

from napari_cryopick.errors import input_error
from napari_cryopick.io.copick_config import CONFIG_NAME, config_roots
from napari_cryopick.io.tomogram import RUNS_FOLDER as RUNS

DEFAULT_TOMO_TYPE = 'denoised'
_SPACING = re.compile(r'^VoxelSpacing(\d+(?:\.\d+)?)$')


def project_roots(path: str | Path) -> tuple[Path | None, Path | None]:
    """Return the (tomogram, picks) ``ExperimentRuns`` folders of a project.

    Parameters
    ----------
    path : str or Path
        A project folder, an ``ExperimentRuns`` folder, or a
        ``copick_config.json``.

    Returns
    -------
    tuple of Path or None
        The folder holding tomogram runs and the one holding picks runs;
        either is ``None`` when the project has none.
    """
    path = Path(path)
    if path.name == CONFIG_NAME or (path / CONFIG_NAME).is_file():
        config = path if path.is_file() else path / CONFIG_NAME
        overlay, static = config_roots(config)
        return _runs_dir(static or overlay), _runs_dir(overlay)
    if path.name == RUNS and path.is_dir():
        return path, path
    own = _runs_dir(path)
    static = _runs_dir(path / 'static') or own
    overlay = _runs_dir(path / 'overlay') or own
    return static, overlay


def _runs_dir(root: Path) -> Path | None:
    candidate = root / RUNS
    return candidate if candidate.is_dir() else None


def is_zarr_store(path: str | Path) -> bool:
    """Return whether ``path`` is a zarr v2 or v3 store or group."""
    path = Path(path)
    markers = ('.zattrs', '.zgroup', 'zarr.json')
    return path.is_dir() and any((path / m).exists() for m in markers)


def is_project(path: str | Path) -> bool:
    """Return whether ``path`` looks like a copick or Kaggle project."""
    path = Path(path)
    if not path.is_dir() and path.name != CONFIG_NAME:
        return False
    try:
        return any(root is not None for root in project_roots(path))
    except Exception:  # a broken config is still "not a project we read"
        return False


def list_runs(runs_dir: Path) -> list[str]:
    """Return the sorted run names in an ``ExperimentRuns`` folder."""
    return sorted(
        p.name
        for p in runs_dir.iterdir()
        if p.is_dir() and not p.name.startswith('.')
    )


def tomogram_runs(project: str | Path) -> list[str]:
    """Return the runs of ``project`` that hold at least one tomogram."""
    static, _ = project_roots(project)
    if static is None:
        raise input_error(project, f'no {RUNS} folder with tomograms')
    return [r for r in list_runs(static) if any(_stores(static / r))]


def _stores(run_dir: Path):
    for spacing in sorted(run_dir.glob('VoxelSpacing*')):
        if _SPACING.match(spacing.name):
            yield from sorted(spacing.glob('*.zarr'))


def tomogram_path(
    project: str | Path, run: str, tomo_type: str = DEFAULT_TOMO_TYPE
) -> Path:
    """Return the store of ``tomo_type`` for ``run`` in ``project``.

    When several voxel spacings hold that type, the finest one is used.

    Raises
    ------
    CryopickError
        If the run or the tomogram type does not exist; the message lists
        what does.
    """
    static, _ = project_roots(project)
    if static is None:
        raise input_error(project, f'no {RUNS} folder with tomograms')
    run_dir = static / run
    if not run_dir.is_dir():
        known = ', '.join(list_runs(static)[:10]) or 'none'
        raise input_error(project, f'no run {run!r} (runs: {known})')
    stores = [s for s in _stores(run_dir) if s.stem == tomo_type]
    if not stores:
        types = sorted({s.stem for s in _stores(run_dir)}) or ['none']
        raise input_error(
            run_dir, f'no {tomo_type!r} tomogram (types: {", ".join(types)})'
        )
    return min(stores, key=_spacing_of)


def _spacing_of(store: Path) -> float:
    return float(_SPACING.match(store.parent.name).group(1))
