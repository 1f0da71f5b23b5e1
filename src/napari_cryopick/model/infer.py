"""Sliding-window inference with Gaussian blending, TTA and ensembles.

The volume is cut into overlapping tiles; each tile's softmax is
weighted by a Gaussian that falls towards the tile edges (where the
network sees least context) and accumulated. Only the foreground class
channels are kept, in float32: 6 x 9.1 M voxels is 220 MB for a full
CZII tomogram at 20 Å.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

TTA_VIEWS = ((), ('flip_x',), ('flip_y',), ('rot90',))


@dataclass(frozen=True)
class InferenceSettings:
    """How to run the network over a tomogram.

    Parameters
    ----------
    patch : tuple of int
        Tile shape (z, y, x) on the model's grid; rounded up to the
        network's stride multiple.
    overlap : float
        Fraction of a tile shared with its neighbour.
    tta : bool
        Average over flips and a 90° turn (4 views, 4x the time).
    threads : int
        torch CPU threads (0: torch's default).
    """

    patch: tuple[int, int, int] = (96, 128, 128)
    overlap: float = 0.25
    tta: bool = False
    threads: int = 0


def tile_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Return tile start indices covering ``size`` with ``overlap``.

    Parameters
    ----------
    size : int
        Axis length.
    patch : int
        Tile length along the axis.
    overlap : float
        Fraction of overlap between neighbours.

    Returns
    -------
    list of int
        Starts; the last tile ends exactly at ``size`` (or the only tile
        starts at 0 when ``patch >= size``).
    """
    if patch >= size:
        return [0]
    step = max(1, int(patch * (1 - overlap)))
    starts = list(range(0, size - patch, step))
    return [*starts, size - patch]


def gaussian_weight(shape, sigma_fraction: float = 0.125) -> np.ndarray:
    """Return a Gaussian blending weight map, 1 at the centre."""
    axes = []
    for n in shape:
        x = np.arange(n) - (n - 1) / 2
        sigma = max(n * sigma_fraction, 1e-3)
        axes.append(np.exp(-(x**2) / (2 * sigma**2)))
    weight = axes[0][:, None, None] * axes[1][None, :, None]
    weight = weight * axes[2][None, None, :]
    return np.maximum(weight / weight.max(), 1e-3).astype(np.float32)


def predict_probabilities(
    volume: np.ndarray,
    networks,
    settings: InferenceSettings,
    multiple: int = 4,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    ready: Callable[[np.ndarray, int, int, int], None] | None = None,
) -> np.ndarray | None:
    """Return per-class foreground probabilities for a normalised volume.

    Parameters
    ----------
    volume : ndarray
        Normalised float32 (z, y, x) on the model's grid.
    networks : list of torch.nn.Module
        One network, or an ensemble whose softmax outputs are averaged.
    settings : InferenceSettings
        Tiling and TTA.
    multiple : int
        Tile sizes are padded to a multiple of this (the network's total
        stride).
    progress : callable, optional
        Called as ``progress(done, total)`` after each tile.
    cancel : callable, optional
        Polled before each tile; returns ``None`` when it says stop.
    ready : callable, optional
        Called as ``ready(output, axis, lo, hi)`` whenever the slab
        ``lo:hi`` along ``axis`` of ``output`` (the array returned at
        the end) holds its final probabilities, so partial results can
        be used while the rest is computed. Tiles run slab by slab along
        the axis with the most tiles.

    Returns
    -------
    ndarray or None
        (C - 1, Z, Y, X) float32 probabilities of the foreground classes,
        or ``None`` when cancelled.
    """
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    patch = _tile_shape(volume.shape, settings.patch, multiple)
    axis, tiles = _tile_order(volume.shape, patch, settings.overlap)
    weight = gaussian_weight(patch)
    output = accumulated = None
    final = 0  # output[..., :final, ...] along axis is normalised
    with torch.inference_mode():
        for done, start in enumerate(tiles, 1):
            if cancel is not None and cancel():
                return None
            block = _tile(volume, start, patch)
            probs = _ensemble(networks, block, settings.tta)
            if output is None:
                output = np.zeros((len(probs), *volume.shape), np.float32)
                accumulated = np.zeros(volume.shape, np.float32)
            _add(output, accumulated, probs, weight, start)
            # No later tile starts before the next one's start along
            # ``axis``: everything before it is final.
            end = (
                tiles[done][axis] if done < len(tiles) else volume.shape[axis]
            )
            if end > final:
                _normalise(output, accumulated, axis, final, end)
                if ready is not None:
                    ready(output, axis, final, end)
                final = end
            if progress is not None:
                progress(done, len(tiles))
    return output


def _tile_order(shape, patch, overlap: float):
    """Return the slab axis and the tile starts, sorted slab by slab."""
    starts = [
        tile_starts(n, p, overlap) for n, p in zip(shape, patch, strict=True)
    ]
    axis = int(np.argmax([len(s) for s in starts]))
    tiles = sorted(itertools.product(*starts), key=lambda t: t[axis])
    return axis, tiles


def _normalise(output, accumulated, axis: int, lo: int, hi: int) -> None:
    region = [slice(None)] * accumulated.ndim
    region[axis] = slice(lo, hi)
    region = tuple(region)
    output[(slice(None), *region)] /= accumulated[region]


def _tile_shape(shape, patch, multiple: int) -> tuple[int, ...]:
    out = []
    for n, p in zip(shape, patch, strict=True):
        size = min(p, n)
        out.append(int(np.ceil(size / multiple) * multiple))
    return tuple(out)


def _tile(volume: np.ndarray, start, patch) -> np.ndarray:
    block = np.zeros(patch, np.float32)
    src = tuple(
        slice(s, min(s + p, n))
        for s, p, n in zip(start, patch, volume.shape, strict=True)
    )
    view = volume[src]
    block[tuple(slice(0, n) for n in view.shape)] = view
    return block


def _add(output, accumulated, probs, weight, start) -> None:
    shape = output.shape[1:]
    sizes = [
        min(p, n - s)
        for p, n, s in zip(weight.shape, shape, start, strict=True)
    ]
    dst = tuple(slice(s, s + n) for s, n in zip(start, sizes, strict=True))
    local = tuple(slice(0, n) for n in sizes)
    w = weight[local]
    output[(slice(None), *dst)] += probs[(slice(None), *local)] * w
    accumulated[dst] += w


def _ensemble(networks, block: np.ndarray, tta: bool) -> np.ndarray:
    import torch

    x = torch.from_numpy(block)[None, None]
    total = None
    views = TTA_VIEWS if tta else TTA_VIEWS[:1]
    for network in networks:
        for view in views:
            probs = _undo(_softmax(network, _apply(x, view)), view)
            total = probs if total is None else total + probs
    total = total / (len(networks) * len(views))
    return total[0, 1:].numpy()


def _softmax(network, x):
    return network(x).softmax(dim=1)


def _apply(x, view):
    import torch

    for op in view:
        if op == 'flip_x':
            x = x.flip(4)
        elif op == 'flip_y':
            x = x.flip(3)
        elif op == 'rot90' and x.shape[3] == x.shape[4]:
            x = torch.rot90(x, 1, (3, 4))
        elif op == 'rot90':
            x = x.flip(2)  # non-square tiles: a z flip stands in
    return x


def _undo(x, view):
    import torch

    for op in reversed(view):
        if op == 'flip_x':
            x = x.flip(4)
        elif op == 'flip_y':
            x = x.flip(3)
        elif op == 'rot90' and x.shape[3] == x.shape[4]:
            x = torch.rot90(x, -1, (3, 4))
        elif op == 'rot90':
            x = x.flip(2)
    return x
