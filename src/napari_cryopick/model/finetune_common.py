"""What both fine-tuning paths share: data, training, the card, the keep.

:mod:`napari_cryopick.model.finetune` (complete corrections) and
:mod:`napari_cryopick.model.finetune_sparse` (clicks, some classes, new
classes) both train through :func:`train_and_save`, describe the result
with :func:`finetune_card`, and keep the starting model when the tuned
one scores worse (:func:`keep_better`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from napari_cryopick import picks as pk
from napari_cryopick.model.checkpoint import LoadedModel, save_checkpoint
from napari_cryopick.model.device import describe, resolve_device
from napari_cryopick.model.grid import plan_grid
from napari_cryopick.model.infer import InferenceSettings
from napari_cryopick.model.predict import PickSettings, predict_tomogram
from napari_cryopick.model.stages import Cancelled
from napari_cryopick.model.train import train

#: Fewest reference picks of a class needed to re-tune its threshold.
MIN_PICKS_FOR_THRESHOLD = 5
#: F4 a lower threshold may give up (see ``metric.best_thresholds``).
#: Wider than the bundled model's 0.01: thresholds are tuned on the runs
#: just trained on, where the model is surer of itself than on the next
#: tomogram, so the training run's F4 optimum sits too high; F4 pays 16x
#: more for recall than for precision.
THRESHOLD_TOLERANCE = 0.05


@dataclass
class LabelledRun:
    """A tomogram and its corrected picks.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram.
    picks : DataFrame
        Positives: every pick that survived review.
    negatives : DataFrame, optional
        Model picks the user deleted.
    proposals : DataFrame, optional
        The starting model's candidates on this run (thresholds not
        applied), when already at hand (the viewer's picking session):
        mining negatives then needs no second pass of the model.
    """

    tomogram: object
    picks: pd.DataFrame
    negatives: pd.DataFrame | None = None
    proposals: pd.DataFrame | None = None


@dataclass
class FinetuneResult:
    """What :func:`finetune` produced.

    ``worse`` is the fine-tuned checkpoint set aside when it scored
    worse on the held-out runs than the starting model, which ``path``
    then holds (``None`` otherwise). ``found`` holds the fine-tuned
    model's candidates on the training runs (no thresholds applied)
    when its thresholds were set from them: proposals to review.
    """

    path: Path
    card: dict
    before: float | None
    after: float | None
    steps: int
    cancelled: bool
    seconds: float
    worse: Path | None = None
    found: pd.DataFrame | None = None


def train_and_save(
    tuned, samples, out, card, settings, predict, before, objective=None
):
    """Train ``tuned`` in place, checkpointing to ``out`` as it goes.

    Returns the training result and ``save(step)``, which writes the
    checkpoint with ``card`` (the caller saves the final one). A
    cancelled run raises :class:`Cancelled` with the last checkpoint.
    """

    def save(step: int) -> None:
        card['finetune']['steps_done'] = step
        save_checkpoint(out, tuned.network, card)

    save(0)
    result = train(
        tuned.network,
        samples,
        settings.train,
        progress=predict.progress,
        cancel=predict.cancel,
        on_checkpoint=save,
        checkpoint_every=settings.checkpoint_every,
        objective=objective,
    )
    tuned.network.eval()
    if result.cancelled:
        raise Cancelled(card, before)
    return result, save


def worse_path(out: str | Path) -> Path:
    """Return where a fine-tuned model worse than its start is kept."""
    out = Path(out)
    return out.with_name(f'{out.stem}-worse{out.suffix or ".safetensors"}')


def keep_better(model, tuned, out, card, before, after, keep_worse):
    """Save the better model as ``out``; return its card and the other's path.

    When ``tuned`` scored lower than ``model`` on the held-out runs (and
    ``keep_worse`` is false), ``tuned`` goes beside ``out``
    (:func:`worse_path`) and ``out`` gets the starting model with a card
    saying why; otherwise nothing is written here.

    Parameters
    ----------
    model, tuned : LoadedModel
        The starting and the fine-tuned model.
    out : Path
        The checkpoint fine-tuning writes.
    card : dict
        ``tuned``'s card.
    before, after : float or None
        Held-out scores of ``model`` and ``tuned`` (None: not scored).
    keep_worse : bool
        Keep ``tuned`` as ``out`` whatever the scores.

    Returns
    -------
    tuple
        (card of what ``out`` holds, path of the set-aside model or None).
    """
    worse = before is not None and after is not None and after < before
    if keep_worse or not worse:
        return card, None
    aside = worse_path(out)
    save_checkpoint(aside, tuned.network, card)
    kept = model.card.to_dict()
    kept['finetune'] = {
        **card['finetune'],
        'kept': 'starting model: fine-tuning lowered the held-out score',
        'worse_checkpoint': str(aside),
    }
    save_checkpoint(out, model.network, kept)
    return kept, aside


def with_mined_negatives(
    model, run: LabelledRun, device: str = 'auto'
) -> LabelledRun:
    """Return ``run`` with the model's unlabelled proposals as negatives.

    Parameters
    ----------
    model : LoadedModel
        The model whose false positives are wanted (at its thresholds).
    run : LabelledRun
        A run whose picks are complete; its ``proposals``, if any, are
        used rather than predicting again.

    Returns
    -------
    LabelledRun
        The same run; negatives are its own plus every proposal farther
        than its class radius from each pick of any class (a proposal
        of the wrong class on a real particle is left to the labels).
    """
    from scipy.spatial import cKDTree

    found = run.proposals
    if found is None:
        found = predict_runs(model, [run], device)
    found = pk.apply_thresholds(found, model.thresholds)
    if not len(found):
        return run
    radius = {c.name: c.radius for c in model.classes}
    reach = found['particle_type'].map(radius).to_numpy(float)
    distance, _ = cKDTree(pk.positions(run.picks)).query(pk.positions(found))
    mined = found[distance > reach]
    negatives = pk.concat([t for t in (run.negatives, mined) if t is not None])
    return replace(run, negatives=negatives)


def finetune_card(model: LoadedModel, runs, settings) -> dict:
    """Return ``model``'s card for its fine-tuned copy (what, on what, how)."""
    card = model.card.to_dict()
    card['name'] = f'{model.card.name}-finetuned'
    card['finetune'] = {
        'parent': {'name': model.card.name, 'path': str(model.path)},
        'runs': [r.tomogram.run for r in runs],
        'picks': int(sum(len(r.picks) for r in runs)),
        'negatives': int(
            sum(len(r.negatives) for r in runs if r.negatives is not None)
        ),
        'settings': asdict(settings),
        # How each run reached the model's grid (level, real factors).
        'grid': {
            r.tomogram.run: plan_grid(r.tomogram, model.voxel_size).to_dict()
            for r in runs
        },
        'device': describe(resolve_device(settings.train.device)),
        'steps_done': 0,
    }
    return card


def predict_runs(
    model, runs: list[LabelledRun], device: str = 'auto'
) -> pd.DataFrame:
    """Predict every run without thresholds; return all candidates."""
    inference = InferenceSettings(device=device)
    settings = PickSettings(inference=inference, apply_thresholds=False)
    tables = [predict_tomogram(r.tomogram, model, settings) for r in runs]
    return pd.concat(tables, ignore_index=True)


def score_runs(
    model, runs: list[LabelledRun], device: str = 'auto', found=None
) -> float:
    """Weighted CZII F4 of ``model`` (its own thresholds) on ``runs``.

    ``found``: the model's candidates on ``runs`` when already at hand
    (no thresholds applied); else the runs are predicted.
    """
    from napari_cryopick.metric import score_picks

    if found is None:
        found = predict_runs(model, runs, device)
    found = pk.apply_thresholds(found, model.thresholds)
    truth = pd.concat([r.picks for r in runs], ignore_index=True)
    return score_picks(truth, found, model.classes).score


def tuned_thresholds(model, parts, found) -> dict[str, float]:
    """Thresholds for F4 on (run, y limit) ``parts``, where picks allow.

    ``found`` holds the candidates of ``model`` on the parts' runs;
    classes with too few picks keep the model's own threshold.
    """
    from napari_cryopick.metric import best_thresholds

    truth = pd.concat([run.picks for run, _ in parts], ignore_index=True)
    limits = {run.tomogram.run: limit for run, limit in parts}
    found = found[found['y'] >= found['run'].map(limits)]
    truth = truth[truth['y'] >= truth['run'].map(limits)]
    tuned = best_thresholds(
        truth, found, model.classes, tolerance=THRESHOLD_TOLERANCE
    )
    counts = truth['particle_type'].value_counts()
    thresholds = dict(model.thresholds)
    for name, value in tuned.items():
        if counts.get(name, 0) >= MIN_PICKS_FOR_THRESHOLD and np.isfinite(
            value
        ):
            thresholds[name] = float(value)
    return thresholds
