"""Fine-tuning on sparse labels: a few clicks, some classes, new classes.

:func:`~napari_cryopick.model.finetune.finetune` takes this path when the
labels cover only some classes (``--classes``), miss particles
(``--incomplete-labels``), or name a class the model lacks. The labels
are checked first (:mod:`napari_cryopick.model.finetune_labels`); then:

* classes the model lacks become new output channels
  (:mod:`napari_cryopick.model.newclass`);
* with incomplete labels, the starting model's sure picks of the other
  classes are negatives of the labelled ones
  (:func:`~napari_cryopick.model.finetune_labels.confident_others`);
* clicks of a class learnt from clicks move to their particle's centre
  before the positives are drawn (:func:`~napari_cryopick.model.
  likeness.centre_clicks`);
* the loss marks clicks, known negatives and unlabelled space apart and
  keeps the unlabelled classes (:mod:`napari_cryopick.model.sparse`);
* the threshold of a class labelled by clicks comes from the scores the
  tuned model gives those clicks
  (:func:`~napari_cryopick.model.finetune_labels.click_thresholds`);
* the clicks' rotational density profiles go into the card, and picks of
  the class must look like them (:mod:`napari_cryopick.model.likeness`)
  and pass a test learnt against the tuned model's other candidates
  (:mod:`napari_cryopick.model.gate`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.model.checkpoint import ModelCard
from napari_cryopick.model.finetune_clicks import (
    checked,
    click_likeness,
    into_card,
    learn_gates,
    read_candidates,
    with_centred_clicks,
)
from napari_cryopick.model.finetune_common import (
    FinetuneResult,
    LabelledRun,
    finetune_card,
    keep_better,
    train_and_save,
    tuned_thresholds,
    with_mined_negatives,
)
from napari_cryopick.model.finetune_labels import (
    MINED_FRACTION,
    click_thresholds,
    confident_others,
    paint_negatives,
)
from napari_cryopick.model.predict import model_grid
from napari_cryopick.model.sampling import make_sample
from napari_cryopick.model.sparse import MINED
from napari_cryopick.model.stages import Cancelled


def finetune_sparse(
    model, runs, out, settings, held_out, predict, start, plan
):
    """Fine-tune on labels of some classes; keep the others (sparse path).

    Called by :func:`~napari_cryopick.model.finetune.finetune`, which
    checks the labels first.

    Parameters
    ----------
    model : LoadedModel
        The starting model; not modified.
    runs, held_out : list of LabelledRun
        Training runs; runs scored before and after (may be empty).
    out : Path
        Checkpoint to write.
    settings : FinetuneSettings
        Loop, loss and threshold settings.
    predict : Predictions
        Each (model, run) predicted once, with progress and cancel.
    start : float
        ``time.perf_counter()`` when fine-tuning began.
    plan : LabelPlan
        What the labels cover (:func:`~napari_cryopick.model.
        finetune_labels.plan_labels`).

    Returns
    -------
    FinetuneResult
        The checkpoint, its card, the scores and the tuned model's
        candidates on the training runs.
    """
    from napari_cryopick.model.newclass import add_classes
    from napari_cryopick.model.sparse import sparse_objective

    labelled = plan.labelled
    runs = [_only(run, labelled) for run in runs]
    held_out = [_only(run, labelled) for run in held_out or []]
    origin = {
        'runs': [r.tomogram.run for r in runs],
        'labels': dict(plan.counts),
        'incomplete': settings.incomplete,
    }
    tuned = add_classes(model, plan.new, origin)
    if tuned is model:
        tuned = copy.deepcopy(model)
    clicked = runs  # as clicked: the likeness reads them there
    if settings.incomplete and settings.centre_clicks:
        runs = with_centred_clicks(runs, tuned, plan)
    before = None
    if held_out:
        found = predict(model, held_out, 'scoring the starting model')
        before = _score_labelled(tuned, held_out, found, labelled)
    if settings.mine_negatives and settings.incomplete:
        # The other classes' sure picks: "not this" for the new class.
        runs = [
            replace(
                run,
                proposals=confident_others(
                    predict(model, [run], 'finding the other classes'),
                    run.picks,
                    tuned.classes,
                    labelled,
                    model.thresholds,
                ),
            )
            for run in runs
        ]
    elif settings.mine_negatives:
        known = [n for n in labelled if n not in {c.name for c in plan.new}]
        runs = [
            with_mined_negatives(
                model,
                replace(
                    run, proposals=_of(predict(model, [run], 'mining'), known)
                ),
            )
            for run in runs
        ]
    card = finetune_card(tuned, runs, settings)
    card['finetune'].update(
        classes=list(labelled),
        new_classes=[c.name for c in plan.new],
        labels=dict(plan.counts),
    )

    channels = [
        i + 1 for i, c in enumerate(tuned.classes) if c.name in labelled
    ]
    weights = settings.sparse
    if not settings.incomplete:  # unlabelled space holds none of them
        weights = replace(weights, unlabelled=weights.mined)
    objective = sparse_objective(
        copy.deepcopy(model.network), channels, weights
    )
    samples = [_sparse_sample(tuned, run, settings) for run in runs]
    result, save = train_and_save(
        tuned, samples, out, card, settings, predict, before, objective
    )
    taught = click_likeness(tuned, clicked, plan, settings)
    try:
        read = read_candidates(tuned, runs, predict, card, taught)
        into_card(card, taught)
        tuned.card = ModelCard.from_dict(card)
        tuning_found = checked(tuned, read, taught)
        card['thresholds'] = _sparse_thresholds(
            tuned, runs, tuning_found, labelled, settings
        )
        if taught:
            gated = learn_gates(tuned, runs, read, taught, card)
            tuning_found = checked(tuned, read, gated)
        tuned.card = ModelCard.from_dict(card)
        after = None
        if held_out:
            found = predict(tuned, held_out, 'scoring the fine-tuned model')
            after = _score_labelled(tuned, held_out, found, labelled)
    except Cancelled:
        raise Cancelled(card, before) from None
    card['finetune'].update(before=before, after=after)
    save(result.steps_done)
    # A new class is kept whatever the old ones scored: the starting
    # model cannot pick it at all.
    keep_worse = settings.keep_worse or bool(plan.new)
    card, worse = keep_better(
        model, tuned, out, card, before, after, keep_worse
    )
    seconds = time.perf_counter() - start
    return FinetuneResult(
        out,
        card,
        before,
        after,
        result.steps_done,
        False,
        seconds,
        worse,
        tuning_found,
    )


def _only(run: LabelledRun, names) -> LabelledRun:
    """``run`` with picks of the labelled classes only."""
    return replace(run, picks=_of(run.picks, names))


def _of(table, names):
    if table is None:
        return None
    return table[table['particle_type'].isin(list(names))]


def _sparse_thresholds(tuned, runs, found, labelled, settings) -> dict:
    """Thresholds: the labelled classes' new ones, every other kept."""
    thresholds = dict(tuned.thresholds)
    if settings.incomplete:
        clicks = pd.concat([r.picks for r in runs], ignore_index=True)
        thresholds.update(
            click_thresholds(found, clicks, tuned.classes, labelled)
        )
    elif settings.retune_thresholds:
        parts = [(run, -np.inf) for run in runs]
        tuned_all = tuned_thresholds(tuned, parts, _of(found, labelled))
        thresholds.update({n: tuned_all[n] for n in labelled})
    return thresholds


def _score_labelled(model, runs, found, names) -> float:
    """Weighted F4 over the labelled classes (``model``'s thresholds)."""
    from napari_cryopick.metric import score_picks

    classes = tuple(c for c in model.classes if c.name in set(names))
    found = pk.apply_thresholds(_of(found, names), model.thresholds)
    truth = pd.concat([r.picks for r in runs], ignore_index=True)
    return score_picks(truth, found, classes).score


def _sparse_sample(model, run: LabelledRun, settings):
    """Return a training sample whose negatives are painted NEGATIVE."""
    from napari_cryopick.model.targets import pick_voxels

    volume, factor = model_grid(run.tomogram, model.voxel_size)
    fraction = model.card.radius_fraction or settings.fraction
    voxel_size = run.tomogram.scales[0]
    sample = make_sample(
        volume,
        run.picks,
        model.classes,
        voxel_size,
        factor,
        fraction,
        run=run.tomogram.run,
    )
    if run.negatives is not None and len(run.negatives):
        paint_negatives(
            sample.labels,
            run.negatives,
            model.classes,
            voxel_size,
            factor,
            fraction,
        )
        sample.negatives = pick_voxels(run.negatives, voxel_size, factor)
    if settings.incomplete and run.proposals is not None:
        others = run.proposals  # confident_others: painted whole
        paint_negatives(
            sample.labels,
            others,
            model.classes,
            voxel_size,
            factor,
            MINED_FRACTION,
            MINED,
        )
        mined = pick_voxels(others, voxel_size, factor)
        if sample.negatives is not None and len(sample.negatives):
            mined = np.concatenate([sample.negatives, mined])
        sample.negatives = mined
    return sample
