"""``cryopick demo``: napari on the phantom sample, widgets docked."""

from __future__ import annotations

from napari_cryopick._sample_data import make_phantom_tomogram

PLUGIN = 'napari-cryopick'
#: Docked in this order (display names from napari.yaml).
WIDGETS = ('Pick', 'Review', 'Score', 'Export', 'Fine-tune')


def make_demo_viewer(show: bool = True):
    """Return a viewer with the phantom, its ground truth and the widgets.

    Parameters
    ----------
    show : bool
        Show the window.

    Returns
    -------
    napari.Viewer
        The viewer; the Score widget already scores against the
        phantom's ground truth (the ``(reference)`` layers).
    """
    import napari

    viewer = napari.Viewer(title='napari-cryopick demo', show=show)
    for data, kwargs, kind in make_phantom_tomogram():
        getattr(viewer, f'add_{kind}')(data, **kwargs)
    widgets = {
        name: viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]
        for name in WIDGETS
    }
    widgets['Score'].use_layers()
    return viewer


def launch_demo() -> None:
    """Open the demo viewer and run napari until it is closed."""
    import napari

    make_demo_viewer()
    napari.run()
