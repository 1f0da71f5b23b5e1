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


def _truncated_mrc(tmp):
    from napari_cryopick.io.mrc import write_mrc

    path = write_mrc(tmp / 'cut.mrc', np.zeros((8, 16, 16), 'f4'), 10.0)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _mrc_longer_than_its_header(tmp):
    from napari_cryopick.io.mrc import write_mrc

    path = write_mrc(tmp / 'long.mrc', np.zeros((8, 16, 16), 'f4'), 10.0)
    path.write_bytes(path.read_bytes() + bytes(100))
    return path


def _mrc_unset_voxel_size(tmp):
    from napari_cryopick.io.mrc import write_mrc

    return write_mrc(tmp / 'unset.mrc', np.zeros((8, 16, 16), 'f4'), 1.0)


def _tiff_without_voxel_size(tmp):
    tifffile = pytest.importorskip('tifffile')
    path = tmp / 'stack.tif'
    tifffile.imwrite(path, np.zeros((8, 16, 16), 'u1'))
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


def _mrc_folder(tmp):
    from napari_cryopick.io.mrc import write_mrc

    folder = tmp / 'mrcs'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ('a', 'b'):
        volume = rng.normal(size=(16, 32, 32)).astype('f4')
        write_mrc(folder / f'{name}.mrc', volume, 10.0)
    return folder


def _unknown_file(tmp):
    path = tmp / 'tomo.h5'
    path.write_bytes(b'\x89HDF\r\n\x1a\n' + bytes(600))
    return path


def _picks_as_tomogram(tmp):
    path = tmp / 'picks.csv'
    path.write_text('experiment,particle_type,x,y,z\nTS_1,ribosome,1,2,3\n')
    return path


def _mrc_as_picks(tmp):
    from napari_cryopick.io.mrc import write_mrc

    return write_mrc(tmp / 'tomo.mrc', np.zeros((4, 8, 8), 'f4'), 10.0)


def _mrc_without_suffix(tmp):
    path = _mrc_as_picks(tmp)
    return path.rename(path.with_suffix('.bin'))


def _zarr_as_picks(tmp):
    return write_ome_zarr(tmp / 'tomo.zarr', np.zeros((4, 8, 8)), 10.0)


def _binary_as_picks(tmp):
    return _unknown_file(tmp)


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
    'truncated MRC': (_truncated_mrc, 'truncated MRC file'),
    'MRC longer than its header': (
        _mrc_longer_than_its_header,
        'disagrees with the file length',
    ),
    'MRC voxel size unset': (_mrc_unset_voxel_size, '--voxel-size'),
    'TIFF without voxel size': (_tiff_without_voxel_size, '--voxel-size'),
    'unknown file': (_unknown_file, 'not a tomogram format cryopick reads'),
    'picks given as a tomogram': (_picks_as_tomogram, 'a picks file, not'),
}
PICKS_CASES = {
    'malformed JSON': (_bad_json, 'not valid JSON'),
    'incomplete JSON': (_incomplete_json, 'malformed'),
    'CSV without columns': (_csv_without_columns, 'particle_type'),
    'missing picks': (_missing, 'no such file'),
    'a tomogram': (_mrc_as_picks, 'a tomogram, not picks'),
    'an MRC without suffix': (_mrc_without_suffix, 'a tomogram, not picks'),
    'an OME-Zarr store': (_zarr_as_picks, 'an OME-Zarr tomogram, not picks'),
    'a binary file': (_binary_as_picks, 'a binary file, not picks'),
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


def test_a_folder_of_mrc_files(tmp_path, capsys, caplog, checkpoint):
    from napari_cryopick.errors import CryopickError
    from napari_cryopick.io.sources import open_tomogram

    folder = _mrc_folder(tmp_path)
    # Opened as one tomogram: says what it is and what to do.
    with pytest.raises(CryopickError, match='a folder of 2 tomograms'):
        open_tomogram(folder)
    (folder / 'b.mrc').rename(tmp_path / 'b.mrc')
    with pytest.raises(CryopickError, match=r'a folder of 1 tomogram \(a'):
        open_tomogram(folder)
    (tmp_path / 'b.mrc').rename(folder / 'b.mrc')
    # predict picks each file of it as a run.
    out = tmp_path / 'out'
    argv = ['predict', str(folder), '--out', str(out)]
    assert main([*argv, '--model', str(checkpoint)]) == 0
    runs = sorted(p.name for p in (out / 'ExperimentRuns').iterdir())
    assert runs == ['a', 'b']


@pytest.mark.parametrize(
    ('command', 'option'),
    [
        ('export-csv', '--overwrite'),
        ('export-copick', '--overwrite'),
        ('export-relion4', '--overwrite'),
    ],
)
def test_an_existing_output_names_the_option(
    command, option, tmp_path, capsys, caplog, czii_csv
):
    kind = command.split('-')[1]
    out = tmp_path / {'csv': 'out.csv', 'relion4': 'out.star'}.get(kind, 'cp')
    argv = ['export', str(czii_csv), '--to', kind, str(out)]
    if kind == 'relion4':
        argv += ['--voxel-size', '10']
    assert main(argv) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()}
    capsys.readouterr()
    assert main(argv) == 1
    (line,) = _one_line(capsys, caplog)
    assert f'already exists, not overwritten ({option} replaces it)' in line
    after = {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()}
    assert after == before
    assert main([*argv, option]) == 0


def test_demo_without_a_display(monkeypatch, capsys):
    for name in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr('sys.platform', 'linux')
    assert main(['demo']) == 1
    err = capsys.readouterr().err
    assert 'no display to open napari on' in err
    assert '--headless' in err


def test_version(capsys):
    from napari_cryopick import __version__

    with pytest.raises(SystemExit) as info:
        main(['--version'])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f'cryopick {__version__}'


def test_every_option_has_help():
    import argparse

    from napari_cryopick.cli import build_parser

    parser = build_parser()
    (commands,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    missing = [
        f'{name} {action.dest}'
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not action.help
    ]
    assert missing == []
    for name, sub in commands.choices.items():
        assert '--help' in sub.format_help(), name  # help text renders
    assert set(commands.choices) >= {
        'simulate',
        'predict',
        'score',
        'finetune',
        'export',
        'demo',
    }
