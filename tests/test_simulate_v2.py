"""Simulator v2: crowds, filaments, lumen, uneven ice, 8-bit, named looks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx
from napari_cryopick.picks import positions
from napari_cryopick.simulate import (
    PhantomLook,
    PhantomParams,
    simulate_tomogram,
)
from napari_cryopick.simulate.crowding import (
    draw_filament,
    pseudo_protein,
    render_filament,
)
from napari_cryopick.simulate.looks import LOOKS, look_params
from napari_cryopick.simulate.templates import load_template

SHAPE = (64, 160, 160)
VS = 10.012444


@pytest.fixture(scope='module')
def crowded():
    rng = np.random.default_rng(5)
    params = look_params('crowded', rng, SHAPE, VS)
    return simulate_tomogram(params, rng, run='TS_crowd')


def _crowd(phantom):
    table = phantom.distractors
    return table[table['particle_type'] == 'pseudo-protein']


def test_crowded_look_holds_many_unlabelled_proteins(crowded):
    crowd = _crowd(crowded)
    # 15 % of the slab by volume: hundreds in this small volume, far
    # more than the labelled particles.
    assert len(crowd) > 5 * len(crowded.picks)
    assert len(crowded.picks) > 0


def test_crowd_keeps_clear_of_the_labelled_particles(crowded):
    crowd = angstrom_xyz_to_voxel_zyx(positions(_crowd(crowded)), VS)
    for _, pick in crowded.picks.iterrows():
        centre = angstrom_xyz_to_voxel_zyx(positions(pick.to_frame().T), VS)
        radius = load_template(pick['particle_type'], VS).radius / VS
        gaps = np.linalg.norm(crowd - centre, axis=1)
        # A pseudo-protein centre never sits inside a labelled particle.
        assert gaps.min() > radius


def test_pseudo_proteins_span_sizes_and_stay_protein_dense():
    rng = np.random.default_rng(0)
    small = pseudo_protein(rng, 40.0, VS)
    large = pseudo_protein(rng, 300.0, VS)
    assert large.shape[0] > 2 * small.shape[0]
    for box in (small, large):
        assert 0.5 < box.max() <= 1.0 + 1e-6
        assert box.min() >= 0


def test_no_pseudo_protein_copies_a_class_to_pick():
    from napari_cryopick.simulate.crowding import _kinds

    # Shells at apo-ferritin's or the VLP's size, and round complexes at
    # the ribosome's, would be unlabelled copies of picked classes.
    assert 'hollow' in _kinds(80.0)
    assert 'hollow' not in _kinds(130.0)
    assert 'hollow' not in _kinds(300.0)
    assert set(_kinds(300.0)) == {'elongated', 'dimer'}


def test_filament_is_a_long_chain_of_density():
    rng = np.random.default_rng(1)
    volume = np.zeros(SHAPE, np.float32)
    low, high = np.array([20.0, 20, 20]), np.array([44.0, 140, 140])
    filament = draw_filament(rng, low, high, VS, 'microtubule')
    render_filament(volume, filament, VS)
    length = np.linalg.norm(np.diff(filament.points, axis=0), axis=1).sum()
    assert length * VS >= 1000 - VS
    # A hollow tube: its wall, 11 voxels out, is dense all along the
    # axis, and the axis itself (the lumen) is not.
    reach = 13
    inside = [
        p
        for p in np.round(filament.points).astype(int)
        if np.all(p >= reach) and np.all(p < np.array(SHAPE) - reach)
    ]
    assert inside
    wall = [
        volume[tuple(map(slice, p - reach, p + reach))].max() for p in inside
    ]
    lumen = [volume[tuple(p)] for p in inside]
    assert np.median(wall) > 0.3
    assert np.median(lumen) < 0.5 * np.median(wall)


def test_bits_quantise_and_gradient_varies_slowly():
    params = PhantomParams(
        shape=SHAPE, look=PhantomLook(bits=8, gradient=3.0), clutter=0
    )
    phantom = simulate_tomogram(params, seed=2)
    assert len(np.unique(phantom.volume)) <= 256
    flat = simulate_tomogram(PhantomParams(shape=SHAPE, clutter=0), seed=2)

    # The slow field moves block means far more than the flat look's.
    def block_spread(v):
        means = v.reshape(8, 8, 8, 20, 8, 20).mean(axis=(1, 3, 5))
        return means.std() / v.std()

    assert block_spread(phantom.volume) > 2 * block_spread(flat.volume)


@pytest.mark.parametrize('name', ['empty', 'noise'])
def test_nothing_to_pick_looks_have_no_picks(name):
    rng = np.random.default_rng(3)
    phantom = simulate_tomogram(look_params(name, rng, SHAPE, VS), rng)
    assert phantom.picks.empty
    assert phantom.volume.std() > 0
    if name == 'empty':
        assert len(_crowd(phantom)) > 50


def test_every_look_simulates():
    for name in LOOKS:
        rng = np.random.default_rng(4)
        params = look_params(name, rng, (32, 96, 96), VS)
        phantom = simulate_tomogram(params, rng)
        assert phantom.volume.shape == (32, 96, 96)
        assert np.isfinite(phantom.volume).all()
    with pytest.raises(KeyError):
        look_params('glossy', rng, SHAPE, VS)


def test_simulate_cli_look_and_voxel_size(tmp_path):
    from napari_cryopick.cli import main

    out = tmp_path / 'proj'
    code = main(
        [
            'simulate',
            str(out),
            '--shape',
            '32',
            '96',
            '96',
            '--look',
            'empty',
            '--voxel-size',
            '13.6',
        ]
    )
    assert code == 0
    store = out / 'static/ExperimentRuns/TS_sim_1/VoxelSpacing13.600'
    attrs = json.loads((store / 'denoised.zarr/.zattrs').read_text())
    scale = attrs['multiscales'][0]['datasets'][0]
    assert scale['coordinateTransformations'][0]['scale'] == [13.6] * 3
    manifest = json.loads((out / 'simulation.json').read_text())
    assert manifest['settings']['look_name'] == 'empty'
