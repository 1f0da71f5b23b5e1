"""Batch prediction on a real Dask scheduler and workers (loopback)."""

import numpy as np
import pytest

torch = pytest.importorskip('torch')
distributed = pytest.importorskip('distributed')

from napari_cryopick.cli import main  # noqa: E402
from napari_cryopick.model.batch import local_threads  # noqa: E402
from tests.conftest import picks_files  # noqa: E402

RUNS = ('TS_sim_1', 'TS_sim_2', 'TS_sim_3')


@pytest.fixture
def project(tmp_path):
    out = tmp_path / 'project'
    argv = ['simulate', str(out), '--runs', '3', '--shape', '40', '96', '96']
    assert main(argv) == 0
    return out


@pytest.fixture
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol='tcp',
        host='127.0.0.1',
        dashboard_address=None,
    ) as local:
        assert local.scheduler_address.startswith('tcp://127.0.0.1:')
        yield local


def _predict(project, out, checkpoint, *extra):
    return main(
        [
            'predict',
            str(project),
            '--out',
            str(out),
            '--model',
            str(checkpoint),
            *extra,
        ]
    )


@pytest.mark.slow
def test_scheduler_runs_resume_and_isolate(
    project, checkpoint, cluster, tmp_path, capsys, caplog
):
    out = tmp_path / 'out'
    address = cluster.scheduler_address
    assert _predict(project, out, checkpoint, '--scheduler', address) == 0
    assert 'runs: 3 done, 0 skipped, 0 failed' in capsys.readouterr().out
    for run in RUNS:
        assert len(picks_files(out, run)) == 6
    # A job killed mid-way leaves a run without all its files: only that
    # run is redone.
    picks_files(out, 'TS_sim_2')[-1].unlink()
    stamps = {
        r: [f.stat().st_mtime_ns for f in picks_files(out, r)]
        for r in ('TS_sim_1', 'TS_sim_3')
    }
    assert _predict(project, out, checkpoint, '--scheduler', address) == 0
    assert 'runs: 1 done, 2 skipped, 0 failed' in capsys.readouterr().out
    for run, before in stamps.items():
        assert [f.stat().st_mtime_ns for f in picks_files(out, run)] == before
    # One corrupt tomogram is reported; the others complete.
    store = next(
        (project / 'static/ExperimentRuns/TS_sim_3').rglob('denoised.zarr')
    )
    (store / '.zattrs').write_text('{not json')
    fresh = tmp_path / 'fresh'
    status = _predict(project, fresh, checkpoint, '--scheduler', address)
    assert status == 1
    assert 'runs: 2 done, 0 skipped, 1 failed' in capsys.readouterr().out
    assert 'TS_sim_3: failed:' in caplog.text
    assert '.zattrs' in caplog.text
    assert len(picks_files(fresh, 'TS_sim_1')) == 6
    assert not picks_files(fresh, 'TS_sim_3')


@pytest.mark.slow
def test_local_workers(project, checkpoint, tmp_path, capsys):
    out = tmp_path / 'out'
    assert _predict(project, out, checkpoint, '--workers', '2') == 0
    assert 'runs: 3 done' in capsys.readouterr().out
    serial = tmp_path / 'serial'
    assert _predict(project, serial, checkpoint) == 0
    for run in RUNS:
        for a, b in zip(
            picks_files(out, run), picks_files(serial, run), strict=True
        ):
            assert a.read_text() == b.read_text()


def test_threads_do_not_oversubscribe():
    import os

    cores = os.cpu_count()
    assert local_threads(1) == cores
    assert local_threads(2) * 2 <= max(cores, 2)
    assert local_threads(10 * cores) == 1
    assert np.isscalar(local_threads(3))
