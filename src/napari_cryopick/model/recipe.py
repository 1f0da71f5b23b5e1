"""The recipe of the bundled model: phantoms in, checkpoint and card out.

One function, :func:`train_recipe`, simulates (or reads from a cache)
the training and validation phantoms
(:mod:`~napari_cryopick.model.recipe_phantoms`), trains the network with
the loop fine-tuning uses, validates on held-out looks every few hundred
steps (keeping the best weights;
:mod:`~napari_cryopick.model.recipe_validation`), tunes per-class
thresholds, and writes the checkpoint and its card. A run can stop at
any time and go on later: the loop's state is saved beside the
checkpoint, and a second call with the same settings resumes from it.
``scripts/train_bundled_model.py`` is its command line; what decides the
result is a :class:`~napari_cryopick.model.recipe_config.Recipe`.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.model.checkpoint import (
    LoadedModel,
    ModelCard,
    classes_to_card,
    save_checkpoint,
)
from napari_cryopick.model.config import count_parameters
from napari_cryopick.model.infer import InferenceSettings
from napari_cryopick.model.peaks import PeakSettings
from napari_cryopick.model.recipe_config import (
    EMPTY_LOOKS,
    FACTOR,
    FRACTION,
    VALIDATION_LOOKS,
    Recipe,
)
from napari_cryopick.model.recipe_phantoms import (
    training_phantoms,
    validation_phantoms,
)
from napari_cryopick.model.recipe_validation import validate
from napari_cryopick.model.sampling import make_sample
from napari_cryopick.simulate.params import CZII_VOXEL_SIZE

log = logging.getLogger(__name__)


def base_card(recipe: Recipe, network) -> dict:
    """Return the card's fixed part: network, classes, grid, processing."""
    return {
        'name': recipe.name,
        'network': recipe.network.to_dict(),
        'parameters': count_parameters(network),
        'classes': classes_to_card(CZII_CLASSES),
        'voxel_size': CZII_VOXEL_SIZE * FACTOR,
        'normalisation': {
            'method': 'median and (p95 - p5) / 3.29 of every 3rd voxel',
            'clip': 5.0,
        },
        'target': {'kind': 'class spheres', 'radius_fraction': FRACTION},
        'peaks': PeakSettings().__dict__,
        'inference': InferenceSettings().__dict__,
    }


def train_recipe(
    recipe: Recipe,
    out: str | Path,
    cache: str | Path,
    command: str = '',
) -> LoadedModel:
    """Train the bundled model by ``recipe``; resume if a state exists.

    Parameters
    ----------
    recipe : Recipe
        What to make.
    out : str or Path
        Folder for ``<name>.safetensors``, its card, the loop state
        (``<name>.state.pt``) and the log of validations.
    cache : str or Path
        Folder of cached phantoms (shared between runs).
    command : str
        The command line, recorded in the card.

    Returns
    -------
    LoadedModel
        The best checkpoint by validation F4, as written.
    """
    import torch

    from napari_cryopick.model.checkpoint import load_checkpoint
    from napari_cryopick.model.config import build_network
    from napari_cryopick.model.train import train

    out, cache = Path(out), Path(cache)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    data = training_phantoms(recipe, cache)
    held_out = validation_phantoms(recipe, cache)
    log.info(
        '%d + %d phantoms ready in %.0f s',
        len(data),
        len(held_out),
        time.time() - start,
    )
    samples = [
        make_sample(
            p.volume,
            p.picks,
            CZII_CLASSES,
            CZII_VOXEL_SIZE,
            FACTOR,
            FRACTION,
            negatives=p.negatives,
            run=p.run,
        )
        for p in data
    ]
    torch.manual_seed(recipe.seed)
    network = build_network(recipe.network)
    if recipe.init:
        network.load_state_dict(
            load_checkpoint(recipe.init).network.state_dict()
        )
    card = base_card(recipe, network)
    model = LoadedModel(
        network, ModelCard.from_dict(card), out / f'{recipe.name}.safetensors'
    )
    history_file = out / f'{recipe.name}.validation.jsonl'
    best = _best_so_far(history_file)

    def on_checkpoint(step: int) -> None:
        result = validate(model, held_out, recipe)
        entry = {
            'step': step,
            'seconds': round(time.time() - start),
            **result.to_card(),
            'thresholds': result.thresholds,
        }
        entry.pop('classes')
        with open(history_file, 'a') as handle:
            handle.write(json.dumps(entry) + '\n')
        log.info(
            'step %d: validation F4 %.4f (%.4f before the empty bound) '
            '%s, empty picks %s',
            step,
            result.score,
            result.unbounded,
            _rounded(result.per_look),
            result.empty_picks,
        )
        if result.score > best['score']:
            best['score'] = result.score
            card['thresholds'] = result.thresholds
            card['validation'] = result.to_card()
            card['training'] = _training_entry(recipe, step, start, command)
            save_checkpoint(model.path, network, card)
            (out / f'{recipe.name}.card.json').write_text(
                json.dumps(card, indent=2) + '\n'
            )
            log.info('wrote %s', model.path)

    def report(p) -> None:
        if p.step % 50 == 0:
            log.info(
                'step %d/%d loss %.4f lr %.2e %.0f s',
                p.step,
                p.steps,
                p.loss,
                p.lr,
                p.seconds,
            )

    train(
        network,
        samples,
        recipe.train_config,
        progress=report,
        on_checkpoint=on_checkpoint,
        checkpoint_every=recipe.val_every,
        state_file=out / f'{recipe.name}.state.pt',
    )
    return load_checkpoint(model.path)


def retune(
    checkpoint: str | Path,
    recipe: Recipe,
    out: str | Path,
    cache: str | Path,
    command: str = '',
) -> LoadedModel:
    """Re-tune a trained checkpoint's thresholds on the validation set.

    For when peak scoring or the threshold rule changed after training:
    the weights stay, the thresholds, validation figures and card are
    redone, and the checkpoint is written to ``out/<recipe.name>``.
    """
    from napari_cryopick.model.checkpoint import load_checkpoint

    model = load_checkpoint(checkpoint)
    result = validate(model, validation_phantoms(recipe, Path(cache)), recipe)
    card = model.card.to_dict()
    card['name'] = recipe.name
    card['thresholds'] = result.thresholds
    card['validation'] = result.to_card()
    card['validation']['retuned'] = command
    out = Path(out)
    path = save_checkpoint(
        out / f'{recipe.name}.safetensors', model.network, card
    )
    (out / f'{recipe.name}.card.json').write_text(
        json.dumps(card, indent=2) + '\n'
    )
    log.info(
        're-tuned %s: F4 %.4f %s, empty picks %s; wrote %s',
        checkpoint,
        result.score,
        _rounded(result.per_look),
        result.empty_picks,
        path,
    )
    return load_checkpoint(path)


def _best_so_far(history_file: Path) -> dict:
    best = {'score': -1.0}
    if history_file.exists():
        for line in history_file.read_text().splitlines():
            best['score'] = max(best['score'], json.loads(line)['score'])
    return best


def _rounded(scores: dict) -> dict:
    return {k: round(v, 3) for k, v in scores.items()}


def _training_entry(recipe: Recipe, step: int, start: float, command: str):
    import torch

    return {
        'data': f'{recipe.train} simulated phantoms {recipe.shape} at '
        f'{CZII_VOXEL_SIZE} Å, look {recipe.look!r}, binned to 20 Å',
        'validation_looks': list(VALIDATION_LOOKS + EMPTY_LOOKS),
        'recipe': json.loads(json.dumps(asdict(recipe))),
        'command': command,
        'best_step': step,
        'seconds_this_run': round(time.time() - start),
        'machine': f'{platform.machine()}, {torch.get_num_threads()} threads',
    }
