"""Write simulated runs as a Kaggle-layout project (DESIGN §10)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.classes import CZII_VOXEL_SIZE, default_classes
from napari_cryopick.errors import input_error
from napari_cryopick.io.atomic import atomic_dir, write_text
from napari_cryopick.io.copick_json import write_kaggle_overlay
from napari_cryopick.io.ome_zarr_write import write_ome_zarr

if TYPE_CHECKING:
    from collections.abc import Callable

    from napari_cryopick.simulate.params import PhantomLook

#: The folder name the Kaggle data uses, although the stores' metadata
#: says :data:`CZII_VOXEL_SIZE` (DESIGN §4): the simulator mimics both.
SPACING_FOLDER = 'VoxelSpacing10.000'


@dataclass
class SimulationSettings:
    """What ``cryopick simulate`` makes.

    Parameters
    ----------
    runs : int
        Number of tomograms.
    shape : tuple of int
        (z, y, x) voxels per tomogram.
    seed : int
        Random seed; run ``i`` uses the seed sequence ``(seed, i)``.
    random_look : bool
        Draw a new look per run instead of the CZII-like default (the
        same as ``look_name='random'``).
    voxel_size : float
        Å per voxel written in the stores' metadata.
    look : PhantomLook, optional
        One fixed look for every run (overrides ``random_look``).
    look_name : str
        One of :data:`~napari_cryopick.simulate.looks.LOOKS`: the kind of
        tomogram, scene and look (crowded, noisy, empty...).
    """

    runs: int = 1
    shape: tuple[int, int, int] = (184, 630, 630)
    seed: int = 0
    random_look: bool = False
    voxel_size: float = CZII_VOXEL_SIZE
    look: PhantomLook | None = None
    look_name: str = 'czii'


def spacing_folder(voxel_size: float) -> str:
    """Return the run's voxel-spacing folder name.

    The CZII size keeps the Kaggle data's ``VoxelSpacing10.000``; any
    other size is written as copick does, three decimals.
    """
    if abs(voxel_size - 10.012444) < 1e-6:
        return SPACING_FOLDER
    return f'VoxelSpacing{voxel_size:.3f}'


def run_names(settings: SimulationSettings) -> list[str]:
    """Return the run names a simulation writes, ``TS_sim_1`` onwards."""
    return [f'TS_sim_{i + 1}' for i in range(settings.runs)]


def write_simulated_project(
    out: str | Path,
    settings: SimulationSettings,
    *,
    overwrite: bool = False,
    progress: Callable[[str, int, float], None] | None = None,
) -> list[str]:
    """Simulate ``settings.runs`` tomograms and write them under ``out``.

    The project is assembled in a temporary folder and renamed into
    place, so an interrupted run leaves no half-written project.

    Parameters
    ----------
    out : str or Path
        Project folder to create.
    settings : SimulationSettings
        What to simulate.
    overwrite : bool
        Replace an existing ``out``.
    progress : callable, optional
        Called as ``progress(run, n_picks, seconds)`` after each run.

    Returns
    -------
    list of str
        The run names written.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise input_error(out, 'already exists (use --overwrite to replace)')
    names = run_names(settings)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        looks = {}
        for index, run in enumerate(names):
            start = time.perf_counter()
            phantom = _simulate(settings, index, run)
            _write_run(tmp, run, phantom, settings)
            looks[run] = asdict(phantom.look)
            if progress is not None:
                elapsed = time.perf_counter() - start
                progress(run, len(phantom.picks), elapsed)
        _write_manifest(tmp, settings, looks)
    return names


def _simulate(settings: SimulationSettings, index: int, run: str):
    from napari_cryopick.simulate.looks import look_params
    from napari_cryopick.simulate.phantom import simulate_tomogram

    rng = np.random.default_rng([settings.seed, index])
    name = 'random' if settings.random_look else settings.look_name
    params = look_params(name, rng, settings.shape, settings.voxel_size)
    if settings.look is not None:
        params = replace(params, look=settings.look)
    return simulate_tomogram(params, rng, run=run)


def _write_run(root: Path, run: str, phantom, settings) -> None:
    store = root / 'static' / 'ExperimentRuns' / run
    store = store / spacing_folder(settings.voxel_size)
    write_ome_zarr(
        store / 'denoised.zarr', phantom.volume, settings.voxel_size
    )
    names = [c.name for c in default_classes()]
    write_kaggle_overlay(
        phantom.picks, root / 'overlay', object_names=names, runs=[run]
    )


def _write_manifest(root: Path, settings, looks: dict) -> None:
    # Kept so anyone can see, and redo, exactly what was simulated.
    manifest = {'settings': asdict(settings), 'looks': looks}
    write_text(root / 'simulation.json', json.dumps(manifest, indent=2))
