"""Fine-tuning on corrected picks: API and command line, tiny sizes."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from napari_cryopick import picks as pk  # noqa: E402
from napari_cryopick.classes import CZII_CLASSES  # noqa: E402
from napari_cryopick.cli import main  # noqa: E402
from napari_cryopick.errors import CryopickError  # noqa: E402
from napari_cryopick.io.sources import open_tomogram, read_picks  # noqa: E402
from napari_cryopick.model.checkpoint import (  # noqa: E402
    load_checkpoint,
    read_card,
)
from napari_cryopick.model.device import resolve_device  # noqa: E402
from napari_cryopick.model.finetune import (  # noqa: E402
    FinetuneSettings,
    LabelledRun,
    finetune,
)
from napari_cryopick.model.sampling import PatchSampler, make_sample  # noqa: E402

FAST = FinetuneSettings(checkpoint_every=5)
FAST = replace(
    FAST,
    train=replace(
        FAST.train, steps=12, batch_size=2, patch=(16, 32, 32), warmup=2
    ),
)


@pytest.fixture(scope='module')
def base(checkpoint):
    return checkpoint


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim') / 'p'
    argv = [
        'simulate',
        str(out),
        '--runs',
        '2',
        '--shape',
        '64',
        '160',
        '160',
        '--seed',
        '5',
    ]
    assert main(argv) == 0
    return out


def _run(project, name):
    picks = read_picks(project)
    return LabelledRun(
        open_tomogram(project, name), picks[picks['run'] == name]
    )


@pytest.mark.slow
def test_finetune_lowers_loss_and_writes_a_checkpoint(base, project, tmp_path):
    model = load_checkpoint(base)
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    losses = []
    result = finetune(
        model,
        [_run(project, 'TS_sim_1')],
        tmp_path / 'ft.safetensors',
        FAST,
        held_out=[_run(project, 'TS_sim_2')],
        progress=lambda p: _is_step(p) and losses.append(p.loss),
    )
    assert len(losses) == 12
    assert not result.cancelled
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    tuned = load_checkpoint(result.path)
    card = tuned.card.record
    assert card['finetune']['parent']['name'] == 'tiny'
    assert card['finetune']['steps_done'] == 12
    assert card['finetune']['runs'] == ['TS_sim_1']
    assert card['finetune']['device'] == str(resolve_device('auto'))
    grid = card['finetune']['grid']['TS_sim_1']  # the stored 20 Å level
    assert (grid['level'], grid['factor_zyx']) == (1, [2.0, 2.0, 2.0])
    assert 0 <= card['finetune']['before'] <= 1
    assert 0 <= card['finetune']['after'] <= 1
    # The starting model is left as it was.
    for key, value in model.network.state_dict().items():
        assert torch.equal(value, before[key])


@pytest.mark.slow
def test_held_out_runs_only_measure(base, project, tmp_path, monkeypatch):
    # Thresholds are tuned on the training runs: tuning them on the
    # held-out run would make its "after" score optimistic.
    from napari_cryopick.model import finetune as ft

    seen = []
    retune = ft.tuned_thresholds

    def spy(model, parts, found):
        seen.append([run.tomogram.run for run, _ in parts])
        return retune(model, parts, found)

    monkeypatch.setattr(ft, 'tuned_thresholds', spy)
    finetune(
        load_checkpoint(base),
        [_run(project, 'TS_sim_1')],
        tmp_path / 'ft.safetensors',
        replace(FAST, train=replace(FAST.train, steps=2)),
        held_out=[_run(project, 'TS_sim_2')],
    )
    assert seen == [['TS_sim_1']]


def test_a_held_back_share_tunes_the_thresholds(base, project):
    from napari_cryopick.model import finetune as ft

    model = load_checkpoint(base)
    run = _run(project, 'TS_sim_1')
    settings = replace(FAST, tune_share=0.25)
    sample = ft._sample(model, run, settings)
    ((_, limit),) = ft._tuning_parts(model, [run], 0.25)
    # Grid 32 x 80 x 80 at 20 Å: 60 rows train, the last 20 tune.
    assert sample.volume.shape[1] == 60
    assert limit == pytest.approx((120 - 0.5) * 10.012444)
    trained = run.picks[run.picks['y'] < limit]
    assert 0 < len(trained) < len(run.picks)
    assert len(sample.centres) == len(trained)
    ((_, everything),) = ft._tuning_parts(model, [run], 0.0)
    assert everything == -np.inf


def test_cancel_keeps_the_last_checkpoint(base, project, tmp_path):
    steps = []

    def cancel():
        return len(steps) >= 7

    result = finetune(
        load_checkpoint(base),
        [_run(project, 'TS_sim_1')],
        tmp_path / 'ft.safetensors',
        FAST,
        progress=lambda p: _is_step(p) and steps.append(p),
        cancel=cancel,
    )
    assert result.cancelled
    assert read_card(result.path).record['finetune']['steps_done'] == 5
    load_checkpoint(result.path)


def _is_step(message) -> bool:
    from napari_cryopick.model.train import TrainProgress

    return isinstance(message, TrainProgress)


@pytest.mark.slow
def test_every_stage_reports_predicts_once_and_cancels(
    base, project, tmp_path, monkeypatch
):
    from napari_cryopick.model import stages
    from napari_cryopick.model.messages import Progress
    from napari_cryopick.model.predict import PickSettings, predict_tomogram

    model = load_checkpoint(base)
    run = _run(project, 'TS_sim_1')
    settings = PickSettings(apply_thresholds=False)
    # As the viewer hands it over: the model's own candidates on the run.
    run = replace(
        run, proposals=predict_tomogram(run.tomogram, model, settings)
    )
    calls = []
    real = stages.predict_tomogram

    def counted(tomogram, model, *args, **kwargs):
        calls.append((tomogram.run, id(model)))
        return real(tomogram, model, *args, **kwargs)

    monkeypatch.setattr(stages, 'predict_tomogram', counted)
    messages = []
    settings = replace(FAST, train=replace(FAST.train, steps=2))
    out = tmp_path / 'ft.safetensors'
    result = finetune(
        model, [run], out, settings, held_out=[run], progress=messages.append
    )
    assert not result.cancelled
    assert result.before is not None
    assert result.after is not None
    # Scoring before and mining used the candidates at hand; the tuned
    # model predicted the run once, for its thresholds and its score.
    assert len(calls) == 1
    stage_names = {m.stage for m in messages if isinstance(m, Progress)}
    assert stage_names == {'tuning the thresholds (TS_sim_1)'}
    assert sum(_is_step(m) for m in messages) == 2
    # Cancelled while a stage predicts: nothing trained, nothing kept.
    fresh = _run(project, 'TS_sim_1')
    result = finetune(
        model,
        [fresh],
        tmp_path / 'cancelled.safetensors',
        settings,
        held_out=[fresh],
        cancel=lambda: True,
    )
    assert result.cancelled
    assert result.steps == 0
    assert not (tmp_path / 'cancelled.safetensors').exists()


def test_deleted_picks_become_negative_patches():
    volume = np.zeros((32, 64, 64), np.float32)
    volume[::2] = 1.0
    good = pk.make_picks('r', 'ribosome', [[300.0, 300.0, 150.0]])
    deleted = pk.make_picks('r', 'ribosome', [[100.0, 500.0, 200.0]])
    sample = make_sample(
        volume, good, CZII_CLASSES, 10.0, 1, 0.5, negatives=deleted
    )
    assert sample.negatives.tolist() == [[20.0, 50.0, 10.0]]
    assert sample.labels[20, 50, 10] == 0
    sampler = PatchSampler(
        [sample], (8, 8, 8), pick_fraction=0.0, negative_fraction=1.0, seed=0
    )
    centres = [sampler._centre(sample) for _ in range(5)]
    assert all(np.array_equal(c, [20.0, 50.0, 10.0]) for c in centres)


def test_bad_finetune_input(base, project, tmp_path, capsys):
    model = load_checkpoint(base)
    run = _run(project, 'TS_sim_1')
    with pytest.raises(CryopickError, match='no picks'):
        finetune(
            model,
            [LabelledRun(run.tomogram, run.picks.iloc[:0])],
            tmp_path / 'x.safetensors',
            FAST,
        )
    odd = run.picks.copy()
    odd['particle_type'] = 'proteasome'
    with pytest.raises(CryopickError, match='proteasome'):
        finetune(
            model,
            [LabelledRun(run.tomogram, odd)],
            tmp_path / 'x.safetensors',
            FAST,
        )
    status = main(
        [
            'finetune',
            str(project),
            '--out',
            str(tmp_path / 'y.safetensors'),
            '--init',
            str(base),
            '--runs',
            'TS_nope',
        ]
    )
    assert status == 1
    assert "no run 'TS_nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_finetune_command(base, project, tmp_path, caplog):
    caplog.set_level('INFO')
    out = tmp_path / 'cli.safetensors'
    status = main(
        [
            'finetune',
            str(project),
            '--out',
            str(out),
            '--init',
            str(base),
            '--runs',
            'TS_sim_1',
            '--steps',
            '6',
        ]
    )
    assert status == 0
    assert 'held-out F4 (TS_sim_2): before' in caplog.text
    card = load_checkpoint(out).card.record['finetune']
    assert card['steps_done'] == 6
    # The tiny model proposes everywhere: labels taken as complete make
    # its proposals away from every pick negatives; unless told not to.
    assert card['negatives'] > 0
    argv = ['finetune', str(project), '--out', str(out), '--init', str(base)]
    argv += ['--runs', 'TS_sim_1', '--steps', '1', '--incomplete-labels']
    # --voxel-size overrides the store's: the card records the factor.
    assert main([*argv, '--voxel-size', '11']) == 0
    tuned = load_checkpoint(out).card
    assert tuned.record['finetune']['negatives'] == 0
    factor = tuned.record['finetune']['grid']['TS_sim_1']['factor_zyx']
    assert factor == pytest.approx([tuned.voxel_size / 11] * 3)
    assert card['grid']['TS_sim_1']['factor_zyx'] != factor


def test_mined_negatives_are_the_unlabelled_proposals(
    base, project, monkeypatch
):
    # A user who corrects a whole tomogram deletes every proposal that is
    # no particle; with complete labels those are found without the user.
    from napari_cryopick.model import finetune_common as ft

    model = load_checkpoint(base)
    model.card = replace(
        model.card, thresholds={'ribosome': 0.5, 'thyroglobulin': 0.5}
    )
    run = _run(project, 'TS_sim_1')
    first = run.picks.iloc[0]
    at = [first['x'], first['y'], first['z']]
    ribosome = next(c for c in CZII_CLASSES if c.name == 'ribosome')
    near = [at[0] + 0.9 * ribosome.radius, at[1], at[2]]
    far = [at[0], at[1], at[2] + 5000.0]
    proposals = pk.concat(
        [
            # On a labelled particle, right class or wrong: the labels
            # teach those; not a negative.
            pk.make_picks('TS_sim_1', 'ribosome', [at, near], score=0.9),
            pk.make_picks('TS_sim_1', 'thyroglobulin', [at], score=0.9),
            # Far from every label: a negative, unless under threshold.
            pk.make_picks('TS_sim_1', 'ribosome', [far], score=0.9),
            pk.make_picks('TS_sim_1', 'thyroglobulin', [far], score=0.2),
        ]
    )
    monkeypatch.setattr(ft, 'predict_runs', lambda *_: proposals)
    deleted = pk.make_picks('TS_sim_1', 'ribosome', [[1.0, 2.0, 3.0]])
    mined = ft.with_mined_negatives(
        model, LabelledRun(run.tomogram, run.picks, deleted)
    )
    assert mined.picks is run.picks
    got = pk.positions(mined.negatives).tolist()
    assert sorted(got) == sorted([[1.0, 2.0, 3.0], far])
    assert sorted(mined.negatives['particle_type']) == ['ribosome'] * 2
    # Candidates already at hand (the viewer's session) are used as they
    # are: the model does not run again.
    monkeypatch.setattr(ft, 'predict_runs', None)
    given = ft.with_mined_negatives(
        model, LabelledRun(run.tomogram, run.picks, None, proposals)
    )
    assert pk.positions(given.negatives).tolist() == [far]


def test_a_worse_model_is_kept_aside(base, project, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from napari_cryopick.model import finetune as ft

    scores = iter([0.9, 0.5, 0.9, 0.5])
    monkeypatch.setattr(ft, 'score_runs', lambda *_, **__: next(scores))
    out = tmp_path / 'ft.safetensors'
    settings = replace(FAST, train=replace(FAST.train, steps=2))
    args = ([_run(project, 'TS_sim_1')], out, settings)
    held = [_run(project, 'TS_sim_2')]
    result = finetune(load_checkpoint(base), *args, held_out=held)
    # out holds the starting model, byte for byte in its weights.
    assert result.worse == tmp_path / 'ft-worse.safetensors'
    start, kept = load_file(str(base)), load_file(str(out))
    assert all(torch.equal(start[k], kept[k]) for k in start)
    worse = load_file(str(result.worse))
    assert any(not torch.equal(start[k], worse[k]) for k in start)
    card = load_checkpoint(out).card.record
    assert card['name'] == 'tiny'
    assert card['finetune']['kept'].startswith('starting model')
    assert (card['finetune']['before'], card['finetune']['after']) == (
        0.9,
        0.5,
    )
    # Told to keep it, out is the fine-tuned model.
    keep = replace(settings, keep_worse=True)
    result = finetune(load_checkpoint(base), [args[0][0]], out, keep, held)
    assert result.worse is None
    assert load_checkpoint(out).card.name == 'tiny-finetuned'


def test_finetune_command_says_when_it_got_worse(
    base, project, tmp_path, caplog, monkeypatch
):
    from napari_cryopick.model import finetune as ft

    scores = iter([0.9, 0.5])
    monkeypatch.setattr(ft, 'score_runs', lambda *_, **__: next(scores))
    caplog.set_level('INFO')
    out = tmp_path / 'cli.safetensors'
    argv = ['finetune', str(project), '--out', str(out), '--init', str(base)]
    assert main([*argv, '--runs', 'TS_sim_1', '--steps', '2']) == 0
    assert (
        'WARNING: fine-tuning made the held-out F4 worse (0.9000 -> 0.5000)'
    ) in caplog.text
    assert 'cli-worse.safetensors' in caplog.text
    assert '--keep-worse' in caplog.text


def test_finetune_takes_star_labels(base, project, tmp_path):
    from argparse import Namespace

    from napari_cryopick.cli.finetune_inputs import labelled_runs

    star = tmp_path / 'labels.star'
    argv = ['export', str(project), '--to', 'star', str(star)]
    assert main([*argv, '--tomograms', str(project)]) == 0
    args = Namespace(
        data=project, labels=star, user_id=None, session_id=None, runs=None
    )
    args.tomo_type, args.voxel_size = 'denoised', None
    runs, held = labelled_runs(args)
    truth = read_picks(project)
    for run in runs:
        mine = truth[truth['run'] == run.tomogram.run]
        assert len(run.picks) == len(mine)
        assert np.allclose(
            np.sort(pk.positions(run.picks), axis=0),
            np.sort(pk.positions(mine), axis=0),
            atol=1e-5,
        )
    out = tmp_path / 'star.safetensors'
    argv = ['finetune', str(project), '--out', str(out), '--init', str(base)]
    argv += ['--labels', str(star), '--runs', 'TS_sim_1', '--steps', '1']
    assert main(argv) == 0
    assert out.is_file()
