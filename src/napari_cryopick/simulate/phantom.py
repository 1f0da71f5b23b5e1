"""Phantom tomograms of the CZII particles, with their ground truth.

A scene is built in density units (protein ~1): the carbon film, the
membranes and gold beads, then the particles (largest first) and albumin,
all at random uniform orientations and without overlap, then the small
lysate proteins in the gaps. :func:`image_volume` turns it into a
tomogram. The picks are the particles' density centres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.coords import (
    angstrom_xyz_to_voxel_zyx,
    voxel_zyx_to_angstrom_xyz,
)
from napari_cryopick.errors import CryopickError
from napari_cryopick.picks import concat, empty_picks, make_picks, positions
from napari_cryopick.simulate import crowding, distractors, membranes
from napari_cryopick.simulate.imaging import image_volume
from napari_cryopick.simulate.params import (
    Phantom,
    PhantomLook,
    PhantomParams,
    resolve_counts,
    resolve_extras,
)
from napari_cryopick.simulate.placement import Occupancy, place_spheres
from napari_cryopick.simulate.render import add_template
from napari_cryopick.simulate.templates import load_template

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from napari_cryopick.simulate.templates import Template

__all__ = ['Phantom', 'PhantomLook', 'PhantomParams', 'simulate_tomogram']

#: Free space kept around every particle, Å: real particles touch rarely.
PARTICLE_MARGIN = 10.0
_PROVENANCE = {'origin': 'reference', 'user_id': 'curation', 'session_id': '0'}


@dataclass
class _Scene:
    """A density map being built, and what it holds."""

    params: PhantomParams
    run: str
    rng: np.random.Generator
    low: np.ndarray
    high: np.ndarray
    density: np.ndarray = field(init=False)
    occupancy: Occupancy = field(default_factory=Occupancy)

    def __post_init__(self):
        self.density = np.zeros(self.params.shape, dtype=np.float32)

    def table(self, names, centres, rotations=None) -> pd.DataFrame:
        transforms = np.tile(np.eye(4), (len(names), 1, 1))
        if rotations is not None:
            transforms[:, :3, :3] = rotations
        xyz = voxel_zyx_to_angstrom_xyz(centres, self.params.voxel_size)
        return make_picks(
            self.run,
            list(names),
            xyz,
            transformation=transforms,
            **_PROVENANCE,
        )


def simulate_tomogram(
    params: PhantomParams,
    seed: int | np.random.Generator,
    run: str = 'TS_0',
    novel: Mapping[str, tuple[Template, int]] | None = None,
) -> Phantom:
    """Simulate a tomogram of CZII particles and its ground-truth picks.

    Parameters
    ----------
    params : PhantomParams
        Shape, voxel size, contents and look.
    seed : int or Generator
        Random seed (the same seed gives the same phantom) or source.
    run : str
        Run name written into the picks.
    novel : mapping of str to (Template, int), optional
        Particles of classes the simulator does not ship, by class name:
        a density template and a count; placed with the CZII particles
        and picked under that name (proteins a model never saw).

    Returns
    -------
    Phantom
        The float32 (z, y, x) tomogram, the Picks table of its CZII
        particles (density centres, in Å, with their rotations) and of its
        distractors (albumin, gold).

    Raises
    ------
    CryopickError
        If the parameters are invalid or the particles do not fit.
    """
    _check(params)
    rng = np.random.default_rng(seed)
    counts = resolve_counts(params, rng)
    extras = resolve_extras(params, rng)
    scene = _Scene(params, run, rng, *_slab_bounds(params))
    _add_carbon(scene, extras['carbon'])
    _add_membranes(scene, extras['membranes'])
    _add_filaments(scene, params.filaments)
    gold = _add_gold(scene, extras['gold_beads'])
    picks = _add_particles(scene, counts)
    if novel:
        templates = {name: template for name, (template, _) in novel.items()}
        numbers = {name: count for name, (_, count) in novel.items()}
        found = _add_particles(scene, numbers, templates)
        picks = concat([picks, found])
    albumin = _add_particles(scene, {'albumin': extras['albumin']})
    crowd = crowding.render_crowd(
        scene.density,
        params.crowding,
        scene.low,
        scene.high,
        scene.occupancy,
        rng,
        params.voxel_size,
    )
    clutter = params.clutter * distractors.CLUTTER_PER_TOMOGRAM
    distractors.render_clutter(
        scene.density,
        int(rng.poisson(clutter * params.volume_fraction())),
        scene.low,
        scene.high,
        scene.occupancy,
        rng,
    )
    centres = angstrom_xyz_to_voxel_zyx(positions(picks), params.voxel_size)
    volume = image_volume(
        scene.density, params.look, params.voxel_size, rng, centres
    )
    return Phantom(
        volume=volume,
        picks=picks,
        voxel_size=params.voxel_size,
        look=params.look,
        distractors=concat(
            [
                albumin,
                gold,
                scene.table(['pseudo-protein'] * len(crowd), crowd),
            ]
        ),
    )


def _check(params: PhantomParams) -> None:
    shape = tuple(params.shape)
    if len(shape) != 3 or min(shape) < 8:
        raise CryopickError(f'phantom shape must be 3 sizes >= 8: {shape}')
    if not params.voxel_size > 0:
        raise CryopickError(f'voxel size must be > 0: {params.voxel_size}')
    low, high = params.slab
    if not 0.0 <= low < high <= 1.0:
        raise CryopickError(
            f'slab must be 0 <= bottom < top <= 1: {low, high}'
        )


def _slab_bounds(params: PhantomParams) -> tuple[np.ndarray, np.ndarray]:
    nz, ny, nx = params.shape
    bottom, top = (np.array(params.slab) * nz).clip(0, nz - 1)
    return np.array([bottom, 0.0, 0.0]), np.array([top, ny - 1.0, nx - 1.0])


def _add_carbon(scene: _Scene, present: int) -> None:
    if not present:
        return
    carbon = distractors.draw_carbon(
        scene.rng, scene.params.shape, scene.low, scene.high
    )
    scene.occupancy.carbon = carbon
    distractors.render_carbon(scene.density, carbon, scene.rng)


def _add_membranes(scene: _Scene, count: int) -> None:
    size = scene.params.voxel_size
    for _ in range(count):
        cap = membranes.draw_cap(scene.rng, scene.low, scene.high, size)
        scene.occupancy.caps.append(cap)
        membranes.render_cap(scene.density, cap, size)
        if scene.params.lumen > 0:
            membranes.render_lumen(scene.density, cap, scene.params.lumen)


def _add_filaments(scene: _Scene, count: int) -> None:
    size = scene.params.voxel_size
    for i in range(count):
        kind = 'actin' if (i + scene.rng.integers(2)) % 2 else 'microtubule'
        filament = crowding.draw_filament(
            scene.rng, scene.low, scene.high, size, kind
        )
        radius = crowding.filament_radius(kind, size)
        # Particles keep clear of the filament: its axis, sampled about
        # every radius, joins the occupied spheres.
        every = max(1, int(radius))
        scene.occupancy.add_many(filament.points[::every], radius)
        crowding.render_filament(scene.density, filament, size)


def _add_gold(scene: _Scene, count: int) -> pd.DataFrame:
    centres = np.empty((count, 3))
    for i in range(count):
        radius = distractors.gold_radius(scene.rng, scene.params.voxel_size)
        centres[i] = distractors.gold_centre(
            scene.rng, scene.low, scene.high, radius
        )
        scene.occupancy.add(centres[i], radius)
        distractors.render_gold(scene.density, centres[i], radius)
    return scene.table(['gold-bead'] * count, centres)


def _add_particles(
    scene: _Scene, counts: dict[str, int], templates=None
) -> pd.DataFrame:
    size = scene.params.voxel_size
    names = [n for n in _ordered(counts) for _ in range(counts[n])]
    if not names:
        return empty_picks()

    def template(name: str) -> Template:
        if templates and name in templates:
            return templates[name]
        return load_template(name, size)

    radii = np.array(
        [(template(n).radius + PARTICLE_MARGIN) / size for n in names]
    )
    order = np.argsort(-radii, kind='stable')
    centres = np.empty((len(names), 3))
    centres[order] = place_spheres(
        radii[order], scene.low, scene.high, scene.occupancy, scene.rng
    )
    rotations = Rotation.random(len(names), scene.rng).as_matrix()
    for name, centre, rotation in zip(names, centres, rotations, strict=True):
        add_template(scene.density, template(name), centre, rotation, size)
    return scene.table(names, centres, rotations)


def _ordered(counts: dict[str, int]) -> list[str]:
    known = [c.name for c in CZII_CLASSES]
    return sorted(counts, key=lambda n: known.index(n) if n in known else 99)
