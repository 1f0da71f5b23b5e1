"""Resampling one axis by a real factor: the matrices the model's grid uses.

:mod:`napari_cryopick.model.grid` applies them slab by slab; why this
kernel (a matched Gaussian, then cubic convolution) is in
:func:`resample_matrix`.
"""

from __future__ import annotations

import math

import numpy as np


def resample_matrix(n_in: int, step: float, n_out: int):
    """Return the (n_out, n_in) sparse matrix that resamples one axis.

    Row ``i`` evaluates the input at index ``i * step + (step - 1) / 2``
    (clamped to the input) by cubic convolution (Keys, a = -0.5: sharper
    than linear interpolation, which blurs an enlarged tomogram enough
    to cost F4), after a Gaussian low-pass of standard deviation
    ``sqrt(step**2 - 1) / sqrt(12)`` input voxels when shrinking
    (``step > 1``): the spread a box of ``step`` voxels adds to a
    voxel's own, so a grid voxel sums about the input it covers, as a
    block mean does, without a box's ringing. Rows sum to 1; at the
    edges the low-pass is renormalised over the voxels that exist and
    the interpolation repeats the edge voxel.

    Parameters
    ----------
    n_in : int
        Input length.
    step : float
        Output voxel size over input voxel size.
    n_out : int
        Output length.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 weights.
    """
    from scipy import sparse

    centres = np.arange(n_out) * step + (step - 1) / 2
    centres = np.clip(centres, 0, n_in - 1)
    low = np.floor(centres).astype(int)
    taps = np.arange(-1, 3)  # four neighbours: low - 1 .. low + 2
    cols = np.clip(low[:, None] + taps[None, :], 0, n_in - 1)
    vals = _keys_cubic((centres - low)[:, None] - taps[None, :])
    rows = np.repeat(np.arange(n_out), len(taps))
    interp = sparse.csr_matrix(
        (vals.ravel(), (rows, cols.ravel())), shape=(n_out, n_in)
    )
    sigma = lowpass_sigma(step)
    if sigma > 0:
        interp = interp @ _gaussian_matrix(n_in, sigma)
    interp.sum_duplicates()
    interp.eliminate_zeros()
    return interp.astype(np.float32).tocsr()


def lowpass_sigma(step: float) -> float:
    """Return the low-pass sigma (input voxels) for ``step``; 0: none."""
    sigma = math.sqrt(max(step * step - 1, 0.0) / 12)
    return sigma if sigma > 0.05 else 0.0


def _keys_cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5): exact on quadratics."""
    t = np.abs(t)
    near = 1.5 * t**3 - 2.5 * t**2 + 1
    far = -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _gaussian_matrix(n: int, sigma: float):
    from scipy import sparse

    reach = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-reach, reach + 1)
    taps = np.exp(-(offsets**2) / (2 * sigma**2))
    rows = np.repeat(np.arange(n), len(offsets))
    cols = (np.arange(n)[:, None] + offsets[None, :]).ravel()
    vals = np.tile(taps, n)
    inside = (cols >= 0) & (cols < n)
    matrix = sparse.csr_matrix(
        (vals[inside], (rows[inside], cols[inside])), shape=(n, n)
    )
    norm = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.diags(1 / norm) @ matrix
