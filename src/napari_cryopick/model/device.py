"""Which device the network runs on: the one place that decides.

``auto`` takes the first CUDA GPU when torch sees one, else the CPU;
``cpu`` and ``cuda`` (or ``cuda:N``) ask for one. Asking for CUDA where
there is none is a one-line error that says why, not a silent fall-back
to a CPU that is 20x slower. Inference and training move the network
and each batch to the device; results come back to the CPU as float32.

Mixed precision (bf16 autocast) is offered on CUDA only and is off by
default: it has not been measured against F4 on a GPU yet.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from napari_cryopick.errors import CryopickError

if TYPE_CHECKING:
    from collections.abc import Iterator

CHOICES = ('auto', 'cpu', 'cuda')


def resolve_device(name: str | None = 'auto'):
    """Return the ``torch.device`` that ``name`` asks for.

    Parameters
    ----------
    name : str or None
        ``auto`` (or None), ``cpu``, ``cuda`` or ``cuda:N``.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    CryopickError
        For an unknown name, or CUDA asked for where torch has none.
    """
    import torch

    name = (name or 'auto').strip().lower()
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cpu':
        return torch.device('cpu')
    if name != 'cuda' and not name.startswith('cuda:'):
        raise CryopickError(
            f'unknown device {name!r}: choose auto, cpu, cuda or cuda:N'
        )
    if not torch.cuda.is_available():
        why = (
            'this torch is a CPU-only build'
            if torch.version.cuda is None
            else 'torch sees no CUDA GPU (driver, CUDA_VISIBLE_DEVICES?)'
        )
        raise CryopickError(
            f'device {name!r} asked for, but {why}: use --device cpu or auto'
        )
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise CryopickError(
            f'device {name!r} asked for, but there are {count} CUDA GPUs'
        )
    return device


def describe(device) -> str:
    """Return e.g. ``'cpu'`` or ``'cuda:0 (NVIDIA H100 80GB HBM3)'``."""
    import torch

    if device.type != 'cuda':
        return str(device)
    index = device.index if device.index is not None else 0
    return f'cuda:{index} ({torch.cuda.get_device_name(index)})'


@contextlib.contextmanager
def autocast(device, enabled: bool) -> Iterator[None]:
    """Run the block in bf16 autocast on CUDA when ``enabled``.

    On the CPU (or with ``enabled`` False) the block runs in float32.
    """
    import torch

    if not enabled or device.type != 'cuda':
        yield
        return
    with torch.autocast('cuda', dtype=torch.bfloat16):
        yield


def explain(err: BaseException) -> CryopickError | None:
    """Return a one-line error for a GPU failure, or None for others.

    A CUDA out-of-memory error prints a page of allocator statistics;
    this says what ran out and what to do.
    """
    import sys

    torch = sys.modules.get('torch')
    if torch is None or not isinstance(err, torch.cuda.OutOfMemoryError):
        return None
    try:
        free, total = torch.cuda.mem_get_info()
        room = f' ({free / 2**30:.1f} of {total / 2**30:.1f} GiB free)'
    except RuntimeError:
        room = ''
    return CryopickError(
        f'out of GPU memory{room}: close other GPU programs, or use '
        '--device cpu'
    )
