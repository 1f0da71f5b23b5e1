"""The napari reader and writer contributions, as pure functions."""

import json

import numpy as np
import pytest

from napari_cryopick._reader import get_picks_reader, get_tomogram_reader
from napari_cryopick._writer import write_copick, write_kaggle_csv
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.io.sources import read_picks


def test_tomogram_reader_claims_3d_stores_only(tmp_path):
    volume = np.random.default_rng(0).normal(size=(20, 40, 40)) * 1e-5
    store = write_ome_zarr(tmp_path / 't.zarr', volume, 10.012444)
    reader = get_tomogram_reader(str(store))
    assert reader is not None
    ((data, kwargs, kind),) = reader(str(store))
    assert kind == 'image'
    assert kwargs['multiscale'] is True
    assert kwargs['scale'] == pytest.approx((10.012444,) * 3)
    low, high = kwargs['contrast_limits']
    assert -1e-4 < low < 0 < high < 1e-4
    # An image zarr with c, y, x axes (not a tomogram) is left alone.
    other = tmp_path / 'image.zarr'
    other.mkdir()
    (other / '.zgroup').write_text('{"zarr_format": 2}')
    (other / '.zattrs').write_text(
        json.dumps(
            {
                'multiscales': [
                    {
                        'version': '0.4',
                        'axes': [{'name': 'c'}, {'name': 'y'}, {'name': 'x'}],
                        'datasets': [{'path': '0'}],
                    }
                ]
            }
        )
    )
    assert get_tomogram_reader(str(other)) is None
    assert get_tomogram_reader(str(tmp_path / 'nothing.zarr')) is None
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    assert get_tomogram_reader(str(text)) is None


def test_picks_reader_and_writers(czii_json_runs, tmp_path):
    path = czii_json_runs['TS_5_4'] / 'ribosome.json'
    reader = get_picks_reader(str(path))
    layers = reader(str(path))
    assert len(layers) == 1
    data, kwargs, kind = layers[0]
    assert kind == 'points'
    assert len(data) == 31
    files = write_copick(str(tmp_path / 'proj'), layers)
    assert files[0].endswith('curation_0_ribosome.json')
    (csv,) = write_kaggle_csv(str(tmp_path / 'p.csv'), layers)
    a = read_picks(path)
    for other in (read_picks(tmp_path / 'proj'), read_picks(csv)):
        assert np.array_equal(a[['x', 'y', 'z']], other[['x', 'y', 'z']])
    not_picks = tmp_path / 'other.json'
    not_picks.write_text('{"a": 1}')
    assert get_picks_reader(str(not_picks)) is None


def test_star_reader_and_writer_use_the_open_tomogram(
    make_napari_viewer, czii_json_runs, tmp_path
):
    from napari_cryopick._reader import read_tomogram_layers
    from napari_cryopick._writer import write_star_relion5
    from napari_cryopick.io.relion_sets import read_relion_tomograms
    from napari_cryopick.io.star import read_star

    path = czii_json_runs['TS_5_4'] / 'ribosome.json'
    layers = get_picks_reader(str(path))(str(path))
    star = str(tmp_path / 'ribosome.star')
    # No tomogram open: centred coordinates cannot be written.
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match='tomograms'):
        write_star_relion5(star, layers)
    volume = np.zeros((46, 158, 158), np.float32)
    store = write_ome_zarr(tmp_path / 'TS_5_4.zarr', volume, 40.049776)
    for data, kwargs, _ in read_tomogram_layers(str(store)):
        viewer.add_image(data, **kwargs)
    (written,) = write_star_relion5(star, layers)
    reader = get_picks_reader(written)
    assert reader is not None
    (back,) = reader(written)
    assert len(back[0]) == 31
    assert back[1]['scale'] == pytest.approx((40.049776,) * 3)
    a = read_picks(path)
    tomograms = tmp_path / 'tomograms.star'
    tomograms.write_text(
        'data_global\n\nloop_\n_rlnTomoName #1\n_rlnTomoSizeX #2\n'
        '_rlnTomoSizeY #3\n_rlnTomoSizeZ #4\n'
        '_rlnTomoTiltSeriesPixelSize #5\nTS_5_4 632 632 184 10.012444\n'
    )
    b = read_star(written, read_relion_tomograms(tomograms))
    # 158 voxels of 40.05 Å and 632 of 10.01 Å share the same centre.
    assert np.allclose(np.sort(a['x']), np.sort(b['x']), atol=1e-3)


def test_readers_claim_only_what_they_read(tmp_path):
    # npe2 picks readers by file name; napari shows its "Choose reader"
    # dialog whenever two plugins claim a path and the user's settings
    # name neither (test_reader_choice.py). cryopick's patterns must not
    # claim napari's image formats (PNG, NumPy, ...) beyond TIFF, which
    # can be a tomogram.
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()

    def plugins(name):
        path = tmp_path / name
        if name.endswith('/'):
            path.mkdir()
        else:
            path.write_bytes(b'')
        return {r.plugin_name for r in pm.iter_compatible_readers([path])}

    for name in ('a.png', 'c.npy', 'd.txt', 'e.jpg'):
        assert 'napari-cryopick' not in plugins(name), name
    for name in ('t.mrc', 't.REC', 'p.json', 'p.star'):
        assert plugins(name) == {'napari-cryopick'}, name
    # Folders, CSV and TIFF are napari's too: `cryopick readers` saves
    # cryopick as the user's choice for them.
    for name in ('x.zarr/', 'p.csv', 'b.tif', 'b.TIFF'):
        assert plugins(name) == {'napari-cryopick', 'napari'}, name


def test_sample_menu_entry_matches_the_docs():
    from pathlib import Path

    from napari.plugins import menu_item_template
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest('napari-cryopick')
    (sample,) = manifest.contributions.sample_data
    # One sample: napari lists it directly under File > Open Sample.
    entry = menu_item_template.format(
        manifest.display_name, sample.display_name
    )
    assert entry == 'Phantom tomogram with ground truth (cryopick)'
    root = Path(__file__).parents[1]
    for doc in ('README.md', 'docs/user-guide.md'):
        text = ' '.join((root / doc).read_text().split())
        assert f'File → Open Sample → {entry}' in text, doc
