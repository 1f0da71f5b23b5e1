"""Review: a queue of picks to check, re-class, keep, delete, undo.

napari's own tools add, move and delete points; this panel adds what
napari lacks. The same actions are keys on every class layer (bound by
:class:`~napari_cryopick.viewer.state.ViewerState`):

=====  ================================================
``k``  keep the selected picks (mark them reviewed)
``m``  move the selected picks to the class chosen here
``n``  go to the next pick of the review queue
``u``  undo the last cryopick change
=====  ================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from napari_cryopick._qt._shared import CryopickWidget

if TYPE_CHECKING:
    import napari.components

    from napari_cryopick.viewer.state import Context, ViewerState

#: Rows listed in the queue (the least confident picks).
QUEUE_ROWS = 200


class ReviewWidget(CryopickWidget):
    """Review queue and correction actions for the picking session.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session is reviewed.
    state : ViewerState, optional
        Shared with the other cryopick widgets (see
        :class:`~napari_cryopick._qt._shared.CryopickWidget`).
    """

    def __init__(
        self,
        viewer: napari.components.ViewerModel,
        state: ViewerState | None = None,
    ):
        super().__init__(viewer, state)
        self.target = QComboBox()
        self.target.currentTextChanged.connect(self._choose_target)
        self.buttons = {}
        for key, text, slot in (
            ('k', 'Keep (k)', self.state.keep_selected),
            ('m', 'Move to class (m)', self.state.move_selected),
            ('n', 'Next (n)', self.state.next_in_queue),
            ('u', 'Undo (u)', self.undo),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=slot: s())
            self.buttons[key] = button
        self.queue = QTableWidget(0, 3)
        self.queue.setHorizontalHeaderLabels(['class', 'score', 'id'])
        self.queue.verticalHeader().setVisible(False)
        self.queue.cellClicked.connect(lambda row, _: self.show_row(row))
        self.status = QLabel('')
        self._uids = np.empty(0, dtype=np.int64)
        self._layout()
        self._session = None
        self.state.changed.connect(self._on_context)
        self.state.focused.connect(self._focused)
        self._follow(self.state.session)

    def _detach(self) -> None:
        self.state.changed.disconnect(self._on_context)
        self.state.focused.disconnect(self._focused)
        self._follow(None)

    def _layout(self) -> None:
        move = QHBoxLayout()
        move.addWidget(self.buttons['m'])
        move.addWidget(self.target)
        row = QHBoxLayout()
        for key in 'knu':
            row.addWidget(self.buttons[key])
        layout = self.body()
        layout.addLayout(move)
        layout.addLayout(row)
        layout.addWidget(QLabel('Review queue (least confident first)'))
        layout.addWidget(self.queue)
        layout.addWidget(self.status)

    def _on_context(self, new: Context, old: Context) -> None:
        if new.session is not old.session:
            self._follow(new.session)

    def _follow(self, session) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self.refresh)
        self._session = session
        if session is None:
            return
        self.target.clear()
        self.target.addItems(session.class_names)
        session.changed.connect(self.refresh)
        self.refresh()

    def _choose_target(self, name: str) -> None:
        self.state.move_target = name or None

    def refresh(self, *args) -> None:
        """List the least confident unreviewed picks."""
        queue = self._session.review_queue().head(QUEUE_ROWS)
        self._uids = queue.index.to_numpy()
        self.queue.setRowCount(len(queue))
        values = zip(
            queue['particle_type'], queue['score'], self._uids, strict=True
        )
        for i, (name, score, uid) in enumerate(values):
            self.queue.setItem(i, 0, QTableWidgetItem(name))
            self.queue.setItem(i, 1, QTableWidgetItem(f'{score:.3f}'))
            self.queue.setItem(i, 2, QTableWidgetItem(str(uid)))
        counts = self._session.table['origin'].value_counts()
        self.status.setText(', '.join(f'{n} {o}' for o, n in counts.items()))

    def show_row(self, row: int) -> None:
        """Select the pick of queue row ``row`` and go to it."""
        if 0 <= row < len(self._uids):
            self.state.show_pick(int(self._uids[row]))

    def _focused(self, uid: int) -> None:
        rows = np.flatnonzero(self._uids == uid)
        if len(rows):
            self.queue.selectRow(int(rows[0]))

    def keep_selected(self) -> None:
        """Mark the selected picks as reviewed and kept."""
        self.state.keep_selected()

    def move_selected(self, name: str | None = None) -> None:
        """Move the selected picks to class ``name`` (default: chosen)."""
        self.state.move_selected(name)

    def undo(self) -> None:
        """Undo the last change of the session."""
        if not self.state.undo():
            self.status.setText('Nothing to undo.')
