"""Pick widget: the class boxes limit what is picked and shown."""

from tests._qt.conftest import wait_done
from tests._qt.test_pick_widget import _widget


def test_only_the_checked_classes_are_picked(qtbot, sample_layers, checkpoint):
    viewer, widget = _widget(qtbot, sample_layers, checkpoint)
    boxes = widget.classes.boxes
    assert len(boxes) == 6
    assert all(b.isChecked() for b in boxes.values())
    for name, box in boxes.items():
        box.setChecked(name in ('ribosome', 'apo-ferritin'))
    widget.pick()
    wait_done(qtbot, widget, 120_000)
    session = widget.state.session
    assert session is not None, widget.progress.status.text()
    assert session.class_names == ('apo-ferritin', 'ribosome')
    assert set(session.table['particle_type']) <= {'apo-ferritin', 'ribosome'}
    assert 'virus-like-particle' not in viewer.layers


def test_no_class_checked_says_so(qtbot, sample_layers, checkpoint):
    _, widget = _widget(qtbot, sample_layers, checkpoint)
    for box in widget.classes.boxes.values():
        box.setChecked(False)
    assert widget.pick() is None
    assert 'at least one class' in widget.progress.status.text()
