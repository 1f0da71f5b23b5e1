"""Screenshots of the real cryopick widgets for docs/user-guide.md.

Run under a virtual X server with a 1920x1080 screen::

    xvfb-run -a -s '-screen 0 1920x1080x24' \\
        python scripts/take_screenshots.py docs/images [MODEL]

The window fills the screen, laid out as ``cryopick demo`` lays it out
(the widgets as tabs of one dock); each shot shows one tab. MODEL
defaults to the bundled model. Look at every image before committing:
a canvas drawn before the window was exposed comes out black.
"""

import sys
import time
from pathlib import Path

import imageio.v3 as iio
from qtpy.QtWidgets import QApplication, QDockWidget

from napari_cryopick.cli.demo import make_demo_viewer

OUT = Path(sys.argv[1])
MODEL = sys.argv[2] if len(sys.argv) > 2 else ''
SCREEN = (1920, 1080)
FINETUNE_STEPS = 10


def settle(seconds=1.0):
    app = QApplication.instance()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.02)


def wait(widget):
    app = QApplication.instance()
    while widget.progress.task.running:
        app.processEvents()
        time.sleep(0.05)
    settle()


def dock_of(widget):
    while not isinstance(widget, QDockWidget):
        widget = widget.parent()
    return widget


def shot(viewer, name, widget=None):
    if widget is not None:
        dock_of(widget).raise_()
    settle()
    image = viewer.screenshot(canvas_only=False, flash=False)
    iio.imwrite(OUT / f'gui_{name}.png', image)
    print(name, image.shape)


viewer = make_demo_viewer(show=True)
viewer.window.set_geometry(0, 0, *SCREEN)
widgets = {
    name.split(' (')[0]: widget
    for name, widget in viewer.window.dock_widgets.items()
}
viewer.dims.set_point(0, 14 * 10.012444)
settle(2)
pick = widgets['Pick']
shot(viewer, 'sample', pick)

if MODEL:
    pick.checkpoint.setText(MODEL)
pick.pick()
wait(pick)
for layer in viewer.layers:
    if layer.name.endswith('(reference)'):
        layer.visible = False
shot(viewer, 'pick', pick)
# The references beside the picks: squares against the picks' rings.
for layer in viewer.layers:
    if layer.name.endswith('(reference)'):
        layer.visible = True
shot(viewer, 'score', widgets['Score'])
for layer in viewer.layers:
    if layer.name.endswith('(reference)'):
        layer.visible = False

review = widgets['Review']
review.show_row(3)
viewer.scene.camera.zoom *= 1.6
shot(viewer, 'review', review)
viewer.reset_view()

export = widgets['Export']
export.path.setText('/data/my-project')
shot(viewer, 'export', export)

# A short real fine-tuning run, so the loss plot and the scores show.
tune = widgets['Fine-tune']
Path('/tmp/cryopick-screenshots').mkdir(exist_ok=True)
tune.out.setText('/tmp/cryopick-screenshots/my-finetuned.safetensors')
tune.steps.setValue(FINETUNE_STEPS)
tune.train()
wait(tune)
shot(viewer, 'finetune', tune)

opener = viewer.window.add_plugin_dock_widget(
    'napari-cryopick', 'Open tomogram', tabify=True
)[1]
opener.path.setText('/data/czii/train')
shot(viewer, 'open', opener)
print('score', widgets['Score'].score.text())
viewer.close()
