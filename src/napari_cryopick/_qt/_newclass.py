"""The "Pick your own particle" part of the Fine-tune widget.

New class (name, radius, colour) makes an empty Points layer to click
in; "Learn" in the Fine-tune widget then trains that class from the
clicks; its proposals come back for review (the Review widget's queue,
least certain first, or Next here), to accept (``k``), delete, or mark
"not this", and Learn again starts from the last model. Before the first
Learn, "More like these" proposes, in seconds, the places whose density
looks most like the clicks, to review the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from napari_cryopick.model.newclass import small_class_caution

if TYPE_CHECKING:
    from napari_cryopick.viewer.state import ViewerState

#: What the "Learn" combo says for fine-tuning on every class.
ALL_CLASSES = 'every class (complete corrections)'


def caution_note(cls, model) -> str:
    """Return " Caution: ..." when ``cls`` is small on ``model``'s grid.

    An empty string when it is not, or when either is ``None``
    (:func:`~napari_cryopick.model.newclass.small_class_caution`).
    """
    if cls is None or model is None:
        return ''
    caution = small_class_caution(cls, model.voxel_size)
    return f' Caution: {caution}.' if caution else ''


class NewClassBox(QGroupBox):
    """New class, what to learn, and the review actions.

    Parameters
    ----------
    state : ViewerState
        The shared viewer state.
    """

    def __init__(self, state: ViewerState):
        super().__init__('Pick your own particle')
        self.state = state
        self.colour: tuple[int, int, int, int] | None = None
        self.name = QLineEdit()
        self.name.setPlaceholderText('e.g. proteasome')
        self.radius = QDoubleSpinBox()
        self.radius.setRange(5.0, 2000.0)
        self.radius.setValue(80.0)
        self.radius.setSuffix(' Å')
        self.colour_button = QPushButton('Colour...')
        self.colour_button.clicked.connect(self._choose_colour)
        self.add_button = QPushButton('New class')
        self.add_button.clicked.connect(self.add_class)
        self.learn = QComboBox()
        self.learn.addItem(ALL_CLASSES)
        self.accept_button = QPushButton('Accept (k)')
        self.accept_button.clicked.connect(state.keep_selected)
        self.not_this_button = QPushButton('Not this')
        self.not_this_button.clicked.connect(state.not_this_selected)
        self.next_button = QPushButton('Next proposal')
        self.next_button.setToolTip(
            'The least certain proposal of the class chosen in Learn '
            '(n: of any class)'
        )
        self.next_button.clicked.connect(self.next_proposal)
        # The Fine-tune widget runs it: it owns the worker and progress.
        self.more_button = QPushButton('More like these')
        self.more_button.setToolTip(
            'Propose the places that look most like the clicks of the '
            'class chosen in Learn (3 clicks at least; no training)'
        )
        self.message = QLabel('')
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.radius)
        row.addWidget(self.colour_button)
        form = QFormLayout()
        form.addRow('Name', self.name)
        form.addRow('Radius', row)
        form.addRow(self.add_button)
        form.addRow('Learn', self.learn)
        form.addRow(self.more_button)
        review = QHBoxLayout()
        for button in (
            self.accept_button,
            self.not_this_button,
            self.next_button,
        ):
            review.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(review)
        layout.addWidget(self.message)

    def _choose_colour(self) -> None:
        colour = QColorDialog.getColor(parent=self)
        if colour.isValid():
            self.set_colour(colour.getRgb())

    def set_colour(self, rgba) -> None:
        """Use ``rgba`` (0-255) for the next new class."""
        self.colour = tuple(int(v) for v in rgba)
        self.colour_button.setStyleSheet(
            f'background-color: {QColor(*self.colour).name()}'
        )

    def add_class(self):
        """Add the class named here; return it, or None (see message)."""
        from napari_cryopick.errors import CryopickError

        try:
            cls = self.state.add_class(
                self.name.text().strip(), self.radius.value(), self.colour
            )
        except CryopickError as err:
            self.message.setText(str(err))
            return None
        self.learn.addItem(cls.name)
        self.learn.setCurrentText(cls.name)
        self.name.clear()
        self.colour = None
        self.colour_button.setStyleSheet('')
        self.message.setText(
            f'Click examples of {cls.name} in its layer, then Learn.'
            + caution_note(cls, self.state.model)
        )
        return cls

    def learned_class(self) -> str | None:
        """Return the class to learn from clicks (None: every class)."""
        text = self.learn.currentText()
        return None if text == ALL_CLASSES else text

    def next_proposal(self) -> None:
        """Go to the least certain proposal of the class being learnt.

        After Learn the other classes' low scores would come first in
        the whole queue (the ``n`` key's), though the user is reviewing
        the new class.
        """
        name = self.learned_class()
        self.state.next_in_queue(None if name is None else [name])

    def offer(self, names) -> None:
        """List the model's and session's classes as classes to learn."""
        have = {self.learn.itemText(i) for i in range(self.learn.count())}
        for name in names:
            if name not in have:
                self.learn.addItem(name)
