"""How far one rotational profile lies from another.

The arithmetic of :mod:`napari_cryopick.model.likeness`: the RMS
difference of two profiles, after one is scaled to fit the other within
a bound (a tomogram's contrast sets a profile's height).
"""

from __future__ import annotations

import numpy as np


def profile_distance(
    a: np.ndarray, b: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Return the RMS difference of profiles ``a`` and ``b`` (last axis).

    ``b`` is first multiplied by the factor that fits it to ``a`` best
    (least squares), kept within ``1 / scale`` to ``scale``: with
    ``scale`` 1, the plain RMS difference. ``a`` and ``b`` broadcast;
    only the result's shape is ever held in memory (thousands of picks
    against dozens of clicks).
    """
    return fitted(a, b, scale)[1]


def fitted(
    a: np.ndarray, b: np.ndarray, scale: float = 1.0
) -> tuple[np.ndarray | float, np.ndarray]:
    """Return the factor that fits ``b`` to ``a``, and the distance after.

    The factor :func:`profile_distance` multiplies ``b`` by (1.0 at
    ``scale`` 1), and that distance; both in ``a`` and ``b``'s
    broadcast shape less the last axis.
    """
    aa = np.einsum('...s,...s->...', a, a)
    ab = np.einsum('...s,...s->...', a, b)
    bb = np.einsum('...s,...s->...', b, b)
    fit = 1.0
    if scale != 1.0:
        fit = np.clip(ab / np.maximum(bb, 1e-12), 1.0 / scale, scale)
    square = aa - 2.0 * fit * ab + fit**2 * bb
    return fit, np.sqrt(np.maximum(square, 0.0) / a.shape[-1])


def nearest_other(profiles: np.ndarray) -> np.ndarray:
    """Each profile's distance to its nearest other one."""
    distance = profile_distance(profiles[:, None], profiles[None])
    np.fill_diagonal(distance, np.inf)
    return distance.min(axis=1)
