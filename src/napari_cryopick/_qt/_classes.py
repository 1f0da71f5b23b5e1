"""Check boxes choosing which of a model's classes to pick."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QGridLayout, QWidget


class ClassBoxes(QWidget):
    """One check box per class of the model, all checked at first.

    A cell biologist picking ribosomes in yeast leaves the other boxes
    empty; ``chosen`` is what ``PickSettings.classes`` takes.
    """

    COLUMNS = 2

    def __init__(self):
        super().__init__()
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.boxes: dict[str, QCheckBox] = {}

    def set_classes(self, names) -> None:
        """Show ``names``; classes shown before keep their state."""
        names = list(names)
        if names == list(self.boxes):
            return
        before = {n: b.isChecked() for n, b in self.boxes.items()}
        for box in self.boxes.values():
            self.grid.removeWidget(box)
            box.deleteLater()
        self.boxes = {}
        for i, name in enumerate(names):
            box = QCheckBox(name)
            box.setChecked(before.get(name, True))
            self.grid.addWidget(box, i // self.COLUMNS, i % self.COLUMNS)
            self.boxes[name] = box

    def chosen(self) -> tuple[str, ...] | None:
        """Names checked; ``None`` when every class is (the default)."""
        names = tuple(n for n, b in self.boxes.items() if b.isChecked())
        return None if len(names) == len(self.boxes) else names
