"""Tests of the phantom tomogram simulator (small shapes, seconds)."""

from __future__ import annotations

import dataclasses
from importlib import resources

import numpy as np
import pytest
from scipy import ndimage

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx
from napari_cryopick.errors import CryopickError
from napari_cryopick.picks import COLUMNS, positions
from napari_cryopick.simulate import (
    TEMPLATE_FILES,
    PhantomLook,
    PhantomParams,
    load_template,
    simulate_tomogram,
    template_names,
)
from napari_cryopick.simulate.imaging import wedge_mask
from napari_cryopick.simulate.params import (
    CZII_RUN_COUNTS,
    CZII_SLAB,
    resolve_counts,
)
from tests.conftest import bare_params

SHAPE = (64, 128, 128)
VOXEL = 10.012444
COUNTS = {
    'apo-ferritin': 4,
    'beta-amylase': 2,
    'beta-galactosidase': 2,
    'ribosome': 3,
    'thyroglobulin': 2,
    'virus-like-particle': 1,
}
#: A look with no imaging at all: the rendered density, shifted/scaled.
CLEAN = PhantomLook(
    polarity=1.0, noise=0.0, wedge=90.0, resolution=0.0, defocus=0.0
)


def small(**changes) -> PhantomParams:
    base = PhantomParams(
        shape=SHAPE,
        counts=dict(COUNTS),
        albumin=2,
        membranes=1,
        gold_beads=1,
        carbon_edge=False,
    )
    return dataclasses.replace(base, **changes)


def bare(counts, look=CLEAN, shape=SHAPE) -> PhantomParams:
    return bare_params(shape, counts, look)


def voxels(picks) -> np.ndarray:
    return angstrom_xyz_to_voxel_zyx(positions(picks), VOXEL)


@pytest.fixture(scope='module')
def phantom():
    return simulate_tomogram(small(), seed=7, run='TS_sim')


def test_volume_and_table(phantom):
    assert phantom.volume.shape == SHAPE
    assert phantom.volume.dtype == np.float32
    assert np.all(np.isfinite(phantom.volume))
    picks = phantom.picks
    assert tuple(picks.columns) == COLUMNS
    assert set(picks['run']) == {'TS_sim'}
    assert set(picks['origin']) == {'reference'}
    assert set(picks['user_id']) == {'curation'}
    assert set(picks['session_id']) == {'0'}
    assert np.all(picks['score'] == 1.0)
    assert phantom.voxel_size == VOXEL


def test_counts_as_requested(phantom):
    counts = phantom.picks['particle_type'].value_counts().to_dict()
    assert counts == COUNTS
    extra = phantom.distractors['particle_type'].value_counts().to_dict()
    assert extra == {'albumin': 2, 'gold-bead': 1}


def test_deterministic_for_a_seed(phantom):
    again = simulate_tomogram(small(), seed=7, run='TS_sim')
    np.testing.assert_array_equal(again.volume, phantom.volume)
    np.testing.assert_array_equal(
        positions(again.picks), positions(phantom.picks)
    )
    other = simulate_tomogram(small(), seed=8, run='TS_sim')
    assert not np.allclose(positions(other.picks), positions(phantom.picks))


def test_picks_inside_volume_and_slab(phantom):
    zyx = voxels(phantom.picks)
    assert np.all(zyx >= 0)
    assert np.all(zyx <= np.array(SHAPE) - 1)
    low, high = np.array(CZII_SLAB) * SHAPE[0]
    assert np.all((zyx[:, 0] >= low) & (zyx[:, 0] <= high))


def test_no_two_particles_overlap(phantom):
    table = phantom.picks
    names = list(table['particle_type'])
    radii = np.array([load_template(n, VOXEL).radius for n in names])
    xyz = positions(table)
    gap = np.linalg.norm(xyz[:, None] - xyz[None], axis=2)
    needed = radii[:, None] + radii[None]
    off_diagonal = ~np.eye(len(names), dtype=bool)
    assert np.all(gap[off_diagonal] >= needed[off_diagonal])


def test_transformations_are_rotations(phantom):
    for matrix in phantom.picks['transformation']:
        rotation = matrix[:3, :3]
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        # copick adds the translation to the location: it must stay 0.
        np.testing.assert_array_equal(matrix[:3, 3], 0.0)
        np.testing.assert_array_equal(matrix[3], [0, 0, 0, 1])


def lone_particles(name, voxel_size=VOXEL, wanted=3):
    """Phantoms of one particle, clean, not cut by the volume edge."""
    shape = (96, 128, 128)
    params = dataclasses.replace(
        bare({name: 1}, shape=shape), voxel_size=voxel_size
    )
    reach = load_template(name, voxel_size).radius / voxel_size + 3
    found = []
    for seed in range(30):
        result = simulate_tomogram(params, seed)
        centre = angstrom_xyz_to_voxel_zyx(
            positions(result.picks), voxel_size
        )[0]
        if np.all(centre >= reach) and np.all(centre + reach <= shape):
            found.append((result, centre))
        if len(found) == wanted:
            return found
    pytest.fail(f'no {name} drawn clear of the volume edge')


def centroid(volume: np.ndarray) -> np.ndarray:
    return np.array(ndimage.center_of_mass(volume - np.median(volume)))


@pytest.mark.parametrize('name', ['ribosome', 'thyroglobulin', 'beta-amylase'])
def test_picks_are_density_centres(name):
    for result, centre in lone_particles(name):
        assert np.linalg.norm(centroid(result.volume) - centre) < 1.0


def test_other_voxel_size_keeps_centres():
    for result, centre in lone_particles('ribosome', 20.0, wanted=1):
        assert np.linalg.norm(centroid(result.volume) - centre) < 1.0


def test_rotation_matches_rendered_particle():
    # The rendered particle's second moments are the template's, turned
    # by the pick's rotation (in x, y, z as copick stores it).
    template = load_template('thyroglobulin', VOXEL)
    for result, _ in lone_particles('thyroglobulin', wanted=2):
        rotation = result.picks['transformation'][0][:3, :3]
        inertia = _moments(template.density)[::-1, ::-1]
        expected = rotation @ inertia @ rotation.T
        volume = result.volume - np.median(result.volume)
        found = _moments(np.clip(volume, 0, None))[::-1, ::-1]
        found *= np.trace(expected) / np.trace(found)
        tolerance = 0.05 * np.trace(expected)
        np.testing.assert_allclose(found, expected, atol=tolerance)


def _moments(density: np.ndarray) -> np.ndarray:
    grid = np.indices(density.shape).reshape(3, -1).astype(float)
    weight = density.ravel() / density.sum()
    centred = grid - grid @ weight[:, None]
    return (centred * weight) @ centred.T


@pytest.mark.parametrize('polarity', [-1.0, 1.0])
def test_polarity_scale_offset(polarity):
    look = PhantomLook(polarity=polarity, scale=250.0, offset=7.0)
    result = simulate_tomogram(bare({'ribosome': 4}, look), 1)
    volume = result.volume
    assert volume.mean() == pytest.approx(7.0, abs=1.0)
    assert volume.std() == pytest.approx(250.0, rel=0.01)
    at = np.round(voxels(result.picks)).astype(int)
    contrast = volume[tuple(at.T)].mean() - np.median(volume)
    assert np.sign(contrast) == polarity
    assert abs(contrast) > 0.5 * 250.0


def test_scale_is_linear():
    low = simulate_tomogram(bare({'ribosome': 2}, PhantomLook(scale=1e-5)), 2)
    high = simulate_tomogram(bare({'ribosome': 2}, PhantomLook(scale=3.0)), 2)
    np.testing.assert_allclose(
        high.volume, low.volume * 3e5, rtol=1e-3, atol=1e-4
    )


def test_missing_wedge_in_fourier_space():
    # Tilt axis along y: the wedge is about kz, in the kz-kx plane.
    look = PhantomLook(tilt_axis=90.0, wedge=55.0, noise=0.5)
    volume = simulate_tomogram(small(look=look), 4).volume
    power = np.abs(np.fft.fftn(volume - volume.mean())) ** 2
    kz, _, kx = np.meshgrid(
        *[np.fft.fftfreq(n) for n in SHAPE], indexing='ij', sparse=True
    )
    angle = np.degrees(np.arctan2(np.abs(kz), np.abs(kx)))
    in_wedge = np.broadcast_to((angle > 65) & (np.abs(kz) > 0.05), SHAPE)
    measured = np.broadcast_to((angle < 45) & (np.abs(kx) > 0.05), SHAPE)
    ratio = power[in_wedge].mean() / power[measured].mean()
    assert ratio < 0.02


def test_wedge_mask_edges():
    kz = np.array([0.0, 0.1, 0.1, 0.3])
    kb = np.array([0.2, 0.2, 0.0, 0.1])
    mask = wedge_mask(kz, kb, 60.0)
    np.testing.assert_allclose(mask, [1.0, 1.0, 0.0, 0.0])
    assert np.all(wedge_mask(kz, kb, 90.0) == 1.0)


def test_look_random_differs_and_repeats():
    looks = [PhantomLook.random(seed) for seed in range(8)]
    assert len({dataclasses.astuple(look) for look in looks}) == 8
    assert PhantomLook.random(3) == PhantomLook.random(3)
    assert {look.polarity for look in looks} == {-1.0, 1.0}
    for look in looks:
        assert 1e-5 <= look.scale <= 300.0
        assert 45.0 <= look.wedge <= 70.0
    volumes = [
        simulate_tomogram(bare({'ribosome': 2}, look), 0).volume
        for look in looks[:2]
    ]
    assert not np.allclose(volumes[0], volumes[1])


def test_default_counts_follow_real_runs():
    rng = np.random.default_rng(0)
    full = [resolve_counts(PhantomParams(), rng) for _ in range(20)]
    real = np.array(list(CZII_RUN_COUNTS.values()))
    for index, cls in enumerate(CZII_CLASSES):
        drawn = [counts.get(cls.name, 0) for counts in full]
        assert real[:, index].min() / 2 <= np.mean(drawn)
        assert np.mean(drawn) <= real[:, index].max() * 1.5
    tiny = resolve_counts(PhantomParams(shape=SHAPE), rng)
    assert sum(tiny.values()) < 20


def test_bad_input_is_a_cryopick_error():
    with pytest.raises(CryopickError, match='unknown particle class'):
        simulate_tomogram(bare({'proteasome': 1}), 0)
    with pytest.raises(CryopickError, match='no room'):
        simulate_tomogram(bare({'ribosome': 50}, shape=(32, 64, 64)), 0)
    with pytest.raises(CryopickError, match='shape'):
        simulate_tomogram(bare({}, shape=(4, 64, 64)), 0)


def test_templates_shipped_with_licence():
    folder = resources.files('napari_cryopick') / 'data' / 'templates'
    for name in ('LICENSE.polnet', 'ATTRIBUTION.md', *TEMPLATE_FILES.values()):
        assert (folder / name).is_file()
    assert 'Apache License' in (folder / 'LICENSE.polnet').read_text()


def test_template_extents_match_particle_sizes():
    radius = {n: load_template(n, VOXEL).radius for n in template_names()}
    assert 60 < radius['apo-ferritin'] < 90  # 140 Å shell
    assert 150 < radius['ribosome'] < 190  # ~300 Å
    assert 160 < radius['virus-like-particle'] < 190  # 330 Å
    assert load_template('ribosome', VOXEL) is load_template('ribosome', VOXEL)


def test_template_resampled_to_coarser_voxels():
    fine = load_template('ribosome', VOXEL)
    coarse = load_template('ribosome', 20.0)
    assert coarse.voxel_size == pytest.approx(20.0, rel=0.05)
    assert coarse.shape[0] < 0.6 * fine.shape[0]
    assert coarse.radius == pytest.approx(fine.radius, rel=0.1)
    assert not coarse.density.flags.writeable
