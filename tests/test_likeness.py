"""Picks of a class learnt from clicks must look like the clicks.

Small phantoms with a planted procedural protein beside apo-ferritins and
ribosomes: the clicks' rotational density profiles keep the other copies
of the protein and reject the other proteins' centres and empty ice.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_VOXEL_SIZE
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import open_tomogram
from napari_cryopick.model import gate, profiles
from napari_cryopick.model import likeness as lk
from napari_cryopick.model import likeness_check as lc
from napari_cryopick.model.checkpoint import ModelCard
from tests.conftest import novel_phantom, tiny_card, with_noise

NOVEL = 'novel'


@pytest.fixture(scope='module')
def tomograms(tmp_path_factory):
    """Two 64 x 192 x 192 phantoms: 12 novel, 6 apo-ferritin, 3 ribosome."""
    from napari_cryopick.simulate.crowding import pseudo_protein
    from napari_cryopick.simulate.templates import template_from_density

    box = pseudo_protein(np.random.default_rng(11), 170.0, CZII_VOXEL_SIZE)
    template = template_from_density(NOVEL, box, CZII_VOXEL_SIZE)
    root = tmp_path_factory.mktemp('likeness')
    out = {}
    for index, run in enumerate(('TS_a', 'TS_b')):
        counts = {'ribosome': 3, 'apo-ferritin': 6}
        phantom = novel_phantom(
            template, 300 + index, run, (64, 192, 192), counts, 0.35, 12
        )
        store = root / f'{run}.zarr'
        write_ome_zarr(store, phantom.volume, CZII_VOXEL_SIZE)
        out[run] = (open_tomogram(store), phantom.picks)
    return out, round(template.radius, 1)


def _of(truth, name):
    return truth[truth['particle_type'] == name]


def _as(table, name):
    return pk.normalize(table.assign(particle_type=name))


def test_the_clicks_profiles_keep_copies_and_reject_other_particles(
    tomograms,
):
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    like = lk.learn_likeness([(tomo_a, _of(truth_a, NOVEL).iloc[:8])], radius)
    assert like is not None
    assert like.profiles.shape == (8, len(profiles.SHELLS))
    tomo_b, truth_b = runs['TS_b']
    # Picks as a network would give them, on the other tomogram: on its
    # novel proteins and on its other particles.
    candidates = {
        'copies': _of(truth_b, NOVEL),
        'apo-ferritin': _of(truth_b, 'apo-ferritin'),
        'ribosome': _of(truth_b, 'ribosome'),
    }
    dropped = {
        kind: lc.unlike(
            _as(table, NOVEL), tomo_b, {NOVEL: like}, {NOVEL: radius}
        )
        for kind, table in candidates.items()
    }
    assert dropped['copies'].mean() <= 0.2, dropped
    assert dropped['apo-ferritin'].mean() >= 0.75, dropped
    assert dropped['ribosome'].all(), dropped
    # Empty ice: random places away from every particle.
    rng = np.random.default_rng(0)
    shape = np.asarray(tomo_b.shape) * CZII_VOXEL_SIZE
    places = rng.uniform(0.1, 0.9, (200, 3)) * shape[::-1]
    far = pk.positions(truth_b)
    gap = np.linalg.norm(places[:, None] - far[None], axis=2).min(axis=1)
    ice = pd.DataFrame(places[gap > 2 * radius][:20], columns=['x', 'y', 'z'])
    ice['run'] = 'TS_b'
    dropped_ice = lc.unlike(
        _as(ice, NOVEL), tomo_b, {NOVEL: like}, {NOVEL: radius}
    )
    assert len(ice) >= 5
    assert dropped_ice.mean() >= 0.9


def test_a_few_odd_clicks_do_not_widen_the_limit(tomograms):
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    clicks = _of(truth_a, NOVEL).iloc[:10]
    clean = lk.learn_likeness([(tomo_a, clicks)], radius)
    # Two slips of the hand: clicks on apo-ferritins, not on the protein.
    slips = _as(_of(truth_a, 'apo-ferritin').iloc[:2], NOVEL)
    odd = lk.learn_likeness(
        [(tomo_a, pd.concat([clicks, slips], ignore_index=True))], radius
    )
    assert odd.limit <= 1.25 * clean.limit, (odd.limit, clean.limit)
    # The gate learns against what a wider limit keeps, one the slips do
    # widen (the 90 % quantile); it is no check of its own.
    wide = gate.for_the_gate(odd)
    assert wide.limit > 1.25 * odd.limit, (wide.limit, odd.limit)
    assert wide.gate is None
    assert np.array_equal(wide.profiles, odd.profiles)


def test_copies_in_a_fainter_tomogram_still_look_like_the_clicks(
    tomograms, tmp_path
):
    # Two tomograms of one sample differ in contrast (noise, defocus,
    # thickness): after normalisation the same particle's profile is
    # lower in a noisier one. Here B gets noise of 1.5 times its own
    # spread.
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    tomo_b, truth_b = runs['TS_b']
    faint = with_noise(tomo_b, 1.5, tmp_path / 'TS_b.zarr')
    clicks = [(tomo_a, _of(truth_a, NOVEL).iloc[:8])]
    copies = _as(_of(truth_b, NOVEL), NOVEL)
    others = _as(
        pd.concat([_of(truth_b, 'ribosome'), _of(truth_b, 'apo-ferritin')]),
        NOVEL,
    )
    plain = lk.learn_likeness(clicks, radius)
    wide = lk.across_tomograms(plain)
    assert (plain.scale, wide.scale) == (1.0, lk.CONTRAST)
    dropped = {}
    for like in (plain, wide):
        dropped[like.scale] = [
            lc.unlike(table, faint, {NOVEL: like}, {NOVEL: radius}).mean()
            for table in (copies, others)
        ]
    assert dropped[1.0][0] >= 0.5, dropped
    assert dropped[lk.CONTRAST][0] <= 0.2, dropped
    assert dropped[lk.CONTRAST][1] == 1.0, dropped


def test_the_profile_distance_forgives_a_scale_within_its_bound():
    click = np.linspace(-1.0, 0.2, len(profiles.SHELLS))
    picks = np.stack([click, 1.4 * click, 0.7 * click, 2.0 * click])
    plain = lk.profile_distance(picks, click)
    assert plain[0] == 0
    assert np.all(plain[1:] > 0)
    fitted = lk.profile_distance(picks, click, 1.5)
    assert np.allclose(fitted[:3], 0, atol=1e-7)
    # Past the bound the rest of the difference counts.
    expected = lk.profile_distance(picks[3], 1.5 * click)
    assert fitted[3] == pytest.approx(expected)


def test_other_classes_and_few_clicks_are_left_alone(tomograms):
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    two = _of(truth_a, NOVEL).iloc[:2]
    assert lk.learn_likeness([(tomo_a, two)], radius) is None
    like = lk.learn_likeness([(tomo_a, _of(truth_a, NOVEL).iloc[:6])], radius)
    # Ribosome picks are not the learnt class's: never dropped by it.
    ribosomes = pk.normalize(_of(truth_a, 'ribosome'))
    kept = lc.unlike(ribosomes, tomo_a, {NOVEL: like}, {NOVEL: radius})
    assert not kept.any()


def test_likeness_goes_through_the_model_card(tomograms):
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    like = lk.learn_likeness([(tomo_a, _of(truth_a, NOVEL).iloc[:5])], radius)
    like = lk.across_tomograms(like)
    card = tiny_card()
    card['likeness'] = {NOVEL: like.to_dict()}
    read = ModelCard.from_dict(json.loads(json.dumps(card)))
    assert np.allclose(read.likeness[NOVEL].profiles, like.profiles, atol=1e-4)
    assert read.likeness[NOVEL].limit == pytest.approx(like.limit, abs=1e-5)
    assert read.likeness[NOVEL].recentre == like.recentre == lk.RECENTRE
    assert read.likeness[NOVEL].scale == like.scale == lk.CONTRAST
    # A card written before recentring (or before the fitted scale)
    # keeps the check it was made with.
    del card['likeness'][NOVEL]['recentre']
    del card['likeness'][NOVEL]['scale']
    old = ModelCard.from_dict(card).likeness[NOVEL]
    assert (old.recentre, old.scale) == (0, 1.0)
    card['likeness'][NOVEL]['profiles'] = [[0.0, 1.0]]
    with pytest.raises(CryopickError, match='malformed model card') as err:
        ModelCard.from_dict(card, 'bad.safetensors')
    assert '\n' not in str(err.value)


def _moved(table, distance, seed=1):
    """``table`` with each pick ``distance`` Å away, in random directions."""
    rng = np.random.default_rng(seed)
    step = rng.normal(size=(len(table), 3))
    step *= distance / np.linalg.norm(step, axis=1, keepdims=True)
    out = table.copy()
    out[['x', 'y', 'z']] = pk.positions(table) + step
    return pk.normalize(out)


def _recentring_error(tomogram, copies, radius, polarity=-1.0):
    """Median profile error at picks a quarter radius off, by moves."""
    centred = profiles.profiles_at(tomogram, copies, radius, search=False)[
        :, 0
    ]
    moved = _moved(copies, 0.25 * radius)
    return {
        moves: np.median(
            lk.profile_distance(
                profiles.profiles_at(
                    tomogram, moved, radius, False, moves, polarity
                )[:, 0],
                centred,
            )
        )
        for moves in (0, lk.RECENTRE)
    }


def test_recentring_brings_an_off_centre_pick_back_to_its_particle(
    tomograms,
):
    # A network taught by a few clicks places its peaks a fifth of the
    # radius or so from the centre; the profile there is another one.
    (runs, radius) = tomograms
    tomo_b, truth_b = runs['TS_b']
    error = _recentring_error(tomo_b, _of(truth_b, NOVEL), radius)
    assert error[lk.RECENTRE] < 0.3 * error[0], error


def test_the_check_moves_picks_to_their_particles_centres(tomograms):
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    like = {NOVEL: lk.learn_likeness([(tomo_a, _of(truth_a, NOVEL))], radius)}
    tomo_b, truth_b = runs['TS_b']
    copies = _of(truth_b, NOVEL)
    moved = _moved(copies, 0.25 * radius).assign(score=0.9)
    # A second pick of the first copy, less sure and farther off: once
    # both are centred it is the same particle.
    twin = _moved(copies.iloc[:1], 0.35 * radius, seed=7).assign(score=0.5)
    table = pk.concat([moved, twin])
    drop, centred = lc.check_and_centre(table, tomo_b, like, {NOVEL: radius})
    assert drop[-1]
    assert drop[:-1].mean() <= 0.2
    error = np.linalg.norm(
        pk.positions(centred)[:-1] - pk.positions(copies), axis=1
    )
    assert np.median(error) < 0.4 * 0.25 * radius, error
    # Picks at the volume's faces stay inside it.
    size = np.asarray(tomo_b.shape)[::-1] * CZII_VOXEL_SIZE
    faces = copies.iloc[:3].copy()
    faces[['x', 'y', 'z']] = [[0.0, 0.0, 0.0], size - 1.0, [0.0, 900, 0.0]]
    _, inside = lc.check_and_centre(faces, tomo_b, like, {NOVEL: radius})
    where = pk.positions(inside)
    assert (where >= -0.5 * CZII_VOXEL_SIZE).all()
    assert (where <= size - 0.5 * CZII_VOXEL_SIZE).all()
    # Other classes' picks stay where they were.
    apo = _of(truth_b, 'apo-ferritin')
    _, same = lc.check_and_centre(apo, tomo_b, like, {NOVEL: radius})
    assert np.array_equal(pk.positions(same), pk.positions(apo))


def test_clicks_off_centre_are_moved_to_their_particles(tomograms):
    # A hand clicks a slice off the particle's centre (here 0.4 radius);
    # training draws its positives where the clicks are.
    (runs, radius) = tomograms
    tomo_a, truth_a = runs['TS_a']
    tomo_b, truth_b = runs['TS_b']
    copies_a, copies_b = _of(truth_a, NOVEL), _of(truth_b, NOVEL)
    off_a = _moved(copies_a, 0.4 * radius)
    off_b = _moved(copies_b, 0.4 * radius)
    moved_a, empty, moved_b = lk.centre_clicks(
        [(tomo_a, off_a), (tomo_b, off_b.iloc[:0]), (tomo_b, off_b)], radius
    )
    assert empty.empty
    for moved, off, copies in (
        (moved_a, off_a, copies_a),
        (moved_b, off_b, copies_b),
    ):
        before = np.linalg.norm(
            pk.positions(off) - pk.positions(copies), axis=1
        )
        after = np.linalg.norm(
            pk.positions(moved) - pk.positions(copies), axis=1
        )
        assert np.median(after) < 0.5 * np.median(before), (before, after)
        assert moved.index.equals(off.index)
        assert (moved['particle_type'] == NOVEL).all()


def test_white_particles_are_recentred_on_their_own_contrast(
    tomograms, tmp_path
):
    # Some tomograms show proteins brighter than the ice (inverted for
    # display, or denoised so): the contrast's sign comes from the clicks.
    (runs, radius) = tomograms
    inverted = {}
    for run, (tomogram, truth) in runs.items():
        store = tmp_path / f'{run}.zarr'
        volume = np.asarray(tomogram.levels[0], dtype=np.float32)
        write_ome_zarr(store, -volume, CZII_VOXEL_SIZE)
        inverted[run] = (open_tomogram(store), truth)
    tomo_a, truth_a = inverted['TS_a']
    like = lk.learn_likeness([(tomo_a, _of(truth_a, NOVEL).iloc[:8])], radius)
    assert like.polarity == 1.0
    tomo_b, truth_b = inverted['TS_b']
    copies = _of(truth_b, NOVEL)
    error = _recentring_error(tomo_b, copies, radius, like.polarity)
    assert error[lk.RECENTRE] < 0.3 * error[0], error
    moved = _moved(_of(truth_b, NOVEL), 0.25 * radius)
    apo = _as(_of(truth_b, 'apo-ferritin'), NOVEL)
    liked = {NOVEL: like}
    assert lc.unlike(moved, tomo_b, liked, {NOVEL: radius}).mean() <= 0.2
    assert lc.unlike(apo, tomo_b, liked, {NOVEL: radius}).mean() >= 0.75


def test_the_profile_level_follows_the_class_radius(tomograms):
    (runs, _) = tomograms
    tomogram, _ = runs['TS_a']
    # Levels of 10, 20 and 40 Å: a 300 Å class needs 30 Å voxels at
    # most, a 60 Å class the finest level there is.
    assert [float(s[0]) for s in tomogram.scales[:3]] == pytest.approx(
        [CZII_VOXEL_SIZE, 2 * CZII_VOXEL_SIZE, 4 * CZII_VOXEL_SIZE]
    )
    assert profiles.level_for(tomogram, 300.0) == 1
    assert profiles.level_for(tomogram, 60.0) == 0


def test_predict_drops_unlike_picks_unless_told_not_to(
    tomograms, checkpoint, tmp_path
):
    from napari_cryopick.classes import CZII_CLASSES
    from napari_cryopick.cli import main
    from napari_cryopick.io.sources import read_picks
    from napari_cryopick.model.checkpoint import (
        load_checkpoint,
        save_checkpoint,
    )

    (runs, _) = tomograms
    tomo_a, truth_a = runs['TS_a']
    # A model whose ribosome class was learnt from clicks of the novel
    # protein: its (random) ribosome picks are mostly unlike them.
    ribosome = next(c for c in CZII_CLASSES if c.name == 'ribosome')
    clicks = _of(truth_a, NOVEL).iloc[:8]
    like = lk.learn_likeness([(tomo_a, clicks)], ribosome.radius)
    model = load_checkpoint(checkpoint)
    card = {**model.card.record, 'likeness': {'ribosome': like.to_dict()}}
    path = tmp_path / 'liked.safetensors'
    liked = save_checkpoint(path, model.network, card)
    source = str(runs['TS_b'][0].source)
    found = {}
    for option in ('--likeness-check', '--no-likeness-check'):
        out = tmp_path / option
        argv = ['predict', source, '--out', str(out), '--model', str(liked)]
        argv += ['--classes', 'ribosome', '--no-signal-check', option]
        assert main(argv) == 0
        found[option] = len(read_picks(out))
    assert found['--no-likeness-check'] > 0
    assert found['--likeness-check'] < 0.5 * found['--no-likeness-check']
