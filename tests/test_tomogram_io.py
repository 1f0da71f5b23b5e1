"""Tomogram readers and writers: OME-Zarr (NGFF 0.4 / 0.5) and MRC."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import mrcfile
import numcodecs
import numpy as np
import pytest
import zarr

from napari_cryopick.errors import CryopickError
from napari_cryopick.io import mrc as mrc_module
from napari_cryopick.io import ome_zarr_write as ome_zarr_module
from napari_cryopick.io.mrc import read_mrc, write_mrc
from napari_cryopick.io.ome_zarr import read_ome_zarr
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.tomogram import block_mean, run_name_for
from tests.conftest import TEST_DATA

# The CZII portal's .zattrs for TS_5_4 denoised, verbatim (COMPETITION §3.2).
CZII_ZATTRS = """\
{"multiscales": [{"axes": [{"name": "z", "type": "space", "unit": "angstrom"},
                           {"name": "y", "type": "space", "unit": "angstrom"},
                           {"name": "x", "type": "space", "unit": "angstrom"}],
  "datasets": [
   {"coordinateTransformations": [{"scale": [10.012444196428572, 10.012444196428572, 10.012444537618887], "type": "scale"}], "path": "0"},
   {"coordinateTransformations": [{"scale": [20.024888392857143, 20.024888392857143, 20.024889075237773], "type": "scale"}], "path": "1"},
   {"coordinateTransformations": [{"scale": [40.049776785714286, 40.049776785714286, 40.04977815047555], "type": "scale"}], "path": "2"}],
  "metadata": {}, "name": "/", "version": "0.4"}]}
"""  # noqa: E501
CZII_SCALES = (
    (10.012444196428572, 10.012444196428572, 10.012444537618887),
    (20.024888392857143, 20.024888392857143, 20.024889075237773),
    (40.049776785714286, 40.049776785714286, 40.04977815047555),
)
VOXEL = 10.012444196428572


@pytest.fixture
def volume() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(size=(45, 20, 33)).astype(np.float32)


BLOSC_LZ4 = {
    'id': 'blosc',
    'cname': 'lz4',
    'clevel': 5,
    'shuffle': 1,
    'blocksize': 0,
}


def write_v2_array(folder: Path, data: np.ndarray, chunks, sep='/') -> None:
    """Write a zarr v2 array by hand: .zarray plus blosc-lz4 chunk files."""
    folder.mkdir(parents=True)
    meta = {
        'chunks': list(chunks),
        'compressor': BLOSC_LZ4,
        'dimension_separator': sep,
        'dtype': '<f4',
        'fill_value': 0.0,
        'filters': None,
        'order': 'C',
        'shape': list(data.shape),
        'zarr_format': 2,
    }
    (folder / '.zarray').write_text(json.dumps(meta))
    codec = numcodecs.Blosc(cname='lz4', clevel=5, shuffle=1)
    chunks = tuple(chunks)
    grid = [-(-n // c) for n, c in zip(data.shape, chunks, strict=True)]
    for index in np.ndindex(*grid):
        part = data[
            tuple(
                slice(i * c, (i + 1) * c)
                for i, c in zip(index, chunks, strict=True)
            )
        ]
        block = np.zeros(chunks, dtype='<f4')  # v2 edge chunks are full
        block[tuple(slice(0, n) for n in part.shape)] = part
        key = folder / sep.join(map(str, index))
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(codec.encode(block.tobytes()))


@pytest.fixture
def portal_store(tmp_path) -> tuple[Path, list[np.ndarray]]:
    """A store laid out exactly as the CZII portal writes one."""
    store = tmp_path / 'ExperimentRuns' / 'TS_5_4' / 'VoxelSpacing10.000'
    store = store / 'denoised.zarr'
    rng = np.random.default_rng(1)
    shapes = [(9, 10, 10), (5, 5, 5), (3, 3, 3)]
    data = [rng.random(s, dtype=np.float32) for s in shapes]
    for level, array in enumerate(data):
        write_v2_array(store / str(level), array, (4, 4, 4))
    (store / '.zgroup').write_text('{"zarr_format": 2}')
    (store / '.zattrs').write_text(CZII_ZATTRS)
    return store, data


def assert_error(call, path, *words):
    with pytest.raises(CryopickError) as info:
        call()
    message = str(info.value)
    assert str(path) in message
    assert '\n' not in message
    for word in words:
        assert word in message
    return message


# --- OME-Zarr round trips -------------------------------------------------


@pytest.mark.parametrize('ngff', ['0.4', '0.5'])
def test_ome_zarr_round_trip(tmp_path, volume, ngff):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, VOXEL, ngff=ngff)
    tomo = read_ome_zarr(path)
    assert tomo.run == 'x'
    assert tomo.source == path
    assert tomo.shape == (45, 20, 33)
    assert tomo.voxel_size == VOXEL
    assert tomo.scales == tuple((VOXEL * 2**k,) * 3 for k in range(3))
    shapes = [level.shape for level in tomo.levels]
    assert shapes == [(45, 20, 33), (23, 10, 17), (12, 5, 9)]
    assert all(isinstance(level, da.Array) for level in tomo.levels)
    np.testing.assert_array_equal(tomo.data.compute(), volume)
    np.testing.assert_allclose(
        tomo.level(1).compute(), block_mean(volume), rtol=1e-6
    )
    # The edge block of an odd axis averages the voxels it has.
    edge = volume[44, 18:20, 32].mean()
    assert tomo.level(1)[-1, -1, -1].compute() == pytest.approx(edge)


def test_ngff_05_layout(tmp_path, volume):
    path = write_ome_zarr(
        tmp_path / 'x.zarr', volume, (5.0, 6.0, 7.0), ngff='0.5', levels=2
    )
    group = json.loads((path / 'zarr.json').read_text())
    assert group['zarr_format'] == 3
    assert group['node_type'] == 'group'
    ome = group['attributes']['ome']
    assert ome['version'] == '0.5'
    datasets = ome['multiscales'][0]['datasets']
    assert [d['path'] for d in datasets] == ['s0', 's1']
    array = json.loads((path / 's0' / 'zarr.json').read_text())
    assert array['dimension_names'] == ['z', 'y', 'x']
    assert (path / 's0' / 'c' / '0' / '0' / '0').is_file()
    assert datasets[1]['coordinateTransformations'][0]['scale'] == [
        10.0,
        12.0,
        14.0,
    ]
    assert read_ome_zarr(path).scales[0] == (5.0, 6.0, 7.0)


def test_block_mean_ceil_sizes():
    assert block_mean(np.ones((630, 3, 1), np.float32)).shape == (315, 2, 1)
    assert block_mean(np.ones((315, 1, 1), np.float32)).shape == (158, 1, 1)
    np.testing.assert_array_equal(
        block_mean(np.arange(3, dtype=np.float32).reshape(3, 1, 1)).ravel(),
        [0.5, 2.0],
    )


def test_writer_uses_portal_layout(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, VOXEL, chunks=16)
    assert json.loads((path / '.zgroup').read_text()) == {'zarr_format': 2}
    attrs = json.loads((path / '.zattrs').read_text())
    multiscale = attrs['multiscales'][0]
    assert multiscale['version'] == '0.4'
    assert multiscale['name'] == '/'
    assert multiscale['metadata'] == {}
    assert multiscale['axes'] == [
        {'name': n, 'type': 'space', 'unit': 'angstrom'} for n in 'zyx'
    ]
    assert [d['path'] for d in multiscale['datasets']] == ['0', '1', '2']


def test_writer_uses_portal_arrays(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, VOXEL, chunks=16)
    zarray = json.loads((path / '0' / '.zarray').read_text())
    assert zarray['zarr_format'] == 2
    assert zarray['dimension_separator'] == '/'
    assert zarray['dtype'] == '<f4'
    assert zarray['chunks'] == [16, 16, 16]
    assert zarray['filters'] is None
    assert zarray['compressor'] == BLOSC_LZ4
    for key in ('0/0/0/0', '0/2/1/2', '2/0/0/0'):
        assert (path / key).is_file(), key
    assert not (path / '0' / '.zattrs').exists()
    # Default chunks: min(256, size) on each axis.
    path = write_ome_zarr(tmp_path / 'y.zarr', volume, VOXEL)
    zarray = json.loads((path / '0' / '.zarray').read_text())
    assert zarray['chunks'] == [45, 20, 33]
    # The chunks decode with plain numcodecs, as zarr 2 would.
    raw = numcodecs.Blosc().decode((path / '0/0/0/0').read_bytes())
    chunk = np.frombuffer(raw, '<f4').reshape(45, 20, 33)
    np.testing.assert_array_equal(chunk, volume)


def test_written_store_is_readable_by_others(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, VOXEL)
    mode = path.stat().st_mode & 0o777
    assert mode == (path / '0').stat().st_mode & 0o777


# --- reading other stores -------------------------------------------------


def test_reads_portal_store_exactly(portal_store):
    store, data = portal_store
    tomo = read_ome_zarr(store)
    assert tomo.run == 'TS_5_4'
    assert tomo.scales == CZII_SCALES
    assert tomo.voxel_size == 10.012444537618887
    assert tomo.level(0).chunks[0] == (4, 4, 1)
    for level, expected in zip(tomo.levels, data, strict=True):
        np.testing.assert_array_equal(level.compute(), expected)
    assert read_ome_zarr(store, run='other').run == 'other'


def test_reads_dot_separated_v2(tmp_path):
    store = tmp_path / 'dots.zarr'
    data = np.arange(6 * 5 * 7, dtype=np.float32).reshape(6, 5, 7)
    write_v2_array(store / '0', data, (4, 4, 4), sep='.')
    assert (store / '0' / '1.1.1').is_file()
    (store / '.zgroup').write_text('{"zarr_format": 2}')
    attrs = json.loads(CZII_ZATTRS)
    del attrs['multiscales'][0]['datasets'][1:]
    (store / '.zattrs').write_text(json.dumps(attrs))
    np.testing.assert_array_equal(read_ome_zarr(store).data, data)


def edit_attrs(path: Path, edit) -> None:
    attrs = json.loads((path / '.zattrs').read_text())
    edit(attrs['multiscales'][0])
    (path / '.zattrs').write_text(json.dumps(attrs))


@pytest.mark.parametrize(
    ('unit', 'factor'), [('nanometer', 10.0), ('micrometer', 1e4)]
)
def test_units_and_global_scale(tmp_path, volume, unit, factor):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.5, levels=2)

    def edit(multiscale):
        for axis in multiscale['axes']:
            axis['unit'] = unit
        multiscale['coordinateTransformations'] = [
            {'type': 'scale', 'scale': [2.0, 2.0, 2.0]}
        ]

    edit_attrs(path, edit)
    tomo = read_ome_zarr(path)
    assert tomo.voxel_size == pytest.approx(1.5 * 2 * factor)
    assert tomo.scales[1][0] == pytest.approx(3.0 * 2 * factor)


def test_unknown_unit_is_an_error(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.5, levels=1)
    edit_attrs(path, lambda m: m['axes'][2].update(unit='parsec'))
    assert_error(lambda: read_ome_zarr(path), path, 'parsec')


def test_string_axes_without_scale(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.5, levels=1)

    def ngff_03(multiscale):
        multiscale['axes'] = ['z', 'y', 'x']
        multiscale['version'] = '0.3'
        del multiscale['datasets'][0]['coordinateTransformations']

    edit_attrs(path, ngff_03)
    assert_error(lambda: read_ome_zarr(path), path, 'no voxel size')


def write_nd_store(path: Path, data: np.ndarray, names: str) -> Path:
    group = zarr.open_group(str(path), mode='w', zarr_format=2)
    group.create_array('0', data=data, chunks=data.shape)
    axes = [
        {'name': n, 'type': 'space' if n in 'zyx' else 'channel'}
        for n in names
    ]
    scale = [1.0] * (len(names) - 3) + [2.0, 3.0, 4.0]
    group.attrs['multiscales'] = [
        {
            'version': '0.4',
            'axes': axes,
            'datasets': [
                {
                    'path': '0',
                    'coordinateTransformations': [
                        {'type': 'scale', 'scale': scale}
                    ],
                }
            ],
        }
    ]
    return path


def test_singleton_leading_axes_are_dropped(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 1, 2, 3, 4)
    path = write_nd_store(tmp_path / 'tczyx.zarr', data, 'tczyx')
    tomo = read_ome_zarr(path)
    assert tomo.shape == (2, 3, 4)
    assert tomo.scales == ((2.0, 3.0, 4.0),)
    np.testing.assert_array_equal(tomo.data, data[0, 0])


def test_non_singleton_channel_is_an_error(tmp_path):
    data = np.zeros((2, 3, 4, 5), dtype=np.float32)
    path = write_nd_store(tmp_path / 'czyx.zarr', data, 'czyx')
    assert_error(
        lambda: read_ome_zarr(path),
        path,
        'expected a 3-D tomogram, got shape (2, 3, 4, 5)',
    )


def test_2d_store_is_an_error(tmp_path):
    path = tmp_path / 'flat.zarr'
    group = zarr.open_group(str(path), mode='w', zarr_format=2)
    group.create_array('0', data=np.zeros((5, 6), np.float32))
    group.attrs['multiscales'] = [
        {
            'version': '0.4',
            'axes': [{'name': 'y', 'type': 'space'}, {'name': 'x'}],
            'datasets': [
                {
                    'path': '0',
                    'coordinateTransformations': [
                        {'type': 'scale', 'scale': [1.0, 1.0]}
                    ],
                }
            ],
        }
    ]
    assert_error(lambda: read_ome_zarr(path), path, '(5, 6)')


def test_slicing_is_lazy(tmp_path):
    volume = np.random.default_rng(3).random((32, 32, 32), dtype=np.float32)
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.0, chunks=8)
    # Spoil every chunk beyond the first z slab: a reader that loads the
    # whole volume fails, one that reads only the slice's chunks does not.
    for chunk in (path / '0').glob('[1-3]/*/*'):
        chunk.write_bytes(b'not blosc')
    tomo = read_ome_zarr(path)
    np.testing.assert_array_equal(tomo.data[3].compute(), volume[3])
    with pytest.raises(Exception):  # noqa: B017, PT011
        tomo.data.compute()


# --- bad OME-Zarr input ---------------------------------------------------


def test_missing_path(tmp_path):
    path = tmp_path / 'nothing.zarr'
    assert_error(lambda: read_ome_zarr(path), path, 'no such')
    assert_error(lambda: read_mrc(tmp_path / 'x.mrc'), tmp_path / 'x.mrc')


def test_empty_folder(tmp_path):
    path = tmp_path / 'empty.zarr'
    path.mkdir()
    assert_error(lambda: read_ome_zarr(path), path, 'empty')


def test_folder_that_is_not_a_store(tmp_path):
    path = tmp_path / 'notes'
    path.mkdir()
    (path / 'readme.txt').write_text('hello')
    assert_error(lambda: read_ome_zarr(path), path, 'not a zarr store')
    assert_error(lambda: read_ome_zarr(path / 'readme.txt'), path)


@pytest.mark.parametrize('ngff', ['0.4', '0.5'])
def test_broken_json(tmp_path, volume, ngff):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.0, ngff=ngff)
    name = '.zattrs' if ngff == '0.4' else 'zarr.json'
    (path / name).write_text('{"multiscales": [')
    assert_error(lambda: read_ome_zarr(path), path, 'broken JSON')


def test_no_multiscales(tmp_path):
    path = tmp_path / 'plain.zarr'
    group = zarr.open_group(str(path), mode='w', zarr_format=2)
    group.create_array('0', data=np.zeros((3, 4, 5), np.float32))
    assert_error(lambda: read_ome_zarr(path), path, 'no OME-Zarr')
    assert_error(lambda: read_ome_zarr(path / '0'), path / '0')


def test_missing_level(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.0)
    (path / '2' / '.zarray').unlink()
    assert_error(lambda: read_ome_zarr(path), path, "'2'")


# --- writing safely -------------------------------------------------------


def test_bad_write_input_leaves_nothing(tmp_path):
    path = tmp_path / 'x.zarr'
    flat = np.zeros((4, 4), np.float32)
    assert_error(lambda: write_ome_zarr(path, flat, 1.0), path, '(4, 4)')
    cube = np.zeros((4, 4, 4), np.float32)
    assert_error(lambda: write_ome_zarr(path, cube, 0.0), path, 'voxel')
    assert_error(lambda: write_ome_zarr(path, cube, 1, ngff='0.6'), path)
    assert_error(lambda: write_ome_zarr(path, cube, 1, levels=0), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path, volume, monkeypatch):
    def fail(*args):
        raise RuntimeError('disk full')

    monkeypatch.setattr(ome_zarr_module, '_write_attrs', fail)
    with pytest.raises(RuntimeError):
        write_ome_zarr(tmp_path / 'x.zarr', volume, 1.0)
    assert list(tmp_path.iterdir()) == []


def test_existing_store_is_kept(tmp_path, volume):
    path = write_ome_zarr(tmp_path / 'x.zarr', volume, 1.0)
    before = sorted(p.relative_to(path) for p in path.rglob('*'))
    assert_error(lambda: write_ome_zarr(path, volume * 2, 2.0), path, 'exists')
    assert sorted(p.relative_to(path) for p in path.rglob('*')) == before
    np.testing.assert_array_equal(read_ome_zarr(path).data, volume)
    write_ome_zarr(path, volume * 2, 2.0, overwrite=True)
    assert read_ome_zarr(path).voxel_size == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.zarr']


# --- MRC ------------------------------------------------------------------


def test_mrc_round_trip(tmp_path, volume):
    path = write_mrc(tmp_path / 'TS_1.mrc', volume, 8.66)
    tomo = read_mrc(path)
    assert tomo.run == 'TS_1'
    assert tomo.shape == volume.shape
    assert tomo.voxel_size == pytest.approx(8.66, abs=1e-5)
    assert len(tomo.levels) == 1
    assert isinstance(tomo.data, da.Array)
    np.testing.assert_array_equal(tomo.data.compute(), volume)
    path = write_mrc(tmp_path / 'b.mrc', volume.astype(float), (5, 6, 7.5))
    tomo = read_mrc(path)
    assert tomo.scales == ((5.0, 6.0, 7.5),)
    assert tomo.data.dtype == np.float32


def test_mrc_axis_mapping(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    path = tmp_path / 'swapped.mrc'
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 2.0
        mrc.header.mapc, mrc.header.maps = 3, 1  # columns run along z
    np.testing.assert_array_equal(read_mrc(path).data, data.T)


def test_mrc_write_is_safe(tmp_path, volume, monkeypatch):
    path = write_mrc(tmp_path / 'a.mrc', volume, 7.8)
    before = path.read_bytes()
    assert_error(lambda: write_mrc(path, volume * 2, 7.8), path, 'exists')
    assert path.read_bytes() == before
    write_mrc(path, volume * 2, 7.8, overwrite=True)
    np.testing.assert_array_equal(read_mrc(path).data, volume * 2)

    def broken_new(name, **kwargs):
        Path(name).write_bytes(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(mrc_module.mrcfile, 'new', broken_new)
    with pytest.raises(OSError, match='disk full'):
        write_mrc(tmp_path / 'b.mrc', volume, 7.8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.mrc']


def test_not_an_mrc(tmp_path):
    path = tmp_path / 'fake.mrc'
    path.write_bytes(b'hello' * 400)
    assert_error(lambda: read_mrc(path), path, 'not a readable MRC')
    short = tmp_path / 'short.mrc'
    short.write_bytes(b'abc')
    assert_error(lambda: read_mrc(short), short)
    assert_error(lambda: read_mrc(tmp_path), tmp_path, 'folder')


def test_truncated_mrc(tmp_path, volume):
    path = write_mrc(tmp_path / 'cut.mrc', volume, 1.0)
    path.write_bytes(path.read_bytes()[:-100])
    assert_error(lambda: read_mrc(path), path, 'truncated')


def test_2d_mrc(tmp_path):
    path = write_mrc(tmp_path / 'img.mrc', np.zeros((1, 8, 9), np.float32), 1)
    with mrcfile.open(path, mode='r+') as mrc:
        mrc.set_image_stack()
    assert_error(lambda: read_mrc(path), path, 'got shape (8, 9)')


@pytest.mark.parametrize('unset', [0.0, 1.0])
def test_mrc_unset_voxel_size(tmp_path, volume, unset):
    path = write_mrc(tmp_path / 'unset.mrc', volume, 7.8)
    with mrcfile.open(path, mode='r+') as mrc:
        mrc.voxel_size = unset
    assert_error(lambda: read_mrc(path), path, 'unset', '--voxel-size')
    assert read_mrc(path, voxel_size=13.5).scales == ((13.5,) * 3,)


def test_real_mrc():
    folder = TEST_DATA / 'emdb3883-ribosome-zarr-particle-tools'
    tomo = read_mrc(folder / 'ribo80s_emd_3883_866_64_resized.mrc')
    assert tomo.run == 'ribo80s_emd_3883_866_64_resized'
    assert tomo.shape == (64, 64, 64)
    assert tomo.voxel_size == pytest.approx(8.66, abs=1e-3)
    assert np.isfinite(tomo.data[32].compute()).all()


# --- run names ------------------------------------------------------------


@pytest.mark.parametrize(
    ('path', 'run'),
    [
        ('p/ExperimentRuns/TS_5_4/VoxelSpacing10.000/denoised.zarr', 'TS_5_4'),
        (
            'static/ExperimentRuns/TS_6_4/VoxelSpacing10.000/wbp.zarr/',
            'TS_6_4',
        ),
        ('ExperimentRuns/TS_1/tomo.mrc', 'TS_1'),
        ('data/x.zarr', 'x'),
        ('data/x.mrc', 'x'),
        ('x.ome.zarr', 'x'),
        ('data/TS_99_9', 'TS_99_9'),
        ('a.b.mrc', 'a.b'),
    ],
)
def test_run_name_for(path, run):
    assert run_name_for(path) == run
