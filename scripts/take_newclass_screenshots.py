"""Screenshots of the "Pick your own particle" loop for the user guide.

Runs the real widgets in a real napari window on a phantom of
``benchmarks/bench_newclass.py`` (its tomogram A, which holds a protein
the bundled model never saw)::

    xvfb-run -a -s '-screen 0 1920x1080x24' python \\
        scripts/take_newclass_screenshots.py PROJECT OUT [STEPS] [MODEL]

PROJECT is a bench_newclass project folder; OUT the image folder. The
loop: Pick with the bundled model (or MODEL), New class ``novel``, 20
clicks on its particles, Learn for STEPS steps (default 300), and the
proposals up for review (Next proposal: the new class's least certain).
STEPS 0: 5 clicks and "More like these" instead (``gui_newclass_more``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import imageio.v3 as iio
import napari
import numpy as np
from qtpy.QtWidgets import QApplication, QScrollArea

from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx
from napari_cryopick.io.sources import read_picks

PROJECT = Path(sys.argv[1])
OUT = Path(sys.argv[2])
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 300
MODEL = sys.argv[4] if len(sys.argv) > 4 else ''
RUN = 'TS_nc_A'
NAME = 'novel'


def settle(widget=None, turns: int = 40) -> None:
    app = QApplication.instance()
    while widget is not None and widget.progress.task.running:
        app.processEvents()
        time.sleep(0.05)
    for _ in range(turns):
        app.processEvents()
        time.sleep(0.02)


def shot(viewer, name: str) -> None:
    settle()
    image = viewer.screenshot(canvas_only=False, flash=False)
    iio.imwrite(OUT / f'gui_newclass_{name}.png', image)
    print('wrote', OUT / f'gui_newclass_{name}.png', flush=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer()
    viewer.window.resize(1920, 1080)
    dock, opener = viewer.window.add_plugin_dock_widget(
        'napari-cryopick', 'Open tomogram'
    )
    opener.path.setText(str(PROJECT))
    opener.refresh_runs()
    opener.run.setCurrentText(RUN)
    opener.open()
    settle(opener)
    viewer.window.remove_dock_widget(dock)
    for layer in list(viewer.layers):
        if '(curation/0)' in layer.name:  # the ground truth: not shown
            viewer.layers.remove(layer)
    pick_dock, pick = viewer.window.add_plugin_dock_widget(
        'napari-cryopick', 'Pick'
    )
    if MODEL:
        pick.checkpoint.setText(MODEL)
    pick.pick()
    settle(pick)
    _, tune = viewer.window.add_plugin_dock_widget(
        'napari-cryopick', 'Fine-tune'
    )
    box = tune.new_class
    box.name.setText(NAME)
    truth = read_picks(PROJECT)
    mine = truth[(truth['run'] == RUN) & (truth['particle_type'] == NAME)]
    box.radius.setValue(100.0)
    box.add_class()
    layer = viewer.layers[NAME]
    count = 20 if STEPS else 5
    order = np.random.default_rng(20).permutation(len(mine))
    clicks = mine.iloc[order[:count]]
    voxels = angstrom_xyz_to_voxel_zyx(
        clicks[['x', 'y', 'z']].to_numpy(float), layer.scale
    )
    for point in voxels:
        layer.add(point)
    viewer.dims.set_point(0, float(voxels[0][0] * layer.scale[0]))
    if not STEPS:
        more_like_these(viewer, tune, pick_dock)
        return
    shot(viewer, 'clicks')
    tune.steps.setValue(STEPS)
    tune.out.setText('/tmp/cryopick-screenshots/novel.safetensors')
    tune.train()
    settle(tune)
    # Review beside Fine-tune: Pick's dock is closed to give them room.
    viewer.window.remove_dock_widget(pick_dock)
    viewer.window.add_plugin_dock_widget('napari-cryopick', 'Review')
    settle()
    box.next_button.click()  # the new class's least certain proposal
    scroll = tune.loss_plot.parentWidget()
    while not isinstance(scroll, QScrollArea):
        scroll = scroll.parentWidget()
    scroll.ensureWidgetVisible(tune.loss_plot)
    shot(viewer, 'review')
    print(tune.result.text())
    viewer.close()


def more_like_these(viewer, tune, pick_dock) -> None:
    """The proposals like the 5 clicks, the best one selected."""
    tune.new_class.more_button.click()
    settle(tune)
    viewer.window.remove_dock_widget(pick_dock)
    viewer.window.add_plugin_dock_widget('napari-cryopick', 'Review')
    settle()
    session = tune.state.session
    best = session.review_queue([NAME]).index[-1]  # the most alike
    tune.state.show_pick(int(best))
    viewer.reset_view()  # the whole slice: the proposals around it too
    shot(viewer, 'more')
    print(tune.result.text())
    viewer.close()


if __name__ == '__main__':
    main()
