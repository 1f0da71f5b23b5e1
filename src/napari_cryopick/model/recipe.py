"""The recipe of the bundled model: phantoms in, checkpoint and card out.

One function, :func:`train_recipe`, simulates (or reads from a cache)
the training and validation phantoms, trains the network with the loop
fine-tuning uses, validates on held-out looks every few hundred steps
(keeping the best weights), tunes per-class thresholds, and writes the
checkpoint and its card. A run can stop at any time and go on later:
the loop's state is saved beside the checkpoint, and a second call with
the same settings resumes from it. ``scripts/train_bundled_model.py`` is
its command line.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.io.tomogram import Tomogram, block_mean
from napari_cryopick.metric import best_thresholds, score_picks
from napari_cryopick.model.augment import AugmentConfig
from napari_cryopick.model.checkpoint import (
    LoadedModel,
    ModelCard,
    classes_to_card,
    save_checkpoint,
)
from napari_cryopick.model.config import NetworkConfig, count_parameters
from napari_cryopick.model.infer import InferenceSettings
from napari_cryopick.model.peaks import PeakSettings
from napari_cryopick.model.predict import (
    PickSettings,
    apply_thresholds,
    predict_tomogram,
)
from napari_cryopick.model.sampling import make_sample
from napari_cryopick.model.train import TrainConfig
from napari_cryopick.simulate.looks import look_params
from napari_cryopick.simulate.params import CZII_VOXEL_SIZE

log = logging.getLogger(__name__)

#: The model's grid: the CZII level 1 (binned 2x2x2).
FACTOR = 2
#: Target sphere radius over class radius.
FRACTION = 0.5
#: The held-out looks validation is scored on (each its own seeds).
VALIDATION_LOOKS = ('czii', 'random', 'crowded', 'noisy', 'cellular')
#: Particle-free validation volumes whose picks the thresholds bound.
EMPTY_LOOKS = ('empty', 'noise')


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what :func:`train_recipe` makes.

    Parameters
    ----------
    name : str
        Checkpoint and card name (``<name>.safetensors``).
    train : int
        Training phantoms.
    look : str
        Kind of training phantom (:data:`~napari_cryopick.simulate.looks.
        LOOKS`); ``mixed`` draws over crowded, raw, noisy, empty and
        noise-only tomograms.
    shape : tuple of int
        Phantom shape (z, y, x) at 10 Å.
    validation_runs : int
        Phantoms per validation look (and per empty look).
    val_every : int
        Steps between validations (and saved states).
    empty_picks : float
        Most picks per class per particle-free validation volume the
        thresholds may leave (they are raised until it holds).
    tolerance : float
        F4 a lower threshold may give up to be preferred.
    seed : int
        Seed of the phantoms, the sampling and the initial weights.
    network : NetworkConfig
        Architecture.
    train_config : TrainConfig
        Loop settings.
    init : str or None
        Checkpoint whose weights to start from (same network).
    """

    name: str = 'cryopick-czii-v2'
    train: int = 32
    look: str = 'mixed'
    shape: tuple[int, int, int] = (184, 384, 384)
    validation_runs: int = 2
    val_every: int = 300
    empty_picks: float = 0.5
    tolerance: float = 0.01
    seed: int = 11
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train_config: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=2000,
            lr=1e-3,
            pick_fraction=0.6,
            negative_fraction=0.25,
            seed=11,
            augment=AugmentConfig(),
        )
    )
    init: str | None = None


@dataclass
class Phantom:
    """One phantom on the model's grid: volume, picks, negatives."""

    run: str
    look: str
    volume: np.ndarray
    picks: pd.DataFrame
    negatives: pd.DataFrame


def phantom(seed: int, look: str, shape, cache: Path) -> Phantom:
    """Simulate (or read from ``cache``) one phantom binned to 20 Å.

    Parameters
    ----------
    seed : int
        Seed; the same seed and look give the same phantom.
    look : str
        Kind of phantom.
    shape : tuple of int
        (z, y, x) at 10 Å.
    cache : Path
        Folder of cached phantoms.

    Returns
    -------
    Phantom
        Binned volume, its picks and its hard negatives (distractors).
    """
    from napari_cryopick.simulate import simulate_tomogram

    run = f'sim{seed}'
    stem = cache / f'{seed}_{look}_{"x".join(map(str, shape))}'
    files = [Path(f'{stem}{ext}') for ext in ('.npy', '.csv', '.neg.csv')]
    if all(f.exists() for f in files):
        return Phantom(
            run,
            look,
            np.load(files[0]),
            pk.normalize(pd.read_csv(files[1])),
            pk.normalize(pd.read_csv(files[2])),
        )
    rng = np.random.default_rng(seed)
    params = look_params(look, rng, tuple(shape), CZII_VOXEL_SIZE)
    result = simulate_tomogram(params, rng, run=run)
    volume = block_mean(result.volume)
    negatives = result.distractors
    if negatives is None:
        negatives = pk.empty_picks()
    cache.mkdir(parents=True, exist_ok=True)
    columns = ['run', 'particle_type', 'x', 'y', 'z']
    # Written under temporary names and renamed: a run killed mid-write
    # must not leave a half phantom that a resumed run would trust.
    for path, write in (
        (files[1], lambda p: result.picks[columns].to_csv(p, index=False)),
        (files[2], lambda p: negatives[columns].to_csv(p, index=False)),
        (files[0], lambda p: np.save(p, volume)),
    ):
        tmp = path.with_name(f'.tmp-{path.name}')
        with open(tmp, 'wb') as handle:
            write(handle)
        tmp.replace(path)
    return Phantom(
        run,
        look,
        volume,
        pk.normalize(result.picks[columns]),
        pk.normalize(negatives[columns]),
    )


def as_tomogram(volume: np.ndarray, run: str) -> Tomogram:
    """Wrap a 20 Å phantom as a two-level tomogram (level 0 a stand-in)."""
    import dask.array as da

    vs = CZII_VOXEL_SIZE
    level0 = da.zeros(tuple(FACTOR * n for n in volume.shape), chunks=256)
    return Tomogram(
        levels=(level0, da.from_array(volume)),
        scales=((vs,) * 3, (FACTOR * vs,) * 3),
        run=run,
        source=Path(run),
    )


def training_phantoms(recipe: Recipe, cache: Path) -> list[Phantom]:
    """Return the recipe's training phantoms (seeds ``1000 * seed + i``)."""
    base = 1000 * recipe.seed
    return [
        phantom(base + i, recipe.look, recipe.shape, cache)
        for i in range(recipe.train)
    ]


def validation_phantoms(recipe: Recipe, cache: Path) -> list[Phantom]:
    """Held-out phantoms: each validation and empty look, own seeds."""
    base = 1000 * recipe.seed + 500
    out = []
    for k, look in enumerate(VALIDATION_LOOKS + EMPTY_LOOKS):
        for i in range(recipe.validation_runs):
            seed = base + 20 * k + i
            out.append(phantom(seed, look, recipe.shape, cache))
    return out


def predict_phantoms(model, phantoms: list[Phantom]) -> pd.DataFrame:
    """Return the unthresholded picks of ``model`` on ``phantoms``."""
    settings = PickSettings(apply_thresholds=False)
    found = [
        predict_tomogram(as_tomogram(p.volume, p.run), model, settings)
        for p in phantoms
    ]
    return pd.concat(found, ignore_index=True)


@dataclass
class Validation:
    """Validation of a model: thresholds, scores, and empty-volume picks."""

    thresholds: dict[str, float]
    score: float
    unbounded: float
    per_look: dict[str, float]
    empty_picks: dict[str, int]
    table: pd.DataFrame

    def to_card(self) -> dict:
        """Return the card's ``validation`` entry."""
        return {
            'score': self.score,
            'score_before_empty_bound': self.unbounded,
            'per_look': self.per_look,
            'picks_in_empty_volumes': self.empty_picks,
            'classes': self.table.to_dict(orient='records'),
        }


def validate(model, phantoms: list[Phantom], recipe: Recipe) -> Validation:
    """Tune thresholds on ``phantoms`` and score the model there.

    Thresholds: per class, the lowest whose F4 over the labelled
    phantoms is within ``recipe.tolerance`` of the best, then raised
    until the particle-free phantoms hold at most ``recipe.empty_picks``
    picks of that class each: a user's empty ice must stay empty.
    """
    found = predict_phantoms(model, phantoms)
    labelled = [p for p in phantoms if p.look not in EMPTY_LOOKS]
    empty = {p.run for p in phantoms if p.look in EMPTY_LOOKS}
    truth = pd.concat([p.picks for p in labelled], ignore_index=True)
    on_labelled = found[~found['run'].isin(empty)]
    thresholds = best_thresholds(
        truth, on_labelled, tolerance=recipe.tolerance
    )
    thresholds = {k: float(v) for k, v in thresholds.items() if np.isfinite(v)}
    unbounded = score_picks(truth, apply_thresholds(on_labelled, thresholds))
    budget = recipe.empty_picks * len(empty)
    thresholds = bound_empty_picks(
        found[found['run'].isin(empty)], thresholds, budget
    )
    kept = apply_thresholds(found, thresholds)
    result = score_picks(truth, kept[~kept['run'].isin(empty)])
    per_look = {}
    for look in VALIDATION_LOOKS:
        runs = {p.run for p in labelled if p.look == look}
        part = kept[kept['run'].isin(runs)]
        per_look[look] = score_picks(
            truth[truth['run'].isin(runs)], part
        ).score
    in_empty = kept[kept['run'].isin(empty)]
    counts = in_empty['particle_type'].value_counts()
    return Validation(
        thresholds,
        result.score,
        unbounded.score,
        per_look,
        {str(k): int(v) for k, v in counts.items()},
        result.table,
    )


def bound_empty_picks(
    empty_found: pd.DataFrame, thresholds: dict[str, float], budget: float
) -> dict[str, float]:
    """Raise thresholds so particle-free volumes hold few picks.

    Parameters
    ----------
    empty_found : DataFrame
        Unthresholded picks on particle-free volumes.
    thresholds : dict
        Per-class thresholds to start from.
    budget : float
        Most picks of one class allowed over all those volumes.

    Returns
    -------
    dict
        The thresholds, each at least just above the score of the
        ``budget + 1``-th best pick of its class in the empty volumes.
    """
    out = dict(thresholds)
    if not np.isfinite(budget):  # no bound: F4-optimal thresholds
        return out
    allowed = int(np.floor(budget))
    for name, group in empty_found.groupby('particle_type'):
        scores = np.sort(group['score'].to_numpy())[::-1]
        if name not in out or len(scores) <= allowed:
            continue
        floor = float(np.nextafter(scores[allowed], np.inf))
        out[name] = max(out[name], floor)
    return out


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
