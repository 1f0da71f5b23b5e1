"""The Qt-free viewer model: one context, layers, keys, a weak viewer."""

import gc
import weakref

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.io.tomogram import Tomogram
from napari_cryopick.session import PickSession
from napari_cryopick.viewer.state import ViewerState

VOXEL = (10.0, 10.012444, 10.012444)


def _tomogram():
    import dask.array as da

    levels = (da.zeros((32, 64, 64)), da.zeros((16, 32, 32)))
    scales = (VOXEL, tuple(2 * v for v in VOXEL))
    return Tomogram(levels, scales, 'TS_1', 'TS_1.zarr')


def _candidates(n=12):
    rng = np.random.default_rng(1)
    names = [CZII_CLASSES[i % 2].name for i in range(n)]
    xyz = rng.uniform(50, 300, (n, 3))
    scores = np.linspace(0.1, 0.9, n)
    return pk.make_picks('TS_1', names, xyz, score=scores, origin='model')


@pytest.fixture
def state():
    viewer = ViewerModel()
    state = ViewerState(viewer)
    session = PickSession('TS_1', CZII_CLASSES)
    state.update(tomogram=_tomogram(), session=session)
    session.set_candidates(_candidates())
    yield state  # the state holds the viewer weakly: the test holds it
    del viewer


def test_the_context_changes_in_one_step_with_one_signal(state):
    events = []
    state.changed.connect(lambda new, old: events.append((new, old)))
    session = PickSession('TS_2', CZII_CLASSES)
    new = state.update(session=session, reference=pk.empty_picks())
    assert len(events) == 1
    assert events[0][0] is new is state.context
    assert events[0][1].session is not session
    assert state.session is session
    assert state.reference is not None
    # The new session has its layers, one per class, at the true scale.
    assert set(state.layers.layers) == set(session.class_names)
    layer = state.layers.layers['ribosome']
    assert tuple(layer.scale) == pytest.approx(VOXEL)
    assert state.context.voxel_size == pytest.approx(VOXEL)


def test_review_keys_are_bound_on_every_class_layer(state):
    from app_model.types import KeyBinding

    name = CZII_CLASSES[0].name
    layer = state.layers.layers[name]
    state.viewer.layers.selection.active = layer
    layer.selected_data = {0}
    uid = int(layer.features['uid'][0])
    layer.keymap[KeyBinding.from_str('K')](layer)
    assert state.session.table.loc[uid, 'origin'] == pk.KEPT
    state.move_target = CZII_CLASSES[1].name
    layer.selected_data = {0}
    layer.keymap[KeyBinding.from_str('M')](layer)
    assert (
        state.session.table.loc[uid, 'particle_type'] == CZII_CLASSES[1].name
    )
    assert state.session.table.loc[uid, 'origin'] == pk.MOVED
    layer.keymap[KeyBinding.from_str('U')](layer)
    layer.keymap[KeyBinding.from_str('U')](layer)
    assert state.session.table.loc[uid, 'origin'] == pk.MODEL
    focused = []
    state.focused.connect(focused.append)
    layer.keymap[KeyBinding.from_str('N')](layer)
    first = int(state.session.review_queue().index[0])
    assert focused == [first]
    assert state.viewer.layers.selection.active.selected_data
    # Of one class only (the new class's Next proposal): its least
    # certain pick, though another class's come first in the whole queue.
    queue = state.session.review_queue()
    name = queue['particle_type'].iloc[-1]
    assert queue['particle_type'].iloc[0] != name
    mine = queue[queue['particle_type'] == name]
    assert state.session.review_queue([name]).index.tolist() == (
        mine.index.tolist()
    )
    state.next_in_queue([name])
    assert focused[-1] == int(mine.index[0])
    assert state.viewer.layers.selection.active.name == name


def test_a_layer_of_the_open_tomogram_keeps_its_level_scales(state):
    from napari_cryopick.session_io import tomogram_layer_data

    tomogram = state.tomogram
    data, kwargs, _ = tomogram_layer_data(tomogram)
    layer = state.viewer.add_image(data, **kwargs)
    assert state.tomogram_for(layer) is tomogram
    # Another image is rebuilt from its layer.
    other = state.viewer.add_image(np.zeros((8, 8, 8)), scale=(5, 5, 5))
    rebuilt = state.tomogram_for(other)
    assert rebuilt is not tomogram
    assert rebuilt.scales[0] == (5.0, 5.0, 5.0)


def test_the_state_holds_its_viewer_weakly():
    viewer = ViewerModel()
    state = ViewerState(viewer)
    state.update(
        tomogram=_tomogram(), session=PickSession('TS_1', CZII_CLASSES)
    )
    alive = weakref.ref(viewer)
    del viewer
    gc.collect()
    assert alive() is None
    assert state.viewer is None
    state.next_in_queue()  # a state outliving its viewer does nothing
    state.show_pick(0)


def test_deferred_layers_come_one_step_per_turn_and_hidden_first():
    # With a scheduler, nothing is added in the caller's turn; each new
    # layer is added hidden on one turn and shown on the next, so no
    # turn both adds a layer and draws it for the first time.
    turns = []
    viewer = ViewerModel()
    state = ViewerState(viewer, schedule=turns.append)
    session = PickSession('TS_1', CZII_CLASSES[:2])
    state.update(tomogram=_tomogram(), session=session)
    session.set_candidates(_candidates())
    assert len(viewer.layers) == 0
    steps = []
    while turns:
        before = [(layer.name, layer.visible) for layer in viewer.layers]
        turns.pop(0)()
        after = [(layer.name, layer.visible) for layer in viewer.layers]
        if set(after) != set(before):  # other turns update the data
            steps.append(set(after) - set(before))
    names = [c.name for c in CZII_CLASSES[:2]]
    expected = []
    for name in names:
        expected += [{(name, False)}, {(name, True)}]
    assert steps == expected
    assert state.layers.complete
    layers = state.layers.layers
    shown = sum(len(layers[n].data) for n in names)
    assert shown == len(session.visible())
