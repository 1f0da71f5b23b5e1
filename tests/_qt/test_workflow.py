"""Pick, review, score and export the sample in a real viewer."""

import time

import numpy as np
import pytest
from app_model.types import KeyBinding
from qtpy.QtCore import QTimer

from napari_cryopick._qt.export_widget import CSV, STAR, ExportWidget
from napari_cryopick._qt.pick_widget import PickWidget
from napari_cryopick._qt.review_widget import ReviewWidget
from napari_cryopick._qt.score_widget import ScoreWidget
from napari_cryopick.io.sources import read_picks
from napari_cryopick.viewer.scoring import HIT
from tests._qt.conftest import add_layers, wait_done

#: Each test picks the whole sample first (seconds).
pytestmark = pytest.mark.slow


class GapMeter:
    """The longest time the Qt event loop went without running a timer."""

    def __init__(self):
        self.gaps = []
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def start(self):
        self.last = time.perf_counter()
        self.timer.start(5)

    def _tick(self):
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def stop(self) -> float:
        self.timer.stop()
        return max(self.gaps)


@pytest.fixture
def picked(make_napari_viewer, qtbot, sample_layers, checkpoint):
    viewer = make_napari_viewer()
    add_layers(viewer, sample_layers)
    pick = PickWidget(viewer)
    score = ScoreWidget(viewer, pick.state)
    review = ReviewWidget(viewer, pick.state)
    for widget in (pick, score, review):
        qtbot.addWidget(widget)
    pick.checkpoint.setText(str(checkpoint))
    meter = GapMeter()
    meter.start()
    pick.pick()
    wait_done(qtbot, pick, 120_000)
    qtbot.waitUntil(lambda: pick.state.layers.complete, timeout=10_000)
    qtbot.wait(50)
    gap = meter.stop()
    print(f'worst event-loop gap while picking the sample: {gap * 1e3:.0f} ms')
    assert pick.state.session is not None, pick.progress.status.text()
    return viewer, pick, score, review


def test_score_updates_live_on_edits(picked, qtbot):
    viewer, pick, score, review = picked
    score.use_layers('(reference)')
    first = score.live.result
    assert first is not None
    assert score.table.rowCount() == 6
    assert score.score.text().startswith('score: ')
    # Adding a pick exactly on every missed reference raises the score.
    missed = score.live.missed
    assert len(missed) > 0
    assert viewer.layers['missed (reference)'].data.shape[0] == len(missed)
    for name, rows in missed.groupby('particle_type'):
        layer = viewer.layers[name]
        zyx = rows[['z', 'y', 'x']].to_numpy() / layer.scale
        layer.add(zyx)
    assert score.live.result.score > first.score
    assert len(score.live.missed) == 0
    assert set(pick.state.session.table['origin']) >= {'user'}
    # Hit picks get the light fill (the ring keeps the class colour).
    layer = viewer.layers[missed['particle_type'].iloc[0]]
    assert np.allclose(layer.face_color[-1], HIT)
    # The F4-optimal thresholds never score worse than these.
    before = score.live.result.score
    score.best_button.click()
    qtbot.waitUntil(lambda: pick.state.layers.complete)
    assert score.live.result.score >= before - 1e-9


def test_review_move_keep_and_undo(picked, qtbot):
    viewer, pick, score, review = picked
    session = pick.state.session
    name = max(session.class_names, key=lambda n: len(viewer.layers[n].data))
    layer = viewer.layers[name]
    n = len(layer.data)
    viewer.layers.selection.active = layer
    layer.selected_data = {0, 1}
    review.move_selected(
        'apo-ferritin' if name != 'apo-ferritin' else 'ribosome'
    )
    qtbot.waitUntil(lambda: pick.state.layers.complete)
    assert len(layer.data) == n - 2
    assert 'moved' in set(session.table['origin'])
    review.undo()
    qtbot.waitUntil(lambda: pick.state.layers.complete)
    assert len(viewer.layers[name].data) == n
    # Deleting with napari's own tool keeps the model pick as a negative.
    layer.selected_data = {0}
    layer.remove_selected()
    assert len(session.negatives()) == 1
    review.show_row(0)
    assert len(layer.selected_data) <= 1
    review.keep_selected()


def test_keyboard_shortcuts_on_class_layers(picked, qtbot):
    viewer, pick, score, review = picked
    session = pick.state.session
    name = max(session.class_names, key=lambda n: len(viewer.layers[n].data))
    layer = viewer.layers[name]
    viewer.layers.selection.active = layer
    layer.selected_data = {0}
    uid = int(layer.features['uid'][0])
    layer.keymap[KeyBinding.from_str('K')](layer)
    assert session.table.loc[uid, 'origin'] == 'kept'
    layer.keymap[KeyBinding.from_str('U')](layer)
    assert session.table.loc[uid, 'origin'] == 'model'
    layer.keymap[KeyBinding.from_str('N')](layer)
    assert len(viewer.layers.selection.active.selected_data) == 1


def test_threshold_slider_changes_shown_points(picked):
    viewer, pick, score, review = picked
    session = pick.state.session
    name = max(session.class_names, key=lambda n: len(viewer.layers[n].data))
    rows = session.table[session.table['particle_type'] == name]
    rows = rows[rows['origin'] != 'deleted']
    total = len(rows)
    histogram = pick.sliders.histograms[name]
    # Every model candidate, whatever its score.
    assert histogram.counts.sum() == (rows['origin'] == 'model').sum()
    pick.sliders.set_value(name, 1.0)
    shown = len(viewer.layers[name].data)
    assert shown < total
    assert pick.sliders.counts[name].text() == f'{shown} shown of {total}'
    assert histogram.threshold == 1.0
    pick.sliders.set_value(name, 0.0)
    assert len(viewer.layers[name].data) == total
    assert pick.sliders.counts[name].text() == f'{total} shown of {total}'
    histogram.grab()  # paints without error


def test_export_round_trips(picked, qtbot, tmp_path):
    viewer, pick, score, review = picked
    export = ExportWidget(viewer, pick.state)
    qtbot.addWidget(export)
    shown = pick.state.session.picks()
    export.path.setText(str(tmp_path / 'project'))
    export.user.setText('my_user')
    files = export.export()
    assert files, export.status.text()
    assert (tmp_path / 'project' / 'copick_config.json').is_file()
    back = read_picks(tmp_path / 'project')
    assert len(back) == len(shown)
    assert set(back['user_id']) == {'my-user'}
    np.testing.assert_allclose(
        np.sort(back['score'].to_numpy()), np.sort(shown['score'].to_numpy())
    )
    # A second export refuses to overwrite silently.
    assert export.export() == []
    assert 'already exists' in export.status.text()
    export.overwrite.setChecked(True)
    assert export.export()
    export.format.setCurrentText(CSV)
    export.path.setText(str(tmp_path / 'picks.csv'))
    assert export.export()
    assert len(read_picks(tmp_path / 'picks.csv')) == len(shown)
    # The export, loaded back as a reference, matches every shown pick.
    score.load(str(tmp_path / 'picks.csv'))
    table = score.live.result.table
    assert (table['hit'] == table['predicted']).all()
    assert score.score.text().startswith('score: ')
    # RELION 5 STAR, centred on the open tomogram, scores back the same.
    export.format.setCurrentText(STAR)
    export.path.setText(str(tmp_path / 'particles.star'))
    assert export.export(), export.status.text()
    score.load(str(tmp_path / 'particles.star'))
    table = score.live.result.table
    assert (table['hit'] == table['predicted']).all()


def test_an_edit_rescores_5000_picks(picked, qtbot):
    viewer, pick, score, review = picked
    session = pick.state.session
    # About 5,000 shown picks: raise the thresholds of a random model.
    scores = session.table['score'].to_numpy()
    cut = float(np.sort(scores)[-5000])
    session.set_thresholds(dict.fromkeys(session.class_names, cut))
    qtbot.waitUntil(lambda: pick.state.layers.complete)
    score.use_layers('(reference)')
    assert 4900 <= len(session.visible()) <= 5100
    layer = viewer.layers[session.class_names[0]]
    before = score.live.result
    start = time.perf_counter()
    layer.add(layer.data[0] + 3.0)
    elapsed = time.perf_counter() - start
    print(f'edit -> rescored, recoloured, table and queue: {elapsed:.3f} s')
    # Speed is reported, not asserted (benchmarks, not timed tests, judge
    # it; a loaded CI machine would make the test flaky).
    assert score.live.result is not before
