"""A failed Pick: one line in the widget, the traceback in the log only,
and nothing half-made left in the viewer."""

import logging

import pytest
from napari.components import ViewerModel

from napari_cryopick._qt.pick_widget import PickWidget
from napari_cryopick.layers import META_KEY
from napari_cryopick.model import predict
from napari_cryopick.model.messages import PartialPicks
from tests._qt.conftest import add_layers, wait_done

#: A model error as long as the one that printed a whole network.
LONG = 'shapes do not match\n' + '\n'.join(f'  layer {i}' for i in range(300))


def _failing_predict(real):
    """Predict as usual, report partial picks, then fail."""

    def predict_tomogram(tomogram, model, settings, partial, **kwargs):
        table = real(tomogram, model, settings, **kwargs)
        partial(table.iloc[: len(table) // 2])
        raise RuntimeError(LONG)

    return predict_tomogram


def _pick_layers(viewer):
    return [
        layer
        for layer in viewer.layers
        if layer.metadata.get(META_KEY, {}).get('role') == 'picks'
    ]


@pytest.fixture
def failing(monkeypatch):
    monkeypatch.setattr(
        predict, 'predict_tomogram', _failing_predict(predict.predict_tomogram)
    )


def _dock(qtbot, sample_layers, checkpoint):
    viewer = ViewerModel()
    add_layers(viewer, sample_layers[:1])
    widget = PickWidget(viewer)
    qtbot.addWidget(widget)
    widget.checkpoint.setText(str(checkpoint))
    return viewer, widget


def test_a_failed_pick_leaves_nothing_behind(
    qtbot, sample_layers, checkpoint, failing, caplog
):
    viewer, widget = _dock(qtbot, sample_layers, checkpoint)
    before = len(viewer.layers)
    with caplog.at_level(logging.ERROR):
        widget.pick()
        wait_done(qtbot, widget, 600_000)
        qtbot.wait(200)  # deferred layer builds would run now
    status = widget.progress.status.text()
    assert status == (
        'Pick failed: RuntimeError: shapes do not match '
        '(the traceback is in the log)'
    )
    # The traceback went to the log, once, and napari showed nothing.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info[0] is RuntimeError
    from napari.utils.notifications import notification_manager

    assert not notification_manager.records
    # No class layers, no session, no zero thresholds.
    assert _pick_layers(viewer) == []
    assert len(viewer.layers) == before
    assert widget.state.session is None
    assert widget.state.model is None
    assert widget.sliders.sliders == {}


def test_a_failed_pick_keeps_the_picks_before_it(
    qtbot, sample_layers, checkpoint, monkeypatch
):
    viewer, widget = _dock(qtbot, sample_layers, checkpoint)
    widget.pick()
    wait_done(qtbot, widget, 600_000)
    qtbot.waitUntil(lambda: widget.state.layers.complete, timeout=120_000)
    session = widget.state.session
    picks = session.table.copy()
    thresholds = dict(session.thresholds)
    shown = {layer.name: len(layer.data) for layer in _pick_layers(viewer)}
    assert sum(shown.values()) > 0
    monkeypatch.setattr(
        predict, 'predict_tomogram', _failing_predict(predict.predict_tomogram)
    )
    messages = []
    on_message = widget._on_message
    widget._on_message = lambda m: messages.append(m) or on_message(m)
    widget.pick()
    wait_done(qtbot, widget, 600_000)
    qtbot.waitUntil(lambda: widget.state.layers.complete, timeout=120_000)
    assert any(isinstance(m, PartialPicks) for m in messages)
    assert widget.progress.status.text().startswith('Pick failed:')
    assert widget.state.session is session
    assert session.table.equals(picks)
    assert session.thresholds == thresholds
    after = {layer.name: len(layer.data) for layer in _pick_layers(viewer)}
    assert after == shown
