"""Open a project run with its picks; fine-tune from the panel."""

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_cryopick._qt.finetune_widget import FinetuneWidget
from napari_cryopick._qt.open_widget import OpenWidget
from napari_cryopick._qt.pick_widget import PickWidget
from napari_cryopick.cli import main
from tests._qt.conftest import add_layers, wait_done


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim') / 'project'
    argv = ['simulate', str(out), '--runs', '2', '--shape', '64', '160', '160']
    assert main(argv) == 0
    return out


def test_open_lists_runs_and_loads_picks(qtbot, project):
    viewer = ViewerModel()
    widget = OpenWidget(viewer)
    qtbot.addWidget(widget)
    widget.path.setText(str(project))
    widget.refresh_runs()
    runs = [widget.run.itemText(i) for i in range(widget.run.count())]
    assert runs == ['TS_sim_1', 'TS_sim_2']
    widget.run.setCurrentText('TS_sim_2')
    widget.open()
    wait_done(qtbot, widget)
    qtbot.waitUntil(lambda: widget.state.layers.complete, timeout=10_000)
    image = viewer.layers['TS_sim_2']
    assert image.multiscale
    assert image.scale[0] == pytest.approx(10.012444)
    low, high = image.contrast_limits
    assert low < high
    existing = [lyr for lyr in viewer.layers if '(curation/0)' in lyr.name]
    assert existing
    assert all(len(lyr.data) for lyr in existing)
    assert widget.state.session.run == 'TS_sim_2'


@pytest.mark.slow
def test_finetune_uses_the_new_model(
    qtbot, sample_layers, checkpoint, tmp_path
):
    viewer = ViewerModel()
    add_layers(viewer, sample_layers[:1])
    pick = PickWidget(viewer)
    tune = FinetuneWidget(viewer, pick.state)
    for widget in (pick, tune):
        qtbot.addWidget(widget)
    pick.checkpoint.setText(str(checkpoint))
    assert tune.train() is None
    pick.pick()
    wait_done(qtbot, pick)
    session = pick.state.session
    median = float(session.table['score'].median())
    session.set_thresholds(dict.fromkeys(session.class_names, median))
    tune.steps.setValue(2)
    tune.out.setText(str(tmp_path / 'tuned.safetensors'))
    tune.train()
    wait_done(qtbot, tune, 120_000)
    assert 'before' in tune.result.text(), tune.progress.status.text()
    assert tune.loss_plot.steps == [1, 2]
    assert np.isfinite(tune.loss_plot.smoothed()).all()
    tune.loss_plot.grab()  # paints the curve without error
    assert pick.state.model.path == tmp_path / 'tuned.safetensors'
    assert pick.checkpoint.text() == str(tmp_path / 'tuned.safetensors')
