"""Sliding-window inference with Gaussian blending, TTA and ensembles.

The volume is cut into overlapping tiles; each tile's softmax is
weighted by a Gaussian that falls towards the tile edges (where the
network sees least context) and accumulated, as MONAI's
``SlidingWindowInferer`` does with ``mode='gaussian'`` and
``sigma_scale=0.125``. That inferer is not used because it needs the
whole input as one tensor and allocates the whole output (6 classes x a
1000 x 2000 x 2000 tomogram on the 20 Å grid is 12 GB): here tiles run
slab by slab along one axis, the grid rows come from a streaming source,
only the slab of tiles in flight is accumulated, and each slab's
probabilities are handed on (to peak finding, to partial results in the
viewer) the moment no later tile can change them, with progress and
cancellation between tiles. Only the foreground channels asked for are
kept, in float32.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence


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
        Average over two flips and a 90° turn in the (y, x) plane (4
        views, 4x the time); exact on any tile shape.
    threads : int
        torch CPU threads (0: torch's default).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``
        (:func:`~napari_cryopick.model.device.resolve_device`).
    amp : bool
        bf16 autocast on CUDA (ignored on the CPU).
    """

    patch: tuple[int, int, int] = (96, 128, 128)
    overlap: float = 0.25
    tta: bool = False
    threads: int = 0
    device: str = 'auto'
    amp: bool = False


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


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads, restoring the count after.

    Parameters
    ----------
    threads : int
        Threads to use; 0 leaves torch's setting alone.
    """
    import torch

    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ArrayGrid:
    """An in-memory volume as a row source for :func:`stream_probabilities`."""

    large = False

    def __init__(self, volume: np.ndarray):
        self.volume = volume
        self.shape = tuple(int(n) for n in volume.shape)

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Return rows ``lo:hi`` along z as float32."""
        return np.asarray(self.volume[lo:hi], dtype=np.float32)


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

    The whole output in memory; :func:`stream_probabilities` is the
    bounded-memory form that prediction uses.

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
        the end) holds its final probabilities. Tiles run slab by slab
        along the axis with the most tiles.

    Returns
    -------
    ndarray or None
        (C - 1, Z, Y, X) float32 probabilities of the foreground classes,
        or ``None`` when cancelled.
    """
    holder = {}

    def on_slab(probs, axis, lo, hi):
        if 'out' not in holder:
            holder['out'] = np.zeros((len(probs), *volume.shape), np.float32)
        out = holder['out']
        region = [slice(None)] * 4
        region[axis + 1] = slice(lo, hi)
        out[tuple(region)] = probs
        if ready is not None:
            ready(out, axis, lo, hi)

    finished = stream_probabilities(
        ArrayGrid(volume),
        networks,
        settings,
        multiple=multiple,
        on_slab=on_slab,
        progress=progress,
        cancel=cancel,
    )
    return holder.get('out') if finished else None


def stream_probabilities(
    grid,
    networks,
    settings: InferenceSettings,
    *,
    multiple: int = 4,
    channels: Sequence[int] | None = None,
    known: int | None = None,
    on_slab: Callable[[np.ndarray, int, int, int], None],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> bool:
    """Run the networks over a grid, handing on each final slab.

    Parameters
    ----------
    grid : object
        ``shape`` (z, y, x), ``rows(lo, hi)`` returning normalised
        float32 rows along z, and ``large``: when true, tiles run slab
        by slab along z so only a slab of rows is ever read; otherwise
        along the axis with the most tiles (partial results come often).
    networks : list of torch.nn.Module
        One network, or an ensemble whose softmax outputs are averaged.
    settings : InferenceSettings
        Tiling, TTA and threads.
    multiple : int
        Tile sizes are padded to a multiple of this.
    channels : sequence of int, optional
        Output channels (class labels) to keep; default every foreground
        channel, in order.
    known : int, optional
        Channels the network had before classes were added to it: read
        by their own softmax (:mod:`napari_cryopick.model.newclass`).
    on_slab : callable
        ``on_slab(probs, axis, lo, hi)`` with the final (C, ...)
        probabilities of rows ``lo:hi`` along ``axis``; ``probs`` is a
        view, valid only during the call.
    progress : callable, optional
        ``progress(done, total)`` after each tile.
    cancel : callable, optional
        Polled before each tile.

    Returns
    -------
    bool
        False when cancelled.
    """
    import torch

    from napari_cryopick.model.device import resolve_device

    device = resolve_device(settings.device)
    networks = [network.to(device) for network in networks]
    shape = tuple(int(n) for n in grid.shape)
    patch = _tile_shape(shape, settings.patch, multiple)
    starts = [
        tile_starts(n, p, settings.overlap)
        for n, p in zip(shape, patch, strict=True)
    ]
    axis = _slab_axis(starts, grid.large)
    tiles = sorted(itertools.product(*starts), key=lambda t: t[axis])
    weight = gaussian_weight(patch)
    rows = _RowBuffer(grid, drop=axis == 0)
    window = None
    with torch_threads(settings.threads), torch.inference_mode():
        for done, start in enumerate(tiles, 1):
            if cancel is not None and cancel():
                return False
            block = rows.block(start, patch)
            probs = _ensemble(
                networks, block, settings, device, channels, known
            )
            if window is None:
                window = _Window(len(probs), shape, patch, axis)
            window.add(probs, weight, start)
            end = tiles[done][axis] if done < len(tiles) else shape[axis]
            if end > window.lo:
                window.emit(end, on_slab)
            if progress is not None:
                progress(done, len(tiles))
    return True


def _slab_axis(starts, large: bool) -> int:
    if large and len(starts[0]) > 1:
        return 0  # stream along z, the axis rows are read along
    return int(np.argmax([len(s) for s in starts]))


class _RowBuffer:
    """Grid rows along z held for the tiles in flight."""

    def __init__(self, grid, drop: bool):
        self.grid = grid
        self.drop = drop
        self.lo = self.hi = 0
        self.data = np.zeros((0, *grid.shape[1:]), np.float32)

    def block(self, start, patch) -> np.ndarray:
        z0 = start[0]
        z1 = min(z0 + patch[0], self.grid.shape[0])
        if self.drop and z0 > self.lo:  # tiles come in z order
            self.data = self.data[z0 - self.lo :]
            self.lo = z0
        if z1 > self.hi:
            more = self.grid.rows(self.hi, z1)
            self.data = np.concatenate([self.data, more])
            self.hi = z1
        out = np.zeros(patch, np.float32)
        src = tuple(
            slice(s, min(s + p, n))
            for s, p, n in zip(start, patch, self.grid.shape, strict=True)
        )
        view = self.data[(slice(z0 - self.lo, z1 - self.lo), *src[1:])]
        out[tuple(slice(0, n) for n in view.shape)] = view
        return out


class _Window:
    """Accumulated probabilities of the rows not yet final along ``axis``.

    Holds ``patch[axis]`` rows from ``lo``: tiles run in order of their
    start along ``axis``, so every tile in flight starts at ``lo``.
    """

    def __init__(self, channels: int, shape, patch, axis: int):
        self.axis = axis
        self.lo = 0
        moved = (min(patch[axis], shape[axis]),) + tuple(
            n for i, n in enumerate(shape) if i != axis
        )
        self.sums = np.zeros((channels, *moved), np.float32)
        self.weights = np.zeros(moved, np.float32)

    def add(self, probs, weight, start) -> None:
        """Add one tile's probabilities, weighted, at ``start``."""
        axis = self.axis
        probs = np.moveaxis(probs, axis + 1, 1)
        weight = np.moveaxis(weight, axis, 0)
        offset = [start[axis] - self.lo] + [
            s for i, s in enumerate(start) if i != axis
        ]
        sizes = [
            min(p, n - s)
            for p, n, s in zip(
                weight.shape, self.weights.shape, offset, strict=True
            )
        ]
        dst = tuple(
            slice(s, s + n) for s, n in zip(offset, sizes, strict=True)
        )
        local = tuple(slice(0, n) for n in sizes)
        w = weight[local]
        self.sums[(slice(None), *dst)] += probs[(slice(None), *local)] * w
        self.weights[dst] += w

    def emit(self, end: int, on_slab) -> None:
        """Hand on rows ``lo:end`` (now final) and slide the window."""
        n = end - self.lo
        final = self.sums[:, :n]
        final /= self.weights[:n]
        on_slab(np.moveaxis(final, 1, self.axis + 1), self.axis, self.lo, end)
        keep = self.weights.shape[0] - n
        if keep > 0:  # numpy copies overlapping ranges correctly
            self.sums[:, :keep] = self.sums[:, n:]
            self.weights[:keep] = self.weights[n:]
        self.sums[:, max(keep, 0) :] = 0
        self.weights[max(keep, 0) :] = 0
        self.lo = end


def _tile_shape(shape, patch, multiple: int) -> tuple[int, ...]:
    out = []
    for n, p in zip(shape, patch, strict=True):
        size = min(p, n)
        out.append(int(np.ceil(size / multiple) * multiple))
    return tuple(out)


def _ensemble(
    networks, block: np.ndarray, settings, device, channels=None, known=None
):
    import torch

    from napari_cryopick.model.device import autocast
    from napari_cryopick.model.newclass import class_probabilities
    from napari_cryopick.model.tta import TTA_VIEWS, apply_view, undo_view

    x = torch.from_numpy(block)[None, None].to(device)
    total = None
    views = TTA_VIEWS if settings.tta else TTA_VIEWS[:1]
    for network in networks:
        for view in views:
            with autocast(device, settings.amp):
                logits = network(apply_view(x, view))
            probs = undo_view(class_probabilities(logits.float(), known), view)
            total = probs if total is None else total + probs
    total = total / (len(networks) * len(views))
    keep = slice(1, None) if channels is None else list(channels)
    return total[0, keep].cpu().numpy()
