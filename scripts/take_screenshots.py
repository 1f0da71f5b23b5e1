"""Screenshots of the real cryopick widgets for docs/user-guide.md.

Run under a virtual X server::

    xvfb-run -a python scripts/take_screenshots.py docs/images [MODEL]

MODEL defaults to the bundled model.
"""

import sys
import time
from pathlib import Path

import imageio.v3 as iio
import napari
from qtpy.QtWidgets import QApplication

OUT = sys.argv[1]
MODEL = sys.argv[2] if len(sys.argv) > 2 else ''


def wait(widget):
    app = QApplication.instance()
    while widget.progress.task.running:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(40):
        app.processEvents()
        time.sleep(0.02)


def shot(viewer, name):
    QApplication.instance().processEvents()
    image = viewer.screenshot(canvas_only=False, flash=False)
    iio.imwrite(f'{OUT}/gui_{name}.png', image)


viewer = napari.Viewer()
viewer.window.resize(1500, 950)
viewer.open_sample('napari-cryopick', 'phantom')
viewer.dims.set_point(0, 14 * 10.012444)
shot(viewer, 'sample')

dock, pick = viewer.window.add_plugin_dock_widget('napari-cryopick', 'Pick')
pick.inference = pick.inference.__class__(threads=1)
if MODEL:
    pick.checkpoint.setText(MODEL)
pick.pick()
wait(pick)
for layer in viewer.layers:
    if layer.name.endswith('(reference)'):
        layer.visible = False
shot(viewer, 'pick')
viewer.window.remove_dock_widget(dock)

dock, score = viewer.window.add_plugin_dock_widget('napari-cryopick', 'Score')
score.use_layers('(reference)')
QApplication.instance().processEvents()
shot(viewer, 'score')
viewer.window.remove_dock_widget(dock)

dock, review = viewer.window.add_plugin_dock_widget(
    'napari-cryopick', 'Review'
)
review.show_row(3)
viewer.scene.camera.zoom *= 1.6
shot(viewer, 'review')
viewer.window.remove_dock_widget(dock)

dock, export = viewer.window.add_plugin_dock_widget(
    'napari-cryopick', 'Export'
)
export.path.setText('/data/my-project')
shot(viewer, 'export')
viewer.window.remove_dock_widget(dock)

dock, tune = viewer.window.add_plugin_dock_widget(
    'napari-cryopick', 'Fine-tune'
)
# A short real fine-tuning run, so the loss plot and the scores show.
Path('/tmp/cryopick-screenshots').mkdir(exist_ok=True)
tune.out.setText('/tmp/cryopick-screenshots/my-finetuned.safetensors')
tune.steps.setValue(60)
tune.train()
wait(tune)
shot(viewer, 'finetune')
viewer.window.remove_dock_widget(dock)

dock, opener = viewer.window.add_plugin_dock_widget(
    'napari-cryopick', 'Open tomogram'
)
opener.path.setText('/data/czii/train')
shot(viewer, 'open')
print('scores', score.score.text())
viewer.close()
