"""A dock made short scrolls its widget instead of squeezing its rows."""

from napari.components import ViewerModel

from napari_cryopick._qt._shared import MIN_HEIGHT
from napari_cryopick._qt.finetune_widget import FinetuneWidget


def _top_and_bottom(widget, box):
    top = widget.mapTo(box, widget.rect().topLeft()).y()
    return top, top + widget.height()


def test_short_finetune_widget_keeps_its_rows(qtbot):
    tune = FinetuneWidget(ViewerModel())
    qtbot.addWidget(tune)
    tune.resize(420, 2000)
    tune.show()
    qtbot.waitExposed(tune)
    box = tune.new_class
    full = {w: w.height() for w in (box.name, box.radius, box.learn)}
    # napari lets a dock shrink to 50 pixels; ours keep MIN_HEIGHT, far
    # less than the Fine-tune widget needs.
    tune.resize(420, 150)
    qtbot.wait(50)
    rows = [box.name, box.radius, box.add_button, box.learn]
    for widget in (box.name, box.radius, box.learn):
        assert widget.height() == full[widget]
    spans = [_top_and_bottom(w, box) for w in rows]
    for (_, bottom), (top, _) in zip(spans, spans[1:], strict=False):
        assert bottom <= top, spans
    scroll = box.parentWidget().parentWidget().parentWidget()
    assert scroll.verticalScrollBar().maximum() > 0
    assert tune.height() == MIN_HEIGHT
