"""Fixtures for the widget tests: a tiny random model, the sample."""

import pytest

torch = pytest.importorskip('torch')

from napari_cryopick.classes import CZII_CLASSES  # noqa: E402
from napari_cryopick.model.checkpoint import (  # noqa: E402
    classes_to_card,
    save_checkpoint,
)
from napari_cryopick.model.config import (  # noqa: E402
    NetworkConfig,
    build_network,
)

TINY = NetworkConfig(channels=(4, 8, 8), strides=(2, 1), num_res_units=0)


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp('model') / 'tiny.safetensors'
    card = {
        'network': TINY.to_dict(),
        'classes': classes_to_card(CZII_CLASSES),
        'voxel_size': 20.024888,
        'thresholds': {c.name: 0.0 for c in CZII_CLASSES},
    }
    return save_checkpoint(path, build_network(TINY), card)


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
