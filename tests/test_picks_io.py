import json

import numpy as np
import pandas as pd
import pytest

from napari_cryopick import picks as pk
from napari_cryopick.errors import CryopickError
from napari_cryopick.io.copick_config import config_roots
from napari_cryopick.io.copick_json import (
    read_picks_json,
    write_kaggle_overlay,
    write_picks_json,
)
from napari_cryopick.io.kaggle_csv import read_picks_csv, write_picks_csv
from napari_cryopick.io.names import parse_picks_file_name, sanitize_name
from napari_cryopick.io.sources import read_picks

KEY = ['run', 'particle_type', 'x', 'y', 'z']


def _sorted(table):
    return table.sort_values(KEY).reset_index(drop=True)


def _assert_same_positions(a, b):
    a, b = _sorted(a), _sorted(b)
    assert len(a) == len(b)
    assert list(a['run']) == list(b['run'])
    assert list(a['particle_type']) == list(b['particle_type'])
    # Exact equality: "identical to the last digit".
    for axis in 'xyz':
        assert np.array_equal(a[axis].to_numpy(), b[axis].to_numpy())


@pytest.mark.parametrize('run', ['TS_5_4', 'TS_99_9'])
def test_real_json_matches_real_csv(run, czii_json_runs, czii_csv):
    table = read_picks(czii_json_runs[run])
    csv = read_picks_csv(czii_csv)
    _assert_same_positions(table, csv[csv['run'] == run])
    assert set(table['user_id']) == {'curation'}
    assert set(table['session_id']) == {'0'}
    assert (table['score'] == 1.0).all()


def test_real_counts(czii_json_runs):
    table = read_picks(czii_json_runs['TS_5_4'])
    counts = table['particle_type'].value_counts().to_dict()
    assert counts == {
        'apo-ferritin': 46,
        'beta-amylase': 10,
        'beta-galactosidase': 12,
        'ribosome': 31,
        'thyroglobulin': 30,
        'virus-like-particle': 11,
    }


@pytest.mark.parametrize('run', ['TS_5_4', 'TS_99_9'])
def test_real_round_trips(run, czii_json_runs, tmp_path):
    table = read_picks(czii_json_runs[run])
    files = write_picks_json(table, tmp_path / 'copick', 'cryopick', '0')
    assert len(files) == 6
    assert files[0].name.startswith('cryopick_0_')
    again = read_picks(tmp_path / 'copick')
    _assert_same_positions(table, again)
    write_picks_csv(table, tmp_path / 'picks.csv')
    _assert_same_positions(table, read_picks(tmp_path / 'picks.csv'))


def test_json_keeps_score_orientation_instance(tmp_path):
    rot = np.array(
        [[0, -1, 0, 10.5], [1, 0, 0, -3.25], [0, 0, 1, 0], [0, 0, 0, 1.0]]
    )
    table = pk.make_picks(
        'TS_1',
        'ribosome',
        [[1.1, 2.2, 3.3], [4.4, 5.5, 6.6]],
        score=[0.125, 0.987654321],
        instance_id=[3, 7],
        transformation=np.stack([rot, np.eye(4)]),
    )
    (path,) = write_picks_json(table, tmp_path, 'me', '1')
    body = json.loads(path.read_text())
    assert body['trust_orientation'] is True
    assert body['unit'] == 'angstrom'
    assert list(body) == [
        'pickable_object_name',
        'user_id',
        'session_id',
        'run_name',
        'voxel_spacing',
        'unit',
        'points',
        'trust_orientation',
    ]
    back = read_picks_json(path)
    assert back['score'].tolist() == [0.125, 0.987654321]
    assert back['instance_id'].tolist() == [3, 7]
    assert np.array_equal(back['transformation'][0], rot)
    assert (back['user_id'] == 'me').all()


def test_kaggle_overlay_has_no_score(tmp_path):
    table = pk.make_picks('TS_1', 'apo-ferritin', [[1, 2, 3]], score=0.5)
    (path,) = write_kaggle_overlay(table, tmp_path)
    assert path.name == 'apo-ferritin.json'
    point = json.loads(path.read_text())['points'][0]
    assert 'score' not in point
    back = read_picks_json(path)
    assert back['score'].tolist() == [1.0]
    assert back['user_id'].tolist() == ['curation']


def test_names_are_sanitised(tmp_path):
    assert sanitize_name('my user_1 x') == 'my-user-1-x'
    table = pk.make_picks('TS_1', 'ribosome', [[1, 2, 3]])
    (path,) = write_picks_json(table, tmp_path, 'a_b', 's 1')
    assert path.name == 'a-b_s-1_ribosome.json'
    assert parse_picks_file_name(path.stem) == ('a-b', 's-1', 'ribosome')


def test_existing_file_is_not_overwritten(tmp_path):
    table = pk.make_picks('TS_1', 'ribosome', [[1, 2, 3]])
    (path,) = write_picks_json(table, tmp_path, 'u', '0')
    before = path.read_text()
    moved = pk.make_picks('TS_1', 'ribosome', [[9, 9, 9]])
    with pytest.raises(CryopickError, match='already exists'):
        write_picks_json(moved, tmp_path, 'u', '0')
    assert path.read_text() == before
    write_picks_json(moved, tmp_path, 'u', '0', overwrite=True)
    assert read_picks_json(path)['x'].tolist() == [9.0]


def test_mixed_users_need_a_choice(tmp_path):
    a = pk.make_picks('TS_1', 'ribosome', [[1, 2, 3]])
    write_picks_json(a, tmp_path, 'alice', '0')
    write_picks_json(a, tmp_path, 'bob', '0')
    with pytest.raises(CryopickError, match='several users'):
        read_picks(tmp_path)
    assert len(read_picks(tmp_path, user_id='bob')) == 1


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('{"pickable_object_name": "ribosome", "points": [', 'not valid JSON'),
        ('[1, 2]', 'not an object'),
        ('{"points": []}', 'pickable_object_name'),
        (
            '{"pickable_object_name": "a", "points": '
            '[{"location": {"x": 1}}]}',
            'point 0 is malformed',
        ),
        (
            '{"pickable_object_name": "a", "points": [{"location": '
            '{"x": "NaN", "y": 1, "z": 2}}]}',
            'not a finite number',
        ),
        ('{"pickable_object_name": "a", "points": {}}', 'not a list'),
    ],
)
def test_bad_json(tmp_path, text, message):
    path = tmp_path / 'ExperimentRuns' / 'TS_1' / 'Picks' / 'a.json'
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(CryopickError, match=message) as err:
        read_picks(path)
    assert str(path) in str(err.value)
    assert '\n' not in str(err.value)


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('a,b\n1,2\n', 'needs one of the columns experiment'),
        ('experiment,particle_type,x,y\nTS,ribosome,1,2\n', "no 'z'"),
        (
            'experiment,particle_type,x,y,z\nTS,ribosome,1,two,3\n',
            'non-number',
        ),
        ('', 'not a readable CSV'),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / 'picks.csv'
    path.write_text(text)
    with pytest.raises(CryopickError, match=message):
        read_picks(path)


def test_output_under_a_file(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('keep me')
    table = pk.make_picks('TS_1', 'ribosome', [[1, 2, 3]])
    with pytest.raises(CryopickError, match='is a file'):
        write_picks_csv(table, blocker / 'out.csv')
    with pytest.raises(CryopickError, match='is a file'):
        write_picks_json(table, blocker / 'project', 'u', '0')
    assert blocker.read_text() == 'keep me'


def test_csv_layout(tmp_path):
    table = pk.make_picks(
        ['TS_1', 'TS_2'],
        ['ribosome', 'apo-ferritin'],
        [[2983.596, 3154.13, 764.124], [0.1, 0.2, 0.30000000000000004]],
    )
    path = write_picks_csv(table, tmp_path / 'sub.csv')
    lines = path.read_text().splitlines()
    assert lines[0] == 'id,experiment,particle_type,x,y,z'
    assert lines[1] == '0,TS_1,ribosome,2983.596,3154.13,764.124'
    assert lines[2] == '1,TS_2,apo-ferritin,0.1,0.2,0.30000000000000004'
    back = read_picks_csv(path)
    assert back['z'].tolist()[1] == 0.30000000000000004


def test_missing_paths(tmp_path):
    with pytest.raises(CryopickError, match='no such file'):
        read_picks(tmp_path / 'nope.json')
    with pytest.raises(CryopickError, match='no picks here'):
        read_picks(tmp_path)


def test_copick_config_written_and_parsed(tmp_path, czii_json_runs):
    from napari_cryopick.io.copick_config import write_copick_config

    path = write_copick_config(tmp_path)
    config = json.loads(path.read_text())
    assert config['config_type'] == 'filesystem'
    names = [o['name'] for o in config['pickable_objects']]
    assert names[0] == 'apo-ferritin'
    assert len(names) == 6
    assert config_roots(path) == (tmp_path.resolve(), None)


def test_make_picks_rejects_unknown_columns():
    with pytest.raises(TypeError, match='unknown'):
        pk.make_picks('r', 'c', [[0, 0, 0]], colour='red')
    assert pk.empty_picks().columns.tolist() == list(pk.COLUMNS)
    assert isinstance(pk.concat([]), pd.DataFrame)
