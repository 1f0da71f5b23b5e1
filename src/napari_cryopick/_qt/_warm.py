"""Load the model libraries on the GUI thread, once, as a widget opens."""

from __future__ import annotations

import functools


@functools.cache
def import_model_libraries() -> None:
    """Import torch, MONAI's networks and safetensors now.

    A worker that imports them itself loads their shared libraries while
    holding the GIL, which froze the GUI for 0.2-0.6 s at a time just
    after Pick was pressed. Done while a dock widget opens, the one-off
    cost (about a second) is part of opening it instead.
    """
    import monai.networks.nets  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
