"""Shared fixtures: the real CZII data in ../shared, when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
def czii_json_runs(real_data) -> dict[str, Path]:
    """The two runs whose original Kaggle overlay JSON files we have."""
    return {
        'TS_5_4': real_data
        / 'czii10440-picks-henriupton99/ExperimentRuns/TS_5_4/Picks',
        'TS_99_9': real_data
        / 'czii10440-picks-molokhovdmitry/ExperimentRuns/TS_99_9/Picks',
    }


@pytest.fixture(scope='session')
def czii_csv(real_data) -> Path:
    """All 1269 real CZII training picks as CSV."""
    return real_data / 'czii10440-labels-christofhenkel/train_folded_v1.csv'
