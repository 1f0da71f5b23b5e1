"""What decides the bundled model's recipe: the :class:`Recipe` and its grid.

:mod:`napari_cryopick.model.recipe` trains by it; the phantoms
(:mod:`~napari_cryopick.model.recipe_phantoms`) and the validation
(:mod:`~napari_cryopick.model.recipe_validation`) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from napari_cryopick.model.augment import AugmentConfig
from napari_cryopick.model.config import NetworkConfig
from napari_cryopick.model.train import TrainConfig

#: The model's grid: the CZII level 1 (binned 2x2x2).
FACTOR = 2
#: Target sphere radius over class radius.
FRACTION = 0.5
#: The held-out looks validation is scored on (each its own seeds).
VALIDATION_LOOKS = ('czii', 'random', 'crowded', 'noisy', 'cellular')
#: Particle-free validation volumes whose picks the thresholds bound.
EMPTY_LOOKS = ('empty', 'noise')


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what :func:`train_recipe` makes.

    Parameters
    ----------
    name : str
        Checkpoint and card name (``<name>.safetensors``).
    train : int
        Training phantoms.
    look : str
        Kind of training phantom (:data:`~napari_cryopick.simulate.looks.
        LOOKS`); ``mixed`` draws over crowded, raw, noisy, empty and
        noise-only tomograms.
    shape : tuple of int
        Phantom shape (z, y, x) at 10 Å.
    validation_runs : int
        Phantoms per validation look (and per empty look).
    val_every : int
        Steps between validations (and saved states).
    empty_picks : float
        Most picks per class per particle-free validation volume the
        thresholds may leave (they are raised until it holds).
    tolerance : float
        F4 a lower threshold may give up to be preferred.
    seed : int
        Seed of the phantoms, the sampling and the initial weights.
    network : NetworkConfig
        Architecture.
    train_config : TrainConfig
        Loop settings.
    init : str or None
        Checkpoint whose weights to start from (same network).
    """

    name: str = 'cryopick-czii-v2'
    train: int = 32
    look: str = 'mixed'
    shape: tuple[int, int, int] = (184, 384, 384)
    validation_runs: int = 2
    val_every: int = 300
    empty_picks: float = 0.5
    tolerance: float = 0.01
    seed: int = 11
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train_config: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=2000,
            lr=1e-3,
            pick_fraction=0.6,
            negative_fraction=0.25,
            seed=11,
            augment=AugmentConfig(),
        )
    )
    init: str | None = None
