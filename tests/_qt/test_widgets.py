"""Every manifest widget and the sample data, in a real viewer."""

import numpy as np
import pytest
import yaml

from tests.conftest import REPO

MANIFEST = yaml.safe_load((REPO / 'napari.yaml').read_text())
WIDGETS = [w['display_name'] for w in MANIFEST['contributions']['widgets']]


@pytest.mark.parametrize('name', WIDGETS)
def test_every_manifest_widget_opens(make_napari_viewer, name):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(
        'napari-cryopick', name
    )
    assert widget is not None
    docked = viewer.window.dock_widgets.values()
    assert any(w is widget for w in docked)
    # Shown as soon as the (hidden test) window is.
    assert dock.isVisibleTo(dock.parentWidget())
    assert widget.isVisibleTo(dock)


def test_sample_opens_in_angstrom_scale(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample('napari-cryopick', 'phantom')
    image = viewer.layers['TS_sample']
    assert image.multiscale
    assert np.allclose(image.scale, 10.012444)
    references = [
        layer for layer in viewer.layers if layer.name.endswith('(reference)')
    ]
    assert len(references) >= 5
    for layer in references:
        assert np.allclose(layer.scale, 10.012444)
        assert len(layer.data) > 0


@pytest.mark.slow
def test_demo_viewer_is_ready_to_pick(make_napari_viewer, qtbot):
    # make_napari_viewer first: it checks for leaked viewers on teardown.
    make_napari_viewer()
    from napari_cryopick.cli.demo import WIDGETS, make_demo_viewer

    viewer = make_demo_viewer(show=False)
    try:
        docked = viewer.window.dock_widgets
        assert all(any(name in d for d in docked) for name in WIDGETS)
        assert any(
            layer.name.endswith('(reference)') for layer in viewer.layers
        )
        # The docked widgets found each other: one state for the viewer.
        (state,) = {w.state for w in docked.values() if hasattr(w, 'state')}
        reference = state.reference
        assert reference is not None
        assert len(reference) > 20
    finally:
        viewer.close()


def test_demo_window_fits_a_1080p_screen(make_napari_viewer, qtbot):
    make_napari_viewer()
    from napari_cryopick.cli.demo import WINDOW, make_demo_viewer

    viewer = make_demo_viewer(show=True)
    try:
        qtbot.wait(50)
        assert viewer.window.geometry()[2:] == WINDOW
        # Smaller still: the docks ask for less than a 1080p screen.
        viewer.window.resize(1600, 900)
        qtbot.wait(50)
        assert viewer.window.geometry()[2:] == (1600, 900)
        widgets = {
            name.split(' (')[0]: dock
            for name, dock in viewer.window.dock_widgets.items()
        }
        for name, table in (
            ('Score', widgets['Score'].table),
            ('Review', widgets['Review'].queue),
        ):
            _dock_of(widgets[name]).raise_()  # its tab
            qtbot.wait(50)
            row = table.verticalHeader().defaultSectionSize()
            assert table.viewport().height() >= 6 * row, name
    finally:
        viewer.close()


def _dock_of(widget):
    from qtpy.QtWidgets import QDockWidget

    while not isinstance(widget, QDockWidget):
        widget = widget.parent()
    return widget
