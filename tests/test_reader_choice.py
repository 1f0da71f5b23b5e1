"""Which reader napari picks for each file cryopick reads.

napari opens a path with the one plugin npe2 finds for it, or with the
reader the user's settings name for its pattern; otherwise it raises
MultipleReaderError, which the GUI shows as its "Choose reader" dialog.
These tests run napari's own resolution (``ViewerModel.open``, the code
behind ``napari PATH``) with fresh settings.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_cryopick import reader_preferences as prefs
from napari_cryopick.io.mrc import write_mrc
from napari_cryopick.io.ome_zarr_write import write_ome_zarr
from napari_cryopick.layers import META_KEY

from .conftest import TEST_DATA

tifffile = pytest.importorskip('tifffile')
STAR = 'warp_m_particles.star'  # states its pixel size


@pytest.fixture
def settings(monkeypatch, tmp_path):
    """napari settings of a new user, saved under tmp_path."""
    import napari.settings
    from napari.settings import NapariSettings
    from npe2 import PluginManager

    PluginManager.instance().discover()  # as napari does at start-up

    fresh = NapariSettings(config_path=tmp_path / 'settings.yaml')
    monkeypatch.setattr(napari.settings, '_SETTINGS', fresh)
    return fresh


def _open(path):
    from napari.components import ViewerModel

    viewer = ViewerModel()
    # plugin=None: what `napari PATH` and File > Open pass (no --plugin).
    layers = viewer.open(str(path), plugin=None)
    return viewer, layers


@pytest.fixture
def files(tmp_path, czii_json_runs):
    """One file of every kind a cryo-ET user opens, and napari's own."""
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(12, 32, 32)).astype(np.float32)
    out = {'zarr': write_ome_zarr(tmp_path / 'denoised.zarr', volume, 10.0)}
    out['mrc'] = tmp_path / 'tomo.mrc'
    write_mrc(out['mrc'], volume, 13.6)
    out['json'] = czii_json_runs['TS_5_4'] / 'ribosome.json'
    out['star'] = TEST_DATA / 'star' / STAR
    out['csv'] = tmp_path / 'picks.csv'
    out['csv'].write_text(
        'experiment,particle_type,x,y,z\n'
        'TS_5_4,ribosome,5000.0,4000.0,900.0\n'
        'TS_5_4,apo-ferritin,1200.5,2200.0,600.0\n'
    )
    out['tif'] = tmp_path / 'stack.tif'
    tifffile.imwrite(
        out['tif'],
        (volume * 100).astype(np.int16),
        imagej=True,
        resolution=(1 / 0.00136, 1 / 0.00136),  # pixels per µm
        metadata={'axes': 'ZYX', 'unit': 'um', 'spacing': 0.00136},
    )
    out['photo'] = tmp_path / 'photo.tif'
    tifffile.imwrite(out['photo'], rng.integers(0, 255, (16, 20), np.uint8))
    out['points'] = tmp_path / 'points.csv'  # napari's own points CSV
    out['points'].write_text('index,axis-0,axis-1\n0,1.0,2.0\n1,3.0,4.0\n')
    return out


def test_only_cryopick_reads_mrc_json_star(settings, files):
    # One claimant: napari opens these with cryopick, no dialog, no
    # preference needed.
    _, (image,) = _open(files['mrc'])
    assert image.scale == pytest.approx((13.6,) * 3)
    _, layers = _open(files['json'])
    assert [len(layer.data) for layer in layers] == [31]
    assert layers[0].metadata[META_KEY]['object'] == 'ribosome'
    _, layers = _open(files['star'])
    assert layers
    assert all(layer.ndim == 3 for layer in layers)


def test_shared_patterns_ask_until_cryopick_is_preferred(settings, files):
    from napari.errors import MultipleReaderError

    # napari's own reader claims these too: a new user is asked.
    for kind in ('zarr', 'csv', 'tif'):
        with pytest.raises(MultipleReaderError):
            _open(files[kind])
    changes = prefs.prefer_cryopick(settings)
    assert all(change.after == prefs.PLUGIN for change in changes)
    assert (settings.config_path).exists()  # saved for the next napari

    _, (image,) = _open(files['zarr'])
    assert image.multiscale
    assert image.scale == pytest.approx((10.0,) * 3)
    _, layers = _open(files['csv'])
    kinds = {layer.metadata[META_KEY]['object'] for layer in layers}
    assert kinds == {'ribosome', 'apo-ferritin'}
    _, (image,) = _open(files['tif'])
    assert image.scale == pytest.approx((13.6,) * 3)
    # napari's own files still open, through napari's reader.
    _, (points,) = _open(files['points'])
    assert points._type_string == 'points'
    assert len(points.data) == 2
    _, (photo,) = _open(files['photo'])
    assert photo.data.shape == (16, 20)


def test_a_users_own_choice_is_kept_and_undo_restores_asking(settings, files):
    from napari.errors import MultipleReaderError

    settings.plugins.extension2reader = {'*.csv': 'napari'}
    changes = {c.pattern: c for c in prefs.prefer_cryopick(settings)}
    assert changes['*.csv'].after == 'napari'
    assert not changes['*.csv'].changed
    assert changes['*.zarr/'].after == prefs.PLUGIN
    forced = {
        c.pattern: c for c in prefs.prefer_cryopick(settings, force=True)
    }
    assert forced['*.csv'].after == prefs.PLUGIN
    removed = prefs.forget_cryopick(settings)
    assert {c.pattern for c in removed} == set(prefs.PATTERNS)
    assert settings.plugins.extension2reader == {}
    with pytest.raises(MultipleReaderError):
        _open(files['zarr'])


def test_readers_command(settings, capsys):
    from napari_cryopick.cli import main

    assert main(['readers']) == 0
    out = capsys.readouterr().out
    assert '*.zarr/ -> napari-cryopick' in out
    assert str(settings.config_path) in out
    assert settings.plugins.extension2reader['*.tif'] == prefs.PLUGIN
    assert main(['readers', '--undo']) == 0
    assert (
        '*.csv: no preferred reader (napari asks)' in capsys.readouterr().out
    )
    assert settings.plugins.extension2reader == {}
