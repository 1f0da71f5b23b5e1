"""Load the model libraries on the GUI thread, once, as a widget opens."""

from __future__ import annotations

import functools


@functools.cache
def import_model_libraries() -> None:
    """Import torch, MONAI, SciPy and the model modules now.

    A worker that imports them itself loads their shared libraries while
    holding the GIL, which froze the GUI for 0.2-0.6 s at a time just
    after Pick was pressed. Done while a dock widget opens, the one-off
    cost (about a second) is part of opening it instead.
    """
    import monai.losses  # noqa: F401
    import monai.networks.nets  # noqa: F401
    import safetensors.torch  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.spatial  # noqa: F401
    import torch  # noqa: F401

    import napari_cryopick.metric  # noqa: F401
    import napari_cryopick.model.finetune  # noqa: F401
    import napari_cryopick.model.predict  # noqa: F401
    import napari_cryopick.model.train  # noqa: F401


@functools.cache
def prepare_training() -> None:
    """Make a throwaway optimiser: torch's first one imports ~800 modules.

    torch.optim pulls in TorchDynamo (and SymPy) on first use, 1.4 s
    that froze the GUI for 0.2-0.4 s when a fine-tuning worker did it.
    """
    import torch

    import_model_libraries()
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
