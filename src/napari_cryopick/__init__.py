"""napari-cryopick: particle picking for cryo-electron tomograms.

The core (everything outside ``_qt``) imports without Qt, torch or monai.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version('napari-cryopick')
except PackageNotFoundError:  # running from a source tree
    __version__ = '0.0.0+unknown'

from napari_cryopick.classes import (
    CZII_CLASSES,
    ParticleClass,
    classes_from_copick_config,
)
from napari_cryopick.errors import CryopickError
from napari_cryopick.picks import empty_picks, make_picks

__all__ = [
    'CZII_CLASSES',
    'CryopickError',
    'ParticleClass',
    '__version__',
    'classes_from_copick_config',
    'empty_picks',
    'make_picks',
]
