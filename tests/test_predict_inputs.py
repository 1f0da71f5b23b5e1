"""``cryopick predict`` on inputs as they come: classes, voxel sizes, files."""

import json
import logging

import mrcfile
import numpy as np
import pytest

pytest.importorskip('torch')

from napari_cryopick.cli import main  # noqa: E402
from napari_cryopick.io.mrc import write_mrc  # noqa: E402
from tests.conftest import TEST_DATA, picks_files  # noqa: E402


def _volume(shape=(24, 48, 48)):
    rng = np.random.default_rng(0)
    return rng.normal(size=shape).astype(np.float32)


def _predict(out, *inputs, model, extra=()):
    argv = ['predict', *map(str, inputs), '--out', str(out)]
    return main([*argv, '--model', str(model), *extra])


def test_classes_limit_the_output_files(tmp_path, checkpoint):
    mrc = write_mrc(tmp_path / 'TS_1.mrc', _volume(), 13.6)
    out = tmp_path / 'out'
    extra = ['--classes', 'ribosome,apo-ferritin']
    assert _predict(out, mrc, model=checkpoint, extra=extra) == 0
    names = [p.name for p in picks_files(out, 'TS_1')]
    assert names == [
        'cryopick_0_apo-ferritin.json',
        'cryopick_0_ribosome.json',
    ]
    config = json.loads((out / 'copick_config.json').read_text())
    objects = [o['name'] for o in config['pickable_objects']]
    assert sorted(objects) == ['apo-ferritin', 'ribosome']


def test_unknown_class_is_one_line_and_writes_nothing(
    tmp_path, checkpoint, capsys
):
    mrc = write_mrc(tmp_path / 'TS_1.mrc', _volume(), 10.0)
    out = tmp_path / 'out'
    extra = ['--classes', 'ribosome,proteasome']
    assert _predict(out, mrc, model=checkpoint, extra=extra) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'proteasome' in err
    assert 'apo-ferritin, beta-amylase, beta-galactosidase' in err
    assert not out.exists()


def test_unset_voxel_size_needs_the_flag(tmp_path, checkpoint, caplog):
    caplog.set_level(logging.INFO)
    mrc = write_mrc(tmp_path / 'lamella.mrc', _volume(), 31.36)
    with mrcfile.open(mrc, mode='r+') as handle:
        handle.voxel_size = 1.0
    out = tmp_path / 'out'
    assert _predict(out, mrc, model=checkpoint) == 1
    assert str(mrc) in caplog.text
    assert '--voxel-size' in caplog.text
    assert not (out / 'ExperimentRuns' / 'lamella').exists()
    extra = ['--voxel-size', '31.36']
    assert _predict(out, mrc, model=checkpoint, extra=extra) == 0
    assert len(picks_files(out, 'lamella')) == 6
    assert '31.36 Å voxels -> model grid 20.02 Å' in caplog.text


def test_too_coarse_is_refused_unless_forced_or_classes_fit(
    tmp_path, checkpoint, caplog
):
    mrc = write_mrc(tmp_path / 'coarse.mrc', _volume((12, 24, 24)), 45.0)
    out = tmp_path / 'out'
    assert _predict(out, mrc, model=checkpoint) == 1
    assert 'too coarse for apo-ferritin' in caplog.text
    assert not (out / 'ExperimentRuns' / 'coarse').exists()
    extra = ['--classes', 'ribosome']
    assert _predict(out, mrc, model=checkpoint, extra=extra) == 0
    assert len(picks_files(out, 'coarse')) == 1
    extra = ['--allow-coarse', '--force']
    assert _predict(out, mrc, model=checkpoint, extra=extra) == 0
    assert len(picks_files(out, 'coarse')) == 6


def test_a_real_tiff_tomogram(tmp_path, checkpoint):
    # A real microtubule crop, ImageJ TIFF at 1.052 nm: resampled by
    # 20.024888 / 10.52 onto the tiny model's grid, and the run's record
    # says so.
    tiff = TEST_DATA / 'cylindra-microtubule-tomograms' / '13pf_MT.tif'
    out = tmp_path / 'out'
    assert _predict(out, tiff, model=checkpoint) == 0
    assert len(picks_files(out, '13pf_MT')) == 6
    record = (
        out / 'ExperimentRuns' / '13pf_MT' / '.cryopick' / 'cryopick_0.json'
    )
    grid = json.loads(record.read_text())['grid']
    assert grid['factor_zyx'] == pytest.approx([20.024888 / 10.52] * 3)
    assert grid['grid_shape_zyx'] == [19, 109, 50]
    assert grid['method'] == 'gaussian-cubic'
