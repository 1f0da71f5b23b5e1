"""Bad input across every command: one line, non-zero, nothing written.

Each case builds its bad input in ``tmp_path`` and gives the command
line to run and words the one-line error must hold. Add cases here as
new ways to go wrong turn up.
"""

import json

import numpy as np
import pytest

from napari_cryopick.cli import main
from napari_cryopick.io.ome_zarr_write import write_ome_zarr


def _missing(tmp):
    return tmp / 'does-not-exist'


def _empty_dir(tmp):
    path = tmp / 'empty'
    path.mkdir()
    return path


def _empty_project(tmp):
    path = tmp / 'proj'
    (path / 'static' / 'ExperimentRuns').mkdir(parents=True)
    return path


def _broken_store(tmp):
    path = write_ome_zarr(tmp / 'broken.zarr', np.zeros((8, 16, 16)), 10.0)
    (path / '.zattrs').write_text('{"multiscales": [')
    return path


def _flat_store(tmp):
    path = tmp / 'flat.zarr'
    path.mkdir()
    (path / '.zgroup').write_text('{"zarr_format": 2}')
    import zarr

    group = zarr.open_group(str(path), mode='a', zarr_format=2)
    group.create_array('0', shape=(16, 16), dtype='f4')
    (path / '.zattrs').write_text(
        json.dumps(
            {
                'multiscales': [
                    {
                        'version': '0.4',
                        'axes': [
                            {'name': 'y', 'type': 'space', 'unit': 'angstrom'},
                            {'name': 'x', 'type': 'space', 'unit': 'angstrom'},
                        ],
                        'datasets': [
                            {
                                'path': '0',
                                'coordinateTransformations': [
                                    {'type': 'scale', 'scale': [10.0, 10.0]}
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    )
    return path


def _not_mrc(tmp):
    path = tmp / 'notes.mrc'
    path.write_text('this is not an MRC file\n' * 100)
    return path


def _nan_store(tmp):
    return write_ome_zarr(
        tmp / 'nan.zarr', np.full((16, 32, 32), np.nan), 10.0
    )


def _bad_json(tmp):
    path = tmp / 'ExperimentRuns' / 'TS_1' / 'Picks' / 'ribosome.json'
    path.parent.mkdir(parents=True)
    path.write_text('{"pickable_object_name": "ribosome", "points": [{')
    return tmp


def _incomplete_json(tmp):
    path = tmp / 'ExperimentRuns' / 'TS_1' / 'Picks' / 'ribosome.json'
    path.parent.mkdir(parents=True)
    body = {
        'pickable_object_name': 'ribosome',
        'run_name': 'TS_1',
        'points': [{'location': {'x': 1.0, 'y': 2.0}}],
    }
    path.write_text(json.dumps(body))
    return tmp


def _csv_without_columns(tmp):
    path = tmp / 'picks.csv'
    path.write_text('experiment,x,y,z\nTS_1,1,2,3\n')
    return path


def _hostile_checkpoint(tmp):
    torch = pytest.importorskip('torch')
    path = tmp / 'model.safetensors'
    torch.save({'weights': 1}, path)
    return path


def _file_in_the_way(tmp):
    blocker = tmp / 'blocker'
    blocker.write_text('keep')
    return blocker / 'out'


TOMOGRAM_CASES = {
    'missing path': (_missing, 'no such file'),
    'empty directory': (_empty_dir, 'empty'),
    'empty project': (_empty_project, 'no tomograms'),
    'broken .zattrs': (_broken_store, '.zattrs'),
    '2-D array': (_flat_store, '3-D'),
    'not an MRC': (_not_mrc, 'MRC'),
    'NaN tomogram': (_nan_store, 'no finite value'),
}
PICKS_CASES = {
    'malformed JSON': (_bad_json, 'not valid JSON'),
    'incomplete JSON': (_incomplete_json, 'malformed'),
    'CSV without columns': (_csv_without_columns, 'particle_type'),
    'missing picks': (_missing, 'no such file'),
}


def _one_line(capsys, caplog):
    err = capsys.readouterr().err + caplog.text
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines
    return lines


@pytest.mark.parametrize('case', TOMOGRAM_CASES)
def test_predict_bad_tomogram(case, tmp_path, capsys, caplog, checkpoint):
    make, words = TOMOGRAM_CASES[case]
    source = make(tmp_path)
    out = tmp_path / 'out'
    argv = [
        'predict',
        str(source),
        '--out',
        str(out),
        '--model',
        str(checkpoint),
    ]
    assert main(argv) != 0
    lines = _one_line(capsys, caplog)
    assert any(words in line and source.name in line for line in lines), lines
    assert not (out / 'ExperimentRuns').exists()


@pytest.mark.parametrize('case', PICKS_CASES)
@pytest.mark.parametrize('command', ['score', 'export'])
def test_bad_picks(command, case, tmp_path, capsys, caplog):
    make, words = PICKS_CASES[case]
    source = make(tmp_path)
    out = tmp_path / 'out.csv'
    if command == 'score':
        argv = ['score', str(source), str(source)]
    else:
        argv = ['export', str(source), '--to', 'csv', str(out)]
    assert main(argv) == 1
    (line,) = _one_line(capsys, caplog)
    assert words in line
    assert not out.exists()


def test_hostile_checkpoint(tmp_path, capsys, caplog):
    store = write_ome_zarr(tmp_path / 't.zarr', np.zeros((8, 16, 16)), 10.0)
    model = _hostile_checkpoint(tmp_path)
    argv = [
        'predict',
        str(store),
        '--out',
        str(tmp_path / 'o'),
        '--model',
        str(model),
    ]
    assert main(argv) == 1
    (line,) = _one_line(capsys, caplog)
    assert 'model.safetensors' in line
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize(
    'command', ['simulate', 'export-csv', 'export-copick', 'score-json']
)
def test_output_under_a_regular_file(
    command, tmp_path, capsys, caplog, czii_csv
):
    out = _file_in_the_way(tmp_path)
    argv = {
        'simulate': ['simulate', str(out), '--shape', '16', '32', '32'],
        'export-csv': ['export', str(czii_csv), '--to', 'csv', str(out)],
        'export-copick': ['export', str(czii_csv), '--to', 'copick', str(out)],
        'score-json': [
            'score',
            str(czii_csv),
            str(czii_csv),
            '--json',
            str(out),
        ],
    }[command]
    assert main(argv) == 1
    (line,) = _one_line(capsys, caplog)
    assert 'is a file' in line
    assert (tmp_path / 'blocker').read_text() == 'keep'


def test_finetune_bad_data(tmp_path, capsys, caplog):
    argv = [
        'finetune',
        str(_empty_project(tmp_path)),
        '--out',
        str(tmp_path / 'm.safetensors'),
    ]
    assert main(argv) == 1
    (line,) = _one_line(capsys, caplog)
    assert 'proj' in line
