"""Shared fixtures: the real picks shipped in tests/data, and ../shared.

The small real files the tests need (CZII picks, one EM map) ship in
``tests/data/`` with their source and licence, so a clone alone runs
every test; ``real_data`` (the whole ../shared collection) stays for
tests that need more and skips without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from napari_cryopick.model.config import NetworkConfig

REPO = Path(__file__).resolve().parents[1]
#: Real third-party files shipped with the tests (see its README.md).
TEST_DATA = REPO / 'tests' / 'data'


def shared_dir() -> Path | None:
    """Return the shared data folder (env CRYOPICK_SHARED or ../shared)."""
    env = os.environ.get('CRYOPICK_SHARED')
    for candidate in (env, REPO.parent / 'shared'):
        if candidate and (Path(candidate) / 'data' / 'real').is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope='session')
def real_data() -> Path:
    """The real-data folder ``shared/data/real``; skip when absent."""
    shared = shared_dir()
    if shared is None:
        pytest.skip('shared/data/real not found (set CRYOPICK_SHARED)')
    return shared / 'data' / 'real'


@pytest.fixture(scope='session')
def czii_json_runs() -> dict[str, Path]:
    """The two runs whose original Kaggle overlay JSON files we have."""
    return {
        'TS_5_4': TEST_DATA
        / 'czii10440-picks-henriupton99/ExperimentRuns/TS_5_4/Picks',
        'TS_99_9': TEST_DATA
        / 'czii10440-picks-molokhovdmitry/ExperimentRuns/TS_99_9/Picks',
    }


@pytest.fixture(scope='session')
def czii_csv() -> Path:
    """All 1269 real CZII training picks as CSV."""
    return TEST_DATA / 'czii10440-labels-christofhenkel/train_folded_v1.csv'


def picks_files(out: Path, run: str) -> list[Path]:
    """The copick picks files of ``run`` under ``out``, sorted."""
    return sorted((out / 'ExperimentRuns' / run / 'Picks').glob('*.json'))


#: The one tiny network of the tests: a U-Net that runs in milliseconds.
TINY = NetworkConfig(channels=(4, 8, 8), strides=(2, 1), num_res_units=0)


def bare_params(shape, counts, look, **changes):
    """Phantom parameters without membranes, gold, carbon or clutter."""
    from napari_cryopick.simulate.params import PhantomParams

    return PhantomParams(
        shape=shape,
        counts=counts,
        albumin=0,
        membranes=0,
        gold_beads=0,
        carbon_edge=False,
        clutter=0.0,
        look=look,
        **changes,
    )


def novel_phantom(template, seed, run, shape, counts, noise, copies):
    """A bare phantom holding ``copies`` of a planted protein ``template``.

    What a test measures is then the planted protein against the CZII
    ones in ``counts``.
    """
    from napari_cryopick.simulate.params import PhantomLook
    from napari_cryopick.simulate.phantom import simulate_tomogram

    look = PhantomLook(noise=noise)
    params = bare_params(shape, counts, look, slab=(0.05, 0.95))
    novel = {template.name: (template, copies)}
    return simulate_tomogram(params, seed, run=run, novel=novel)


def tiny_card(**fields) -> dict:
    """A model card for :data:`TINY` on the CZII classes (20 Å grid)."""
    from napari_cryopick.classes import CZII_CLASSES
    from napari_cryopick.model.checkpoint import classes_to_card

    card = {
        'name': 'tiny',
        'network': TINY.to_dict(),
        'classes': classes_to_card(CZII_CLASSES),
        'voxel_size': 20.024888,
        'thresholds': {c.name: 0.0 for c in CZII_CLASSES},
    }
    return {**card, **fields}


@pytest.fixture(scope='session')
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random checkpoint whose thresholds keep every candidate."""
    torch = pytest.importorskip('torch')
    from napari_cryopick.model.checkpoint import save_checkpoint
    from napari_cryopick.model.config import build_network

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('model') / 'tiny.safetensors'
    return save_checkpoint(path, build_network(TINY), tiny_card())


def with_noise(tomogram, times: float, store: Path, seed: int = 5):
    """``tomogram`` with Gaussian noise of ``times`` its spread, reopened.

    Written to ``store`` (OME-Zarr): a fainter tomogram of the same
    sample, whose particles' profiles are lower after normalisation.
    """
    import numpy as np

    from napari_cryopick.io.ome_zarr_write import write_ome_zarr
    from napari_cryopick.io.sources import open_tomogram

    volume = np.asarray(tomogram.levels[0][:], np.float32)
    rng = np.random.default_rng(seed)
    volume += rng.normal(0, times * volume.std(), volume.shape).astype(
        np.float32
    )
    write_ome_zarr(store, volume, float(tomogram.scales[0][0]))
    return open_tomogram(store)
