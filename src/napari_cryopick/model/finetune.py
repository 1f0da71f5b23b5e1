"""Fine-tune a model on corrected picks (the API behind the widget).

The story: the bundled model is mediocre on my microscope's data; I
correct its picks on one or two tomograms; I fine-tune; the next
tomogram needs fewer corrections. The corrected picks are the labels:
every pick still present (the model's unedited ones count as confirmed,
the user's additions too) is a positive, and model picks the user
deleted are hard negatives that patches are drawn around.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.errors import CryopickError
from napari_cryopick.model.augment import AugmentConfig
from napari_cryopick.model.checkpoint import (
    LoadedModel,
    ModelCard,
)
from napari_cryopick.model.finetune_common import (
    FinetuneResult,
    LabelledRun,
    finetune_card,
    keep_better,
    score_runs,
    train_and_save,
    tuned_thresholds,
    with_mined_negatives,
)
from napari_cryopick.model.finetune_labels import plan_labels
from napari_cryopick.model.finetune_sparse import finetune_sparse
from napari_cryopick.model.grid import plan_grid
from napari_cryopick.model.predict import model_grid
from napari_cryopick.model.sampling import make_sample
from napari_cryopick.model.sparse import SparseWeights
from napari_cryopick.model.stages import Cancelled, Predictions
from napari_cryopick.model.train import TrainConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from napari_cryopick.classes import ParticleClass

#: Fine-tuning adapts to one microscope's data, whose contrast polarity
#: and noise are what they are: geometry still varies (orientation,
#: wedge direction), intensity only a little.
FINETUNE_AUGMENT = AugmentConfig(
    polarity=0.0,
    scale=(0.8, 1.25),
    offset=(-0.2, 0.2),
    noise=(0.0, 0.2),
    blur=0.1,
)


@dataclass(frozen=True)
class FinetuneSettings:
    """Defaults that finish in minutes on a 2-core CPU.

    Parameters
    ----------
    train : TrainConfig
        Loop settings (steps, learning rate, patch size...).
    fraction : float
        Target sphere radius over class radius (the base model's value
        is used when its card records one).
    checkpoint_every : int
        Save the running checkpoint this often, so a cancelled run keeps
        its last good state.
    retune_thresholds : bool
        Re-tune per-class thresholds for F4 on the labelled data.
    tune_share : float
        Share of each training run (its last rows along y) kept out of
        training, to tune the thresholds on picks the model has not
        learnt; 0 tunes them on the training data itself.
    mine_negatives : bool
        Take each run's picks as complete: the starting model's
        proposals (at its thresholds) with no pick of any class within
        their class radius are false positives the user would delete,
        and join the run's negatives. This is what a user who corrects
        every pick of a tomogram leaves behind.
    keep_worse : bool
        Keep the fine-tuned model as ``out`` even when it scores worse
        than the starting model on the held-out runs. By default the
        better model is kept: ``out`` then holds the starting model and
        the fine-tuned one goes beside it
        (:func:`~napari_cryopick.model.finetune_common.worse_path`).
    classes : tuple of str, optional
        The classes the labels cover (``--classes``); the model's other
        classes are kept as they were (sparse labels). Default: every
        class with a pick, the others kept.
    incomplete : bool
        The labels miss particles of their classes (a few clicks): no
        mined negatives, unlabelled space only a weak negative, and the
        thresholds of the labelled classes come from the clicks' scores.
    sparse : SparseWeights
        Weights of the sparse-label loss (negatives, unlabelled space,
        keeping the other classes).
    centre_clicks : bool
        With incomplete labels, move the clicks of classes learnt from
        clicks to their particle's centre of density before training (a
        hand clicks off centre).
    """

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=600,
            lr=1e-3,
            warmup=20,
            pick_fraction=0.6,
            negative_fraction=0.25,
            augment=FINETUNE_AUGMENT,
        )
    )
    fraction: float = 0.5
    checkpoint_every: int = 50
    retune_thresholds: bool = True
    tune_share: float = 0.0
    mine_negatives: bool = True
    keep_worse: bool = False
    classes: tuple[str, ...] | None = None
    incomplete: bool = False
    sparse: SparseWeights = field(default_factory=SparseWeights)
    centre_clicks: bool = True


#: Training for a class learnt from clicks: fewer steps (a teacher pass
#: per step keeps the other classes, and 10 minutes is the budget on a
#: 2-core CPU), patches mostly around the clicks.
CLICKS_TRAIN = TrainConfig(
    steps=300,
    lr=1e-3,
    warmup=20,
    pick_fraction=0.6,
    negative_fraction=0.2,
    augment=FINETUNE_AUGMENT,
)


def click_settings(**changes) -> FinetuneSettings:
    """Return the defaults for learning from a few clicks.

    Labels incomplete (most particles unclicked), no mined negatives,
    :data:`CLICKS_TRAIN`; ``changes`` override any field.
    """
    settings = FinetuneSettings(train=CLICKS_TRAIN, incomplete=True)
    return replace(settings, **changes)


def finetune(
    model: LoadedModel,
    runs: list[LabelledRun],
    out: str | Path,
    settings: FinetuneSettings = FinetuneSettings(),  # noqa: B008
    held_out: list[LabelledRun] | None = None,
    progress: Callable[[object], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    definitions: tuple[ParticleClass, ...] = (),
) -> FinetuneResult:
    """Fine-tune ``model`` on ``runs`` and write a new checkpoint.

    Labels that cover only some classes (``settings.classes``), miss
    particles (``settings.incomplete``) or name a class the model lacks
    take the sparse path (:mod:`napari_cryopick.model.finetune_sparse`):
    new classes get their own output channel and the other classes are
    kept as the starting model had them.

    Parameters
    ----------
    model : LoadedModel
        Starting point (bundled model or any checkpoint); not modified.
    runs : list of LabelledRun
        Training data.
    out : str or Path
        Checkpoint to write (``.safetensors``); rewritten every
        ``settings.checkpoint_every`` steps while training.
    settings : FinetuneSettings
        Loop and threshold settings.
    held_out : list of LabelledRun, optional
        Runs to score before and after (weighted CZII F4).
    progress : callable, optional
        Called with a :class:`TrainProgress` after each training step,
        and a :class:`~napari_cryopick.model.messages.Progress` per tile of
        each stage that predicts (scoring, mining, threshold tuning).
    cancel : callable, optional
        Polled before each step and tile; the last saved checkpoint is
        kept (none when cancelled before training: ``steps`` is 0).
    definitions : tuple of ParticleClass
        Definitions of classes (``--class``, a copick config): where a
        class new to the model gets its radius and colour.

    Returns
    -------
    FinetuneResult
        The checkpoint, its card and the before/after scores.
    """
    plan = None
    if _is_sparse(model, runs, settings):
        plan = plan_labels(model, runs, settings.classes, definitions)
    else:
        _check_runs(model, runs)
    start = time.perf_counter()
    predictions = Predictions(progress, cancel, settings.train.device)
    for run in [*runs, *(held_out or [])]:
        predictions.know(model, run)
    try:
        if plan is not None:
            return finetune_sparse(
                model,
                runs,
                Path(out),
                settings,
                held_out,
                predictions,
                start,
                plan,
            )
        return _finetune(
            model, runs, Path(out), settings, held_out, predictions, start
        )
    except Cancelled as stop:
        card, before = stop.args or (
            finetune_card(model, runs, settings),
            None,
        )
        steps = _last_saved(card)
        seconds = time.perf_counter() - start
        return FinetuneResult(
            Path(out), card, before, None, steps, True, seconds
        )


def _finetune(model, runs, out, settings, held_out, predict, start):
    before = None
    if held_out:
        found = predict(model, held_out, 'scoring the starting model')
        before = score_runs(model, held_out, found=found)
    if settings.mine_negatives:
        runs = [
            with_mined_negatives(
                model, replace(run, proposals=predict(model, [run], 'mining'))
            )
            for run in runs
        ]
    tuned = copy.deepcopy(model)
    card = finetune_card(model, runs, settings)

    samples = [_sample(tuned, run, settings) for run in runs]
    result, save = train_and_save(
        tuned, samples, out, card, settings, predict, before
    )
    try:
        after = _retuned_score(tuned, runs, settings, held_out, predict, card)
    except Cancelled:
        raise Cancelled(card, before) from None
    card['finetune'].update(before=before, after=after)
    save(result.steps_done)
    card, worse = keep_better(
        model, tuned, out, card, before, after, settings.keep_worse
    )
    seconds = time.perf_counter() - start
    return FinetuneResult(
        out, card, before, after, result.steps_done, False, seconds, worse
    )


def _is_sparse(model, runs, settings) -> bool:
    """Whether the labels take the sparse path (see :func:`finetune`)."""
    if settings.classes is not None or settings.incomplete:
        return True
    names = {c.name for c in model.classes}
    return any(not set(r.picks['particle_type']) <= names for r in runs)


def _retuned_score(tuned, runs, settings, held_out, predict, card):
    """Re-tune ``tuned``'s thresholds on ``runs``; score it on held_out."""
    if settings.retune_thresholds:
        # On the training runs: the held-out runs only measure.
        parts = _tuning_parts(tuned, runs, settings.tune_share)
        found = predict(tuned, runs, 'tuning the thresholds')
        card['thresholds'] = tuned_thresholds(tuned, parts, found)
        tuned.card = ModelCard.from_dict(card)
    if not held_out:
        return None
    found = predict(tuned, held_out, 'scoring the fine-tuned model')
    return score_runs(tuned, held_out, found=found)


def _last_saved(card: dict) -> int:
    return int(card['finetune']['steps_done'])


def _check_runs(model: LoadedModel, runs: list[LabelledRun]) -> None:
    if not runs:
        raise CryopickError('fine-tuning needs at least one labelled run')
    names = {c.name for c in model.classes}
    for run in runs:
        source = run.tomogram.source
        if not len(run.picks):
            raise CryopickError(f'{source}: no picks to learn from')
        unknown = sorted(set(run.picks['particle_type']) - names)
        if unknown:
            raise CryopickError(
                f'{source}: classes the model does not know: '
                f'{", ".join(unknown)}'
            )


def _sample(model: LoadedModel, run: LabelledRun, settings):
    volume, factor = model_grid(run.tomogram, model.voxel_size)
    picks, negatives = run.picks, run.negatives
    if settings.tune_share > 0:
        rows = _training_rows(volume.shape[1], settings.tune_share)
        volume = volume[:, :rows]
        limit = _row_edge(rows, factor, run.tomogram)
        picks = picks[picks['y'] < limit]
        if negatives is not None:
            negatives = negatives[negatives['y'] < limit]
    fraction = model.card.radius_fraction or settings.fraction
    return make_sample(
        volume,
        picks,
        model.classes,
        run.tomogram.scales[0],
        factor,
        fraction,
        negatives=negatives,
        run=run.tomogram.run,
    )


def _training_rows(rows: int, share: float) -> int:
    return max(1, int(round(rows * (1 - share))))


def _row_edge(rows: int, factor, tomogram) -> float:
    """Return the y (Å) after ``rows`` rows of a grid ``factor`` coarser."""
    factor_y = float(np.broadcast_to(np.asarray(factor, float), (3,))[1])
    return (rows * factor_y - 0.5) * tomogram.scales[0][1]


def _tuning_parts(model, runs, share: float) -> list[tuple]:
    """Return (run, y limit in Å) pairs to tune thresholds on.

    Picks and candidates with y at or beyond the limit count; the limit
    is ``-inf`` (all of the run) when ``share`` is 0.
    """
    parts = []
    for run in runs:
        limit = -np.inf
        if share > 0:
            plan = plan_grid(run.tomogram, model.voxel_size)
            factor, rows = plan.factor, plan.shape[1]
            edge = _training_rows(rows, share)
            limit = _row_edge(edge, factor, run.tomogram)
        parts.append((run, limit))
    return parts
