"""Parameters and result of the phantom simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.classes import CZII_CLASSES, CZII_VOXEL_SIZE
from napari_cryopick.errors import CryopickError

if TYPE_CHECKING:
    import pandas as pd

#: Shape (z, y, x) and voxel size (Å) of the CZII challenge tomograms.
CZII_SHAPE = (184, 630, 630)

#: Ground-truth counts of the 7 CZII training runs, in the order of
#: :data:`~napari_cryopick.classes.CZII_CLASSES` (apo-ferritin,
#: beta-amylase, beta-galactosidase, ribosome, thyroglobulin, VLP).
CZII_RUN_COUNTS = {
    'TS_5_4': (46, 10, 12, 31, 30, 11),
    'TS_69_2': (35, 12, 16, 37, 34, 9),
    'TS_6_4': (58, 9, 12, 74, 30, 10),
    'TS_6_6': (41, 14, 11, 23, 35, 19),
    'TS_73_6': (95, 12, 14, 46, 28, 22),
    'TS_86_3': (64, 9, 23, 55, 45, 29),
    'TS_99_9': (36, 21, 24, 65, 49, 13),
}

#: Real picks lie at z in [39, 1549] Å of the 1842 Å tall CZII tomograms:
#: the sample (ice) slab, as fractions of the height.
CZII_SLAB = (39.0 / 1842.0, 1549.0 / 1842.0)

#: Mean distractor counts of a full CZII-sized tomogram (scaled by the
#: imaged volume for other sizes). Guesses from the 10440 sample recipe.
_ALBUMIN_PER_TOMOGRAM = 60.0
_MEMBRANES_PER_TOMOGRAM = 1.0
_GOLD_PER_TOMOGRAM = 4.0


@dataclass
class PhantomLook:
    """How a phantom tomogram looks; every field can be randomised.

    Parameters
    ----------
    polarity : float
        -1: protein dark, as in raw and denoised cryo-ET; +1: bright.
    scale : float
        Standard deviation of the output (CZII denoised maps: ~1e-5).
    offset : float
        Added last (the output mean).
    noise : float
        Noise standard deviation relative to the particle signal (the
        RMS of the noise-free tomogram near particle centres).
    noise_white : float
        Share (0-1) of the noise variance that is white; the rest has the
        spectrum of the ``resolution`` low-pass, like denoised maps.
    wedge : float
        Largest tilt angle in degrees: data exist for tilts in
        [-wedge, +wedge]; 90 or more means no missing wedge.
    tilt_axis : float
        Tilt-axis angle in the x-y plane, degrees from the x axis
        (CZII 10440: -96, close to the y axis).
    resolution : float
        Å at which the Gaussian low-pass halves amplitudes; 0: none.
    defocus : float
        Defocus in µm for a phase-flipped CTF at 300 kV; 0: no CTF.
    deconvolution : float
        How far the CTF was corrected, 0-1: 0 leaves the phase-flipped
        CTF (plain WBP, low frequencies damped), 1 flattens it (CTF-
        deconvolved and denoised maps, such as the CZII ``denoised``).
    gradient : float
        Amplitude of a slow background variation (uneven ice thickness
        and illumination) relative to the particle signal; 0: none.
    bits : int
        Quantise the output to ``2**bits`` grey levels over its 0.1-99.9
        percentile range (8: the byte tomograms IMOD writes); 0: float.
    """

    polarity: float = -1.0
    scale: float = 1e-5
    offset: float = 0.0
    noise: float = 0.35
    noise_white: float = 0.05
    wedge: float = 60.0
    tilt_axis: float = -96.0
    resolution: float = 35.0
    defocus: float = 3.0
    deconvolution: float = 0.9
    gradient: float = 0.0
    bits: int = 0

    @classmethod
    def random(
        cls,
        rng: np.random.Generator | int | None,
        noise: tuple[float, float] = (0.1, 1.2),
    ) -> PhantomLook:
        """Draw a look from broad ranges, for training and checks.

        Parameters
        ----------
        rng : Generator, int or None
            Random source or seed.
        noise : tuple of float
            Range of the noise level, drawn log-uniform.

        Returns
        -------
        PhantomLook
            Polarity +-1, scale log-uniform in [1e-5, 300], offset up to
            ten scales, noise log-uniform in ``noise`` (default look:
            0.35), wedge
            45-70 degrees, any tilt axis, resolution 20-60 Å, defocus
            1.5-6 µm, deconvolution 0.3-1.
        """
        rng = np.random.default_rng(rng)
        scale = float(np.exp(rng.uniform(np.log(1e-5), np.log(300.0))))
        return cls(
            polarity=float(rng.choice((-1.0, 1.0))),
            scale=scale,
            offset=float(rng.uniform(-10.0, 10.0) * scale),
            noise=float(np.exp(rng.uniform(*np.log(noise)))),
            noise_white=float(rng.uniform(0.0, 0.5)),
            wedge=float(rng.uniform(45.0, 70.0)),
            tilt_axis=float(rng.uniform(-180.0, 180.0)),
            resolution=float(rng.uniform(20.0, 60.0)),
            defocus=float(rng.uniform(1.5, 6.0)),
            deconvolution=float(rng.uniform(0.3, 1.0)),
        )


@dataclass
class PhantomParams:
    """What a phantom tomogram holds.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) voxels.
    voxel_size : float
        Å per voxel.
    counts : dict, optional
        Particles per CZII class. Default: the counts of a random real
        CZII run, scaled by the imaged volume, each Poisson-drawn.
    albumin : int, optional
        Albumin (HSA) particles, a protein that is not picked.
        Default: Poisson, 60 per CZII-sized tomogram.
    membranes : int, optional
        Lipid bilayers: vesicles and curved sheets. Default: Poisson,
        1 per CZII-sized tomogram.
    gold_beads : int, optional
        Gold fiducials (~100 Å) on the ice surfaces. Default: Poisson,
        4 per CZII-sized tomogram.
    carbon_edge : bool or float
        Draw a carbon-film edge on one side: True, False, or the chance.
    clutter : float
        Density of small unnamed lysate proteins, 1 as in the CZII
        lysate; 0 for none.
    crowding : float
        Volume fraction of the slab filled with unlabelled
        pseudo-proteins of 40-300 Å (cytoplasm: 0.1-0.2); 0 for none.
    filaments : int
        Actin filaments and microtubules (half each, on average).
    lumen : float
        Density inside vesicles (cytosol or cargo), protein units.
    slab : tuple of float
        Bottom and top of the sample slab, as fractions of the height;
        particle centres lie inside it.
    look : PhantomLook
        Imaging and display of the tomogram.
    """

    shape: tuple[int, int, int] = CZII_SHAPE
    voxel_size: float = CZII_VOXEL_SIZE
    counts: dict[str, int] | None = None
    albumin: int | None = None
    membranes: int | None = None
    gold_beads: int | None = None
    carbon_edge: bool | float = 0.3
    clutter: float = 1.0
    crowding: float = 0.0
    filaments: int = 0
    lumen: float = 0.0
    slab: tuple[float, float] = CZII_SLAB
    look: PhantomLook = field(default_factory=PhantomLook)

    def volume_fraction(self) -> float:
        """Imaged volume relative to a CZII tomogram."""
        size = np.prod(self.shape) * self.voxel_size**3
        return float(size / (np.prod(CZII_SHAPE) * CZII_VOXEL_SIZE**3))


@dataclass
class Phantom:
    """A simulated tomogram and its ground truth.

    Parameters
    ----------
    volume : ndarray
        float32 (z, y, x) tomogram.
    picks : DataFrame
        Picks table of the CZII-class particles: their density centres,
        origin ``reference``, rotation in ``transformation``.
    voxel_size : float
        Å per voxel.
    look : PhantomLook
        The look it was rendered with.
    distractors : DataFrame
        Picks table of albumin particles and gold beads (not to be
        picked; hard negatives for training).
    """

    volume: np.ndarray
    picks: pd.DataFrame
    voxel_size: float
    look: PhantomLook
    distractors: pd.DataFrame | None = None


def resolve_counts(
    params: PhantomParams, rng: np.random.Generator
) -> dict[str, int]:
    """Return the particle count of every requested class.

    Parameters
    ----------
    params : PhantomParams
        ``counts`` as given, or ``None`` to draw around a real run.
    rng : Generator
        Random source.

    Returns
    -------
    dict
        ``{class name: count}``, classes with zero left out.

    Raises
    ------
    CryopickError
        If a class is unknown or a count negative.
    """
    names = [c.name for c in CZII_CLASSES]
    if params.counts is None:
        run = rng.choice(sorted(CZII_RUN_COUNTS))
        means = np.array(CZII_RUN_COUNTS[run]) * params.volume_fraction()
        counts = dict(zip(names, rng.poisson(means).tolist(), strict=True))
    else:
        counts = dict(params.counts)
    for name, count in counts.items():
        if name not in names:
            raise CryopickError(f'unknown particle class {name!r}')
        if int(count) != count or count < 0:
            raise CryopickError(f'bad count {count!r} for {name!r}')
    return {name: int(n) for name, n in counts.items() if n > 0}


def resolve_extras(
    params: PhantomParams, rng: np.random.Generator
) -> dict[str, int]:
    """Return the distractor counts: albumin, membranes, gold, carbon.

    ``None`` fields are Poisson-drawn around their per-volume default;
    ``carbon`` is 0 or 1.
    """
    frac = params.volume_fraction()
    defaults = {
        'albumin': (params.albumin, _ALBUMIN_PER_TOMOGRAM),
        'membranes': (params.membranes, _MEMBRANES_PER_TOMOGRAM),
        'gold_beads': (params.gold_beads, _GOLD_PER_TOMOGRAM),
    }
    out = {}
    for name, (given, mean) in defaults.items():
        out[name] = int(rng.poisson(mean * frac) if given is None else given)
        if out[name] < 0:
            raise CryopickError(f'{name} must not be negative')
    chance = float(params.carbon_edge)
    out['carbon'] = int(rng.uniform() < chance)
    return out
