"""The recipe's phantoms: simulated once, cached, binned to its grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.io.tomogram import Tomogram, block_mean
from napari_cryopick.model.predict import PickSettings, predict_tomogram
from napari_cryopick.model.recipe_config import (
    EMPTY_LOOKS,
    FACTOR,
    VALIDATION_LOOKS,
)
from napari_cryopick.simulate.looks import look_params
from napari_cryopick.simulate.params import CZII_VOXEL_SIZE

if TYPE_CHECKING:
    from napari_cryopick.model.recipe_config import Recipe


@dataclass
class Phantom:
    """One phantom on the model's grid: volume, picks, negatives."""

    run: str
    look: str
    volume: np.ndarray
    picks: pd.DataFrame
    negatives: pd.DataFrame


def phantom(seed: int, look: str, shape, cache: Path) -> Phantom:
    """Simulate (or read from ``cache``) one phantom binned to 20 Å.

    Parameters
    ----------
    seed : int
        Seed; the same seed and look give the same phantom.
    look : str
        Kind of phantom.
    shape : tuple of int
        (z, y, x) at 10 Å.
    cache : Path
        Folder of cached phantoms.

    Returns
    -------
    Phantom
        Binned volume, its picks and its hard negatives (distractors).
    """
    from napari_cryopick.simulate import simulate_tomogram

    run = f'sim{seed}'
    stem = cache / f'{seed}_{look}_{"x".join(map(str, shape))}'
    files = [Path(f'{stem}{ext}') for ext in ('.npy', '.csv', '.neg.csv')]
    if all(f.exists() for f in files):
        return Phantom(
            run,
            look,
            np.load(files[0]),
            pk.normalize(pd.read_csv(files[1])),
            pk.normalize(pd.read_csv(files[2])),
        )
    rng = np.random.default_rng(seed)
    params = look_params(look, rng, tuple(shape), CZII_VOXEL_SIZE)
    result = simulate_tomogram(params, rng, run=run)
    volume = block_mean(result.volume)
    negatives = result.distractors
    if negatives is None:
        negatives = pk.empty_picks()
    cache.mkdir(parents=True, exist_ok=True)
    columns = ['run', 'particle_type', 'x', 'y', 'z']
    # Written under temporary names and renamed: a run killed mid-write
    # must not leave a half phantom that a resumed run would trust.
    for path, write in (
        (files[1], lambda p: result.picks[columns].to_csv(p, index=False)),
        (files[2], lambda p: negatives[columns].to_csv(p, index=False)),
        (files[0], lambda p: np.save(p, volume)),
    ):
        tmp = path.with_name(f'.tmp-{path.name}')
        with open(tmp, 'wb') as handle:
            write(handle)
        tmp.replace(path)
    return Phantom(
        run,
        look,
        volume,
        pk.normalize(result.picks[columns]),
        pk.normalize(negatives[columns]),
    )


def as_tomogram(volume: np.ndarray, run: str) -> Tomogram:
    """Wrap a 20 Å phantom as a two-level tomogram (level 0 a stand-in)."""
    import dask.array as da

    vs = CZII_VOXEL_SIZE
    level0 = da.zeros(tuple(FACTOR * n for n in volume.shape), chunks=256)
    return Tomogram(
        levels=(level0, da.from_array(volume)),
        scales=((vs,) * 3, (FACTOR * vs,) * 3),
        run=run,
        source=Path(run),
    )


def training_phantoms(recipe: Recipe, cache: Path) -> list[Phantom]:
    """Return the recipe's training phantoms (seeds ``1000 * seed + i``)."""
    base = 1000 * recipe.seed
    return [
        phantom(base + i, recipe.look, recipe.shape, cache)
        for i in range(recipe.train)
    ]


def validation_phantoms(recipe: Recipe, cache: Path) -> list[Phantom]:
    """Held-out phantoms: each validation and empty look, own seeds."""
    base = 1000 * recipe.seed + 500
    out = []
    for k, look in enumerate(VALIDATION_LOOKS + EMPTY_LOOKS):
        for i in range(recipe.validation_runs):
            seed = base + 20 * k + i
            out.append(phantom(seed, look, recipe.shape, cache))
    return out


def predict_phantoms(model, phantoms: list[Phantom]) -> pd.DataFrame:
    """Return the unthresholded picks of ``model`` on ``phantoms``."""
    settings = PickSettings(apply_thresholds=False)
    found = [
        predict_tomogram(as_tomogram(p.volume, p.run), model, settings)
        for p in phantoms
    ]
    return pd.concat(found, ignore_index=True)
