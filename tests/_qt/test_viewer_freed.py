"""A closed napari window frees its viewer, layers and cryopick state."""

import gc
import weakref

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.session import PickSession
from napari_cryopick.viewer.warm import warm_up
from tests._qt.conftest import add_layers


def test_a_closed_viewer_is_freed(qtbot, sample_layers):
    import napari

    viewer = napari.Viewer(show=False)
    add_layers(viewer, sample_layers[:1])
    widgets = [
        viewer.window.add_plugin_dock_widget('napari-cryopick', name)[1]
        for name in ('Pick', 'Review', 'Score')
    ]
    state = widgets[0].state
    assert all(w.state is state for w in widgets)
    tomogram = state.tomogram_for(viewer.layers['TS_sample'])
    session = PickSession(tomogram.run, CZII_CLASSES)
    state.update(tomogram=tomogram, session=session)
    qtbot.waitUntil(_complete(state.layers), timeout=60_000)
    # The warm-up freezes what the process holds (the viewer too) once
    # its imports are done: the closed window must still be freed.
    warm_up().join()
    assert gc.get_freeze_count() > 0
    refs = [weakref.ref(o) for o in (viewer, state, state.layers)]
    refs.append(weakref.ref(next(iter(state.layers.layers.values()))))
    del widgets, state, session
    viewer.close()
    del viewer
    for _ in range(3):
        qtbot.wait(20)
        gc.collect()
    assert [r() is None for r in refs] == [True] * len(refs)
    assert gc.get_freeze_count() == 0


def _complete(layers):
    return lambda: layers.complete
