"""Open widget: a voxel size typed in overrides an unset MRC header."""

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_cryopick._qt.open_widget import OpenWidget
from napari_cryopick.io.mrc import write_mrc
from tests._qt.conftest import wait_done


def test_voxel_size_field_overrides_the_header(qtbot, tmp_path):
    volume = np.random.default_rng(0).normal(size=(8, 16, 16))
    path = write_mrc(tmp_path / 'lamella.mrc', volume.astype(np.float32), 1)
    viewer = ViewerModel()
    widget = OpenWidget(viewer)
    qtbot.addWidget(widget)
    widget.path.setText(str(path))
    # The worker's error is shown in the widget (and re-raised by superqt).
    with qtbot.capture_exceptions():
        widget.open()
        wait_done(qtbot, widget)
    status = widget.progress.status.text()
    assert 'unset' in status
    assert '--voxel-size' in status
    assert 'lamella' not in viewer.layers
    widget.voxel_size.setText('abc')
    assert widget.open() is None
    assert 'positive number' in widget.progress.status.text()
    widget.voxel_size.setText('31.36')
    widget.open()
    wait_done(qtbot, widget)
    assert viewer.layers['lamella'].scale[0] == pytest.approx(31.36)
    assert '31.36 Å (set here)' in widget.progress.status.text()
