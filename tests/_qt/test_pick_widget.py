"""Pick widget: worker, per-class layers, sliders, cancel."""

import time

import numpy as np
from napari.components import ViewerModel
from qtpy.QtCore import QTimer

from napari_cryopick._qt.pick_widget import PickWidget
from napari_cryopick.model.messages import PartialPicks
from tests._qt.conftest import add_layers, wait_done


def _widget(qtbot, sample_layers, checkpoint):
    viewer = ViewerModel()
    add_layers(viewer, sample_layers[:1])
    widget = PickWidget(viewer)
    qtbot.addWidget(widget)
    widget.checkpoint.setText(str(checkpoint))
    return viewer, widget


def test_pick_makes_one_layer_per_class(qtbot, sample_layers, checkpoint):
    viewer, widget = _widget(qtbot, sample_layers, checkpoint)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    widget.pick()
    wait_done(qtbot, widget, 120_000)
    qtbot.waitUntil(lambda: widget.state.layers.complete, timeout=10_000)
    timer.stop()
    session = widget.state.session
    assert session is not None, widget.progress.status.text()
    names = session.class_names
    layers = [viewer.layers[n] for n in names]
    assert sum(len(layer.data) for layer in layers) > 0
    for layer in layers:
        assert layer.scale[0] == np.float64(10.012444)
        assert 'score' in layer.features
    print(f'worst event-loop gap during pick: {max(gaps) * 1000:.0f} ms')
    # Sliders filter the shown picks without re-running the model.
    name = max(names, key=lambda n: len(viewer.layers[n].data))
    before = len(viewer.layers[name].data)
    median = float(np.median(viewer.layers[name].features['score']))
    widget.sliders.set_value(name, median + 1e-3)
    assert 0 < len(viewer.layers[name].data) < before
    widget.sliders.set_value(name, 0.0)
    assert len(viewer.layers[name].data) == before


def test_cancel_stops_a_running_pick(qtbot, sample_layers, checkpoint):
    viewer, widget = _widget(qtbot, sample_layers, checkpoint)
    widget.inference = widget.inference.__class__(patch=(32, 32, 32))
    worker = widget.pick()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        qtbot.waitUntil(
            lambda: widget.progress.bar.value() > 0, timeout=60_000
        )
        widget.progress.cancel_button.click()
    assert not widget.progress.task.running
    session = widget.state.session
    status = widget.progress.status.text()
    if status == 'Cancelled.':  # stopped before the first slab was done
        assert session is None or len(session.table) == 0
    else:  # the picks of the finished slabs stay, one Undo away
        assert status.startswith('Cancelled; the')
        assert len(session.table) > 0
        assert session.undo()
        assert len(session.table) == 0


def test_cancel_keeps_the_picks_of_finished_slabs(
    qtbot, sample_layers, checkpoint
):
    viewer, widget = _widget(qtbot, sample_layers, checkpoint)
    widget.inference = widget.inference.__class__(patch=(32, 24, 24))
    worker = widget.pick()

    def partial_shown():
        session = widget.state.session
        return session is not None and len(session.table) > 0

    with qtbot.waitSignal(worker.finished, timeout=60_000):
        qtbot.waitUntil(partial_shown, timeout=60_000)
        assert widget.progress.task.running
        widget.progress.cancel_button.click()
    status = widget.progress.status.text()
    assert status.startswith('Cancelled; the'), status
    session = widget.state.session
    assert len(session.table) > 0
    assert session.undo()
    assert len(session.table) == 0


def test_first_picks_show_before_the_model_ends(
    qtbot, sample_layers, checkpoint
):
    viewer, widget = _widget(qtbot, sample_layers, checkpoint)
    widget.inference = widget.inference.__class__(patch=(32, 48, 48))
    shown = []
    show = widget._on_message

    def spy(message):
        show(message)
        if isinstance(message, PartialPicks):
            session = widget.state.session
            shown.append(
                (widget.progress.task.running, len(session.visible()))
            )

    widget._on_message = spy
    widget.pick()
    wait_done(qtbot, widget, 120_000)
    assert len(shown) >= 2
    assert all(running for running, _ in shown)
    counts = [n for _, n in shown]
    assert counts[0] > 0
    assert counts == sorted(counts)  # later slabs add picks
    final = widget.state.session
    assert len(final.visible()) >= counts[-1]
    assert final.undo()  # partial and final picks were one undo step
    assert len(final.table) == 0


def test_missing_bundled_model_says_so(qtbot, sample_layers, monkeypatch):
    from napari_cryopick.model import checkpoint

    monkeypatch.setattr(
        checkpoint, 'bundled_checkpoint', lambda: checkpoint.Path('/nope')
    )
    viewer, widget = _widget(qtbot, sample_layers, '')
    widget.checkpoint.setText('')
    assert widget.pick() is None
    assert 'bundled model' in widget.progress.status.text()


def test_a_shipped_model_named_shows_its_classes(
    qtbot, sample_layers, checkpoint
):
    from napari_cryopick.model.checkpoint import named_checkpoint, read_card

    _, widget = _widget(qtbot, sample_layers, checkpoint)
    widget.classes.set_classes(['stale'])
    widget.checkpoint.setText('v2')
    widget._refresh_classes()
    v2 = [c.name for c in read_card(named_checkpoint('v2')).classes]
    assert list(widget.classes.boxes) == v2
