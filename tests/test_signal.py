"""The signal check: a tomogram where nothing stands out keeps no picks."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

from napari_cryopick import picks as pk
from napari_cryopick.io.tomogram import Tomogram
from napari_cryopick.model.grid import GridReader, plan_grid
from napari_cryopick.model.signal import (
    SignalCheck,
    nothing_stands_out,
    pick_contrast,
)

VOXEL = 10.0
RADII = {'ribosome': 150.0, 'apo-ferritin': 60.0}


def _reader(volume: np.ndarray, grid: float = 20.0):
    tomogram = Tomogram(
        (da.from_array(volume),), ((VOXEL,) * 3,), 'r', Path('t.mrc')
    )
    return tomogram, GridReader(tomogram, plan_grid(tomogram, grid))


def _noise(shape=(64, 128, 128), seed=1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=shape)
    # Tomogram noise is correlated over a few voxels, not white.
    return ndimage.gaussian_filter(noise, 1.5).astype(np.float32)


def _picks(zyx_voxels: np.ndarray, kind: str) -> object:
    xyz = np.asarray(zyx_voxels, float)[:, ::-1] * VOXEL
    return pk.make_picks('r', kind, xyz, score=np.ones(len(xyz)))


def _spheres(volume, centres, radius_vox, contrast) -> np.ndarray:
    out = volume.copy()
    grid = np.indices(volume.shape)
    for c in centres:
        d = np.sqrt(sum((g - v) ** 2 for g, v in zip(grid, c, strict=True)))
        out[d <= radius_vox] -= contrast  # dark protein, as in CZII data
    return out


@pytest.fixture(scope='module')
def noise():
    return _noise()


def test_picks_in_pure_noise_do_not_stand_out(noise):
    tomogram, reader = _reader(noise)
    # The picks a network makes in noise: its most blob-like places.
    smooth = ndimage.gaussian_filter(noise, 4)
    peaks = np.argwhere(
        (smooth == ndimage.maximum_filter(smooth, 9)) & (smooth < 0)
    )[:40]
    table = _picks(peaks, 'ribosome')
    z = pick_contrast(table, reader, tomogram, RADII)
    assert np.abs(z).max() < SignalCheck().z
    assert nothing_stands_out(table, reader, tomogram, SignalCheck(), RADII)


def test_particles_stand_out_and_keep_the_picks(noise):
    std = noise.std()
    centres = np.array([[32, 30, 30], [32, 90, 40], [20, 64, 100]])
    # 1.5 noise SD per voxel: the ribosome contrast of real lamellae
    # (tools/particle_cnr.py measures 1.5-1.8 there).
    volume = _spheres(noise, centres, 12, 1.5 * std)
    tomogram, reader = _reader(volume)
    table = _picks(centres, 'ribosome')
    z = pick_contrast(table, reader, tomogram, RADII)
    assert (z < -SignalCheck().z).all()  # dark: negative contrast
    assert not nothing_stands_out(
        table, reader, tomogram, SignalCheck(), RADII
    )


def test_check_off_or_no_picks_never_drops(noise):
    tomogram, reader = _reader(noise)
    table = _picks(np.array([[30, 60, 60]]), 'apo-ferritin')
    off = SignalCheck(enabled=False)
    assert not nothing_stands_out(table, reader, tomogram, off, RADII)
    empty = table.iloc[:0]
    assert not nothing_stands_out(
        empty, reader, tomogram, SignalCheck(), RADII
    )


def test_predict_records_the_switch(tmp_path, capsys):
    from napari_cryopick.cli import main
    from napari_cryopick.model.predict_options import PredictOptions
    from napari_cryopick.model.record import make_record

    with pytest.raises(SystemExit) as stop:
        main(['predict', '--help'])
    assert stop.value.code == 0
    assert '--no-signal-check' in capsys.readouterr().out
    # A run picked with the check off is not 'done' for a run with it on.
    on = make_record(PredictOptions(out=tmp_path))
    off = make_record(PredictOptions(out=tmp_path, signal_check=False))
    assert on['settings']['signal_check'] is True
    assert on['settings'] != off['settings']


def test_particles_in_a_lamella_still_stand_out():
    # A lamella 1100 Å thick in a 1840 Å tomogram, vacuum above and
    # below 3 noise SD lighter: half the random places straddle an edge
    # and would inflate a plain SD; the ribosomes must still stand out.
    noise = _noise((184, 160, 160), seed=2)
    std = noise.std()
    volume = noise.copy()
    volume[:40] += 3 * std
    volume[150:] += 3 * std
    centres = np.array([[92, 40, 40], [80, 120, 60], [100, 96, 130]])
    volume = _spheres(volume, centres, 12, 1.5 * std)
    tomogram, reader = _reader(volume)
    z = pick_contrast(_picks(centres, 'ribosome'), reader, tomogram, RADII)
    assert (z < -SignalCheck().z).all()
