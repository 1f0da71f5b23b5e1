"""More like these: proposals from a few clicks, before any training.

A small phantom with a planted procedural protein beside apo-ferritins
and ribosomes: from four clicks, the best proposals are the unclicked
copies of the protein, not the other particles.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_VOXEL_SIZE
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import open_tomogram
from napari_cryopick.model.similar import (
    AT_LIMIT,
    SimilarSettings,
    more_like_these,
)
from tests.conftest import novel_phantom

NOVEL = 'novel'


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    """64 x 192 x 192: 12 copies of a 170 Å protein, 6 apo, 3 ribosomes."""
    from napari_cryopick.simulate.crowding import pseudo_protein
    from napari_cryopick.simulate.templates import template_from_density

    box = pseudo_protein(np.random.default_rng(11), 170.0, CZII_VOXEL_SIZE)
    template = template_from_density(NOVEL, box, CZII_VOXEL_SIZE)
    counts = {'ribosome': 3, 'apo-ferritin': 6}
    made = novel_phantom(
        template, 301, 'TS_b', (64, 192, 192), counts, 0.35, 12
    )
    store = tmp_path_factory.mktemp('similar') / 'TS_b.zarr'
    write_ome_zarr(store, made.volume, CZII_VOXEL_SIZE)
    return open_tomogram(store), made.picks, round(template.radius, 1)


def test_the_best_proposals_are_unclicked_copies(phantom):
    tomogram, truth, radius = phantom
    copies = truth[truth['particle_type'] == NOVEL]
    clicks = copies.iloc[:4]
    found = more_like_these(tomogram, clicks, radius, NOVEL)
    assert len(found) > 0
    assert set(found['particle_type']) == {NOVEL}
    assert set(found['origin']) == {pk.MODEL}
    assert set(found['run']) == {tomogram.run}
    scores = found['score'].to_numpy()
    assert np.all(np.diff(scores) <= 0)
    assert scores.max() <= 1.0
    # Nothing proposed where the user already clicked, nor twice.
    where = pk.positions(found)
    gap, _ = cKDTree(pk.positions(clicks)).query(where)
    assert gap.min() > radius
    pairs = cKDTree(where).query_pairs(radius)
    assert not pairs
    # The best are the 8 unclicked copies, then the other particles and
    # the ice.
    rest = pk.positions(copies.iloc[4:])
    distance, which = cKDTree(rest).query(where)
    hit = distance <= 0.5 * radius
    assert hit[:5].all(), (distance[:10], scores[:10])
    assert len(set(which[:10][hit[:10]])) >= 6
    # Those as alike as the clicks' own spread allows are copies.
    alike = scores >= AT_LIMIT
    assert alike.sum() >= 2
    assert hit[alike].all()


def test_count_and_too_few_clicks(phantom):
    tomogram, truth, radius = phantom
    copies = truth[truth['particle_type'] == NOVEL]
    found = more_like_these(
        tomogram, copies.iloc[:4], radius, NOVEL, SimilarSettings(count=3)
    )
    assert len(found) == 3
    with pytest.raises(CryopickError, match='at least 3 clicks') as err:
        more_like_these(tomogram, copies.iloc[:2], radius, NOVEL)
    assert '\n' not in str(err.value)


def test_hollow_particles_are_found_by_their_protein():
    # Apo-ferritin is a shell: its lumen is as bright as the ice, its
    # protein dark. The clicks' contrast is the protein's.
    import dask.array as da

    from napari_cryopick._sample_data import (
        SAMPLE_COUNTS,
        SAMPLE_SEED,
        SAMPLE_SHAPE,
    )
    from napari_cryopick.io.tomogram import Tomogram, pyramid
    from napari_cryopick.model.likeness import learn_likeness
    from napari_cryopick.simulate import PhantomParams, simulate_tomogram

    made = simulate_tomogram(
        PhantomParams(shape=SAMPLE_SHAPE, counts=SAMPLE_COUNTS),
        seed=SAMPLE_SEED,
    )
    tomogram = Tomogram(
        tuple(da.from_array(level) for level in pyramid(made.volume, 2)),
        tuple((made.voxel_size * 2**i,) * 3 for i in range(2)),
        'TS_sample',
        None,
    )
    apo = made.picks[made.picks['particle_type'] == 'apo-ferritin']
    clicks, radius = apo.iloc[:4], 60.0
    like = learn_likeness([(tomogram, clicks)], radius)
    assert like.profiles[:, 0].mean() > 0  # the bright lumen
    assert like.polarity == -1.0
    found = more_like_these(tomogram, clicks, radius, 'shell')
    distance, _ = cKDTree(pk.positions(apo.iloc[4:])).query(
        pk.positions(found)
    )
    assert np.all(distance[:6] <= 0.5 * radius), distance[:10]
