"""Does the napari GUI stay responsive while a full tomogram is picked?

Opens a real napari window (run it under Xvfb: ``xvfb-run -a python
benchmarks/bench_gui.py ...``), opens one run of a project with the Open
widget, presses Pick (bundled model unless ``--model``) with the Pick,
Review and Score widgets docked, and meanwhile measures the Qt event
loop with a 5 ms timer: the worst gap between two ticks is the longest
the GUI was frozen. Also reports when the first picks became visible,
relative to when the inference ended.

With ``--at-once``, the tomogram is opened first, then the Pick,
Review and Score widgets are docked through napari's plugin menu path
(one event-loop turn apart, as menu clicks are) and Pick is pressed at
once (the model libraries still loading): the event loop is measured
from the first dock to the last redraw. Each of the worst gaps is split
into the GUI thread running, waiting for a CPU (other work on the
machine) and blocked (the GIL, a lock), from Linux's scheduler
statistics.

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
    """Ticks of a 5 ms QTimer; a long gap is a frozen event loop.

    Each tick also reads the GUI thread's scheduler statistics (Linux
    ``/proc/thread-self/schedstat``: time on a CPU, time runnable but
    waiting for one), so a gap splits into the GUI thread running, the
    GUI thread waiting for a CPU (the machine busy with other work), and
    the rest: blocked, on the GIL or on a lock.
    """

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.ticks = []
        self.sched = []
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        self.ticks.append(time.perf_counter())
        self.sched.append(_schedstat())

    def start(self):
        self.ticks = [time.perf_counter()]
        self.sched = [_schedstat()]
        self.timer.start(5)

    def stop(self):
        self.timer.stop()
        ticks = np.asarray(self.ticks)
        return ticks[:-1], np.diff(ticks)

    def split(self):
        """Return (running, waiting for a CPU) seconds within each gap."""
        sched = np.diff(np.asarray(self.sched, float), axis=0) / 1e9
        return sched[:, 0], sched[:, 1]


def _schedstat() -> tuple[int, int]:
    """(ns on a CPU, ns runnable waiting for one) of the calling thread."""
    try:
        with open('/proc/thread-self/schedstat') as stats:
            run, wait, _ = stats.read().split()
    except OSError:  # not Linux: no split
        return (0, 0)
    return int(run), int(wait)


class Sampler(threading.Thread):
    """Sample the threads' Python stacks every ``interval`` s.

    The GUI thread's stack says what it was doing in a gap; when it was
    only waiting for the GIL, the other threads' stacks (sampled as soon
    as the GIL was free) say who held it.
    """

    def __init__(self, interval=0.002, gui_only=False):
        super().__init__(daemon=True)
        self.interval = interval
        self.gui_only = gui_only
        self.samples = []
        self.main = threading.main_thread().ident
        self.running = True

    def run(self):
        names = {}
        while self.running:
            now = time.perf_counter()
            for ident, frame in sys._current_frames().items():
                if ident == self.ident or (
                    self.gui_only and ident != self.main
                ):
                    continue
                if ident not in names:
                    names = {t.ident: t.name for t in threading.enumerate()}
                name = 'GUI' if ident == self.main else names.get(ident, '?')
                stack = traceback.extract_stack(frame)
                self.samples.append((now, name, stack))
            time.sleep(self.interval)

    def report(self, start, end, depth=8):
        """Print each thread's most common stack within [start, end]."""
        by_thread = collections.defaultdict(list)
        for t, name, stack in self.samples:
            if start <= t <= end + 0.01:
                by_thread[name].append(
                    tuple(_where(f) for f in stack[-depth:])
                )
        for name, stacks in by_thread.items():
            stack, n = collections.Counter(stacks).most_common(1)[0]
            print(f'    {name}: {n} of {len(stacks)} samples:')
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
        '--profile-gui',
        action='store_true',
        help='sample the GUI thread alone (less overhead than --profile)',
    )
    parser.add_argument(
        '--at-once',
        action='store_true',
        help='dock the widgets and press Pick at once (measure from docking)',
    )
    parser.add_argument(
        '--finetune-steps',
        type=int,
        default=30,
        help='then fine-tune this many steps on the picks (0: skip)',
    )
    args = parser.parse_args(argv)
    if args.at_once:
        return at_once(args)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_cryopick._qt.open_widget import OpenWidget
    from napari_cryopick._qt.pick_widget import PickWidget
    from napari_cryopick._qt.review_widget import ReviewWidget
    from napari_cryopick._qt.score_widget import ScoreWidget

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    opener = OpenWidget(viewer)
    state = opener.state  # shared by the widgets made here
    pick = PickWidget(viewer, state)
    widgets = [opener, pick, ReviewWidget(viewer, state)]
    widgets.append(ScoreWidget(viewer, state))
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

        tune = FinetuneWidget(viewer, state)
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


def wait_for(app, condition, timeout=600):
    """Run the event loop until ``condition()``; return the time."""
    end = time.perf_counter() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() > end:
            raise TimeoutError
    return time.perf_counter()


def at_once(args) -> int:
    """Open the tomogram, dock the widgets, press Pick at once."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_cryopick.io.sources import open_tomogram
    from napari_cryopick.session_io import tomogram_layer_data

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    run = args.run
    if run is None:
        from napari_cryopick.io.project import tomogram_runs

        run = tomogram_runs(args.project)[0]
    data, kwargs, _ = tomogram_layer_data(open_tomogram(args.project, run))
    viewer.add_image(data, **kwargs)
    for _ in range(100):  # let the first draws settle
        app.processEvents()
        time.sleep(0.01)
    sampler = Sampler(0.005 if args.profile_gui else 0.002, args.profile_gui)
    if args.profile or args.profile_gui:
        sampler.start()
    meter = GapMeter()
    meter.start()
    start = time.perf_counter()
    widgets = {}
    for name in ('Pick', 'Review', 'Score'):
        # One event-loop turn between docks, as between menu clicks.
        dock = viewer.window.add_plugin_dock_widget('napari-cryopick', name)
        widgets[name] = dock[1]
        app.processEvents()
    docked = time.perf_counter()
    pick = widgets['Pick']
    pick.checkpoint.setText(args.model)
    pick.pick()
    wait_for(app, lambda: not pick.progress.task.running)
    wait_for(app, lambda: pick.state.layers.complete)
    for _ in range(100):  # the last redraws
        app.processEvents()
        time.sleep(0.005)
    times, gaps = meter.stop()
    split = meter.split()
    print(pick.progress.status.text())
    print(f'docking took {docked - start:.2f} s; Pick pressed then')
    for what, part in (
        ('docking', times < docked),
        ('after Pick', times >= docked),
    ):
        busy = gaps[part][gaps[part] > 0.05].sum() / gaps[part].sum()
        print(
            f'{what}: worst event-loop gap {gaps[part].max() * 1e3:.0f} ms '
            f'({(gaps - split[1])[part].max() * 1e3:.0f} ms not counting '
            f'the GUI thread waiting for a CPU), {busy:.0%} of the time '
            'in gaps over 50 ms'
        )
    report(
        'Dock + Pick',
        times,
        gaps,
        start,
        sampler if sampler.is_alive() else None,
        split,
    )
    sampler.running = False
    viewer.close()
    return 0


def report(what: str, times, gaps, start, sampler=None, split=None) -> None:
    """Print the worst gaps (and, with a sampler, what caused them)."""
    order = np.argsort(gaps)[::-1]
    print(f'{what}: worst event-loop gap: {gaps[order[0]] * 1e3:.0f} ms')
    print(
        f'{what}: gaps over 100 ms: {int((gaps > 0.1).sum())}; '
        f'over 50 ms: {int((gaps > 0.05).sum())} of {len(gaps)}'
    )
    for i in order[:5]:
        line = f'  {gaps[i] * 1e3:.0f} ms at {times[i] - start:.2f} s'
        if split is not None:
            run, wait = split[0][i], split[1][i]
            line += (
                f' (GUI thread running {run * 1e3:.0f} ms, waiting for a '
                f'CPU {wait * 1e3:.0f} ms, blocked '
                f'{(gaps[i] - run - wait) * 1e3:.0f} ms)'
            )
        print(line)
        if sampler is not None:
            sampler.report(times[i], times[i] + gaps[i])


if __name__ == '__main__':
    sys.exit(main())
