"""Check picks of classes learnt from clicks, and centre them.

A pick of a class learnt from clicks is kept when its rotational density
profile, read after moving it to its density's centre, is near a click's
(within the class's :class:`~napari_cryopick.model.likeness.Likeness`
limit) and it passes the class's second test
(:mod:`napari_cryopick.model.gate`); the picks kept are written at those
centres. What the clicks look like, and why, is
:mod:`napari_cryopick.model.likeness`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from napari_cryopick.model.likeness import descriptors
from napari_cryopick.model.profiles import measure

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.likeness import Likeness


def unlike(table, tomogram, likeness, radii) -> np.ndarray:
    """Return which picks do not look like their class's clicks.

    :func:`check_and_centre`'s first value (same parameters): True for a
    pick to drop, in the row order of ``table``.
    """
    return check_and_centre(table, tomogram, likeness, radii)[0]


class Measured(NamedTuple):
    """One learnt class's picks as :func:`measure_picks` read them."""

    #: Row numbers of the class's picks in the table.
    rows: np.ndarray
    #: (picks, places, shells) profiles around each pick
    #: (:func:`~napari_cryopick.model.profiles.measure`).
    profiles: np.ndarray
    #: Each pick's profile and spreads at its centre
    #: (:func:`~napari_cryopick.model.likeness.descriptors`).
    seen: np.ndarray
    #: (picks, 3) x, y, z in Å after the moves to the density's centre.
    centres: np.ndarray


def measure_picks(
    table: pd.DataFrame,
    tomogram: Tomogram,
    likeness: dict[str, Likeness],
    radii: dict[str, float],
) -> dict[str, Measured]:
    """Read the picks of learnt classes once, for any limit and gate.

    Parameters are :func:`check_and_centre`'s. What is read depends on a
    class's clicks (recentring, contrast sign), not on its limit, scale
    or gate, so one reading serves every check of those clicks.

    Returns
    -------
    dict
        :class:`Measured` by class name, for classes with picks.
    """
    out = {}
    for name, like in likeness.items():
        rows = np.flatnonzero((table['particle_type'] == name).to_numpy())
        if not rows.size:
            continue
        found, spreads, centres = measure(
            tomogram,
            table.iloc[rows],
            radii[name],
            recentre=like.recentre,
            polarity=like.polarity,
        )
        middle = found[:, found.shape[1] // 2]  # the unshifted place
        out[name] = Measured(
            rows, found, descriptors(middle, spreads), centres
        )
    return out


def check_and_centre(
    table: pd.DataFrame,
    tomogram: Tomogram,
    likeness: dict[str, Likeness],
    radii: dict[str, float],
    measured: dict[str, Measured] | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Check picks of learnt classes and move them to their particle's centre.

    A network taught by a few clicks places its peaks 16-31 Å from the
    particle's centre (RMS, 3D); the centre of mass the check moves to
    is 9-15 Å from it on the benchmark's clean phantoms (24 Å in real
    noise, from 29), so the picks go there (never outside the volume).
    Two moved picks of a class closer than its radius are one particle:
    the lower score is dropped.

    Parameters
    ----------
    table : DataFrame
        Picks of one tomogram.
    tomogram : Tomogram
        The tomogram.
    likeness : dict
        :class:`~napari_cryopick.model.likeness.Likeness` by class name;
        other classes are left as they are.
    radii : dict
        Class radius in Å by class name.
    measured : dict, optional
        :func:`measure_picks` of ``table`` for clicks of these profiles,
        when already read (checks with other limits or gates).

    Returns
    -------
    drop : ndarray of bool
        True for a pick unlike the clicks, or a duplicate once moved.
    table : DataFrame
        ``table`` with the learnt classes' picks at their new centres.
    """
    if measured is None:
        measured = measure_picks(table, tomogram, likeness, radii)
    drop = np.zeros(len(table), bool)
    xyz = table[['x', 'y', 'z']].to_numpy(float).copy()
    for name, like in likeness.items():
        if name not in measured:
            continue
        rows, profiles, seen, centres = measured[name]
        drop[rows] = like.distance(profiles).min(axis=1) > like.limit
        drop[rows] |= like.below_gate(seen)
        if like.recentre:
            xyz[rows] = centres
            drop[rows] |= _duplicates(
                xyz[rows],
                table['score'].to_numpy(float)[rows],
                drop[rows],
                radii[name],
            )
    moved = table.copy()
    moved[['x', 'y', 'z']] = xyz
    return drop, moved


def _duplicates(xyz, scores, dropped, radius) -> np.ndarray:
    """Kept picks within ``radius`` of a better kept one (bool by row)."""
    from napari_cryopick.model.peaks import suppress_duplicates

    rows = np.flatnonzero(~dropped)
    rows = rows[np.argsort(-scores[rows], kind='stable')]
    out = np.zeros(len(xyz), bool)
    out[rows] = True
    out[rows[suppress_duplicates(xyz[rows], radius)]] = False
    return out
