"""The second test of a learnt class: learnt against what else was found.

Two small phantoms with a planted 120 Å procedural protein among the
lysate's small unnamed proteins (clutter) and apo-ferritins. The
candidates are every dark blob of about the class's size, as a network
taught by a few clicks proposes them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_VOXEL_SIZE
from napari_cryopick.coords import voxel_zyx_to_angstrom_xyz
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import open_tomogram
from napari_cryopick.model import gate
from napari_cryopick.model import likeness as lk
from napari_cryopick.model import likeness_check as lc
from napari_cryopick.model.checkpoint import ModelCard
from tests.conftest import bare_params, tiny_card, with_noise

NOVEL = 'novel'


@pytest.fixture(scope='module')
def cluttered(tmp_path_factory):
    """Two 64 x 192 x 192 phantoms: 16 novel, 6 apo-ferritin, clutter."""
    from napari_cryopick.simulate.crowding import pseudo_protein
    from napari_cryopick.simulate.params import PhantomLook
    from napari_cryopick.simulate.phantom import simulate_tomogram
    from napari_cryopick.simulate.templates import template_from_density

    box = pseudo_protein(np.random.default_rng(77), 120.0, CZII_VOXEL_SIZE)
    template = template_from_density(NOVEL, box, CZII_VOXEL_SIZE)
    radius = round(template.radius, 1)
    root = tmp_path_factory.mktemp('gate')
    out = {}
    for index, run in enumerate(('TS_a', 'TS_b')):
        params = bare_params(
            (64, 192, 192),
            {'apo-ferritin': 6},
            PhantomLook(noise=0.35),
            slab=(0.05, 0.95),
        )
        phantom = simulate_tomogram(
            replace(params, clutter=3.0),
            300 + index,
            run=run,
            novel={NOVEL: (template, 16)},
        )
        store = root / f'{run}.zarr'
        write_ome_zarr(store, phantom.volume, CZII_VOXEL_SIZE)
        tomogram = open_tomogram(store)
        candidates = _blobs(phantom.volume, run, radius)
        out[run] = (tomogram, phantom.picks, candidates)
    return out, radius


def _blobs(volume, run, radius) -> pd.DataFrame:
    """Every dark blob about the class's size: what a weak network finds."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(
        -volume.astype(np.float32), radius / CZII_VOXEL_SIZE / 2
    )
    peak = smooth == ndimage.maximum_filter(smooth, size=5)
    peak &= smooth > np.quantile(smooth, 0.98)
    peak[:4], peak[-4:] = False, False
    peak[:, :4], peak[:, -4:], peak[:, :, :4], peak[:, :, -4:] = (False,) * 4
    zyx = np.argwhere(peak).astype(float)
    table = pd.DataFrame(
        voxel_zyx_to_angstrom_xyz(zyx, CZII_VOXEL_SIZE),
        columns=['x', 'y', 'z'],
    )
    return pk.normalize(
        table.assign(run=run, particle_type=NOVEL, score=smooth[peak])
    )


def _true(truth, table, radius) -> np.ndarray:
    """Picks within the metric's reach of a copy of the planted protein."""
    copies = pk.positions(truth[truth['particle_type'] == NOVEL])
    gap = np.linalg.norm(
        pk.positions(table)[:, None] - copies[None], axis=2
    ).min(axis=1)
    return gap <= 0.5 * radius


def _learnt(cluttered):
    """Likeness from 8 clicks on TS_a, the gate learnt there.

    Also the candidates on TS_a the profile check kept, and those the
    gate kept of them.
    """
    runs, radius = cluttered
    tomo_a, truth_a, found_a = runs['TS_a']
    clicks = pk.normalize(truth_a[truth_a['particle_type'] == NOVEL][:8])
    like = lk.learn_likeness([(tomo_a, clicks)], radius)
    drop, found_a = lc.check_and_centre(
        found_a, tomo_a, {NOVEL: like}, {NOVEL: radius}
    )
    run = SimpleNamespace(tomogram=tomo_a, picks=clicks)
    gated, kept = gate.gate_learnt(
        {NOVEL: like}, [run], found_a[~drop], {NOVEL: radius}
    )
    return like, gated[NOVEL], found_a[~drop], kept


def test_the_gate_drops_clutter_the_profile_check_keeps(cluttered):
    runs, radius = cluttered
    like, gated, _, _ = _learnt(cluttered)
    assert gated.weights is not None
    assert gated.gate is not None
    tomo_b, truth_b, found_b = runs['TS_b']
    kept = {}
    for name, learnt in (('check', like), ('gate', gated)):
        drop, moved = lc.check_and_centre(
            found_b, tomo_b, {NOVEL: learnt}, {NOVEL: radius}
        )
        true = _true(truth_b, moved[~drop], radius)
        kept[name] = (true.sum(), (~true).sum())
    # The profile check alone keeps most of the clutter of the size.
    assert kept['check'][0] >= 12, kept
    assert kept['check'][1] >= 40, kept
    assert kept['gate'][1] <= 0.6 * kept['check'][1], kept
    assert kept['gate'][0] >= 0.8 * kept['check'][0], kept


def test_the_gate_filters_the_candidates_it_learnt_from(cluttered):
    runs, radius = cluttered
    _, gated, checked, kept = _learnt(cluttered)
    tomo_a, truth_a, _ = runs['TS_a']
    before, after = (
        _true(truth_a, checked, radius),
        _true(truth_a, kept, radius),
    )
    assert after.sum() >= 0.9 * before.sum() >= 12
    assert (~after).sum() <= 0.5 * (~before).sum()
    # Other classes' candidates pass through untouched.
    others = kept.assign(particle_type='apo-ferritin')
    run = SimpleNamespace(tomogram=tomo_a, picks=truth_a.iloc[:0])
    _, through = gate.gate_learnt(
        {NOVEL: gated}, [run], others, {NOVEL: radius}
    )
    pd.testing.assert_frame_equal(through, others.reset_index(drop=True))


def test_the_gate_learns_with_the_clicked_tomograms_check(cluttered):
    _, radius = cluttered
    # The card's check forgives another tomogram's contrast; in the
    # clicked tomogram, where the gate learns, the contrast is the
    # clicks' and the plain check chooses what it learns against.
    like, _, _, _ = _learnt(cluttered)
    across = lk.across_tomograms(like)
    assert (like.scale, across.scale) == (1.0, lk.CONTRAST)
    assert lk.in_clicked_tomograms(across).scale == 1.0
    plain, wide = gate.for_the_gate(like), gate.for_the_gate(across)
    assert (plain.limit, plain.scale) == (wide.limit, wide.scale)
    assert plain.scale == 1.0
    # Scaling can only bring a pick's profile nearer a click's.
    tomo_b, _, found_b = cluttered[0]['TS_b']
    read = lc.measure_picks(found_b, tomo_b, {NOVEL: like}, {NOVEL: radius})
    profiles = read[NOVEL].profiles
    assert np.all(across.distance(profiles) <= like.distance(profiles) + 1e-9)


def test_no_gate_without_spreads_or_enough_others(cluttered):
    like, _, _, _ = _learnt(cluttered)
    few = np.zeros((gate.MIN_OTHERS - 1, 2 * len(like.profiles[0])))
    assert gate.learn_gate(like, few) is like
    old = replace(like, spreads=None)
    assert gate.learn_gate(old, np.zeros((50, few.shape[1]))) is old
    assert not old.below_gate(np.zeros((3, few.shape[1]))).any()


def test_the_gate_goes_through_the_model_card(cluttered):
    _, gated, _, _ = _learnt(cluttered)
    card = tiny_card(likeness={NOVEL: gated.to_dict()})
    read = ModelCard.from_dict(json.loads(json.dumps(card))).likeness[NOVEL]
    assert read.gate == pytest.approx(gated.gate)
    assert np.allclose(read.weights, gated.weights)
    assert np.allclose(read.spreads, gated.spreads, atol=1e-4)
    # Cards written before the gate have no second test.
    for key in ('weights', 'gate', 'spreads'):
        del card['likeness'][NOVEL][key]
    assert ModelCard.from_dict(card).likeness[NOVEL].gate is None
    card['likeness'][NOVEL].update(weights=[1.0, 2.0], gate=0.0)
    with pytest.raises(CryopickError, match='malformed model card'):
        ModelCard.from_dict(card, 'bad.safetensors')


def test_only_gated_classes_thresholds_are_relaxed(cluttered):
    like, gated, _, _ = _learnt(cluttered)
    thresholds = {'apo-ferritin': 0.4, NOVEL: 0.2, 'spike': 0.08}
    relaxed = gate.relax_thresholds(
        thresholds, {NOVEL: gated, 'spike': replace(gated), 'old': like}
    )
    assert relaxed[NOVEL] == pytest.approx(gate.RELAX * 0.2)
    # Never under the lowest threshold clicks may set.
    assert relaxed['spike'] == pytest.approx(max(0.05, gate.RELAX * 0.08))
    # Classes not learnt from clicks, or without a gate, are left alone.
    assert relaxed['apo-ferritin'] == 0.4
    assert gate.relax_thresholds(thresholds, {NOVEL: like}) == thresholds
    assert thresholds[NOVEL] == 0.2  # the input is not changed


def test_the_cards_gate_reads_a_fainter_pick_at_the_clicks_contrast(
    cluttered,
):
    # The gate's weights were learnt in the clicked tomogram. A copy in a
    # fainter tomogram has a lower profile (its spreads are mostly
    # noise): the card's gate brings the profile back to the clicks'
    # height, within the contrast the limit forgives.
    _, gated, _, _ = _learnt(cluttered)
    across = lk.across_tomograms(gated)
    shells = gated.profiles.shape[1]
    clicks = lk.descriptors(gated.profiles, gated.spreads)
    faint = clicks.copy()
    faint[:, :shells] *= 0.85
    assert np.allclose(across.contrast(faint[:, :shells]), 0.85)
    assert np.array_equal(across.below_gate(faint), gated.below_gate(clicks))
    scores = faint @ gated.weights
    assert not np.allclose(scores, clicks @ gated.weights)
    # Past the bound only the bound is forgiven; the plain check (the
    # clicked tomograms', and older cards') reads profiles as they are.
    dim = clicks.copy()
    dim[:, :shells] *= 0.5
    fit, _ = lk.fitted(dim[:, :shells], gated.profiles, lk.CONTRAST)
    assert np.allclose(fit, 1 / lk.CONTRAST)
    seen = across.contrast(dim[:, :shells])
    assert np.all((seen >= 1 / lk.CONTRAST) & (seen <= lk.CONTRAST))
    assert np.array_equal(gated.contrast(dim[:, :shells]), np.ones(len(dim)))
    assert np.array_equal(gated.below_gate(faint), scores < gated.gate)


def test_the_cards_gate_keeps_more_copies_in_a_noisier_tomogram(
    cluttered, tmp_path
):
    # B with noise of its own spread added: its copies' profiles are
    # lower than the clicks' in A, and the plain gate drops most of them.
    runs, radius = cluttered
    _, gated, _, _ = _learnt(cluttered)
    tomo_b, truth_b, found_b = runs['TS_b']
    noisy = with_noise(tomo_b, 1.0, tmp_path / 'TS_b.zarr')
    copies = pk.normalize(truth_b[truth_b['particle_type'] == NOVEL])
    others = found_b[~_true(truth_b, found_b, radius)]
    dropped = {
        like.scale: [
            lc.unlike(table, noisy, {NOVEL: like}, {NOVEL: radius}).mean()
            for table in (copies, others)
        ]
        for like in (gated, lk.across_tomograms(gated))
    }
    plain, card = dropped[1.0], dropped[lk.CONTRAST]
    assert card[0] <= plain[0] - 0.15, dropped
    assert card[1] >= 0.85, dropped
