"""The cryopick command line, end to end on real formats."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from napari_cryopick.cli import main
from napari_cryopick.io.sources import open_tomogram, read_picks

SMALL = ['--shape', '64', '160', '160']


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim') / 'project'
    assert (
        main(['simulate', str(out), '--runs', '2', '--seed', '3', *SMALL]) == 0
    )
    return out


def _fails(capsys, argv, *words):
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert 'Traceback' not in err
    for word in words:
        assert word in lines[0]
    return lines[0]


def test_simulate_writes_a_portal_like_project(project):
    runs = sorted(
        p.name for p in (project / 'static/ExperimentRuns').iterdir()
    )
    assert runs == ['TS_sim_1', 'TS_sim_2']
    store = (
        project / 'static/ExperimentRuns/TS_sim_1/VoxelSpacing10.000/'
        'denoised.zarr'
    )
    attrs = json.loads((store / '.zattrs').read_text())
    assert attrs['multiscales'][0]['version'] == '0.4'
    tomogram = open_tomogram(project, run='TS_sim_1')
    assert tomogram.shape == (64, 160, 160)
    assert tomogram.voxel_size == pytest.approx(10.012444)
    picks_dir = project / 'overlay/ExperimentRuns/TS_sim_1/Picks'
    names = sorted(p.name for p in picks_dir.iterdir())
    assert 'apo-ferritin.json' in names
    assert len(names) == 6
    truth = read_picks(project)
    assert set(truth['run']) == {'TS_sim_1', 'TS_sim_2'}
    assert json.loads((project / 'simulation.json').read_text())['looks']


def test_simulate_is_reproducible(tmp_path, project):
    again = tmp_path / 'again'
    main(['simulate', str(again), '--runs', '1', '--seed', '3', *SMALL])
    a = read_picks(project / 'overlay/ExperimentRuns/TS_sim_1')
    b = read_picks(again / 'overlay/ExperimentRuns/TS_sim_1')
    assert np.array_equal(a[['x', 'y', 'z']], b[['x', 'y', 'z']])


def test_score_real_picks_against_themselves(czii_json_runs, capsys):
    folder = czii_json_runs['TS_5_4'].parents[2]
    assert main(['score', str(folder), str(folder)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == 'score: 1.0000'
    header = out[0].split()
    assert header[:4] == ['class', 'predicted', 'true', 'hit']
    ribosome = next(line for line in out if line.startswith('ribosome'))
    assert ribosome.split()[1:3] == ['31', '31']


def test_score_writes_json_and_takes_csv(
    czii_csv, czii_json_runs, tmp_path, capsys
):
    folder = czii_json_runs['TS_99_9'].parents[2]
    report = tmp_path / 'score.json'
    # The CSV holds 7 runs; only TS_99_9 is in the reference.
    assert (
        main(['score', str(folder), str(czii_csv), '--json', str(report)]) == 0
    )
    assert json.loads(report.read_text())['score'] == 1.0
    assert capsys.readouterr().out.strip().endswith('score: 1.0000')


def test_score_refuses_what_matched_nothing(
    czii_json_runs, czii_csv, tmp_path, capsys, caplog
):
    ts_5_4 = czii_json_runs['TS_5_4'].parents[2]
    ts_99_9 = czii_json_runs['TS_99_9'].parents[2]
    # No run in common: not a 0.0000 that looks like a result.
    assert main(['score', str(ts_5_4), str(ts_99_9)]) == 1
    captured = capsys.readouterr()
    assert 'score:' not in captured.out
    assert f'{ts_99_9}: no run in common with {ts_5_4}' in captured.err
    assert 'runs TS_99_9 against TS_5_4' in captured.err
    # A mistyped user id names the users there are.
    argv = ['score', str(ts_5_4), str(ts_5_4), '--user-id', 'curaton']
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "no picks of user 'curaton' (its users: curation)" in err
    argv = ['score', str(ts_5_4), str(ts_5_4), '--session-id', '1']
    assert main(argv) == 1
    assert "no picks of session '1'" in capsys.readouterr().err
    # Class names the metric does not know.
    renamed = pd.read_csv(czii_csv)
    renamed['particle_type'] = 'ribo'
    other = tmp_path / 'renamed.csv'
    renamed.to_csv(other, index=False)
    assert main(['score', str(czii_csv), str(other)]) == 1
    assert 'no class the metric knows (classes ribo;' in (
        capsys.readouterr().err
    )
    # Runs the reference lacks are ignored, and the log says so.
    caplog.set_level('WARNING')
    assert main(['score', str(ts_5_4), str(czii_csv)]) == 0
    assert 'runs not in' in caplog.text
    assert 'TS_6_4' in caplog.text


def test_export_round_trip(project, tmp_path, capsys):
    csv = tmp_path / 'truth.csv'
    assert main(['export', str(project), '--to', 'csv', str(csv)]) == 0
    copick = tmp_path / 'copick'
    assert main(['export', str(csv), '--to', 'copick', str(copick)]) == 0
    assert (copick / 'copick_config.json').is_file()
    a, b = read_picks(project), read_picks(copick)
    key = ['run', 'particle_type', 'x', 'y', 'z']
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert np.array_equal(a[['x', 'y', 'z']], b[['x', 'y', 'z']])
    assert main(['score', str(project), str(copick)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:-1]
    # A small phantom lacks some classes (F4 0 by the Kaggle rule), so
    # check the counts: every reference found, no false positive.
    for row in rows:
        _, predicted, true, hit, miss, fp = row.split()[:6]
        assert predicted == true == hit
        assert miss == fp == '0'


def test_console_script_entry_point(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            '-m',
            'napari_cryopick.cli',
            'score',
            str(tmp_path / 'missing'),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert out.stderr.startswith('cryopick score: error: ')
    assert 'missing' in out.stderr
    assert 'Traceback' not in out.stderr


def test_bad_inputs(project, tmp_path, capsys):
    blocker = tmp_path / 'file'
    blocker.write_text('keep')
    _fails(capsys, ['simulate', str(project), *SMALL], 'already exists')
    _fails(capsys, ['simulate', str(blocker / 'x'), *SMALL], 'is a file')
    _fails(
        capsys, ['score', str(tmp_path / 'nope'), str(project)], 'no such file'
    )
    empty = tmp_path / 'empty'
    empty.mkdir()
    _fails(capsys, ['score', str(empty), str(project)], 'no picks')
    bad_csv = tmp_path / 'bad.csv'
    bad_csv.write_text('a,b\n1,2\n')
    _fails(capsys, ['score', str(project), str(bad_csv)], 'bad.csv')
    _fails(
        capsys,
        ['export', str(project), '--to', 'csv', str(blocker / 'out.csv')],
        'is a file',
    )
    _fails(
        capsys,
        ['export', str(project), '--to', 'csv', str(blocker)],
        'already exists',
    )
    assert blocker.read_text() == 'keep'


@pytest.mark.slow
def test_headless_demo_runs_the_pipeline(tmp_path, capsys):
    pytest.importorskip('torch')
    out = tmp_path / 'demo'
    argv = ['demo', '--headless', str(out), '--runs', '1']
    assert main([*argv, '--shape', '64', '192', '192']) == 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith('score: ')
    report = json.loads((out / 'score.json').read_text())
    assert 0.0 <= report['score'] <= 1.0
    picks = read_picks(out / 'picks')
    assert set(picks['run']) == {'TS_sim_1'}
    assert (out / 'picks.csv').is_file()
