"""The bundled model's recipe: trains, validates, writes, resumes."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pandas as pd
import pytest

from napari_cryopick.model.recipe_config import Recipe
from napari_cryopick.model.recipe_validation import bound_empty_picks

pytest.importorskip('torch')


def _tiny_recipe(checkpoint, steps: int) -> Recipe:
    from napari_cryopick.model.checkpoint import read_card

    network = read_card(checkpoint).network
    base = Recipe()
    return replace(
        base,
        name='tiny-v2',
        train=2,
        shape=(32, 96, 96),
        validation_runs=1,
        val_every=2,
        network=network,
        train_config=replace(
            base.train_config, steps=steps, patch=(16, 32, 32), warmup=1
        ),
        init=str(checkpoint),
    )


@pytest.mark.slow
def test_recipe_trains_writes_and_resumes(checkpoint, tmp_path, caplog):
    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.recipe import retune, train_recipe

    out, cache = tmp_path / 'out', tmp_path / 'cache'
    train_recipe(_tiny_recipe(checkpoint, 2), out, cache, command='first')
    assert (out / 'tiny-v2.state.pt').exists()
    with caplog.at_level(logging.INFO):
        model = train_recipe(_tiny_recipe(checkpoint, 4), out, cache)
    # The second call went on from step 2 instead of starting again.
    assert 'resumed from' in caplog.text
    assert 'at step 2' in caplog.text
    history = [
        json.loads(line)
        for line in (out / 'tiny-v2.validation.jsonl').read_text().split('\n')
        if line
    ]
    assert [h['step'] for h in history] == [2, 4]
    reloaded = load_checkpoint(out / 'tiny-v2.safetensors')
    card = reloaded.card.record
    assert card['name'] == 'tiny-v2'
    assert card['training']['recipe']['look'] == 'mixed'
    assert set(card['validation']['per_look']) >= {'crowded', 'noisy'}
    assert 'picks_in_empty_volumes' in card['validation']
    assert model.path == reloaded.path
    card_file = json.loads((out / 'tiny-v2.card.json').read_text())
    assert card_file['thresholds'] == card['thresholds']

    # Re-tuning keeps the weights and redoes thresholds and validation.
    recipe = replace(_tiny_recipe(checkpoint, 4), name='tiny-v2-retuned')
    tuned = retune(out / 'tiny-v2.safetensors', recipe, out, cache, 'again')
    assert tuned.card.name == 'tiny-v2-retuned'
    assert tuned.card.record['validation']['retuned'] == 'again'
    for key, value in tuned.network.state_dict().items():
        assert (value == reloaded.network.state_dict()[key]).all()


def test_empty_volumes_raise_thresholds():
    found = pd.DataFrame(
        {
            'run': ['e1'] * 4 + ['e2'],
            'particle_type': ['ribosome'] * 4 + ['apo-ferritin'],
            'score': [0.9, 0.8, 0.7, 0.2, 0.6],
        }
    )
    out = bound_empty_picks(
        found, {'ribosome': 0.3, 'apo-ferritin': 0.5, 'thyroglobulin': 0.4}, 1
    )
    # One ribosome pick may stay: the threshold lands just above the
    # second best (0.8); apo-ferritin's one pick is within budget.
    assert 0.8 < out['ribosome'] <= 0.9
    assert out['apo-ferritin'] == 0.5
    assert out['thyroglobulin'] == 0.4


def test_shipped_models_load_by_name():
    from napari_cryopick.model.checkpoint import load_checkpoint

    v1 = load_checkpoint('v1')
    assert v1.card.name == 'cryopick-czii-v1'
    v2 = load_checkpoint('v2')
    assert v2.card.name == 'cryopick-czii-v2'
    assert v2.card.classes == v1.card.classes
    # The card says how it was made and what it measured.
    training = v2.card.to_dict()['training']
    assert training['recipe']['look'] == 'mixed'
    assert 'v2-crowded' in v2.card.to_dict()['benchmarks']['weighted_f4']


def test_predict_takes_a_shipped_model_by_name(tmp_path):
    from napari_cryopick.cli import main

    project = tmp_path / 'proj'
    assert main(['simulate', str(project), '--shape', '32', '96', '96']) == 0
    out = tmp_path / 'picks'
    code = main(['predict', str(project), '--out', str(out), '--model', 'v1'])
    assert code == 0
    config = (out / 'copick_config.json').read_text()
    assert 'ribosome' in config
