"""Fixtures for the widget tests: the sample (the tiny model is shared)."""

import pytest


@pytest.fixture(scope='session')
def sample_layers():
    from napari_cryopick._sample_data import make_phantom_tomogram

    return make_phantom_tomogram()


def add_layers(viewer, layer_data):
    for data, kwargs, kind in layer_data:
        getattr(viewer, f'add_{kind}')(data, **kwargs)


def wait_done(qtbot, widget, timeout=60_000):
    """Wait until the widget's task has ended (a fast worker may end
    before a test could connect to its ``finished`` signal)."""
    qtbot.waitUntil(lambda: not widget.progress.task.running, timeout=timeout)
