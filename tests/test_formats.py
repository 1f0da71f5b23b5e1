"""Tomogram files as users have them: MRC modes, TIFF, NGFF units."""

import json

import dask.array as da
import mrcfile
import numpy as np
import pytest

from napari_cryopick.errors import CryopickError
from napari_cryopick.io.mrc import read_mrc, write_mrc
from napari_cryopick.io.ome_zarr import read_ome_zarr
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import open_tomogram
from napari_cryopick.io.tiff import read_tiff
from tests.conftest import TEST_DATA

tifffile = pytest.importorskip('tifffile')

SHAPE = (6, 10, 12)


def _error(call, *words):
    with pytest.raises(CryopickError) as info:
        call()
    message = str(info.value)
    assert '\n' not in message
    for word in words:
        assert str(word) in message
    return message


def _data(dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in 'iu' else None
    if info is None:
        return rng.normal(0, 1, SHAPE).astype(dtype)
    return rng.integers(info.min, info.max, SHAPE, endpoint=True).astype(dtype)


# --- MRC ------------------------------------------------------------------


@pytest.mark.parametrize(
    ('dtype', 'mode'),
    [
        (np.int8, 0),
        (np.int16, 1),
        (np.float32, 2),
        (np.uint16, 6),
        (np.float16, 12),
    ],
)
@pytest.mark.parametrize('suffix', ['.mrc', '.rec', '.map'])
def test_every_mrc_mode_reads_lazily_with_its_scale(
    tmp_path, dtype, mode, suffix
):
    data = _data(dtype)
    path = tmp_path / f'TS_1{suffix}'
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = (13.6, 13.6, 17.2)  # x, y, z
    assert int(mrcfile.open(path, header_only=True).header.mode) == mode
    tomogram = open_tomogram(path)
    assert tomogram.run == 'TS_1'
    assert tomogram.scales == ((17.2, 13.6, 13.6),)
    assert isinstance(tomogram.data, da.Array)
    assert tomogram.data.dtype == dtype
    np.testing.assert_array_equal(tomogram.data[2:4].compute(), data[2:4])
    np.testing.assert_array_equal(tomogram.data.compute(), data)


def _imod_bytes(path, data, signed_flag):
    with mrcfile.new(path) as mrc:
        mrc.set_data(data.view(np.int8))
        mrc.voxel_size = 10.5
    raw = bytearray(path.read_bytes())
    raw[152:160] = np.array([1146047817, signed_flag], '<i4').tobytes()
    path.write_bytes(bytes(raw))


def test_imod_unsigned_bytes(tmp_path):
    data = np.arange(np.prod(SHAPE)).reshape(SHAPE).astype(np.uint8)
    _imod_bytes(tmp_path / 'u.mrc', data, signed_flag=0)
    unsigned = read_mrc(tmp_path / 'u.mrc')
    assert unsigned.data.dtype == np.uint8
    np.testing.assert_array_equal(unsigned.data.compute(), data)
    # The same stamp with bit 0 set says signed: MRC2014's int8.
    _imod_bytes(tmp_path / 's.mrc', data, signed_flag=1)
    signed = read_mrc(tmp_path / 's.mrc')
    assert signed.data.dtype == np.int8
    np.testing.assert_array_equal(signed.data.compute(), data.view(np.int8))


def test_big_endian_mrc(tmp_path):
    data = _data(np.float32)
    path = tmp_path / 'be.mrc'
    with mrcfile.new(path) as mrc:
        mrc.set_data(data.astype('>f4'))
        mrc.voxel_size = 9.0
    tomogram = read_mrc(path)
    np.testing.assert_array_equal(tomogram.data.compute(), data)


def test_header_disagreeing_with_the_file_length(tmp_path):
    path = write_mrc(tmp_path / 'long.mrc', _data(np.float32), 10.0)
    path.write_bytes(path.read_bytes() + b'\0' * 64)
    _error(lambda: read_mrc(path), path, 'disagrees', 'bytes')
    cut = write_mrc(tmp_path / 'cut.mrc', _data(np.float32), 10.0)
    cut.write_bytes(cut.read_bytes()[:-64])
    _error(lambda: open_tomogram(cut), cut, 'truncated')


def test_voxel_size_override_on_every_reader(tmp_path):
    data = _data(np.float32)
    mrc = write_mrc(tmp_path / 'a.mrc', data, 1.0)  # "unset"
    _error(lambda: open_tomogram(mrc), mrc, '--voxel-size')
    assert open_tomogram(mrc, voxel_size=31.36).voxel_size == 31.36
    store = write_ome_zarr(tmp_path / 'b.zarr', data, 10.0, levels=2)
    tomogram = open_tomogram(store, voxel_size=7.8)
    assert tomogram.scales == ((7.8,) * 3, (15.6,) * 3)
    _error(lambda: open_tomogram(store, voxel_size=-2), '--voxel-size')


# --- TIFF -----------------------------------------------------------------


def test_real_microtubule_tiffs():
    folder = TEST_DATA / 'cylindra-microtubule-tomograms'
    for name, shape in (
        ('13pf_MT', (36, 206, 94)),
        ('14pf_MT', (44, 136, 84)),
    ):
        tomogram = open_tomogram(folder / f'{name}.tif')
        assert tomogram.run == name
        assert tomogram.shape == shape
        assert tomogram.scales == ((10.52,) * 3,)  # ImageJ: 1.052 nm
        assert tomogram.data.dtype == np.uint8
        plane = tifffile.imread(folder / f'{name}.tif', key=5)
        np.testing.assert_array_equal(tomogram.data[5].compute(), plane)


def test_imagej_tiff_with_anisotropic_spacing(tmp_path):
    data = _data(np.int16)
    path = tmp_path / 'stack.tif'
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.00136, 1 / 0.00136),  # pixels per µm
        metadata={'axes': 'ZYX', 'unit': 'um', 'spacing': 0.00172},
    )
    tomogram = read_tiff(path)
    assert tomogram.scales == ((17.2, 13.6, 13.6),)
    np.testing.assert_array_equal(tomogram.data.compute(), data)


def test_ome_tiff(tmp_path):
    data = _data(np.float32)
    path = tmp_path / 'run7.ome.tif'
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            'axes': 'ZYX',
            'PhysicalSizeX': 1.36,
            'PhysicalSizeXUnit': 'nm',
            'PhysicalSizeY': 1.36,
            'PhysicalSizeYUnit': 'nm',
            'PhysicalSizeZ': 1.36,
            'PhysicalSizeZUnit': 'nm',
        },
    )
    tomogram = open_tomogram(path)
    assert tomogram.run == 'run7'
    assert tomogram.scales == ((13.6,) * 3,)


def test_tiff_without_voxel_size(tmp_path):
    path = tmp_path / 'plain.tif'
    tifffile.imwrite(path, _data(np.uint8))
    _error(lambda: open_tomogram(path), path, 'no voxel size', '--voxel-size')
    assert open_tomogram(path, voxel_size=20.0).scales == ((20.0,) * 3,)
    flat = tmp_path / 'flat.tif'
    tifffile.imwrite(flat, _data(np.uint8)[0])
    _error(lambda: open_tomogram(flat, voxel_size=20.0), flat, '3-D')


def test_napari_reads_a_tiff_only_when_it_has_a_voxel_size(tmp_path):
    from napari_builtins.io import napari_get_reader

    from napari_cryopick._reader import (
        get_tomogram_reader,
        read_tomogram_layers,
    )

    plain = tmp_path / 'plain.tif'
    tifffile.imwrite(plain, _data(np.uint8))
    # Not a tomogram to cryopick: handed to napari's own TIFF reader.
    reader = get_tomogram_reader(str(plain))
    assert reader is not read_tomogram_layers
    assert reader is napari_get_reader(str(plain))
    path = tmp_path / 'stack.tif'
    tifffile.imwrite(
        path,
        _data(np.uint8),
        imagej=True,
        resolution=(1 / 1.052, 1 / 1.052),
        metadata={'axes': 'ZYX', 'unit': 'nm', 'spacing': 1.052},
    )
    reader = get_tomogram_reader(str(path))
    data, kwargs, kind = reader(str(path))[0]
    assert kind == 'image'
    assert kwargs['scale'] == (10.52,) * 3
    assert isinstance(data, da.Array)


# --- NGFF units -----------------------------------------------------------


@pytest.mark.parametrize('ngff', ['0.4', '0.5'])
@pytest.mark.parametrize(
    ('unit', 'factor'),
    [('nanometer', 10), ('nm', 10), ('micrometer', 1e4), ('µm', 1e4)],
)
def test_ngff_axis_units(tmp_path, ngff, unit, factor):
    path = write_ome_zarr(
        tmp_path / 'x.zarr', _data(np.float32), 1.36, ngff=ngff, levels=2
    )
    meta = path / ('zarr.json' if ngff == '0.5' else '.zattrs')
    content = json.loads(meta.read_text())
    attrs = content['attributes']['ome'] if ngff == '0.5' else content
    for axis in attrs['multiscales'][0]['axes']:
        axis['unit'] = unit
    meta.write_text(json.dumps(content))
    tomogram = read_ome_zarr(path)
    assert tomogram.voxel_size == pytest.approx(1.36 * factor)
    assert tomogram.scales[1][0] == pytest.approx(2.72 * factor)
