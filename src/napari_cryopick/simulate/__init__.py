"""Phantom cryo-ET tomograms of the CZII particles, with ground truth.

>>> from napari_cryopick.simulate import PhantomParams, simulate_tomogram
>>> phantom = simulate_tomogram(PhantomParams(shape=(64, 128, 128)), seed=0)
>>> phantom.volume.shape
(64, 128, 128)
"""

from napari_cryopick.simulate.params import (
    CZII_RUN_COUNTS,
    CZII_SHAPE,
    CZII_VOXEL_SIZE,
    Phantom,
    PhantomLook,
    PhantomParams,
)
from napari_cryopick.simulate.phantom import simulate_tomogram
from napari_cryopick.simulate.templates import (
    TEMPLATE_FILES,
    Template,
    load_template,
    template_names,
)

__all__ = [
    'CZII_RUN_COUNTS',
    'CZII_SHAPE',
    'CZII_VOXEL_SIZE',
    'TEMPLATE_FILES',
    'Phantom',
    'PhantomLook',
    'PhantomParams',
    'Template',
    'load_template',
    'simulate_tomogram',
    'template_names',
]
