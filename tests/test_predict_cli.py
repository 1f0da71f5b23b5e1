"""``cryopick predict`` on a simulated project with a tiny checkpoint."""

import io
import json
import re
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from napari_cryopick.classes import CZII_CLASSES  # noqa: E402
from napari_cryopick.cli import main  # noqa: E402
from napari_cryopick.io.ome_zarr_write import write_ome_zarr  # noqa: E402
from napari_cryopick.io.sources import read_picks  # noqa: E402
from tests.conftest import picks_files  # noqa: E402


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim') / 'project'
    argv = ['simulate', str(out), '--runs', '3', '--shape', '48', '96', '96']
    assert main(argv) == 0
    return out


def test_predict_writes_every_run_and_class(
    project, checkpoint, tmp_path, caplog
):
    out = tmp_path / 'out'
    csv = tmp_path / 'sub.csv'
    argv = [
        'predict',
        str(project),
        '--out',
        str(out),
        '--model',
        str(checkpoint),
        '--csv',
        str(csv),
    ]
    assert main(argv) == 0
    for run in ('TS_sim_1', 'TS_sim_2', 'TS_sim_3'):
        files = picks_files(out, run)
        assert [f.name for f in files] == sorted(
            f'cryopick_0_{c.name}.json' for c in CZII_CLASSES
        )
        body = json.loads(files[0].read_text())
        assert body['run_name'] == run
        assert body['voxel_spacing'] == pytest.approx(10.012444)
    config = json.loads((out / 'copick_config.json').read_text())
    assert len(config['pickable_objects']) == 6
    picks = read_picks(out)
    assert set(picks['origin']) <= {'user', 'model'}
    assert (picks['score'].between(0, 1)).all()
    assert len(read_picks(csv)) == len(picks)
    # Picks lie inside the tomogram (Å).
    assert picks['z'].max() < 48 * 10.0125
    assert picks['x'].min() >= -10
    # A second run skips every run: files untouched.
    stamps = [f.stat().st_mtime_ns for f in picks_files(out, 'TS_sim_2')]
    caplog.clear()
    caplog.set_level('INFO')
    assert main(argv) == 0
    assert caplog.text.count('skipped') == 3
    assert stamps == [
        f.stat().st_mtime_ns for f in picks_files(out, 'TS_sim_2')
    ]
    # A run left half-written (a class file missing) is redone.
    picks_files(out, 'TS_sim_2')[0].unlink()
    assert main(argv) == 0
    assert len(picks_files(out, 'TS_sim_2')) == 6


def test_predict_a_single_store_and_mrc(tmp_path, checkpoint):
    from napari_cryopick.io.mrc import write_mrc

    rng = np.random.default_rng(0)
    volume = rng.normal(size=(40, 64, 64)).astype(np.float32)
    store = write_ome_zarr(tmp_path / 'mytomo.zarr', volume, 10.0)
    mrc = write_mrc(tmp_path / 'other.mrc', volume, 10.0)
    out = tmp_path / 'out'
    argv = [
        'predict',
        str(store),
        str(mrc),
        '--out',
        str(out),
        '--model',
        str(checkpoint),
    ]
    assert main(argv) == 0
    assert len(picks_files(out, 'mytomo')) == 6
    assert len(picks_files(out, 'other')) == 6


def test_predict_bad_inputs(tmp_path, checkpoint, project, capsys, caplog):
    status = main(
        [
            'predict',
            str(tmp_path / 'missing.zarr'),
            '--out',
            str(tmp_path / 'o'),
            '--model',
            str(checkpoint),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert 'no such file' in err
    assert 'Traceback' not in err
    # A NaN tomogram fails its own run only; the good one is picked.
    nan = write_ome_zarr(
        tmp_path / 'nan.zarr', np.full((16, 32, 32), np.nan, np.float32), 10.0
    )
    good = write_ome_zarr(
        tmp_path / 'good.zarr',
        np.random.default_rng(0).normal(size=(16, 32, 32)).astype(np.float32),
        10.0,
    )
    status = main(
        [
            'predict',
            str(nan),
            str(good),
            '--out',
            str(tmp_path / 'o'),
            '--model',
            str(checkpoint),
        ]
    )
    assert status == 1
    assert 'nan: failed:' in caplog.text
    assert 'no finite value' in caplog.text
    assert len(picks_files(tmp_path / 'o', 'good')) == 6
    assert not (tmp_path / 'o' / 'ExperimentRuns' / 'nan').exists()
    summary = capsys.readouterr().out
    assert 'runs: 1 done, 0 skipped, 1 failed' in summary
    evil = tmp_path / 'evil.pt'
    torch.save({'a': 1}, evil)
    status = main(
        [
            'predict',
            str(project),
            '--out',
            str(tmp_path / 'e'),
            '--model',
            str(evil),
        ]
    )
    assert status == 1
    assert 'not a safetensors checkpoint' in capsys.readouterr().err
    assert not (tmp_path / 'e').exists()


@pytest.mark.slow
def test_predict_with_an_ensemble(project, checkpoint, tmp_path, capsys):
    from napari_cryopick.model.checkpoint import (
        load_checkpoint,
        save_checkpoint,
    )

    def predict(out, *models):
        argv = ['predict', str(project), '--out', str(tmp_path / out)]
        for model in models:
            argv += ['--model', str(model)]
        return main(argv)

    assert predict('one', checkpoint) == 0
    assert predict('two', checkpoint, checkpoint) == 0
    one, two = read_picks(tmp_path / 'one'), read_picks(tmp_path / 'two')
    columns = ['x', 'y', 'z', 'score']
    assert len(one) > 0
    assert np.allclose(one[columns], two[columns])
    # Members must share classes and grid.
    model = load_checkpoint(checkpoint)
    coarse = tmp_path / 'coarse.safetensors'
    coarse_card = replace(model.card, voxel_size=40.0)
    save_checkpoint(coarse, model.network, coarse_card)
    capsys.readouterr()
    assert predict('bad', checkpoint, coarse) == 1
    assert 'ensemble' in capsys.readouterr().err


def test_resume_is_keyed_on_model_and_settings(
    project, checkpoint, tmp_path, capsys, caplog
):
    from napari_cryopick.model.checkpoint import (
        load_checkpoint,
        save_checkpoint,
    )

    out = tmp_path / 'out'
    base = ['predict', str(project), '--out', str(out)]
    argv = [*base, '--model', str(checkpoint)]
    assert main(argv) == 0
    record = (
        out / 'ExperimentRuns' / 'TS_sim_1' / '.cryopick' / 'cryopick_0.json'
    )
    body = json.loads(record.read_text())
    assert body['settings']['tta'] is False
    assert [m['name'] for m in body['model']] == ['tiny']
    stamps = [f.stat().st_mtime_ns for f in picks_files(out, 'TS_sim_1')]
    capsys.readouterr()
    # Another setting: refused before any run is picked, picks untouched.
    assert main([*argv, '--tta']) == 1
    err = capsys.readouterr().err
    assert 'run TS_sim_1 already has picks' in err
    assert 'tta=False (now True)' in err
    assert '--force' in err
    assert stamps == [
        f.stat().st_mtime_ns for f in picks_files(out, 'TS_sim_1')
    ]
    # Another model with the same name but other weights: refused too.
    model = load_checkpoint(checkpoint)
    with torch.no_grad():
        next(model.network.parameters()).add_(1.0)
    other = save_checkpoint(
        tmp_path / 'o.safetensors', model.network, model.card
    )
    assert main([*base, '--model', str(other)]) == 1
    assert 'another model (tiny)' in capsys.readouterr().err
    # The same model and settings skip; --force redoes and re-records.
    caplog.set_level('INFO')
    caplog.clear()
    assert main(argv) == 0
    assert caplog.text.count('skipped') == 3
    assert main([*argv, '--tta', '--force']) == 0
    assert json.loads(record.read_text())['settings']['tta'] is True
    caplog.clear()
    assert main([*argv, '--tta']) == 0
    assert caplog.text.count('skipped') == 3
    # Picks that no record explains are not trusted, nor replaced.
    record.unlink()
    assert main([*argv, '--tta']) == 1
    assert 'no record of the model and settings' in capsys.readouterr().err


def test_predict_checks_its_outputs_before_picking(
    project, checkpoint, tmp_path, capsys, monkeypatch
):
    from napari_cryopick.model import predict as predict_module

    def boom(*args, **kwargs):
        raise AssertionError('the model ran')

    monkeypatch.setattr(predict_module, 'predict_tomogram', boom)
    blocker = tmp_path / 'blocker'
    blocker.write_text('keep')
    for out in (blocker, blocker / 'inside'):
        argv = ['predict', str(project), '--out', str(out)]
        assert main([*argv, '--model', str(checkpoint)]) == 1
        err = capsys.readouterr().err
        assert f'{blocker} is a file, not a folder' in err
    argv = ['predict', str(project), '--out', str(tmp_path / 'o')]
    argv += ['--model', str(checkpoint), '--csv', str(tmp_path)]
    assert main(argv) == 1
    assert f'{tmp_path}: is a folder, not a file' in capsys.readouterr().err
    assert blocker.read_text() == 'keep'


def test_min_score_replaces_the_model_thresholds(
    project, checkpoint, tmp_path, capsys
):
    from napari_cryopick.model.checkpoint import (
        load_checkpoint,
        save_checkpoint,
    )

    # A model whose thresholds keep nothing: --min-score decides alone.
    model = load_checkpoint(checkpoint)
    strict = replace(
        model.card, thresholds={c.name: 2.0 for c in CZII_CLASSES}
    )
    path = save_checkpoint(
        tmp_path / 'strict.safetensors', model.network, strict
    )
    argv = ['predict', str(project), '--model', str(path)]
    assert main([*argv, '--out', str(tmp_path / 'none')]) == 0
    assert len(read_picks(tmp_path / 'none')) == 0
    assert (
        main([*argv, '--out', str(tmp_path / 'all'), '--min-score', '0']) == 0
    )
    everything = read_picks(tmp_path / 'all')
    floor = float(np.median(everything['score']))
    out = tmp_path / 'floor'
    assert main([*argv, '--out', str(out), '--min-score', str(floor)]) == 0
    kept = read_picks(out)
    assert 0 < len(kept) < len(everything)
    assert (kept['score'] >= floor).all()
    assert len(kept) == (everything['score'] >= floor).sum()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main([*argv, '--out', str(out), '--min-score', '1.5'])
    assert info.value.code == 2
    assert 'must be in 0-1' in capsys.readouterr().err


def test_summary_has_fixed_columns_and_integer_counts():
    from napari_cryopick import picks as pk
    from napari_cryopick.cli.predict import summary
    from napari_cryopick.model.jobs import Outcome

    one = pk.make_picks('a', 'ribosome', np.zeros((1, 3)))
    two = pk.make_picks('b', ['apo-ferritin', 'ribosome'], np.zeros((2, 3)))
    outcomes = [
        Outcome('a', 'done', one, 1.25),
        Outcome('b', 'skipped', two, 0.0),
        Outcome('c', 'failed', error='boom'),
    ]
    text = summary(outcomes, 3.0, ['virus-like-particle', 'ribosome'])
    header, *rows, last = text.splitlines()
    assert header.split() == [
        'run',
        'status',
        'virus-like-particle',
        'ribosome',
        'apo-ferritin',
        'seconds',
    ]
    assert [r.split() for r in rows] == [
        ['a', 'done', '0', '1', '0', '1.2'],
        ['b', 'skipped', '0', '1', '1', '0.0'],
        ['c', 'failed', '0', '0', '0', '0.0'],
    ]
    assert last == 'runs: 1 done, 1 skipped, 1 failed in 3.0 s'


def test_progress_bars_on_a_terminal(monkeypatch, caplog):
    import logging
    import sys

    from napari_cryopick import picks as pk
    from napari_cryopick.cli.predict import _Reporter
    from napari_cryopick.model.jobs import Job, Outcome

    monkeypatch.setattr(sys.stderr, 'isatty', lambda: True, raising=False)
    caplog.set_level('INFO')
    with _Reporter(2) as report:
        assert report.bar.total == 2
        tiles = report.start(Job('x.zarr', 'x'))
        tiles(1, 8)
        tiles(5, 8)
        assert (report.tiles.n, report.tiles.total) == (5, 8)
        assert report.tiles.desc.startswith('x')
        # Log lines go through tqdm, above the bars.
        handlers = logging.getLogger().handlers
        assert any('Tqdm' in type(h).__name__ for h in handlers)
        one = pk.make_picks('x', 'ribosome', np.zeros((1, 3)))
        report(Outcome('x', 'done', one, 2.0))
        assert report.tiles is None
        assert report.bar.n == 1
    assert 'x: done, 1 particle in 2.0 s' in caplog.text
    handlers = logging.getLogger().handlers
    assert not any('Tqdm' in type(h).__name__ for h in handlers)


def test_cross_class_suppression_on_request(project, checkpoint, tmp_path):
    from scipy.spatial.distance import cdist

    base = ['predict', str(project), '--model', str(checkpoint)]
    assert main([*base, '--out', str(tmp_path / 'all')]) == 0
    argv = [*base, '--out', str(tmp_path / 'one'), '--cross-class']
    assert main(argv) == 0
    every, kept = read_picks(tmp_path / 'all'), read_picks(tmp_path / 'one')
    assert 0 < len(kept) < len(every)
    radius = {c.name: c.radius for c in CZII_CLASSES}
    for _, run in kept.groupby('run'):
        xyz = run[['x', 'y', 'z']].to_numpy()
        reach = run['particle_type'].map(radius).to_numpy()
        close = cdist(xyz, xyz) < np.maximum.outer(reach, reach)
        other = run['particle_type'].to_numpy()
        other = other[:, None] != other[None, :]
        assert not (close & other).any()
    record = tmp_path / 'one' / 'ExperimentRuns' / 'TS_sim_1' / '.cryopick'
    body = json.loads((record / 'cryopick_0.json').read_text())
    assert body['settings']['cross_class'] is True


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, and what a screen would show."""

    def isatty(self):
        return True

    def screen(self) -> list[str]:
        # Carriage returns overwrite, ESC[A moves up: enough of a terminal
        # for tqdm's bars and the log lines tqdm writes above them.
        lines, row, col = [''], 0, 0
        for part in re.split(r'(\r|\n|\x1b\[A)', self.getvalue()):
            if part == '\r':
                col = 0
            elif part == '\n':
                row, col = row + 1, 0
            elif part == '\x1b[A':
                row = max(row - 1, 0)
            else:
                lines += [''] * (row + 1 - len(lines))
                line = lines[row].ljust(col)
                lines[row] = line[:col] + part + line[col + len(part) :]
                col += len(part)
        return [line.rstrip() for line in lines if line.strip()]


def test_terminal_shows_runs_tiles_and_logs_apart(
    project, checkpoint, tmp_path, monkeypatch, capsys, caplog
):
    import logging

    caplog.set_level('INFO')  # as the command's basicConfig sets it
    terminal = _Terminal()
    monkeypatch.setattr(sys, 'stderr', terminal)
    handler = logging.StreamHandler(terminal)  # what basicConfig makes
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        argv = ['predict', str(project), '--model', str(checkpoint)]
        assert main([*argv, '--out', str(tmp_path / 'out')]) == 0
    finally:
        root.removeHandler(handler)
    raw = terminal.getvalue()
    # Within a run, a bar of its tiles named after the run.
    assert re.search(r'TS_sim_1: +\d+%\|.*\| \d+/\d+ \[.*(tile/s|s/tile)', raw)
    screen = terminal.screen()
    # What is left: every run's log line whole, on a line of its own,
    # and the one bar of runs, finished, last.
    for run in ('TS_sim_1', 'TS_sim_2', 'TS_sim_3'):
        (line,) = [s for s in screen if s.startswith(f'{run}: done')]
        assert re.fullmatch(rf'{run}: done, \d+ particles? in \d+\.\d s', line)
    bar = r'predict: 100%\|.*\| 3/3 \[.*(run/s|s/run)\]'
    assert re.fullmatch(bar, screen[-1])
    assert not any('tile' in line for line in screen)  # tile bars vanish
    assert sum('|' in line for line in screen) == 1
    summary = capsys.readouterr().out.splitlines()
    assert summary[0].split()[:2] == ['run', 'status']
    assert summary[-1].startswith('runs: 3 done, 0 skipped, 0 failed in ')


def test_no_bars_off_a_terminal(project, checkpoint, tmp_path, monkeypatch):
    stream = io.StringIO()  # a log file, a batch job's output
    monkeypatch.setattr(sys, 'stderr', stream)
    argv = ['predict', str(project), '--model', str(checkpoint)]
    assert main([*argv, '--out', str(tmp_path / 'out')]) == 0
    assert '%|' not in stream.getvalue()
    assert '\r' not in stream.getvalue()
