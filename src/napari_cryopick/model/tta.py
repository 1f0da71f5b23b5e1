"""Test-time augmentation views: two flips and a 90° turn in (y, x).

Each view is a tuple of operation names applied in order to a (batch,
channel, z, y, x) tensor; :func:`undo_view` turns a network's output
back. Exact on any tile: a turned (z, y, x) tile is seen as (z, x, y),
both sides being multiples of the network's stride.
"""

from __future__ import annotations

#: The views averaged when TTA is on; the first is the tile as it is.
TTA_VIEWS = ((), ('flip_x',), ('flip_y',), ('rot90',))

# Each operation and its inverse.
_OPS = {
    'flip_x': (lambda x: x.flip(4), lambda x: x.flip(4)),
    'flip_y': (lambda x: x.flip(3), lambda x: x.flip(3)),
    'rot90': (
        lambda x: x.rot90(1, (3, 4)),
        lambda x: x.rot90(-1, (3, 4)),
    ),
}


def apply_view(x, view):
    """Return ``x`` as ``view`` (a tuple of operation names) sees it."""
    for op in view:
        x = _OPS[op][0](x)
    return x


def undo_view(x, view):
    """Turn an output seen as ``view`` back to the original orientation."""
    for op in reversed(view):
        x = _OPS[op][1](x)
    return x
