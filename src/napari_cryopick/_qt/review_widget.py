"""Review: a queue of picks to check, re-class, keep, delete, undo.

napari's own tools add, move and delete points; this panel adds what
napari lacks, with keyboard shortcuts on every class layer:

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
    QVBoxLayout,
    QWidget,
)

from napari_cryopick._qt._jump import jump_to
from napari_cryopick._qt._state import state_for

if TYPE_CHECKING:
    import napari.components

#: Rows listed in the queue (the least confident picks).
QUEUE_ROWS = 200


class ReviewWidget(QWidget):
    """Review queue and correction actions for the picking session.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer whose picking session is reviewed.
    """

    def __init__(self, viewer: napari.components.ViewerModel):
        super().__init__()
        self.viewer = viewer
        self.state = state_for(viewer)
        self.target = QComboBox()
        self.buttons = {}
        for key, text, slot in (
            ('k', 'Keep (k)', self.keep_selected),
            ('m', 'Move to class (m)', self.move_selected),
            ('n', 'Next (n)', self.next_in_queue),
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
        self.state.session_changed.connect(self._follow)
        self._follow(self.state.session)
        self.destroyed.connect(lambda *_, w=self: w._detach())

    def _detach(self) -> None:
        self.state.session_changed.disconnect(self._follow)
        self._follow(None)

    def _layout(self) -> None:
        move = QHBoxLayout()
        move.addWidget(self.buttons['m'])
        move.addWidget(self.target)
        row = QHBoxLayout()
        for key in 'knu':
            row.addWidget(self.buttons[key])
        layout = QVBoxLayout(self)
        layout.addLayout(move)
        layout.addLayout(row)
        layout.addWidget(QLabel('Review queue (least confident first)'))
        layout.addWidget(self.queue)
        layout.addWidget(self.status)

    def _follow(self, session) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self.refresh)
        if self.state.layers is not None:
            self.state.layers.updated.disconnect(self._bind_keys)
        self._session = session
        if session is None:
            return
        self.target.clear()
        self.target.addItems(session.class_names)
        session.changed.connect(self.refresh)
        for layer in self.state.layers.layers.values():
            self._bind_keys(layer)
        self.state.layers.updated.connect(self._bind_keys)
        self.refresh()

    def _bind_keys(self, layer) -> None:
        for key, slot in (
            ('k', self.keep_selected),
            ('m', self.move_selected),
            ('n', self.next_in_queue),
            ('u', self.undo),
        ):
            layer.bind_key(key, lambda _layer, s=slot: s(), overwrite=True)

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
        self.status.setText(self._summary())

    def _summary(self) -> str:
        counts = self._session.table['provenance'].value_counts()
        return ', '.join(f'{n} {p}' for p, n in counts.items())

    def show_row(self, row: int) -> None:
        """Select the pick of queue row ``row`` and go to it."""
        if not 0 <= row < len(self._uids):
            return
        uid = self._uids[row]
        pick = self._session.table.loc[uid]
        layer = self.state.layers.layers[pick['particle_type']]
        index = np.flatnonzero(layer.features['uid'].to_numpy() == uid)
        self.viewer.layers.selection.active = layer
        layer.selected_data = set(index.tolist())
        jump_to(self.viewer, (pick['z'], pick['y'], pick['x']))
        self.queue.selectRow(row)

    def next_in_queue(self) -> None:
        """Go to the least confident pick not yet reviewed."""
        self.show_row(0)

    def keep_selected(self) -> None:
        """Mark the selected picks as reviewed and kept."""
        self._session.set_provenance(self._selected(), 'kept')

    def move_selected(self, name: str | None = None) -> None:
        """Move the selected picks to class ``name`` (default: chosen)."""
        self._session.move_class(
            self._selected(), name or self.target.currentText()
        )

    def undo(self) -> None:
        """Undo the last change of the session."""
        if self._session is not None and not self._session.undo():
            self.status.setText('Nothing to undo.')

    def _selected(self) -> np.ndarray:
        if self.state.layers is None:
            return np.empty(0, dtype=np.int64)
        return self.state.layers.selected_uids()
