import numpy as np
import pytest

from napari_cryopick import picks as pk
from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    voxel_zyx_to_angstrom_xyz,
)
from napari_cryopick.io.sources import read_picks
from napari_cryopick.layers import layer_data_to_picks, picks_to_layer_data

CZII_SCALE = (10.012444196428572, 10.012444196428572, 10.012444537618887)


def test_axis_order_and_units():
    zyx = angstrom_xyz_to_voxel_zyx([[30.0, 20.0, 10.0]], 10.0)
    assert zyx.tolist() == [[1.0, 2.0, 3.0]]
    zyx = angstrom_xyz_to_voxel_zyx([[30.0, 20.0, 10.0]], (1.0, 2.0, 5.0))
    assert zyx.tolist() == [[10.0, 10.0, 6.0]]
    assert voxel_zyx_to_angstrom_xyz([[1, 2, 3]], 10.0).tolist() == [
        [30.0, 20.0, 10.0]
    ]


@pytest.mark.parametrize('scale', [10.0, 10.012444, CZII_SCALE, 4.99])
def test_angstrom_voxel_round_trip_is_exact(scale):
    rng = np.random.default_rng(0)
    xyz = np.round(rng.uniform(0, 6300, (5000, 3)), 3)
    back = voxel_zyx_to_angstrom_xyz(
        angstrom_xyz_to_voxel_zyx(xyz, scale), scale
    )
    assert np.array_equal(back, xyz)


def test_bad_voxel_size():
    with pytest.raises(ValueError, match='positive'):
        angstrom_xyz_to_voxel_zyx([[1, 2, 3]], 0.0)


def test_layer_round_trip_on_real_picks(czii_json_runs):
    table = read_picks(czii_json_runs['TS_99_9'])
    layers = picks_to_layer_data(table, CZII_SCALE)
    assert len(layers) == 6
    data, attrs, kind = layers[0]
    assert kind == 'points'
    assert attrs['metadata']['cryopick']['object'] == 'apo-ferritin'
    assert attrs['scale'] == CZII_SCALE
    # apo-ferritin radius 60 Å: a 12-voxel-wide marker at ~10 Å.
    assert attrs['size'] == pytest.approx(120 / CZII_SCALE[2])
    # voxel z index of the first pick matches its Å z.
    first = table[table['particle_type'] == 'apo-ferritin'].iloc[0]
    assert data[0, 0] == pytest.approx(first['z'] / CZII_SCALE[0])
    back = pk.concat(layer_data_to_picks(d, a) for d, a, _ in layers)
    key = ['particle_type', 'x', 'y', 'z']
    a = table.sort_values(key).reset_index(drop=True)
    b = back.sort_values(key).reset_index(drop=True)
    for axis in 'xyz':
        assert np.array_equal(a[axis].to_numpy(), b[axis].to_numpy())
    assert (b['run'] == 'TS_99_9').all()
    assert (b['user_id'] == 'curation').all()


def test_class_probabilities_travel_as_layer_features():
    from napari_cryopick import picks as pk
    from napari_cryopick.classes import CZII_CLASSES
    from napari_cryopick.layers import picks_to_layer_data

    model = pk.make_picks('r', 'ribosome', np.array([[10.0, 20, 30]] * 2))
    model['prob_ribosome'] = [0.9, 0.6]
    model['prob_thyroglobulin'] = [0.05, 0.3]
    model['helper'] = 1  # other extra columns are not picks vocabulary
    user = pk.make_picks('r', 'ribosome', np.array([[50.0, 60, 70]]))
    table = pk.concat([model, user])
    assert pk.probability_columns(table) == [
        'prob_ribosome',
        'prob_thyroglobulin',
    ]
    assert 'helper' not in table
    assert np.isnan(table['prob_ribosome'][2])  # a user's pick: unknown
    ((_, kwargs, _),) = picks_to_layer_data(table, 10.0, CZII_CLASSES)
    features = kwargs['features']
    assert features['prob_thyroglobulin'].tolist()[:2] == [0.05, 0.3]
    assert np.isnan(kwargs['feature_defaults']['prob_ribosome'])
