"""Does the napari GUI stay responsive while a full tomogram is picked?

Opens a real napari window (run it under Xvfb: ``xvfb-run -a python
benchmarks/bench_gui.py ...``), opens one run of a project with the Open
widget, presses Pick (bundled model unless ``--model``) with the Pick,
Review and Score widgets docked, and meanwhile measures the Qt event
loop with a 5 ms timer: the worst gap between two ticks is the longest
the GUI was frozen. Also reports when the first picks became visible,
relative to when the inference ended.

With ``--profile``, a sampling thread records what the GUI thread was
doing every 2 ms, and the stacks of the longest gaps are printed, so a
stall can be traced to its cause.

Run: ``xvfb-run -a python benchmarks/bench_gui.py PROJECT [--run RUN]``
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
import traceback

import numpy as np


class GapMeter:
    """Ticks of a 5 ms QTimer; a long gap is a frozen event loop."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.ticks = []
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        self.ticks.append(time.perf_counter())

    def start(self):
        self.ticks = [time.perf_counter()]
        self.timer.start(5)

    def stop(self):
        self.timer.stop()
        ticks = np.asarray(self.ticks)
        return ticks[:-1], np.diff(ticks)


class Sampler(threading.Thread):
    """Sample the main thread's Python stack every ``interval`` s."""

    def __init__(self, interval=0.002):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self.main = threading.main_thread().ident
        self.running = True

    def run(self):
        while self.running:
            frame = sys._current_frames().get(self.main)
            if frame is not None:
                stack = traceback.extract_stack(frame)
                self.samples.append((time.perf_counter(), stack))
            time.sleep(self.interval)

    def report(self, start, end, depth=12):
        """Print the most common stack within [start, end]."""
        inside = [
            tuple(_where(f) for f in stack[-depth:])
            for t, stack in self.samples
            if start <= t <= end
        ]
        counts = collections.Counter(inside).most_common(2)
        for stack, n in counts:
            print(f'    {n} of {len(inside)} samples:')
            for line in stack:
                print(f'      {line}')


def _where(frame) -> str:
    path = frame.filename.split('site-packages/')[-1]
    return f'{path}:{frame.lineno} {frame.name}'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('project')
    parser.add_argument('--run', default=None)
    parser.add_argument('--model', default='')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument(
        '--finetune-steps',
        type=int,
        default=30,
        help='then fine-tune this many steps on the picks (0: skip)',
    )
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_cryopick._qt.open_widget import OpenWidget
    from napari_cryopick._qt.pick_widget import PickWidget
    from napari_cryopick._qt.review_widget import ReviewWidget
    from napari_cryopick._qt.score_widget import ScoreWidget

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    opener = OpenWidget(viewer)
    pick = PickWidget(viewer)
    widgets = [opener, pick, ReviewWidget(viewer), ScoreWidget(viewer)]
    for widget in widgets:
        viewer.window.add_dock_widget(widget, name=type(widget).__name__)
    opener.path.setText(args.project)
    opener.refresh_runs()
    if args.run:
        opener.run.setCurrentText(args.run)
    marks = {}

    def wait(condition, timeout=600):
        end = time.perf_counter() + timeout
        while not condition():
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() > end:
                raise TimeoutError
        return time.perf_counter()

    opener.open()
    wait(lambda: not opener.progress.task.running)
    wait(lambda: pick.state.layers is not None and pick.state.layers.complete)
    for _ in range(50):  # let the first draws settle
        app.processEvents()
        time.sleep(0.01)
    pick.checkpoint.setText(args.model)
    layers = pick.state.layers

    def shown():
        return sum(len(layer.data) for layer in layers.layers.values())

    sampler = Sampler()
    if args.profile:
        sampler.start()
    meter = GapMeter()
    meter.start()
    start = time.perf_counter()
    worker = pick.pick()
    worker.finished.connect(
        lambda: marks.setdefault('inference done', time.perf_counter())
    )
    marks['first picks shown'] = wait(lambda: shown() > 0)
    wait(lambda: not pick.progress.task.running)
    wait(lambda: pick.state.layers.complete)
    for _ in range(100):  # the last redraws
        app.processEvents()
        time.sleep(0.005)
    times, gaps = meter.stop()
    print(pick.progress.status.text())
    for name, t in sorted(marks.items(), key=lambda kv: kv[1]):
        print(f'{name}: {t - start:.2f} s after Pick')
    report('Pick', times, gaps, start, sampler if args.profile else None)
    if args.finetune_steps:
        from napari_cryopick._qt.finetune_widget import FinetuneWidget

        tune = FinetuneWidget(viewer)
        viewer.window.add_dock_widget(tune, name='Fine-tune')
        tune.steps.setValue(args.finetune_steps)
        tune.out.setText('/tmp/bench-gui-finetuned.safetensors')
        meter.start()
        start = time.perf_counter()
        tune.train()
        wait(lambda: not tune.progress.task.running, timeout=1800)
        times, gaps = meter.stop()
        print(tune.result.text() or tune.progress.status.text())
        print(f'fine-tuning took {time.perf_counter() - start:.1f} s')
        report(
            'Fine-tune', times, gaps, start, sampler if args.profile else None
        )
    sampler.running = False
    viewer.close()
    return 0


def report(what: str, times, gaps, start, sampler=None) -> None:
    """Print the worst gaps (and, with a sampler, what caused them)."""
    order = np.argsort(gaps)[::-1]
    print(f'{what}: worst event-loop gap: {gaps[order[0]] * 1e3:.0f} ms')
    print(
        f'{what}: gaps over 100 ms: {int((gaps > 0.1).sum())}; '
        f'over 50 ms: {int((gaps > 0.05).sum())} of {len(gaps)}'
    )
    for i in order[:5]:
        print(f'  {gaps[i] * 1e3:.0f} ms at {times[i] - start:.2f} s')
        if sampler is not None:
            sampler.report(times[i], times[i] + gaps[i])


if __name__ == '__main__':
    sys.exit(main())
