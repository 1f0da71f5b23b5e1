"""Validating a model of the recipe: thresholds, scores, empty volumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_cryopick.metric import best_thresholds, score_picks
from napari_cryopick.model.predict import apply_thresholds
from napari_cryopick.model.recipe_config import EMPTY_LOOKS, VALIDATION_LOOKS
from napari_cryopick.model.recipe_phantoms import predict_phantoms

if TYPE_CHECKING:
    from napari_cryopick.model.recipe_config import Recipe
    from napari_cryopick.model.recipe_phantoms import Phantom


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
