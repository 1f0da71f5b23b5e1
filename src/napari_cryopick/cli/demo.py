"""``cryopick demo``: the whole pipeline on a phantom, in napari or not."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

PLUGIN = 'napari-cryopick'
#: Docked in this order (display names from napari.yaml), as tabs of
#: one dock: stacked, their tables got a row or two each and the window
#: asked for more height than a 1920x1080 screen has.
WIDGETS = ('Pick', 'Review', 'Score', 'Export', 'Fine-tune')
#: The window's size: a 1920x1080 screen less its panels.
WINDOW = (1800, 980)


def add_parser(commands) -> None:
    """Register the ``demo`` subcommand."""
    parser = commands.add_parser(
        'demo',
        help='try it: napari on a phantom, or the pipeline headless',
        description='Without options: open napari on a small phantom '
        'tomogram and its ground truth, with the cryopick widgets docked '
        '(press Pick, then read the Score). With --headless OUTDIR: '
        'simulate a phantom project, pick it with the bundled model and '
        'score the picks against the ground truth, writing everything '
        'under OUTDIR.',
    )
    parser.add_argument(
        '--headless',
        type=Path,
        metavar='OUTDIR',
        help='run simulate -> predict -> score into OUTDIR, no window',
    )
    parser.add_argument('--runs', type=int, default=2, help='headless runs')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('Z', 'Y', 'X'),
        default=(184, 630, 630),
        help='headless tomogram shape (default: CZII size)',
    )
    parser.add_argument('--seed', type=int, default=1, help='random seed')
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the demo; return the exit status."""
    if args.headless is None:
        import napari

        check_display()
        make_demo_viewer()
        napari.run()
        return 0
    return headless(args.headless, args.runs, args.shape, args.seed)


def check_display() -> None:
    """Refuse to open a window where there is no display to show it on.

    Without this, Qt aborts deep inside (``could not connect to display``,
    "Reinstalling the application may fix this problem").

    Raises
    ------
    CryopickError
        On Linux and other X11/Wayland systems with neither ``DISPLAY``
        nor ``WAYLAND_DISPLAY`` set, unless ``QT_QPA_PLATFORM`` names a
        platform plugin that needs none (offscreen, vnc...).
    """
    from napari_cryopick.errors import CryopickError

    if sys.platform in ('darwin', 'win32') or os.environ.get(
        'QT_QPA_PLATFORM'
    ):
        return
    if os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'):
        return
    raise CryopickError(
        'no display to open napari on (DISPLAY is not set): run '
        '`cryopick demo --headless OUTDIR` for the pipeline without a '
        'window, or log in with a display (ssh -X, a desktop, xvfb-run)'
    )


def headless(out: Path, runs: int, shape, seed: int) -> int:
    """Simulate, predict and score into ``out``; return the exit status."""
    from napari_cryopick.cli import build_parser

    project, picks = out / 'project', out / 'picks'
    steps = [
        ['simulate', str(project), '--runs', str(runs), '--seed', str(seed)]
        + ['--shape', *map(str, shape), '--overwrite'],
        ['predict', str(project), '--out', str(picks), '--force']
        + ['--csv', str(out / 'picks.csv')],
        ['score', str(project), str(picks), '--json', str(out / 'score.json')],
    ]
    parser = build_parser()
    for argv in steps:
        log.info('$ cryopick %s', ' '.join(argv))
        args = parser.parse_args(argv)
        status = int(args.run(args) or 0)
        if status:
            return status
    return 0


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

    from napari_cryopick._sample_data import make_phantom_tomogram

    viewer = napari.Viewer(title='napari-cryopick demo', show=show)
    for data, kwargs, kind in make_phantom_tomogram():
        getattr(viewer, f'add_{kind}')(data, **kwargs)
    docks, widgets = {}, {}
    for name in WIDGETS:
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget(
            PLUGIN, name, tabify=bool(docks)
        )
    docks[WIDGETS[0]].raise_()  # the Pick tab in front
    viewer.window.resize(*WINDOW)
    widgets['Score'].use_layers()
    return viewer
