"""Pick your own particle: New class, Learn, review, Learn again."""

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_cryopick import picks as pk
from napari_cryopick._qt.finetune_widget import FinetuneWidget
from napari_cryopick._qt.pick_widget import PickWidget
from napari_cryopick._sample_data import SAMPLE_SHAPE
from tests._qt.conftest import add_layers, wait_done


@pytest.mark.slow
def test_new_class_learn_review_and_learn_again(
    qtbot, sample_layers, checkpoint, tmp_path
):
    viewer = ViewerModel()
    add_layers(viewer, sample_layers[:1])
    pick = PickWidget(viewer)
    tune = FinetuneWidget(viewer, pick.state)
    for widget in (pick, tune):
        qtbot.addWidget(widget)
    pick.checkpoint.setText(str(checkpoint))
    pick.pick()
    wait_done(qtbot, pick)
    qtbot.waitUntil(lambda: pick.state.layers.complete, timeout=10_000)
    box, state = tune.new_class, pick.state
    # A name copick cannot hold is refused, and nothing is added.
    box.name.setText('my_spike')
    assert box.add_class() is None
    assert 'underscores' in box.message.text()
    assert 'my_spike' not in [layer.name for layer in viewer.layers]
    # New class: an empty Points layer of its colour and radius.
    box.name.setText('spike')
    box.radius.setValue(70.0)
    box.set_colour((255, 0, 0, 255))
    cls = box.add_class()
    # 70 Å is 3.5 voxels of the model's 20 Å grid: told before clicking.
    assert 'Caution: spike is 3.5 voxels in radius' in box.message.text()
    layer = viewer.layers['spike']
    assert len(layer.data) == 0
    assert cls.color == (255, 0, 0, 255)
    assert box.learned_class() == 'spike'
    assert 'spike' in pick.sliders.sliders
    assert tune.train_button.text() == 'Learn'
    # Learn with no clicks: told to click first.
    assert tune.train() is None
    assert 'Click some spike' in tune.progress.status.text()
    # Click five examples (voxel z, y, x of the sample tomogram).
    shape = np.asarray(SAMPLE_SHAPE, float)
    rng = np.random.default_rng(0)
    clicks = rng.uniform(0.2, 0.8, (5, 3)) * (shape - 1)
    for point in clicks:
        layer.add(point)
    table = state.session.table
    assert (table['particle_type'] == 'spike').sum() == 5
    # "Not this" on one: it becomes a negative, not a lost click.
    layer.selected_data = {0}
    viewer.layers.selection.active = layer
    state.not_this_selected()
    negatives = state.session.negatives()
    assert list(negatives['particle_type']) == ['spike']
    tune.steps.setValue(3)
    out = tmp_path / 'spike.safetensors'
    tune.out.setText(str(out))
    tune.train()
    wait_done(qtbot, tune, 180_000)
    assert 'proposals over the threshold' in tune.result.text(), (
        tune.progress.status.text()
    )
    assert tune.loss_plot.steps == [1, 2, 3]
    # 70 Å is 3.5 voxels of the model's 20 Å grid: the user is told that
    # classes this small are picked less well.
    assert 'Caution: spike is 3.5 voxels in radius' in tune.result.text()
    model = state.model
    assert model.path == out
    assert model.classes[-1].name == 'spike'
    assert model.classes[-1].metadata['origin']['labels'] == {'spike': 4}
    # What the four clicks look like travels with the model: proposals
    # unlike them are dropped.
    assert model.card.likeness['spike'].profiles.shape[0] == 4
    # Its threshold, set from the clicks, is on its slider.
    threshold = model.thresholds['spike']
    assert state.session.thresholds['spike'] == threshold
    assert pick.sliders.labels['spike'].text() == f'{threshold:.3f}'
    # The clicks and the negative stay as the user left them.
    spike = state.session.table
    spike = spike[spike['particle_type'] == 'spike']
    assert (spike['origin'] == pk.USER).sum() == 4
    assert (spike['origin'] == pk.DELETED).sum() == 1
    # Review: Next proposal goes to the least certain proposal of the
    # class being learnt, not of any class; accept it.
    queue = state.session.review_queue()
    proposals = queue[queue['particle_type'] == 'spike']
    if len(proposals):
        tune.new_class.next_button.click()
        assert viewer.layers.selection.active.name == 'spike'
        layer = viewer.layers['spike']
        (index,) = layer.selected_data
        assert layer.features['uid'][index] == proposals.index[0]
        state.keep_selected()
        kept = state.session.table.loc[int(proposals.index[0]), 'origin']
        assert kept == pk.KEPT
    # Learn again: from the last model, which already knows the class.
    again = tmp_path / 'spike2.safetensors'
    tune.out.setText(str(again))
    tune.train()
    wait_done(qtbot, tune, 180_000)
    assert state.model.path == again
    card = state.model.card.record['finetune']
    assert card['parent']['path'] == str(out)
    assert card['new_classes'] == []
    assert [c.name for c in state.model.classes].count('spike') == 1


def test_more_like_these_proposes_places_like_the_clicks(
    qtbot, sample_layers, checkpoint
):
    from scipy.spatial import cKDTree

    from napari_cryopick.model.similar import AT_LIMIT

    viewer = ViewerModel()
    add_layers(viewer, sample_layers)
    pick = PickWidget(viewer)
    tune = FinetuneWidget(viewer, pick.state)
    for widget in (pick, tune):
        qtbot.addWidget(widget)
    pick.checkpoint.setText(str(checkpoint))
    pick.pick()
    wait_done(qtbot, pick, 300_000)
    box, state = tune.new_class, pick.state
    # A particle the user knows by sight only: they name it and click
    # four (the sample's ribosomes, by their reference layer).
    box.name.setText('mystery')
    box.radius.setValue(150.0)
    box.add_class()
    reference = viewer.layers['ribosome (reference)'].data
    layer = viewer.layers['mystery']
    layer.add(reference[:2])
    # Too few clicks to say what they look like: told, nothing runs.
    assert tune.more_like_these() is None
    assert 'at least 3' in tune.progress.status.text()
    layer.add(reference[2:4])
    assert box.more_button.text() == 'More like these'
    box.more_button.click()
    wait_done(qtbot, tune, 300_000)
    assert 'places look like its clicks' in tune.result.text(), (
        tune.progress.status.text()
    )
    session = state.session
    assert session.thresholds['mystery'] == AT_LIMIT
    shown = session.visible('mystery')
    proposals = shown[shown['origin'] == pk.MODEL]
    assert len(proposals) >= 1
    # The most alike are the four ribosomes not clicked.
    voxel = np.asarray(state.tomogram.scales[0])
    others = reference[4:] * voxel  # z, y, x in Å
    best = proposals.sort_values('score').iloc[-4:]
    gap, which = cKDTree(others).query(best[['z', 'y', 'x']].to_numpy())
    assert np.all(gap <= 75.0), gap
    assert len(set(which)) == 4
    # The clicks stay clicks; the queue walks the proposals.
    mine = session.table[session.table['particle_type'] == 'mystery']
    assert (mine['origin'] == pk.USER).sum() == 4
    box.next_button.click()
    assert viewer.layers.selection.active.name == 'mystery'
