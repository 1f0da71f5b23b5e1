"""Fine-tuning's steps for the classes taught by clicks.

A class is taught by clicks when it is new, or already carries the
likeness of earlier clicks, and the labels are clicks
(``--incomplete-labels``). Its clicks move to their particle's centre
before training (:func:`with_centred_clicks`); after training, their
likeness goes into the card (:func:`click_likeness`), and the tuned
network's candidates on the clicked tomograms are read once
(:func:`read_candidates`) and checked against it (:func:`checked`):
with the clicks' limit for the threshold, with the wider limit the
class's second test learns against (:func:`learn_gates`), and with that
test for the proposals shown for review.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from napari_cryopick.model.checkpoint import ModelCard
from napari_cryopick.model.likeness import Likeness, across_tomograms

if TYPE_CHECKING:
    from napari_cryopick.model.finetune_common import LabelledRun


def _taught_by_clicks(model, plan) -> list:
    """Classes labelled by clicks: the new ones and those with a likeness."""
    names = {c.name for c in plan.new} | set(model.card.likeness)
    return [
        c for c in model.classes if c.name in names and c.name in plan.labelled
    ]


def with_centred_clicks(runs, model, plan) -> list[LabelledRun]:
    """Return ``runs`` with the clicks of classes taught by clicks centred.

    Parameters
    ----------
    runs : list of LabelledRun
        The labelled runs.
    model : LoadedModel
        The model being tuned (with its new classes).
    plan : LabelPlan
        The checked labels (:mod:`napari_cryopick.model.finetune_labels`).

    Returns
    -------
    list of LabelledRun
        ``runs`` with those clicks at their density's centre.
    """
    from napari_cryopick.model.likeness import centre_clicks

    picks = [run.picks.copy() for run in runs]
    for cls in _taught_by_clicks(model, plan):
        rows = [(p['particle_type'] == cls.name).to_numpy() for p in picks]
        pairs = [
            (r.tomogram, p[m])
            for r, p, m in zip(runs, picks, rows, strict=True)
        ]
        moved = centre_clicks(pairs, cls.radius)
        for table, mine, centred in zip(picks, rows, moved, strict=True):
            table.loc[mine, ['x', 'y', 'z']] = centred[
                ['x', 'y', 'z']
            ].to_numpy()
    return [replace(r, picks=p) for r, p in zip(runs, picks, strict=True)]


def click_likeness(model, runs, plan, settings) -> dict[str, Likeness]:
    """Return what the clicks of classes taught by clicks look like.

    For the new classes, and the classes whose likeness the model
    already holds (taught again from new clicks), when the labels are
    clicks (``settings.incomplete``); ``runs`` hold the clicks where
    they were clicked. Classes with too few clicks have none.
    """
    from napari_cryopick.model.likeness import learn_likeness

    if not settings.incomplete:
        return {}
    out = {}
    for cls in _taught_by_clicks(model, plan):
        pairs = [
            (run.tomogram, run.picks[run.picks['particle_type'] == cls.name])
            for run in runs
        ]
        like = learn_likeness(pairs, cls.radius)
        if like is not None:  # as the card will hold it (rounded)
            out[cls.name] = Likeness.from_dict(like.to_dict())
    return out


def read_candidates(model, runs, predict, card, taught) -> list:
    """Return the tuned model's candidates on each run, read for ``taught``.

    Every class but those of ``taught`` is checked as ``predict`` checks
    it (``card``'s likeness, which ``model.card`` is set to without
    ``taught``'s); those of ``taught`` are read once
    (:func:`~napari_cryopick.model.likeness_check.measure_picks`) for
    :func:`checked` to check against any limit or gate of their clicks.

    Returns
    -------
    list
        (tomogram, candidates, reading) by run.
    """
    from napari_cryopick.model.likeness_check import measure_picks

    others = {
        name: like
        for name, like in (card.get('likeness') or {}).items()
        if name not in taught
    }
    model.card = ModelCard.from_dict({**card, 'likeness': others})
    radii = _radii(model)
    out = []
    for run in runs:
        table = predict(model, [run], 'tuning the thresholds')
        reading = measure_picks(table, run.tomogram, taught, radii)
        out.append((run.tomogram, table, reading))
    return out


def checked(model, read, likeness: dict[str, Likeness]) -> pd.DataFrame:
    """Candidates ``read`` (:func:`read_candidates`) checked by ``likeness``.

    As :func:`~napari_cryopick.model.predict.predict_tomogram` checks
    them: those unlike their clicks dropped, the others centred.
    """
    from napari_cryopick.model.likeness_check import check_and_centre

    radii = _radii(model)
    tables = []
    for tomogram, table, reading in read:
        if likeness and len(table):
            drop, table = check_and_centre(
                table, tomogram, likeness, radii, reading
            )
            table = table[~drop]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def learn_gates(model, runs, read, taught, card) -> dict[str, Likeness]:
    """Learn the second test of the classes just taught (into ``card``).

    It learns against the candidates ``read`` (:func:`read_candidates`)
    that a wider limit keeps
    (:func:`~napari_cryopick.model.gate.for_the_gate`). The thresholds of
    the classes that got one are relaxed
    (:func:`~napari_cryopick.model.gate.relax_thresholds`). Returns the
    classes' likeness with their gates, as the card holds it: learnt in
    the clicks' own tomograms, where their contrast is the clicks', it
    checks any tomogram
    (:func:`~napari_cryopick.model.likeness.across_tomograms`).
    """
    from napari_cryopick.model.gate import (
        for_the_gate,
        gate_learnt,
        relax_thresholds,
    )

    wider = {name: for_the_gate(like) for name, like in taught.items()}
    found = checked(model, read, wider)
    gated, _ = gate_learnt(taught, runs, found, _radii(model))
    card['thresholds'] = relax_thresholds(card['thresholds'], gated)
    return into_card(card, gated)


def into_card(card: dict, likeness: dict[str, Likeness]) -> dict:
    """Write ``likeness`` into ``card`` as the check for any tomogram.

    Learnt in the clicks' own tomograms, where the contrast is the
    clicks', each is stored as
    :func:`~napari_cryopick.model.likeness.across_tomograms` gives it.
    Returns what was written, by class name.
    """
    stored = {name: across_tomograms(like) for name, like in likeness.items()}
    card['likeness'] = {
        **(card.get('likeness') or {}),
        **{name: like.to_dict() for name, like in stored.items()},
    }
    return stored


def _radii(model) -> dict[str, float]:
    return {c.name: c.radius for c in model.classes}
