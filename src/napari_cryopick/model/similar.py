"""More like these: proposals of a new class before any training.

Learning a class from clicks takes minutes; finding copies of it among
the densities of the tomogram by how their density looks takes seconds.
From a few clicks this proposes the places whose rotational density
profile (:mod:`napari_cryopick.model.profiles`, the likeness check's)
is nearest a click's, for the user to accept or mark "not this" before
the first Learn: more examples, and negatives, at the price of a review.

Where it looks: blobs of the clicks' contrast and about their size (the
maxima of a difference of Gaussians at the class radius, read by blocks
of rows on the coarsest stored level with voxels of at most a third of
the radius), at least :attr:`SimilarSettings.floor` as strong as the
weakest click's. Each is moved to the centre of its density, as the
likeness check moves picks, and scored by how near its profile is to
the nearest click's: :data:`AT_LIMIT` at the clicks' own spread (the
likeness check's limit), 1 on a click's profile.

Measured on the benchmark's tomogram A (``benchmarks/bench_newclass.py
--more-like``; docs/benchmarks.md "More like these"), 5 random clicks:
of the 20 best proposals 19 are unclicked copies of the 170 Å protein,
and 4 of the 120 Å protein's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick import picks as pk
from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    level0_to_level,
    level_to_level0,
    voxel_zyx_to_angstrom_xyz,
)
from napari_cryopick.errors import CryopickError
from napari_cryopick.model.likeness import (
    MIN_CLICKS,
    learn_likeness,
    profile_distance,
)
from napari_cryopick.model.profiles import level_stats, measure

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram

#: A proposal's score where its profile is as far from the nearest
#: click's as the likeness check allows.
AT_LIMIT = 0.5
#: Ratio of the two Gaussians of the blob filter.
DOG_RATIO = 1.6
#: Voxels filtered at once (besides the rows around them): 64 MB a copy.
BLOCK_VOXELS = 2**24


@dataclass(frozen=True)
class SimilarSettings:
    """How many places to look at and to propose.

    Parameters
    ----------
    count : int
        Proposals returned at most, the most like the clicks.
    floor : float
        A blob is looked at if its filter response is at least this
        fraction of the weakest click's.
    candidates : int
        Blobs looked at, at most (the strongest).
    """

    count: int = 50
    floor: float = 0.5
    candidates: int = 20_000


def more_like_these(
    tomogram: Tomogram,
    clicks: pd.DataFrame,
    radius: float,
    name: str,
    settings: SimilarSettings = SimilarSettings(),  # noqa: B008 - frozen
) -> pd.DataFrame:
    """Return places that look like the clicks, the most alike first.

    Parameters
    ----------
    tomogram : Tomogram
        The tomogram the clicks are in.
    clicks : DataFrame
        Picks (Å) of one class in ``tomogram``.
    radius : float
        The class radius, Å.
    name : str
        The class name the proposals get.
    settings : SimilarSettings
        How many to look at and to return.

    Returns
    -------
    DataFrame
        Picks of ``name`` (origin ``model``), at most ``settings.count``,
        none within ``radius`` of a click or of a better proposal; score
        1 on a click's profile, :data:`AT_LIMIT` at the likeness limit.

    Raises
    ------
    CryopickError
        With fewer than :data:`~napari_cryopick.model.likeness.MIN_CLICKS`
        clicks.
    """
    from scipy.spatial import cKDTree

    from napari_cryopick.model.peaks import suppress_duplicates

    like = learn_likeness([(tomogram, clicks)], radius)
    if like is None:
        raise CryopickError(
            f'{name}: more like these needs at least {MIN_CLICKS} clicks '
            f'(has {len(clicks)})'
        )
    found = _blobs(tomogram, clicks, radius, like.polarity, settings)
    if not len(found):
        return pk.empty_picks()
    profiles, _, centres = measure(
        tomogram, found, radius, False, like.recentre, like.polarity
    )
    distance = profile_distance(profiles[:, 0, None], like.profiles[None])
    distance = distance.min(axis=1)
    score = AT_LIMIT ** (distance / like.limit)
    far, _ = cKDTree(pk.positions(clicks)).query(centres)
    order = np.argsort(-score, kind='stable')
    order = order[
        (far[order] > radius) & _inside(tomogram, centres, radius)[order]
    ]
    order = order[suppress_duplicates(centres[order], radius)]
    order = order[: settings.count]
    return pk.make_picks(
        tomogram.run,
        name,
        centres[order],
        score=score[order],
        origin=pk.MODEL,
    )


def _inside(tomogram, centres: np.ndarray, radius: float) -> np.ndarray:
    """Tell which centres (Å) lie half a radius inside every face.

    At a face the filters and the profile see the volume's edge, which
    looks like the side of a particle.
    """
    extent = (np.asarray(tomogram.shape, float) - 1) * np.asarray(
        tomogram.scales[0], float
    )
    margin = 0.5 * radius
    return np.all(
        (centres >= margin) & (centres <= extent[::-1] - margin), axis=1
    )


def _blobs(tomogram, clicks, radius, polarity, settings) -> pd.DataFrame:
    """Return blobs of the clicks' contrast and size (Å), strongest first."""
    from napari_cryopick.model.grid import plan_grid

    level = plan_grid(tomogram, radius / 3.0).level
    data = tomogram.levels[level]
    factor = np.asarray(tomogram.scales[level], float) / np.asarray(
        tomogram.scales[0], float
    )
    at = level0_to_level(
        angstrom_xyz_to_voxel_zyx(pk.positions(clicks), tomogram.scales[0]),
        factor,
    )
    sigma = radius / np.asarray(tomogram.scales[level], float) / np.sqrt(3)
    points, values, clicked = _maxima(data, sigma, polarity, at)
    clicked = clicked[np.isfinite(clicked)]  # not a click off the volume
    weakest = float(clicked.min()) if clicked.size else 0.0
    floor = settings.floor * max(weakest, 0.0)
    keep = np.flatnonzero(values >= floor)
    keep = keep[np.argsort(-values[keep], kind='stable')]
    keep = keep[: settings.candidates]
    xyz = voxel_zyx_to_angstrom_xyz(
        level_to_level0(points[keep], factor), tomogram.scales[0]
    )
    return pk.make_picks(tomogram.run, 'blob', xyz)


def _maxima(data, sigma, polarity, at):
    """Maxima of the blob filter by blocks of rows, and its value at ``at``.

    Returns (points, 3) z, y, x voxels of ``data``, their (points,)
    responses, and the (clicks,) strongest response within a voxel of
    each point of ``at``.
    """
    from scipy import ndimage

    centre, spread = level_stats(data)
    halo = int(np.ceil(4 * DOG_RATIO * sigma.max()))
    window = 2 * np.maximum(1, np.round(0.5 * np.sqrt(3) * sigma)).astype(int)
    window += 1
    rows, plane = data.shape[0], int(np.prod(data.shape[1:]))
    per = max(1, BLOCK_VOXELS // plane - 2 * halo)  # six such arrays live
    near = np.round(at).astype(int)
    clicked = np.full(len(at), -np.inf)
    points, values = [], []
    for lo in range(0, rows, per):
        hi = min(rows, lo + per)
        a, b = max(0, lo - halo), min(rows, hi + halo)
        block = (np.asarray(data[a:b], np.float32) - centre) / spread
        dog = polarity * (
            ndimage.gaussian_filter(block, sigma)
            - ndimage.gaussian_filter(block, DOG_RATIO * sigma)
        )
        peak = (dog == ndimage.maximum_filter(dog, size=window)) & (dog > 0)
        peak[: lo - a] = False
        peak[hi - a :] = False
        found = np.argwhere(peak)
        values.append(dog[tuple(found.T)])
        points.append(found + (a, 0, 0))
        around = ndimage.maximum_filter(dog, size=3)
        mine = (near[:, 0] >= lo) & (near[:, 0] < hi)
        inside = np.clip(near[mine] - (a, 0, 0), 0, np.array(dog.shape) - 1)
        clicked[mine] = around[tuple(inside.T)]
    return np.concatenate(points), np.concatenate(values), clicked
