"""Sample data: a small phantom tomogram and its ground truth.

Simulated on the spot (about a second, no download): a 64 x 256 x 256
CZII-like phantom at 10.012 Å per voxel, as a two-level multiscale Image
layer, plus one reference Points layer per class.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da

from napari_cryopick.io.tomogram import Tomogram, pyramid
from napari_cryopick.layers import picks_to_layer_data
from napari_cryopick.session_io import tomogram_layer_data

SAMPLE_SHAPE = (64, 256, 256)
SAMPLE_RUN = 'TS_sample'
SAMPLE_SEED = 7
#: Denser than a CZII run of this size, so every class has a few.
SAMPLE_COUNTS = {
    'apo-ferritin': 14,
    'beta-amylase': 4,
    'beta-galactosidase': 6,
    'ribosome': 8,
    'thyroglobulin': 8,
    'virus-like-particle': 2,
}


def make_phantom_tomogram() -> list[tuple]:
    """Return the phantom tomogram and its reference picks as layers.

    Returns
    -------
    list of tuple
        An Image layer-data tuple (scale in Å) followed by one Points
        layer per class named ``'<class> (reference)'``.
    """
    from napari_cryopick.simulate import PhantomParams, simulate_tomogram

    phantom = simulate_tomogram(
        PhantomParams(shape=SAMPLE_SHAPE, counts=SAMPLE_COUNTS),
        seed=SAMPLE_SEED,
    )
    levels = pyramid(phantom.volume, 2)
    tomogram = Tomogram(
        tuple(da.from_array(level) for level in levels),
        tuple((phantom.voxel_size * 2**i,) * 3 for i in range(2)),
        SAMPLE_RUN,
        Path(SAMPLE_RUN),
    )
    image = tomogram_layer_data(tomogram)
    picks = phantom.picks.assign(run=SAMPLE_RUN, origin='reference')
    points = picks_to_layer_data(
        picks, phantom.voxel_size, name_suffix=' (reference)'
    )
    for _, kwargs, _ in points:
        kwargs['opacity'] = 0.6
    return [image, *points]
