"""The base of the cryopick dock widgets: the state they share."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from qtpy.QtCore import QSize
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from napari_cryopick._qt._task import later
from napari_cryopick.viewer.state import ViewerState
from napari_cryopick.viewer.warm import thaw

if TYPE_CHECKING:
    from napari.components import ViewerModel


class CryopickWidget(QWidget):
    """A dock widget working on the state of its viewer's widgets.

    Parameters
    ----------
    viewer : ViewerModel
        The viewer.
    state : ViewerState, optional
        The state to share (default: :func:`shared_state`).
    """

    def __init__(self, viewer: ViewerModel, state: ViewerState | None = None):
        super().__init__()
        self.viewer = viewer
        self.state = state or shared_state(viewer)
        # The warm-up froze the objects alive then (the window among
        # them): destroyed, the window must be collectable again.
        self.destroyed.connect(thaw)
        self.destroyed.connect(_weak_call(self._detach))

    def _detach(self) -> None:
        """Let go of the viewer and the state, which outlive the widget."""

    def body(self) -> QVBoxLayout:
        """Return the layout to fill, inside a scroll area filling ``self``.

        napari lets a dock be made as short as 50 pixels; a tall widget
        laid out on ``self`` directly then has its rows squeezed over one
        another (three cryopick docks on a 1080-line screen). In the
        scroll area it keeps its rows and scrolls instead.
        """
        scroll = _Scroll()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        return QVBoxLayout(scroll.widget())


#: The height a cryopick dock keeps however many share its side (pixels).
MIN_HEIGHT = 200


class _Scroll(QScrollArea):
    """A frameless scroll area that asks for the whole of its widget."""

    def __init__(self):
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(QWidget())

    def sizeHint(self) -> QSize:
        # QScrollArea caps its hint at 24 lines of text: a dock with room
        # to spare would open scrolled.
        return self.widget().sizeHint()

    def minimumSizeHint(self) -> QSize:
        # As narrow as the widget can be (the dock area keeps its width),
        # and no taller than MIN_HEIGHT: the rest scrolls, and three
        # docks on a 1080-line screen each keep a useful part in view.
        inner = self.widget().minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, min(inner.height(), MIN_HEIGHT))


def _weak_call(method):
    """Return a slot calling the bound ``method`` while its object lives.

    A slot holding the widget itself (``lambda *_, w=self: ...``) forms
    a reference cycle with it; when the garbage collector breaks the
    cycle it empties the lambda first, and Qt then calls the emptied
    lambda as the widget goes ("missing 1 required keyword-only
    argument"). Held weakly there is no cycle; once the widget is
    collected its psygnal and napari connections, weak too, are gone
    with it, and nothing is left to detach.
    """
    weak = weakref.WeakMethod(method)

    def call(*_) -> None:
        bound = weak()
        if bound is not None:
            bound()

    return call


def shared_state(viewer: ViewerModel) -> ViewerState:
    """Return the state of the cryopick widgets docked in ``viewer``.

    The widgets docked in the viewer's window (napari's public
    ``window.dock_widgets``) hold it, so it lives as long as one of them
    does, and no module keeps a registry of viewers. A viewer with no
    window, or none of our widgets docked yet, gets a new state: pass
    one widget's ``state`` to the next to share it.
    """
    viewer = getattr(viewer, '__wrapped__', viewer)
    window = getattr(viewer, 'window', None)
    docked = () if window is None else window.dock_widgets.values()
    for widget in docked:
        state = getattr(widget, 'state', None)
        if isinstance(state, ViewerState) and state.viewer is viewer:
            return state
    return ViewerState(viewer, schedule=later)
