"""Named kinds of phantom: what ``cryopick simulate --look NAME`` makes.

Each name gives the scene (crowding, membranes, filaments, what is
picked) and the look (noise, CTF correction, display) of one kind of
tomogram users have. ``czii`` and ``random`` are the model-v1 phantoms;
the others add what real cells hold and v1 never saw.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.simulate.params import PhantomLook, PhantomParams

if TYPE_CHECKING:
    import numpy as np

#: Every name ``--look`` accepts, with a one-line description.
LOOKS = {
    'czii': 'dark proteins at ~1e-5 like the CZII denoised data (v1 look)',
    'random': 'a new contrast, scale, noise and wedge per run (v1 look)',
    'crowded': 'CZII-like look in a crowd of unlabelled proteins (15 % '
    'by volume), vesicles with a lumen, filaments, uneven ice',
    'noisy': 'the CZII-like look at three times its noise',
    'wbp': 'raw weighted back-projection: CTF left phase-flipped, '
    'mostly white noise, a crowd of unlabelled proteins',
    'cellular': 'a crowded cell section: 20 % unlabelled proteins, '
    'membranes, filaments, raw-ish noisy look, 8-bit quantised',
    'empty': 'no particle to pick: ice, albumin, unlabelled proteins, '
    'membranes',
    'noise': 'pure noise, nothing in it at all',
    'mixed': 'a random draw over all of the above (model-v2 training)',
}

_NO_TARGETS = {c.name: 0 for c in CZII_CLASSES}


def look_params(
    name: str,
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    voxel_size: float,
) -> PhantomParams:
    """Return the phantom parameters of the named kind.

    Parameters
    ----------
    name : str
        One of :data:`LOOKS`.
    rng : Generator
        Random source (``random`` and ``mixed`` draw from it).
    shape : tuple of int
        (z, y, x) voxels.
    voxel_size : float
        Å per voxel.

    Returns
    -------
    PhantomParams
        What to simulate.

    Raises
    ------
    KeyError
        If the name is not one of :data:`LOOKS`.
    """
    base = PhantomParams(shape=tuple(shape), voxel_size=voxel_size)
    if name == 'mixed':
        name = str(rng.choice(_MIXED, p=_MIXED_P))
        if name == 'random':
            return _random_v2(base, rng)
        if name == 'noise':
            # Noise of any colour, as reconstructions and denoisers make.
            look = PhantomLook.random(rng, noise=(1.0, 1.0))
            return replace(_noise(base), look=look)
    if name not in LOOKS:
        raise KeyError(name)
    if name == 'random':
        return replace(base, look=PhantomLook.random(rng))
    return _NAMED[name](base)


def _crowded(base: PhantomParams) -> PhantomParams:
    return replace(
        base,
        crowding=0.15,
        membranes=2,
        filaments=2,
        lumen=0.25,
        look=PhantomLook(noise=0.5, gradient=0.5),
    )


def _noisy(base: PhantomParams) -> PhantomParams:
    return replace(base, look=PhantomLook(noise=1.05))


def _wbp(base: PhantomParams) -> PhantomParams:
    look = PhantomLook(
        noise=1.0,
        noise_white=0.8,
        deconvolution=0.0,
        resolution=25.0,
        gradient=0.5,
        polarity=-1.0,
        scale=30.0,
    )
    return replace(base, crowding=0.1, membranes=1, lumen=0.2, look=look)


def _cellular(base: PhantomParams) -> PhantomParams:
    look = PhantomLook(
        noise=0.9,
        noise_white=0.4,
        deconvolution=0.4,
        resolution=30.0,
        gradient=1.0,
        bits=8,
        scale=40.0,
        offset=128.0,
    )
    return replace(
        base,
        crowding=0.2,
        membranes=3,
        filaments=4,
        lumen=0.3,
        carbon_edge=0.0,
        look=look,
    )


def _empty(base: PhantomParams) -> PhantomParams:
    crowded = _crowded(base)
    return replace(crowded, counts=dict(_NO_TARGETS), albumin=None)


def _noise(base: PhantomParams) -> PhantomParams:
    return replace(
        base,
        counts=dict(_NO_TARGETS),
        albumin=0,
        membranes=0,
        gold_beads=0,
        carbon_edge=0.0,
        clutter=0.0,
        look=PhantomLook(noise=1.0, noise_white=1.0),
    )


def _random_v2(base: PhantomParams, rng: np.random.Generator) -> PhantomParams:
    """Draw a look over the v2 range: crowds, membranes, raw, 8-bit."""
    look = PhantomLook.random(rng, noise=(0.1, 2.0))
    look = replace(
        look,
        gradient=float(rng.uniform(0.0, 1.0)),
        bits=8 if rng.uniform() < 0.3 else 0,
    )
    return replace(
        base,
        crowding=float(rng.uniform(0.0, 0.22)),
        membranes=int(rng.poisson(1.5)),
        filaments=int(rng.poisson(1.0)),
        lumen=float(rng.uniform(0.0, 0.3)),
        look=look,
    )


_NAMED = {
    'czii': lambda base: base,
    'crowded': _crowded,
    'noisy': _noisy,
    'wbp': _wbp,
    'cellular': _cellular,
    'empty': _empty,
    'noise': _noise,
}
#: What ``mixed`` draws, and how often: mostly random v2 looks, with
#: particle-free and noise-only tomograms as negatives.
_MIXED = ('random', 'czii', 'crowded', 'cellular', 'wbp', 'empty', 'noise')
_MIXED_P = (0.45, 0.1, 0.15, 0.1, 0.05, 0.1, 0.05)
