"""Tests of the CZII metric: hand-derived cases, a literal re-implementation
compared on random cases, the real CZII labels, and threshold search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from napari_cryopick.classes import CZII_CLASSES, ParticleClass
from napari_cryopick.errors import CryopickError
from napari_cryopick.metric import (
    TABLE_COLUMNS,
    best_thresholds,
    score_picks,
)
from napari_cryopick.metric_report import format_score_table
from napari_cryopick.picks import concat, empty_picks, make_picks

APO = 'apo-ferritin'
RADIUS = {c.name: c.radius for c in CZII_CLASSES}


def picks(run, cls, xyz, **columns):
    return make_picks(run, cls, np.asarray(xyz, dtype=float), **columns)


def row(result, name):
    table = result.table.set_index('particle_type')
    return table.loc[name]


def counts(result, name):
    r = row(result, name)
    return int(r.hit), int(r.fp), int(r.miss)


def case(cls, tp, fn, fp, run='A'):
    """References and candidates giving exactly ``tp``, ``fn``, ``fp``.

    References lie 1000 Å apart on x (far beyond any match radius); the
    first ``tp`` get one pick 5 Å off, and ``fp`` picks lie 50000 Å away.
    """
    ref_xyz = [(1000.0 * i, 0.0, 0.0) for i in range(tp + fn)]
    hits = [(1000.0 * i + 5.0, 0.0, 0.0) for i in range(tp)]
    far = [(1000.0 * i, 50000.0, 0.0) for i in range(fp)]
    return picks(run, cls, ref_xyz), picks(run, cls, hits + far)


# --- the COMPETITION.md §1.3 worked example -----------------------------


def worked_example_apo():
    # Experiment A: r1, r2, r3; c1 15 Å from r1, c2 24.5 Å from r1
    # (duplicate), c3 40 Å from r2 (> 30 Å), c4 far from all.
    ref_a = picks(
        'A', APO, [(1000, 1000, 500), (2000, 1000, 500), (3000, 3000, 800)]
    )
    # Experiment B: 2 apo references and no apo candidates.
    ref_b = picks('B', APO, [(100, 100, 100), (4000, 4000, 400)])
    cand = picks(
        'A',
        APO,
        [
            (1010, 1010, 505),
            (1020, 990, 510),
            (2040, 1000, 500),
            (5000, 5000, 900),
        ],
    )
    return concat([ref_a, ref_b]), cand


def test_worked_example_apo_counts_and_f4():
    reference, candidate = worked_example_apo()
    result = score_picks(reference, candidate)
    apo = row(result, APO)
    # A: hit set {r1}: TP 1, FP 4 - 1 = 3, FN 3 - 1 = 2; B: FN 2.
    assert (apo.predicted, apo.true) == (4, 5)
    assert counts(result, APO) == (1, 3, 4)
    # P = 1/4, R = 1/5, F4 = 17 / (17 + 16*4 + 3) = 17/84 = 0.2024
    assert apo.precision == pytest.approx(0.25, abs=1e-12)
    assert apo.recall == pytest.approx(0.20, abs=1e-12)
    assert apo.fbeta == pytest.approx(17 / 84, abs=1e-12)
    assert round(apo.fbeta, 4) == 0.2024
    # Only apo scores here, weight 1 of 7.
    assert result.score == pytest.approx(17 / 84 / 7, abs=1e-12)
    # c1 (15 Å) is r1's nearest pick; c2 is the duplicate.
    assert result.candidate_hit.tolist() == [True, False, False, False]
    assert result.reference_found.tolist() == [True] + [False] * 4
    assert result.candidate_scored.all()


def test_worked_example_final_score():
    # F4 = 17TP / (17TP + 16FN + FP), so:
    # βgal TP1 FN1 FP1: 17/34 = 0.50; ribo TP9 FN1 FP1: 153/170 = 0.90;
    # thyro TP3 FN2 FP2: 51/85 = 0.60; VLP TP19 FN1 FP1: 323/340 = 0.95.
    reference, candidate = worked_example_apo()
    parts = [
        case('beta-galactosidase', 1, 1, 1),
        case('ribosome', 9, 1, 1),
        case('thyroglobulin', 3, 2, 2),
        case('virus-like-particle', 19, 1, 1),
    ]
    reference = concat([reference] + [p[0] for p in parts])
    candidate = concat([candidate] + [p[1] for p in parts])
    result = score_picks(reference, candidate)
    expected = [17 / 84, 0.0, 0.50, 0.90, 0.60, 0.95]
    np.testing.assert_allclose(result.table['fbeta'], expected, atol=1e-12)
    # (0.2024 + 2*0.50 + 0.90 + 2*0.60 + 0.95) / 7 = 4.2524 / 7 = 0.6075
    assert result.score == pytest.approx(
        (17 / 84 + 1.0 + 0.9 + 1.2 + 0.95) / 7, abs=1e-12
    )
    assert round(result.score, 4) == 0.6075
    assert format_score_table(result).splitlines()[-1] == 'score: 0.6075'


@pytest.mark.parametrize(
    ('tp', 'fn', 'fp'), [(1, 0, 0), (7, 3, 11), (2, 5, 0), (4, 0, 9)]
)
def test_f4_identity(tp, fn, fp):
    result = score_picks(*case('ribosome', tp, fn, fp))
    assert counts(result, 'ribosome') == (tp, fp, fn)
    f4 = 17 * tp / (17 * tp + 16 * fn + fp)
    assert row(result, 'ribosome').fbeta == pytest.approx(f4, abs=1e-12)
    assert result.candidate_hit.sum() == tp


def test_two_picks_on_one_particle_are_one_tp_one_fp():
    reference = picks('A', APO, [(500, 500, 500)])
    candidate = picks('A', APO, [(510, 500, 500), (505, 500, 500)])
    result = score_picks(reference, candidate)
    assert counts(result, APO) == (1, 1, 0)
    # P 1/2, R 1: F4 = 17 / (17 + 0 + 1) = 17/18
    assert row(result, APO).fbeta == pytest.approx(17 / 18, abs=1e-12)
    # The nearer pick (5 Å) is the hit.
    assert result.candidate_hit.tolist() == [False, True]


@pytest.mark.parametrize('axis', [0, 1, 2])
@pytest.mark.parametrize(
    ('name', 'match_radius'),
    [(APO, 30.0), ('beta-amylase', 32.5), ('ribosome', 75.0)],
)
def test_boundary_is_inclusive(axis, name, match_radius):
    # Match radius = radius x 0.5, all exact in binary floating point.
    centre = np.array([1000.0, 2000.0, 500.0])
    at_r, beyond = centre.copy(), centre.copy()
    at_r[axis] += match_radius
    beyond[axis] += match_radius + 1e-6
    reference = picks(['A', 'B'], name, [centre, centre])
    candidate = picks(['A', 'B'], name, [at_r, beyond])
    result = score_picks(reference, candidate)
    assert result.candidate_hit.tolist() == [True, False]
    assert result.reference_found.tolist() == [True, False]
    assert counts(result, name) == (1, 1, 1)


def test_distance_multiplier_scales_the_radius():
    reference = picks('A', APO, [(0, 0, 0)])
    candidate = picks('A', APO, [(45, 0, 0)])
    assert score_picks(reference, candidate).candidate_hit.sum() == 0
    # 60 Å x 0.75 = 45 Å
    wide = score_picks(reference, candidate, distance_multiplier=0.75)
    assert wide.candidate_hit.tolist() == [True]


def test_classes_empty_on_either_side():
    reference = concat(
        [
            picks('A', 'ribosome', [(0, 0, 0), (900, 0, 0)]),
            case(APO, 2, 0, 0)[0],
        ]
    )
    candidate = concat(
        [picks('A', 'thyroglobulin', [(0, 0, 0)]), case(APO, 2, 0, 0)[1]]
    )
    result = score_picks(reference, candidate)
    # Thyroglobulin: no reference at all, so its pick is a FP (F 0).
    assert counts(result, 'thyroglobulin') == (0, 1, 0)
    # Ribosome: no candidates, so both references are misses (F 0).
    assert counts(result, 'ribosome') == (0, 0, 2)
    assert row(result, 'thyroglobulin').fbeta == 0.0
    assert row(result, 'ribosome').fbeta == 0.0
    assert result.candidate_scored.all()
    # Apo is perfect: F 1, weight 1 of 7.
    assert result.score == pytest.approx(1 / 7, abs=1e-12)


def test_empty_tables():
    reference, candidate = case('ribosome', 3, 0, 2)
    nothing = score_picks(reference, empty_picks())
    assert counts(nothing, 'ribosome') == (0, 0, 3)
    assert nothing.score == 0.0
    no_reference = score_picks(empty_picks(), candidate)
    # No reference runs: every candidate is ignored, not counted.
    assert not no_reference.candidate_scored.any()
    assert no_reference.table['predicted'].sum() == 0
    both = score_picks(empty_picks(), empty_picks())
    assert both.score == 0.0
    assert list(both.table.columns) == list(TABLE_COLUMNS)
    assert len(both.table) == len(CZII_CLASSES)


def test_runs_missing_on_either_side():
    ref_a, cand_a = case(APO, 2, 0, 0, run='A')
    ref_b = picks('B', APO, [(0, 0, 0)])
    # Run C is not in the reference: its picks are ignored.
    cand_c = picks('C', APO, [(0, 0, 0), (7, 7, 7)])
    candidate = concat([cand_a, cand_c])
    result = score_picks(concat([ref_a, ref_b]), candidate)
    # A: 2 TP; B (no candidates): 1 FN; C: nothing.
    assert counts(result, APO) == (2, 0, 1)
    assert row(result, APO).predicted == 2
    assert result.candidate_scored.tolist() == [True, True, False, False]
    assert result.candidate_hit.tolist() == [True, True, False, False]


def test_unknown_classes_are_ignored_on_both_sides():
    reference = concat(
        [case(APO, 1, 0, 0)[0], picks('A', 'membrane', [(0, 0, 0)])]
    )
    candidate = concat(
        [case(APO, 1, 0, 0)[1], picks('A', 'membrane', [(0, 0, 0)])]
    )
    result = score_picks(reference, candidate)
    assert result.candidate_scored.tolist() == [True, False]
    assert result.candidate_hit.tolist() == [True, False]
    assert result.reference_found.tolist() == [True, False]
    assert result.table['true'].sum() == 1
    assert result.table['predicted'].sum() == 1


def test_beta_amylase_weight_zero_does_not_move_the_score():
    reference, candidate = case('thyroglobulin', 3, 1, 2)
    base = score_picks(reference, candidate).score
    amylase_ref, amylase_cand = case('beta-amylase', 1, 6, 9)
    result = score_picks(
        concat([reference, amylase_ref]), concat([candidate, amylase_cand])
    )
    assert row(result, 'beta-amylase').fbeta > 0
    assert row(result, 'beta-amylase').weight == 0
    assert result.score == base
    # Thyroglobulin TP3 FN1 FP2: F4 = 51 / (51 + 16 + 2) = 51/69, w 2 of 7.
    assert base == pytest.approx(2 * 51 / 69 / 7, abs=1e-12)


def test_one_pick_within_reach_of_two_references_counts_twice():
    # References 20 Å apart, one pick between: Kaggle counts 2 TP and
    # FP = 1 - 2 = -1; the display marks the one pick once.
    reference = picks('A', APO, [(0, 0, 0), (20, 0, 0)])
    candidate = picks('A', APO, [(10, 0, 0)])
    result = score_picks(reference, candidate)
    assert counts(result, APO) == (2, -1, 0)
    assert result.reference_found.tolist() == [True, True]
    assert result.candidate_hit.tolist() == [True]


def test_rows_are_aligned_by_position_not_index():
    reference, candidate = case(APO, 2, 1, 2)
    candidate.index = [10, 3, 7, 0]
    result = score_picks(reference, candidate)
    assert result.candidate_hit.tolist() == [True, True, False, False]


def test_format_score_table():
    result = score_picks(*case('ribosome', 9, 1, 1), beta=2.0)
    lines = format_score_table(result).splitlines()
    assert lines[0].split() == [
        'class',
        'predicted',
        'true',
        'hit',
        'miss',
        'FP',
        'precision',
        'recall',
        'F2',
        'weight',
    ]
    assert len(lines) == len(CZII_CLASSES) + 2
    assert len({len(line) for line in lines[:-1]}) == 1
    ribosome = next(line for line in lines if line.startswith('ribosome'))
    # P = R = 0.9, F2 = 0.9; weight 1
    assert ribosome.split() == [
        'ribosome',
        '10',
        '10',
        '9',
        '1',
        '1',
        '0.9000',
        '0.9000',
        '0.9000',
        '1',
    ]
    assert lines[-1] == f'score: {result.score:.4f}'


def test_bad_input_raises_cryopick_error():
    reference, candidate = case(APO, 1, 0, 0)
    with pytest.raises(CryopickError, match='candidate picks lack'):
        score_picks(reference, candidate.drop(columns='z'))
    with pytest.raises(CryopickError, match='repeats a name'):
        score_picks(reference, candidate, classes=CZII_CLASSES * 2)
    with pytest.raises(CryopickError, match='multiplier'):
        score_picks(reference, candidate, distance_multiplier=-1)
    with pytest.raises(CryopickError, match='score'):
        best_thresholds(reference, candidate.drop(columns='score'))


# --- a literal implementation, compared on random cases -----------------


def literal_score(reference, candidate, classes, multiplier, beta):
    """Loops, pairwise distances and sets, straight from the rules."""
    ref_run = reference['run'].to_numpy()
    ref_cls = reference['particle_type'].to_numpy()
    ref_xyz = reference[['x', 'y', 'z']].to_numpy()
    cand_run = candidate['run'].to_numpy()
    cand_cls = candidate['particle_type'].to_numpy()
    cand_xyz = candidate[['x', 'y', 'z']].to_numpy()
    hit = np.zeros(len(candidate), dtype=bool)
    found = np.zeros(len(reference), dtype=bool)
    scored = np.zeros(len(candidate), dtype=bool)
    rows = []
    for particle in classes:
        tp_sum = fp_sum = fn_sum = 0
        for run in set(ref_run):
            r_rows = np.flatnonzero(
                (ref_run == run) & (ref_cls == particle.name)
            )
            c_rows = np.flatnonzero(
                (cand_run == run) & (cand_cls == particle.name)
            )
            scored[c_rows] = True
            radius = particle.radius * multiplier
            # Squared distance against radius squared: what the KD tree
            # compares (points on a sphere differ only in the last ulp).
            d2 = ((cand_xyz[c_rows, None] - ref_xyz[None, r_rows]) ** 2).sum(
                -1
            )
            matched = set()
            for j in range(len(r_rows)):
                within = [
                    i for i in range(len(c_rows)) if d2[i, j] <= radius**2
                ]
                if within:
                    matched.add(j)
                    found[r_rows[j]] = True
                    nearest = min(within, key=lambda i, j=j: (d2[i, j], i))
                    hit[c_rows[nearest]] = True
            tp_sum += len(matched)
            fp_sum += len(c_rows) - len(matched)
            fn_sum += len(r_rows) - len(matched)
        p = tp_sum / (tp_sum + fp_sum) if tp_sum + fp_sum > 0 else 0.0
        r = tp_sum / (tp_sum + fn_sum) if tp_sum + fn_sum > 0 else 0.0
        f = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r > 0 else 0.0
        predicted, true = tp_sum + fp_sum, tp_sum + fn_sum
        rows.append(
            (predicted, true, tp_sum, fn_sum, fp_sum, p, r, f, particle.weight)
        )
    total = sum(c.weight for c in classes)
    score = sum(x[-2] * x[-1] for x in rows) / total
    return rows, score, hit, found, scored


CUSTOM = (
    ParticleClass('small', 1, 20.0, 3.0),
    ParticleClass('zero', 2, 50.0, 0.0),
    ParticleClass('big', 3, 110.0, 0.5),
)


def random_case(rng):
    classes = CZII_CLASSES if rng.random() < 0.5 else CUSTOM
    runs = [f'TS_{i}' for i in range(rng.integers(0, 4))]
    multiplier = float(rng.choice([0.5, 0.5, 1.0, 0.3]))
    ref_parts, cand_parts = [], []
    for run in runs:
        for particle in classes:
            n = int(rng.choice([0, 0, 1, 3, 8]))
            xyz = rng.uniform(0, 600, (n, 3))
            ref_parts.append(picks(run, particle.name, xyz))
            r = particle.radius * multiplier
            cand_parts.append(
                picks(run, particle.name, near_picks(rng, xyz, r))
            )
    junk = rng.uniform(0, 600, (int(rng.integers(0, 5)), 3))
    cand_parts.append(picks('elsewhere', CUSTOM[0].name, junk))
    cand_parts.append(picks(runs[0] if runs else 'x', 'membrane', junk))
    reference = concat(ref_parts).sample(frac=1, random_state=rng)
    candidate = concat(cand_parts).sample(frac=1, random_state=rng)
    beta = float(rng.choice([4.0, 4.0, 1.0, 0.5]))
    return reference, candidate, classes, multiplier, beta


def near_picks(rng, ref_xyz, r):
    """Picks at, near and past ``r`` from references, duplicates, noise."""
    out = [rng.uniform(0, 600, (int(rng.integers(0, 4)), 3))]
    for centre in ref_xyz:
        kind = rng.integers(0, 6)
        if kind == 0:  # exactly r along one axis (exact in binary)
            out.append(centre + np.eye(3)[rng.integers(0, 3)] * r)
        elif kind == 1:  # just inside or outside the ball
            direction = rng.normal(size=3)
            factor = 1 + rng.choice([-1e-9, 1e-9])
            out.append(
                centre + direction / np.linalg.norm(direction) * r * factor
            )
        elif kind in (2, 3):  # one or more picks within 1.5 r
            k = rng.integers(1, 4)
            out.append(centre + rng.uniform(-0.9, 0.9, (k, 3)) * r)
        elif kind == 4:  # an exact duplicate pick
            out.append(np.stack([centre, centre]) + 1.0)
    return np.vstack([np.reshape(p, (-1, 3)) for p in out])


@pytest.mark.parametrize('seed', range(240))
def test_matches_literal_implementation(seed):
    rng = np.random.default_rng(seed)
    reference, candidate, classes, multiplier, beta = random_case(rng)
    result = score_picks(reference, candidate, classes, multiplier, beta)
    rows, score, hit, found, scored = literal_score(
        reference, candidate, classes, multiplier, beta
    )
    expected = np.array(rows, dtype=float)
    got = result.table[list(TABLE_COLUMNS[1:])].to_numpy(dtype=float)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert result.score == pytest.approx(score, rel=0, abs=1e-9)
    assert result.table['particle_type'].tolist() == [c.name for c in classes]
    np.testing.assert_array_equal(result.candidate_hit, hit)
    np.testing.assert_array_equal(result.reference_found, found)
    np.testing.assert_array_equal(result.candidate_scored, scored)


# --- the real CZII training labels ---------------------------------------


@pytest.fixture(scope='module')
def czii_labels(czii_csv):
    labels = pd.read_csv(czii_csv).rename(columns={'experiment': 'run'})
    xyz = labels[['x', 'y', 'z']].to_numpy()
    return make_picks(labels['run'], labels['particle_type'], xyz)


def moved(labels, fraction, directions):
    radius = labels['particle_type'].map(RADIUS)
    shift = directions * (fraction * radius.to_numpy())[:, None]
    xyz = labels[['x', 'y', 'z']].to_numpy() + shift
    return make_picks(labels['run'], labels['particle_type'], xyz)


def random_directions(n, seed=0):
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_real_labels_against_themselves(czii_labels):
    result = score_picks(czii_labels, czii_labels)
    assert result.score == 1.0
    assert result.candidate_hit.all()
    assert result.reference_found.all()
    assert (result.table['fp'] == 0).all()


def test_real_labels_moved_049_radius_score_one(czii_labels):
    directions = random_directions(len(czii_labels))
    result = score_picks(czii_labels, moved(czii_labels, 0.49, directions))
    assert result.score == 1.0
    assert result.candidate_hit.all()


def test_real_labels_moved_051_radius_score_zero(czii_labels):
    directions = random_directions(len(czii_labels))
    # The labels hold one apo-ferritin pair 29.5 Å (0.49 r) apart in
    # TS_73_6; a random 0.51 r step can land within 0.5 r of the other
    # one. Those picks step straight away from their neighbour instead.
    redirected = 0
    for _, group in czii_labels.groupby(['run', 'particle_type']):
        xyz = group[['x', 'y', 'z']].to_numpy()
        radius = RADIUS[group['particle_type'].iloc[0]]
        dist, nearest = cKDTree(xyz).query(xyz, k=[2])
        close = np.flatnonzero(dist[:, 0] < 1.01 * radius)
        away = xyz[close] - xyz[nearest[close, 0]]
        away /= np.linalg.norm(away, axis=1, keepdims=True)
        directions[group.index[close]] = away
        redirected += close.size
    assert redirected == 2
    result = score_picks(czii_labels, moved(czii_labels, 0.51, directions))
    assert result.score == 0.0
    assert not result.candidate_hit.any()
    np.testing.assert_array_equal(result.table['fp'], result.table['true'])


# --- best thresholds ------------------------------------------------------


def threshold_case():
    rng = np.random.default_rng(7)
    parts_ref, parts_cand = [], []
    for run in ('A', 'B'):
        for name in (APO, 'ribosome'):
            ref_xyz = rng.uniform(0, 5000, (12, 3))
            parts_ref.append(picks(run, name, ref_xyz))
            hits = ref_xyz[:9] + rng.uniform(-5, 5, (9, 3))
            dupes = ref_xyz[:4] + 8.0
            fps = rng.uniform(0, 5000, (15, 3))
            xyz = np.vstack([hits, dupes, fps])
            # True picks score higher on average, with overlap; scores
            # are rounded so that some repeat.
            score = np.concatenate(
                [rng.uniform(0.3, 1.0, 9), rng.uniform(0, 0.8, 19)]
            ).round(2)
            parts_cand.append(picks(run, name, xyz, score=score))
    return concat(parts_ref), concat(parts_cand)


def f_at(reference, candidate, name, threshold, beta):
    kept = candidate[candidate['score'] >= threshold]
    return row(score_picks(reference, kept, beta=beta), name).fbeta


@pytest.mark.parametrize('beta', [4.0, 1.0])
def test_best_thresholds_maximise_f(beta):
    reference, candidate = threshold_case()
    best = best_thresholds(reference, candidate, beta=beta)
    for name in (APO, 'ribosome'):
        scores = candidate.loc[candidate['particle_type'] == name, 'score']
        f = {t: f_at(reference, candidate, name, t, beta) for t in set(scores)}
        top = max(f.values())
        assert f[best[name]] == pytest.approx(top, abs=1e-12)
        # Among equal F the highest threshold (fewest picks) wins.
        assert best[name] == max(t for t, v in f.items() if v == top)
    assert np.isnan(best['thyroglobulin'])


def test_best_threshold_skips_nan_scores_and_unscored_runs():
    reference, candidate = case(APO, 3, 0, 0)
    fp = picks('A', APO, [(0, 9000, 0)], score=0.9)
    other = picks('Z', APO, [(0, 0, 0)], score=0.95)
    candidate['score'] = [0.5, np.nan, 0.7]
    best = best_thresholds(reference, concat([candidate, fp, other]))
    # 0.5: 2 TP, 1 FP, 1 FN (the NaN pick's reference): F4 = 34/51;
    # 0.7: 1 TP, 1 FP, 2 FN: 17/50; 0.9: no TP, F4 = 0.
    assert best[APO] == 0.5


def test_best_threshold_tolerance_prefers_lower_thresholds():
    # One ribosome reference; candidates: a hit at 0.9 and a false
    # positive at 0.5. t = 0.9: TP 1, FP 0, F4 = 1. t = 0.5: TP 1, FP 1,
    # F4 = 17 / 18 = 0.944 (17TP / (17TP + 16FN + FP)).
    reference = make_picks('r', 'ribosome', [[1000.0, 1000.0, 500.0]])
    candidate = make_picks(
        'r',
        'ribosome',
        [[1000.0, 1000.0, 500.0], [3000.0, 3000.0, 500.0]],
        score=[0.9, 0.5],
    )
    exact = best_thresholds(reference, candidate)['ribosome']
    assert exact == 0.9
    loose = best_thresholds(reference, candidate, tolerance=0.06)
    assert loose['ribosome'] == 0.5
    tight = best_thresholds(reference, candidate, tolerance=0.05)
    assert tight['ribosome'] == 0.9
