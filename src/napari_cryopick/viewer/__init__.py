"""The model behind the napari widgets: no Qt here.

:class:`~napari_cryopick.viewer.state.ViewerState` is what the cryopick
widgets of one viewer share (the context they work on, the class layers,
the review actions and their keys); the widgets in ``_qt`` only lay out
controls, read it and call its methods. Worker jobs and their typed
messages live in :mod:`~napari_cryopick.viewer.jobs`.
"""
