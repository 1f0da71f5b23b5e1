"""The Qt-free picking session: thresholds, pick origins, undo."""

import numpy as np
import pytest

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.metric import score_picks
from napari_cryopick.session import PickSession


def _candidates(n=10, name='ribosome', seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0, 2000, size=(n, 3))
    scores = np.linspace(0.05, 0.95, n)
    return pk.make_picks('r', name, xyz, score=scores, origin='model')


@pytest.fixture
def session():
    s = PickSession('r', CZII_CLASSES)
    s.set_candidates(_candidates(), {'ribosome': 0.5})
    return s


def test_thresholds_filter_without_losing_candidates(session):
    assert len(session.table) == 10
    assert len(session.visible('ribosome')) == 5
    session.set_threshold('ribosome', 0.0)
    assert len(session.visible('ribosome')) == 10
    session.set_threshold('ribosome', 1.0)
    assert len(session.visible()) == 0
    assert len(session.table) == 10


def test_sync_class_tracks_origins_and_negatives(session):
    shown = session.visible('ribosome')
    uids = shown.index.to_numpy()
    xyz = pk.positions(shown).copy()
    xyz[0] += 50.0
    # Delete the second point, move the first, add one.
    layer_uids = np.r_[uids[[0]], uids[2:], -1]
    layer_xyz = np.vstack([xyz[[0]], xyz[2:], [[1.0, 2.0, 3.0]]])
    events = []
    session.changed.connect(events.append)
    out = session.sync_class('ribosome', layer_uids, layer_xyz)
    assert events == [{'ribosome'}]
    assert out[-1] >= 10
    prov = session.table['origin']
    assert prov[uids[0]] == 'moved'
    assert prov[uids[1]] == 'deleted'
    assert prov[out[-1]] == 'user'
    assert len(session.negatives()) == 1
    # Every model candidate is a proposal, deleted or not; the user's
    # addition is not.
    assert len(session.proposals()) == 10
    picks = session.picks()
    assert len(picks) == 5
    assert set(picks['origin']) == {'model', 'moved', 'user'}
    # Moved and added picks stay shown above any threshold.
    session.set_threshold('ribosome', 1.0)
    assert len(session.visible()) == 2
    # Nothing changed: no event, no undo step.
    session.set_threshold('ribosome', 0.5)
    events.clear()
    session.sync_class('ribosome', out, layer_xyz)
    assert events == []


def test_move_class_keep_delete_and_undo(session):
    uids = session.visible('ribosome').index.to_numpy()
    session.move_class(uids[:2], 'apo-ferritin')
    assert len(session.visible('apo-ferritin')) == 2
    assert set(session.table.loc[uids[:2], 'origin']) == {'moved'}
    session.set_origin(uids[2:3], 'kept')
    assert session.table.loc[uids[2], 'origin'] == 'kept'
    assert uids[2] not in session.review_queue().index
    session.set_origin(uids[3:4], 'deleted')
    assert len(session.visible()) == 4
    assert session.undo()
    assert session.undo()
    assert session.undo()
    assert len(session.visible('ribosome')) == 5
    assert set(session.table['origin']) == {'model'}


def test_deleting_an_added_pick_forgets_it(session):
    uids = session.add(pk.make_picks('r', 'ribosome', [[0.0, 0.0, 0.0]]))
    session.set_origin(uids, 'deleted')
    assert uids[0] not in session.table.index
    assert len(session.negatives()) == 0


def test_review_queue_is_least_confident_first(session):
    session.set_threshold('ribosome', 0.0)
    scores = session.review_queue()['score'].to_numpy()
    assert (np.diff(scores) >= 0).all()


def test_an_edit_among_5000_picks_rescores():
    # Its speed is measured by benchmarks, not asserted here: a loaded
    # machine made the old 0.1 s limit fail at random.
    session = PickSession('r', CZII_CLASSES)
    tables = [
        _candidates(5000 // 6, c.name, seed=i)
        for i, c in enumerate(CZII_CLASSES)
    ]
    session.set_candidates(pk.concat(tables))
    reference = pk.concat(tables).iloc[::2]
    shown = session.visible('ribosome')
    xyz = pk.positions(shown).copy()
    xyz[0] += 10.0
    session.sync_class('ribosome', shown.index.to_numpy(), xyz)
    moved = session.table.loc[shown.index[0], ['x', 'y', 'z']]
    np.testing.assert_allclose(moved.to_numpy(float), xyz[0])
    result = score_picks(reference, session.picks(), CZII_CLASSES)
    assert 0 < result.score < 1


def test_repeated_ids_are_new_points(session):
    # napari copies the selected point's features (its id) to new points.
    shown = session.visible('ribosome')
    uids = np.r_[shown.index.to_numpy(), shown.index[-1]]
    xyz = np.vstack([pk.positions(shown), [[5.0, 5.0, 5.0]]])
    out = session.sync_class('ribosome', uids, xyz)
    assert len(set(out)) == len(out)
    assert session.table.loc[out[-1], 'origin'] == 'user'
    assert set(session.table.loc[out[:-1], 'origin']) == {'model'}


@pytest.mark.parametrize('dtype', ['object', 'string'])
def test_the_threshold_filter_takes_any_string_column(dtype):
    # pandas stores strings in pyarrow when it is installed; an empty
    # class column must still compare with the scores.
    table = pk.make_picks(
        'r', ['a', 'b', 'a', 'c'], np.zeros((4, 3)), score=[0.2, 0.5, 0.9, 0]
    )
    table = table.astype({'particle_type': dtype})
    mask = pk.over_thresholds(table, {'a': 0.5, 'b': 0.6})
    assert mask.tolist() == [False, False, True, True]
    empty = table.iloc[:0]
    assert pk.over_thresholds(empty, {'a': 0.5}).shape == (0,)
    assert len(pk.apply_thresholds(table, {'a': 0.5})) == 3
    session = PickSession('r', CZII_CLASSES)
    session.set_candidates(empty, {'ribosome': 0.5})
    assert len(session.visible('ribosome')) == 0
