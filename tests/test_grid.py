"""Any voxel size onto the model's grid, streamed, and picks back in Å."""

import tracemalloc
from dataclasses import replace

import dask.array as da
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from napari_cryopick.classes import CZII_CLASSES  # noqa: E402
from napari_cryopick.coords import level0_to_level, level_to_level0  # noqa: E402
from napari_cryopick.errors import CryopickError  # noqa: E402
from napari_cryopick.io.mrc import read_mrc, write_mrc  # noqa: E402
from napari_cryopick.io.tomogram import Tomogram, block_mean  # noqa: E402
from napari_cryopick.model import grid as grid_module  # noqa: E402
from napari_cryopick.model.checkpoint import (  # noqa: E402
    LoadedModel,
    ModelCard,
    classes_to_card,
)
from napari_cryopick.model.config import NetworkConfig  # noqa: E402
from napari_cryopick.model.grid import (  # noqa: E402
    GridReader,
    check_voxel_size,
    plan_grid,
)
from napari_cryopick.model.infer import (  # noqa: E402
    InferenceSettings,
    predict_probabilities,
)
from napari_cryopick.model.peaks import PeakSettings  # noqa: E402
from napari_cryopick.model.predict import (  # noqa: E402
    PickSettings,
    chosen_classes,
    predict_tomogram,
)
from napari_cryopick.model.resample import resample_matrix  # noqa: E402
from napari_cryopick.model.tta import apply_view, undo_view  # noqa: E402

GRID = 20.0
RIBOSOME = [c.name for c in CZII_CLASSES].index('ribosome') + 1


class _Intensity(torch.nn.Module):
    """Logits of one class rise with the input: bright blobs are peaks."""

    def __init__(self, label=RIBOSOME):
        super().__init__()
        self.label = label

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 7, *x.shape[2:])
        logits[:, self.label] = 3 * (x[:, 0] - 2.5)
        return logits


def _model(tmp_path, label=RIBOSOME):
    card = {
        'network': NetworkConfig(strides=(2, 2)).to_dict(),
        'classes': classes_to_card(CZII_CLASSES),
        'voxel_size': GRID,
        'thresholds': {},
    }
    return LoadedModel(
        _Intensity(label), ModelCard.from_dict(card), tmp_path / 'model'
    )


def _blobs(shape, voxel, centres_a, sigma_a=45.0, seed=0):
    """Blobs at ``centres_a`` (x, y, z Å) on a two-level background.

    A quarter of the volume (the far x end) is at -1, the rest at 0, so
    the normalisation's percentiles are set by the background whatever
    the voxel size; blobs of height 1.2 then normalise to about 3.9,
    under the clip at 5, and the probability peaks are smooth, not
    flat tops whose centres would snap to grid voxels.
    """
    rng = np.random.default_rng(seed)
    volume = rng.normal(0, 0.02, shape).astype(np.float32)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    volume[..., int(np.ceil(0.75 * shape[2])) :] -= 1
    for x, y, z in centres_a:
        d2 = (
            (zz * voxel[0] - z) ** 2
            + (yy * voxel[1] - y) ** 2
            + (xx * voxel[2] - x) ** 2
        )
        volume += 1.2 * np.exp(-d2 / (2 * sigma_a**2)).astype(np.float32)
    return volume


def _tomogram(volume, voxel, tmp_path, levels=None):
    arrays = levels or [volume]
    scales = tuple(
        tuple(v * volume.shape[i] / a.shape[i] for i, v in enumerate(voxel))
        for a in arrays
    )
    return Tomogram(
        tuple(da.from_array(a) for a in arrays), scales, 'r', tmp_path
    )


SETTINGS = PickSettings(
    inference=InferenceSettings(patch=(16, 32, 32)),
    peaks=PeakSettings(candidate_threshold=0.5),
    apply_thresholds=False,
    classes=('ribosome',),
)


# --- the mapping ------------------------------------------------------------


def test_grid_centres_generalise_the_block_mean():
    # Factor 2: voxel i is the mean of level-0 voxels 2i and 2i + 1.
    assert level_to_level0(np.array([[0, 1, 2]]), 2).tolist() == [
        [0.5, 2.5, 4.5]
    ]
    # Any real factor, per axis: the grid starts at level-0 index -0.5.
    factor = (1.4705, 0.7407, 2.5)
    edges = level_to_level0(np.full((1, 3), -0.5), factor)
    assert np.allclose(edges, -0.5)
    zyx = np.random.default_rng(1).uniform(0, 100, (20, 3))
    back = level_to_level0(level0_to_level(zyx, factor), factor)
    assert np.allclose(back, zyx)


def test_resampling_by_two_is_the_block_mean_on_smooth_data():
    matrix = resample_matrix(9, 2.0, 5).toarray()
    assert np.allclose(matrix.sum(axis=1), 1)
    ramp = np.arange(9, dtype=float)
    # A linear ramp is kept exactly inside, at the block-mean centres
    # 2i + 0.5; at the edges the kernel is cut (and the last, half block
    # clamps to the last voxel, as block_mean's does).
    got = matrix @ ramp
    assert np.allclose(got[1:3], [2.5, 4.5], atol=1e-5)
    assert np.allclose(got[[0, 3, 4]], [0.5, 6.5, 8], atol=0.15)
    smooth = np.sin(np.linspace(0, 1, 40))[None, None, :] * np.ones((2, 2, 1))
    tomogram = _tomogram(smooth.astype(np.float32), (10, 10, 10), '.')
    plan = plan_grid(tomogram, 20.0)
    got = GridReader(tomogram, plan).rows(0, 1)[0, 0]
    assert np.allclose(got, block_mean(smooth)[0, 0], atol=2e-3)


def test_plan_uses_a_close_stored_level_else_the_nearest_finer(tmp_path):
    volume = np.zeros((40, 40, 40), np.float32)
    levels = [volume, block_mean(volume), block_mean(block_mean(volume))]
    tomogram = _tomogram(volume, (10.012444,) * 3, tmp_path, levels)
    plan = plan_grid(tomogram, 20.02)
    assert (plan.level, plan.step, plan.shape) == (1, (1.0,) * 3, (20,) * 3)
    assert plan.factor == (2.0, 2.0, 2.0)
    plan = plan_grid(tomogram, 31.4)  # from level 1 (20 Å), not level 0
    assert plan.level == 1
    assert plan.step[0] == pytest.approx(31.4 / 20.024888)
    assert plan.factor[0] == pytest.approx(31.4 / 10.012444)
    assert plan.shape == (13, 13, 13)
    coarse = _tomogram(volume, (31.36,) * 3, tmp_path)
    plan = plan_grid(coarse, 20.0)  # enlarged, from level 0
    assert plan.level == 0
    assert plan.shape == (63, 63, 63)
    assert 'resampled from level 0 by 0.6378' in plan.describe(31.36)


# --- picks come back in the input's Å ---------------------------------------


@pytest.mark.parametrize(
    'voxel',
    [
        (13.6, 13.6, 13.6),
        (27.0, 27.0, 27.0),
        (7.8, 7.8, 7.8),
        (17.2, 13.5, 9.3),
    ],
    ids=['13.6', '27', '7.8', 'anisotropic'],
)
def test_planted_blobs_come_back_at_their_angstrom(tmp_path, voxel):
    extent = np.array([480.0, 1100.0, 900.0])  # z, y, x in Å
    shape = tuple(int(n) for n in np.round(extent / voxel))
    rng = np.random.default_rng(7)
    # Off-grid positions, kept clear of the edges and of each other.
    centres = np.column_stack(
        [
            np.linspace(150, 550, 4) + rng.uniform(-20, 20, 4),
            np.linspace(160, 940, 4) + rng.uniform(-20, 20, 4),
            rng.uniform(170, 310, 4),
        ]
    )
    volume = _blobs(shape, voxel, centres)
    tomogram = _tomogram(volume, voxel, tmp_path)
    table = predict_tomogram(tomogram, _model(tmp_path), SETTINGS)
    assert len(table) == 4
    found = table[['x', 'y', 'z']].to_numpy()
    dist = np.linalg.norm(found[:, None] - centres[None], axis=2).min(0)
    assert dist.max() < min(voxel)  # within a voxel of the input, in Å


@pytest.mark.parametrize('voxel', [13.6, 27.0, 7.8])
def test_the_resampled_grid_maps_back_exactly(tmp_path, voxel):
    # The centroid of a whole blob on the grid, mapped back by coords,
    # is the blob's Å position to a fraction of an Å (peak refinement
    # in a small window adds up to a quarter of a grid voxel on top).
    centre = np.array([[523.0, 611.0, 257.0]])  # x, y, z Å
    shape = tuple(
        int(n) for n in np.round(np.array([520, 1100, 1000]) / voxel)
    )
    volume = _blobs(shape, (voxel,) * 3, centre, seed=3)
    tomogram = _tomogram(volume, (voxel,) * 3, tmp_path)
    plan = plan_grid(tomogram, GRID)
    grid = GridReader(tomogram, plan).rows(0, plan.shape[0])
    weights = np.clip(grid - 0.3, 0, None)
    zyx = (
        np.stack(
            [
                (
                    weights
                    * np.arange(n).reshape(
                        [-1 if i == a else 1 for i in range(3)]
                    )
                ).sum()
                for a, n in enumerate(grid.shape)
            ]
        )
        / weights.sum()
    )
    level0 = level_to_level0(zyx[None], plan.factor)
    xyz = level0[0, ::-1] * voxel
    assert np.abs(xyz - centre[0]).max() < 0.5


def test_streaming_gives_the_same_picks_as_the_whole_grid(
    tmp_path, monkeypatch
):
    voxel = (13.6,) * 3
    centres = [(300 + 90 * i, 200 + 150 * i, 150 + 80 * i) for i in range(5)]
    volume = _blobs((60, 70, 70), voxel, centres)
    tomogram = _tomogram(volume, voxel, tmp_path)
    settings = replace(SETTINGS, classes=('ribosome', 'apo-ferritin'))
    whole = predict_tomogram(tomogram, _model(tmp_path), settings)
    monkeypatch.setattr(grid_module, 'WHOLE_GRID_BYTES', 10_000)
    monkeypatch.setattr(grid_module, 'SLAB_BYTES', 50_000)
    streamed = predict_tomogram(tomogram, _model(tmp_path), settings)
    assert len(whole) == len(streamed) == 5
    columns = ['x', 'y', 'z', 'prob_ribosome', 'prob_apo-ferritin']
    a = whole.sort_values('x')[columns].to_numpy()
    b = streamed.sort_values('x')[columns].to_numpy()
    assert np.abs(a[:, :3] - b[:, :3]).max() < 1.0
    # Every class's probability at a pick, sampled across tail and slab.
    assert np.abs(a[:, 3:] - b[:, 3:]).max() < 1e-3
    assert (a[:, 3] > 0.5).all()
    assert (a[:, 4] < 0.5).all()


@pytest.mark.slow
def test_memory_grows_with_the_slab_not_the_tomogram(tmp_path, monkeypatch):
    # A 25 MB int16 MRC, 50 MB as float32; the slab budget is 1 MB.
    voxel = (10.0,) * 3
    centres = [(600, 600 + 1200 * i, 400 + 800 * i) for i in range(3)]
    shape = (256, 384, 128)
    volume = _blobs(shape, voxel, centres) * 1000
    path = write_mrc(tmp_path / 'big.mrc', volume.astype(np.int16), voxel)
    level0 = int(np.prod(shape)) * 4
    monkeypatch.setattr(grid_module, 'WHOLE_GRID_BYTES', 2**18)
    monkeypatch.setattr(grid_module, 'SLAB_BYTES', 2**20)
    tomogram = read_mrc(path)
    # Warm up first: imports made during the run would count otherwise.
    small = _tomogram(volume[:16, :64, :64], voxel, tmp_path)
    predict_tomogram(small, _model(tmp_path), SETTINGS)
    tracemalloc.start()
    try:
        table = predict_tomogram(tomogram, _model(tmp_path), SETTINGS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 3
    # Materialising level 0 as float32 alone would take ``level0``.
    assert peak < level0 / 4, f'peak {peak / 2**20:.1f} MB'


# --- refusals -------------------------------------------------------------


def test_too_coarse_for_the_smallest_class(tmp_path):
    tomogram = _tomogram(np.zeros((4, 4, 4), np.float32), (45.0,) * 3, '.')
    with pytest.raises(CryopickError) as info:
        check_voxel_size(tomogram, CZII_CLASSES)
    message = str(info.value)
    assert 'apo-ferritin' in message
    assert '--allow-coarse' in message
    assert '\n' not in message
    check_voxel_size(tomogram, CZII_CLASSES, force=True)
    big = [c for c in CZII_CLASSES if c.name == 'ribosome']
    check_voxel_size(tomogram, big)  # 150 Å is 3.3 voxels of 45 Å
    # A layer from another plugin without a scale says 1 Å: unset.
    unset = _tomogram(np.zeros((4, 4, 4), np.float32), (1.0,) * 3, 'layer')
    with pytest.raises(CryopickError, match='looks unset'):
        check_voxel_size(unset, big, force=True)


def test_unknown_class_lists_the_models_classes(tmp_path):
    model = _model(tmp_path)
    assert [c.name for c in chosen_classes(model, ('ribosome',))] == [
        'ribosome'
    ]
    with pytest.raises(CryopickError) as info:
        chosen_classes(model, ('ribosome', 'proteasome'))
    message = str(info.value)
    assert "'proteasome'" in message
    assert 'apo-ferritin, beta-amylase' in message


# --- inference idioms -------------------------------------------------------


def test_rot90_is_a_real_turn_on_non_square_tiles():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 1, 2, 4, 6)
    turned = apply_view(x, ('rot90',))
    assert turned.shape == (1, 1, 2, 6, 4)
    assert torch.equal(turned, torch.rot90(x, 1, (3, 4)))
    assert torch.equal(undo_view(turned, ('rot90',)), x)

    seen = []

    class Shapes(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[2:]))
            return torch.zeros(x.shape[0], 2, *x.shape[2:])

    volume = np.zeros((8, 16, 24), np.float32)
    settings = InferenceSettings(patch=(8, 16, 24), tta=True)
    predict_probabilities(volume, [Shapes()], settings)
    assert sorted(set(seen)) == [(8, 16, 24), (8, 24, 16)]


def test_torch_threads_are_restored():
    before = torch.get_num_threads()
    inside = []

    class Threads(torch.nn.Module):
        def forward(self, x):
            inside.append(torch.get_num_threads())
            return torch.zeros(x.shape[0], 2, *x.shape[2:])

    settings = InferenceSettings(patch=(8, 8, 8), threads=1)
    predict_probabilities(
        np.zeros((8, 8, 8), np.float32), [Threads()], settings
    )
    assert inside == [1]
    assert torch.get_num_threads() == before


# --- a layer from another plugin ------------------------------------------


def test_a_layer_from_another_plugin_is_picked_at_its_scale(tmp_path):
    from napari.components import ViewerModel

    from napari_cryopick.layers import picks_to_layer_data
    from napari_cryopick.viewer.jobs import pick_job
    from napari_cryopick.viewer.state import ViewerState

    voxel = (13.6, 13.6, 13.6)
    centres = np.array([[300.0, 530.0, 250.0], [620.0, 250.0, 230.0]])
    volume = _blobs((36, 60, 80), voxel, centres)
    viewer = ViewerModel()
    # No cryopick metadata: only the layer's data, scale and name.
    layer = viewer.add_image(volume, scale=voxel, name='lamella')
    tomogram = ViewerState(viewer).tomogram_for(layer)
    assert tomogram.run == 'lamella'
    assert tomogram.scales == (voxel,)
    job = pick_job(
        tomogram, _model(tmp_path), None, SETTINGS.inference, ('ribosome',)
    )
    table = job(lambda message: None, lambda: False).table
    table = table[table['score'] > 0.5]
    assert len(table) == 2
    found = table[['x', 'y', 'z']].to_numpy()
    dist = np.linalg.norm(found[:, None] - centres[None], axis=2).min(0)
    assert dist.max() < 13.6
    # Shown on the layer's scale: voxel indices x scale are the Å.
    (data, kwargs, _), *_ = picks_to_layer_data(table, tomogram.scales[0])
    assert tuple(kwargs['scale']) == voxel
    shown = np.asarray(data)[:, ::-1] * voxel
    np.testing.assert_allclose(np.sort(shown, 0), np.sort(found, 0))
