"""Whether anything in a tomogram stands out from its own noise.

A network shown pure noise still finds its most particle-like spots,
and per-tomogram normalisation makes any noise look like signal to it:
v1 returned 600 picks on a pure-noise tomogram. Those picks are not
brighter or darker than the noise around them, while a real particle
is, by many noise standard deviations: its density is summed over
hundreds of voxels. So each pick's contrast (the mean of a sphere of
0.8 class radii minus the mean of the shell from 1 to 1.5 radii) is
measured in units of the spread of the same contrast at random places
of the same tomogram, which calibrates it for that tomogram's noise,
filtering and voxel size. A tomogram where fewer than
:attr:`SignalCheck.count` picks reach :attr:`SignalCheck.z` holds
nothing a picker can find, and its picks are dropped.

On held-out phantoms (docs/benchmarks.md) the picks of a pure-noise
tomogram reach at most 3.3 SD; every phantom holding particles, at
noise up to 2x the CZII-like look, has 50 or more picks above 6 SD.
The check is per tomogram, not per pick: weak true particles (an
apo-ferritin shell in heavy noise) can sit at 1-2 SD and are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.coords import angstrom_xyz_to_voxel_zyx, level0_to_level

if TYPE_CHECKING:
    import pandas as pd

    from napari_cryopick.io.tomogram import Tomogram
    from napari_cryopick.model.grid import GridPlan, GridReader

log = logging.getLogger(__name__)

#: Sphere (core) and shell radii, in class radii.
CORE, SHELL_IN, SHELL_OUT = 0.8, 1.0, 1.5
#: Grid rows read at once when measuring a streamed (large) grid.
BLOCK_ROWS = 32


@dataclass(frozen=True)
class SignalCheck:
    """Settings of the signal check (``predict --no-signal-check``).

    Attributes
    ----------
    enabled : bool
        Drop the picks of a tomogram where nothing stands out.
    z : float
        Contrast, in standard deviations of the tomogram's own random
        places, at which a pick stands out.
    count : int
        Picks that must stand out for the tomogram's picks to be kept.
    samples : int
        Random places measuring the noise.
    seed : int
        Seed of those places (the check is deterministic).
    """

    enabled: bool = True
    z: float = 6.0
    count: int = 2
    samples: int = 500
    seed: int = 0


def nothing_stands_out(
    table: pd.DataFrame,
    reader: GridReader,
    tomogram: Tomogram,
    check: SignalCheck,
    radii: dict[str, float],
) -> bool:
    """Return whether fewer than ``check.count`` picks stand out.

    Parameters
    ----------
    table : DataFrame
        Picks of one tomogram (Å, the tomogram's own frame).
    reader : GridReader
        The tomogram on the model's grid (the network's input).
    tomogram : Tomogram
        The tomogram the picks refer to.
    check : SignalCheck
        Settings.
    radii : dict
        Class radius in Å by class name.

    Returns
    -------
    bool
        True when the picks should be dropped (a pure-noise tomogram).
    """
    if not check.enabled or table.empty:
        return False
    z = pick_contrast(table, reader, tomogram, radii, check)
    standing = int(np.sum(np.abs(z) >= check.z))
    if standing >= check.count:
        return False
    log.warning(
        "%s: nothing stands out from the tomogram's own noise (%d of %d "
        'picks reach %.3g SD, %d needed; the largest %.2g SD): its picks '
        'are dropped (--no-signal-check keeps them)',
        tomogram.run,
        standing,
        len(z),
        check.z,
        check.count,
        float(np.max(np.abs(z))),
    )
    return True


def pick_contrast(
    table: pd.DataFrame,
    reader: GridReader,
    tomogram: Tomogram,
    radii: dict[str, float],
    check: SignalCheck = SignalCheck(),  # noqa: B008 - frozen
) -> np.ndarray:
    """Return each pick's contrast in SD of the tomogram's random places.

    Parameters
    ----------
    table : DataFrame
        Picks of one tomogram.
    reader : GridReader
        The tomogram on the model's grid.
    tomogram : Tomogram
        The tomogram the picks refer to.
    radii : dict
        Class radius in Å by class name.
    check : SignalCheck
        Number and seed of the random places.

    Returns
    -------
    ndarray
        Signed contrast per pick (row order of ``table``); its sign is
        the density's polarity.
    """
    plan = reader.plan
    grid_voxel = float(np.mean(plan.voxel_size))
    level0 = angstrom_xyz_to_voxel_zyx(
        table[['x', 'y', 'z']].to_numpy(float), tomogram.scales[0]
    )
    centres = level0_to_level(level0, plan.factor)
    radius = (table['particle_type'].map(radii).to_numpy(float)) / grid_voxel
    sizes = np.unique(radius)
    rng = np.random.default_rng(check.seed)
    places = rng.uniform(0, 1, (check.samples, 3)) * np.subtract(plan.shape, 1)
    # Every radius at every random place: one calibration per class.
    all_centres = np.concatenate([centres, np.repeat(places, len(sizes), 0)])
    all_radii = np.concatenate([radius, np.tile(sizes, len(places))])
    measured = _contrast(reader, all_centres, all_radii, plan)
    picks = measured[: len(table), 0]
    noise = measured[len(table) :].reshape(len(places), len(sizes), 2)
    z = np.empty(len(table))
    for k, size in enumerate(sizes):
        centre, spread = _noise_spread(noise[:, k, 0], noise[:, k, 1])
        rows = radius == size
        z[rows] = (picks[rows] - centre) / max(spread, 1e-12)
    return z


def _noise_spread(
    contrast: np.ndarray, tilt: np.ndarray
) -> tuple[float, float]:
    """Return the centre and SD of the contrast of noise alone.

    Random places also fall on particles, membranes and the edges of a
    lamella (for a ribosome-sized shell in a 180-voxel-thick tomogram,
    half of them straddle an edge). Such places are lopsided: one half
    of their shell differs from the opposite half. In noise alone that
    difference is independent of the core-minus-shell contrast (the
    two weightings are orthogonal), so keeping the least lopsided half
    of the places removes most structure without biasing the SD; the
    median absolute deviation of those gives it.
    """
    keep = tilt <= np.median(tilt)
    values = contrast[keep] if keep.sum() >= 20 else contrast
    centre = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - centre)))
    return centre, max(spread, 1e-12)


def _contrast(reader, centres, radii, plan: GridPlan) -> np.ndarray:
    """Core-minus-shell mean at each centre, reading the grid by blocks."""
    out = np.full((len(centres), 2), np.nan)
    halo = int(np.ceil(SHELL_OUT * radii.max())) + 1 if len(radii) else 0
    rows = plan.shape[0]
    block = rows if not reader.large else BLOCK_ROWS
    along = np.clip(np.round(centres[:, 0]), 0, rows - 1)
    for lo in range(0, rows, block):
        hi = min(rows, lo + block)
        inside = np.flatnonzero((along >= lo) & (along < hi))
        if inside.size == 0:
            continue
        a, b = max(0, lo - halo), min(rows, hi + halo)
        data = reader.rows(a, b)
        for i in inside:
            out[i] = _one(data, centres[i] - (a, 0, 0), radii[i])
    return out


def _one(data: np.ndarray, centre: np.ndarray, radius: float):
    """Return (core - shell, largest difference of opposite shell halves)."""
    reach = int(np.ceil(SHELL_OUT * radius))
    lo = np.maximum(np.floor(centre).astype(int) - reach, 0)
    hi = np.minimum(np.floor(centre).astype(int) + reach + 2, data.shape)
    crop = data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    grid = np.ogrid[tuple(slice(0, n) for n in crop.shape)]
    offsets = [g + o - c for g, o, c in zip(grid, lo, centre, strict=True)]
    d = np.sqrt(sum(v**2 for v in offsets))
    core = d <= max(CORE * radius, 1.0)
    shell = (d >= SHELL_IN * radius) & (d <= SHELL_OUT * radius)
    if not core.any() or not shell.any():
        return 0.0, np.inf
    tilt = 0.0
    for v in offsets:
        upper, lower = shell & (v > 0), shell & (v < 0)
        if upper.any() and lower.any():
            tilt = max(tilt, abs(crop[upper].mean() - crop[lower].mean()))
    return float(crop[core].mean() - crop[shell].mean()), tilt
