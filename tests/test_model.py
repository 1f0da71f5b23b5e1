"""Model pieces on small nets and volumes: seconds, not minutes."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from napari_cryopick import picks as pk  # noqa: E402
from napari_cryopick.classes import CZII_CLASSES  # noqa: E402
from napari_cryopick.coords import level0_to_level, level_to_level0  # noqa: E402
from napari_cryopick.errors import CryopickError  # noqa: E402
from napari_cryopick.model.checkpoint import (  # noqa: E402
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from napari_cryopick.model.config import NetworkConfig, build_network  # noqa: E402
from napari_cryopick.model.infer import (  # noqa: E402
    InferenceSettings,
    gaussian_weight,
    predict_probabilities,
    tile_starts,
)
from napari_cryopick.model.normalize import normalize_volume  # noqa: E402
from napari_cryopick.model.peaks import (  # noqa: E402
    PeakSettings,
    find_peaks,
    suppress_duplicates,
)
from napari_cryopick.model.sampling import PatchSampler, make_sample  # noqa: E402
from napari_cryopick.model.targets import sphere_labels  # noqa: E402
from napari_cryopick.model.train import TrainConfig, train  # noqa: E402
from tests.conftest import TINY, tiny_card  # noqa: E402


@pytest.mark.parametrize(
    'config',
    [
        TINY,
        NetworkConfig(channels=(4, 8, 8), strides=(2, 1), num_res_units=1),
        NetworkConfig('segresnet', channels=(4,)),
        NetworkConfig('dynunet', channels=(4, 8, 8), strides=(2, 2)),
        NetworkConfig('vnet', out_channels=7),
    ],
    ids=['unet', 'resunet', 'segresnet', 'dynunet', 'vnet'],
)
def test_networks_by_config(config):
    net = build_network(config).eval()
    with torch.inference_mode():
        out = net(torch.zeros(1, 1, 16, 16, 16))
    assert out.shape == (1, 7, 16, 16, 16)


def test_unknown_architecture():
    with pytest.raises(ValueError, match='unknown architecture'):
        NetworkConfig('resnet')


def test_level_mapping_is_the_block_mean_centre():
    # level-1 voxel 0 averages level-0 voxels 0 and 1: centre 0.5.
    assert level_to_level0(np.array([[0, 1, 2]]), 2).tolist() == [
        [0.5, 2.5, 4.5]
    ]
    zyx = np.array([[3.25, 7.0, 100.5]])
    assert np.allclose(level_to_level0(level0_to_level(zyx, 4), 4), zyx)


def test_normalize_is_scale_and_offset_invariant():
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(60, 60, 60)).astype(np.float32)
    a = normalize_volume(volume)
    b = normalize_volume(volume * 1e-5 + 3e-4)
    c = normalize_volume(volume * 300.0 - 50.0)
    assert np.allclose(a, b, atol=1e-3)
    assert np.allclose(a, c, atol=1e-3)
    assert abs(np.median(a)) < 0.05


def test_sphere_labels_place_classes():
    table = pk.make_picks(
        'r',
        ['ribosome', 'apo-ferritin'],
        [[200.0, 200.0, 200.0], [600.0, 200.0, 200.0]],
    )
    labels = sphere_labels(
        (40, 40, 80), table, CZII_CLASSES, 10.0, fraction=0.5
    )
    assert labels[20, 20, 20] == 4  # ribosome, label 4
    assert labels[20, 20, 60] == 1  # apo-ferritin
    # ribosome sphere radius 75 Å = 7.5 voxels; apo 30 Å = 3 voxels
    assert (labels == 4).sum() == pytest.approx(
        4 / 3 * np.pi * 7.5**3, rel=0.1
    )
    assert labels[20, 20, 64] == 0


def test_tiles_cover_the_volume():
    assert tile_starts(10, 16, 0.25) == [0]
    starts = tile_starts(100, 32, 0.25)
    assert starts[0] == 0
    assert starts[-1] == 68
    assert all(b - a <= 24 for a, b in zip(starts, starts[1:], strict=False))
    w = gaussian_weight((8, 8, 8))
    assert w.max() == 1.0
    assert w.min() > 0


def test_blending_of_a_constant_network_is_exact():
    class Constant(torch.nn.Module):
        def forward(self, x):
            logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
            logits[:, 1] = 1.0
            return logits

    volume = np.zeros((20, 37, 41), np.float32)
    probs = predict_probabilities(
        volume,
        [Constant()],
        InferenceSettings(patch=(16, 16, 16), overlap=0.5, tta=True),
    )
    expected = np.exp(1) / (np.exp(1) + 2)
    assert probs.shape == (2, 20, 37, 41)
    assert np.allclose(probs[0], expected, atol=1e-6)


def test_slabs_are_reported_final_and_cover_the_volume():
    torch.manual_seed(0)
    net = build_network(TINY).eval()
    volume = np.random.default_rng(0).normal(size=(20, 70, 40))
    volume = volume.astype(np.float32)
    settings = InferenceSettings(patch=(16, 24, 16), overlap=0.25)
    slabs = []

    def ready(output, axis, lo, hi):
        region = (slice(None), slice(None), slice(lo, hi))
        slabs.append((axis, lo, hi, output[region].copy()))

    probs = predict_probabilities(volume, [net], settings, ready=ready)
    plain = predict_probabilities(volume, [net], settings)
    assert np.allclose(probs, plain, atol=1e-6)
    assert [s[0] for s in slabs] == [1] * len(slabs)  # y has most tiles
    bounds = [(lo, hi) for _, lo, hi, _ in slabs]
    assert bounds[0][0] == 0
    assert bounds[-1][1] == 70
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert len(slabs) > 2
    for _, lo, hi, values in slabs:  # nothing changed after the report
        assert np.array_equal(values, probs[:, :, lo:hi])


class _Intensity(torch.nn.Module):
    """Logits of one class proportional to the input: blobs are peaks."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 7, *x.shape[2:])
        logits[:, self.label] = 3 * (x[:, 0] - 4)
        return logits


def test_partial_picks_come_before_the_end(tmp_path):
    import dask.array as da

    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.checkpoint import LoadedModel, ModelCard
    from napari_cryopick.model.predict import PickSettings, predict_tomogram

    rng = np.random.default_rng(3)
    shape = (24, 200, 60)
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    volume = rng.normal(0, 0.1, shape).astype(np.float32)
    centres = np.column_stack(
        [
            rng.uniform(5, 19, 14),
            np.linspace(8, 190, 14),
            rng.uniform(8, 52, 14),
        ]
    )
    for c in centres:
        d2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        volume += np.exp(-d2 / (2 * 1.5**2)).astype(np.float32)
    tomogram = Tomogram(
        levels=(da.from_array(volume),),
        scales=((20.0, 20.0, 20.0),),
        run='r',
        source=tmp_path,
    )
    card = {**_card(), 'thresholds': {}}
    ribosome = [c.name for c in CZII_CLASSES].index('ribosome') + 1
    model = LoadedModel(
        _Intensity(ribosome), ModelCard.from_dict(card), tmp_path
    )
    settings = PickSettings(
        inference=InferenceSettings(patch=(24, 48, 48)),
        peaks=PeakSettings(candidate_threshold=0.5),
    )
    partials = []
    table = predict_tomogram(
        tomogram, model, settings, partial=partials.append
    )
    assert len(table) == 14
    # Each pick carries every class's probability at it: why it was made.
    probs = [f'prob_{c.name}' for c in CZII_CLASSES]
    assert [c for c in table.columns if c.startswith('prob_')] == probs
    assert (table['prob_ribosome'] >= 0.5).all()
    others = table[[p for p in probs if p != 'prob_ribosome']]
    assert (table['prob_ribosome'] > others.max(axis=1)).all()
    assert len(partials) >= 2
    assert 0 < len(partials[0]) < len(partials[-1]) < 14
    final = table[['x', 'y', 'z']].to_numpy()
    for part in partials:
        assert set(part['particle_type']) == {'ribosome'}
        xyz = part[['x', 'y', 'z']].to_numpy()
        dist = np.linalg.norm(xyz[:, None] - final[None], axis=2).min(1)
        assert dist.max() < 1.0  # the same picks, in Å


@pytest.mark.parametrize('method', ['maxima', 'components'])
def test_peaks_on_planted_blobs(method):
    zz, yy, xx = np.mgrid[:40, :60, :60]
    prob = np.zeros((40, 60, 60))
    centres = [(10.3, 15.0, 20.6), (25.0, 40.2, 41.0), (30.0, 12.0, 50.0)]
    for c in centres:
        prob += 0.9 * np.exp(
            -((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
            / (2 * 1.5**2)
        )
    settings = PeakSettings(refine_radius=2, method=method)
    found, scores = find_peaks(prob, 5.0, settings)
    assert len(found) == 3
    for c in centres:
        assert np.min(np.linalg.norm(found - c, axis=1)) < 0.35
    assert np.all(scores > 0.5)


def test_duplicates_are_suppressed():
    points = np.array([[0, 0, 0], [0, 0, 3.0], [0, 0, 10.0]])
    assert suppress_duplicates(points, 5.0).tolist() == [0, 2]


def _toy_sample(rng):
    volume = rng.normal(size=(24, 48, 48)).astype(np.float32)
    xyz = rng.uniform(80, 400, (12, 3))
    xyz[:, 2] = rng.uniform(50, 190, 12)
    table = pk.make_picks('r', 'ribosome', xyz)
    for z, y, x in (xyz[:, ::-1] / 10.0).round().astype(int):
        volume[
            max(z - 2, 0) : z + 3, max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3
        ] += 4.0
    return make_sample(volume, table, CZII_CLASSES, 10.0, 1, 0.3)


def test_training_lowers_the_loss_and_can_be_cancelled():
    rng = np.random.default_rng(0)
    sample = _toy_sample(rng)
    images, labels = PatchSampler([sample], (16, 16, 16), seed=1).batch(3)
    assert images.shape == labels.shape == (3, 1, 16, 16, 16)
    net = build_network(TINY)
    config = TrainConfig(
        steps=40, batch_size=2, patch=(16, 24, 24), warmup=5, lr=5e-3
    )
    result = train(net, [sample], config)
    assert result.steps_done == 40
    assert not result.cancelled
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])
    calls = []
    stopped = train(
        net,
        [sample],
        config,
        cancel=lambda: len(calls) >= 3,
        progress=calls.append,
    )
    assert stopped.cancelled
    assert stopped.steps_done == 3


def test_training_layout_is_an_implementation_detail(monkeypatch):
    """Channels-last training on the CPU: same steps, usual layout after."""
    import napari_cryopick.model.train as training

    sample = _toy_sample(np.random.default_rng(0))
    config = TrainConfig(steps=4, batch_size=2, patch=(16, 24, 24), warmup=2)
    torch.manual_seed(0)
    start = build_network(TINY).state_dict()
    losses = {}
    for layout in (torch.channels_last_3d, torch.contiguous_format):
        monkeypatch.setattr(training, '_layout', lambda device, x=layout: x)
        net = build_network(TINY)
        net.load_state_dict(start)
        losses[layout] = train(net, [sample], config).losses
        # Saving and prediction get the network in the usual layout.
        assert all(p.is_contiguous() for p in net.parameters())
    np.testing.assert_allclose(
        losses[torch.channels_last_3d],
        losses[torch.contiguous_format],
        rtol=1e-4,
    )


def _card():
    return tiny_card(voxel_size=20.0, thresholds={'ribosome': 0.3})


def test_checkpoint_round_trip(tmp_path):
    net = build_network(TINY)
    path = save_checkpoint(tmp_path / 'm.safetensors', net, _card())
    model = load_checkpoint(path)
    assert model.card.thresholds == {'ribosome': 0.3}
    assert [c.name for c in model.classes] == [c.name for c in CZII_CLASSES]
    for key, value in net.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (
                exec,
                ("open('%s', 'w').write('pwned')" % (tmp_path / 'pwned'),),
            )

    path = tmp_path / 'evil.safetensors'
    torch.save({'state_dict': Evil()}, path)
    with pytest.raises(CryopickError, match='not a safetensors checkpoint'):
        load_checkpoint(path)
    assert not (tmp_path / 'pwned').exists()


def test_card_header_read_as_safetensors_reads_it(tmp_path):
    # read_card parses the header itself (no extension on the GUI
    # thread); it must agree with safetensors and refuse what it refuses.
    from safetensors import safe_open

    from napari_cryopick.model.checkpoint import (
        CARD_KEY,
        _safetensors_metadata,
        bundled_checkpoint,
    )

    path = bundled_checkpoint()
    with safe_open(str(path), framework='numpy') as handle:
        expected = handle.metadata()
    assert _safetensors_metadata(path) == expected
    assert CARD_KEY in expected
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CryopickError, match='not a safetensors checkpoint'):
        read_card(cut)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CryopickError, match='no such checkpoint'):
        load_checkpoint(tmp_path / 'missing.safetensors')
    junk = tmp_path / 'junk.safetensors'
    junk.write_bytes(b'\x00' * 100)
    with pytest.raises(CryopickError, match='not a safetensors'):
        read_card(junk)
    from safetensors.torch import save_file

    plain = tmp_path / 'plain.safetensors'
    save_file({'w': torch.zeros(2)}, plain)
    with pytest.raises(CryopickError, match='without a cryopick model card'):
        load_checkpoint(plain)
    card = _card()
    card['network'] = NetworkConfig(
        channels=(8, 8, 8), strides=(2, 1), num_res_units=0
    ).to_dict()
    wrong = save_checkpoint(
        tmp_path / 'wrong.safetensors', build_network(TINY), _card()
    )
    wrong.write_bytes(wrong.read_bytes())
    mismatched = tmp_path / 'mismatch.safetensors'
    save_checkpoint(mismatched, build_network(TINY), card)
    with pytest.raises(CryopickError, match='do not fit the card'):
        load_checkpoint(mismatched)


def test_coloured_noise_is_low_passed_and_keeps_the_spread():
    from napari_cryopick.model.augment import AugmentConfig, augment

    generator = torch.Generator().manual_seed(3)
    images = torch.zeros(2, 1, 32, 32, 32)
    images[:, :, 8:24, 8:24, 8:24] = 1.0
    images = (images - images.mean()) / images.std()
    labels = torch.randint(0, 7, images.shape)
    plain = AugmentConfig(
        flip=0.0,
        rot90=False,
        polarity=0.0,
        scale=(1, 1),
        offset=(0, 0),
        noise=(0, 0),
        blur=0.0,
    )
    coloured = replace(plain, coloured_noise=1.0, coloured_level=(1.0, 1.0))
    same, same_labels = augment(images, labels, plain, generator)
    assert torch.equal(same, images)
    assert torch.equal(same_labels, labels)
    noisy, noisy_labels = augment(images, labels, coloured, generator)
    assert torch.equal(noisy_labels, labels)
    # Half the variance is noise now, and the total stays near 1, as
    # normalising a noisy tomogram would leave it.
    assert 0.8 < float(noisy.std()) < 1.2
    added = noisy * 2**0.5 - images
    assert abs(float(added.std()) - 1.0) < 0.1
    # Low-passed: neighbouring voxels of the noise are correlated.
    a = added[..., 1:].flatten()
    b = added[..., :-1].flatten()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) > 0.5


@pytest.mark.parametrize(
    ('change', 'problem'),
    [
        ({'classes': None}, "lacks 'classes'"),
        ({'voxel_size': 'ten'}, 'malformed model card'),
        ({'voxel_size': -2.0}, 'not a positive number'),
        ({'classes': [{'name': 'ribosome'}]}, 'malformed model card'),
        ({'network': {'architecture': 'resnet'}}, 'unknown architecture'),
        ({'thresholds': {'ribosome': 'high'}}, 'malformed model card'),
        ({'network': {'out_channels': 3}}, '3 output channels'),
    ],
)
def test_a_malformed_card_is_named(tmp_path, change, problem):
    import json

    from safetensors.torch import save_file

    from napari_cryopick.model.checkpoint import CARD_KEY, FORMAT

    card = {'format': FORMAT, **tiny_card()}
    for key, value in change.items():
        if value is None:
            del card[key]
        elif key == 'network':
            card[key] = {**card[key], **value}
        else:
            card[key] = value
    path = tmp_path / 'bad-card.safetensors'
    save_file({'w': torch.zeros(1)}, path, {CARD_KEY: json.dumps(card)})
    with pytest.raises(CryopickError, match=problem) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(str(path)), message
    assert '\n' not in message


def test_scores_keep_their_order_where_the_peak_saturates():
    # A sure network is exactly 1.0 (float32) over whole particles: the
    # peak voxel ranks nothing, the core mean still does.
    prob = np.zeros((20, 44, 60), np.float32)
    prob[8:13, 8:13, 8:13] = 1.0  # a big sure blob
    prob[9:11, 20:23, 8:11] = 1.0  # a smaller sure one
    prob[10, 34, 10] = 1.0  # one sure voxel
    prob[10, 10, 40] = 0.5  # an unsure one
    bare = PeakSettings(core_weight=0.0)
    quarter = PeakSettings(core_fraction=0.25)
    peak = find_peaks(prob, 4.0, bare)[1]
    assert sorted(peak.tolist()) == [0.5, 1.0, 1.0, 1.0]
    # The core: a ball of radius max(1, 4 / 4) voxels, 7 voxels.
    core = find_peaks(prob, 4.0, replace(quarter, score='core'))[1]
    np.testing.assert_allclose(core, [1.0, 6 / 7, 1 / 7, 0.5 / 7])
    # The default: the peak, ties broken by the core, thresholds kept.
    centres, score = find_peaks(prob, 4.0, quarter)
    np.testing.assert_allclose(
        score, peak[:3].tolist() + [0.5] - (1e-3 * (1 - core))
    )
    assert np.all(np.diff(score) < 0)  # four distinct, highest first
    assert np.abs(score - np.sort(peak)[::-1]).max() <= 1e-3
    # The plateau's centre wins its suppression, refined to the middle.
    np.testing.assert_allclose(centres[0], (10, 10, 10))
    assert np.round(centres[1:, 1:]).tolist() == [[21, 9], [34, 10], [10, 40]]


def test_one_class_per_particle():
    from napari_cryopick.model.peaks import suppress_across_classes

    # One blob read as apo-ferritin, ribosome and thyroglobulin within
    # 45 Å (the case), a real apo-ferritin 230 Å from the
    # ribosome, and a second ribosome pick of another run.
    xyz = [
        [1000, 1000, 500],
        [1030, 1010, 500],
        [1000, 1040, 520],
        [1230, 1000, 500],
        [1000, 1000, 500],
    ]
    table = pk.make_picks(
        ['a', 'a', 'a', 'a', 'b'],
        [
            'apo-ferritin',
            'ribosome',
            'thyroglobulin',
            'apo-ferritin',
            'apo-ferritin',
        ],
        np.array(xyz, float),
        score=[0.7, 0.9, 0.8, 0.5, 0.1],
    )
    kept = suppress_across_classes(table, CZII_CLASSES)
    assert kept['particle_type'].tolist() == [
        'ribosome',
        'apo-ferritin',
        'apo-ferritin',
    ]
    assert kept['score'].tolist() == [0.9, 0.5, 0.1]
    # Same-class picks are not its business; fraction 0 turns it off.
    same = table.assign(particle_type='ribosome')
    assert len(suppress_across_classes(same, CZII_CLASSES)) == 5
    assert len(suppress_across_classes(table, CZII_CLASSES, 0.0)) == 5
