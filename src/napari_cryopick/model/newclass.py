"""New particle classes: one more output channel per class, nothing lost.

A class the starting model does not know gets its own output channel.
The network is rebuilt with more outputs and every weight is copied;
in the layers whose size depends on the number of outputs (the last
up-convolution and the final convolution of a U-Net, the 1x1 output
convolution of SegResNet and DynUNet), the old channels keep their
weights and read nothing from the new ones, so their logits are exactly
those of the starting model. A new channel starts as a copy of the
background channel lowered by :data:`START_MARGIN`: it is nowhere
likely before training, and the old classes' probabilities move by at
most ``exp(-START_MARGIN)`` (softmax adds its term to the sum).
"""

from __future__ import annotations

from dataclasses import replace

from napari_cryopick.classes import ParticleClass, extend_classes
from napari_cryopick.errors import input_error
from napari_cryopick.model.checkpoint import (
    LoadedModel,
    ModelCard,
    classes_to_card,
)
from napari_cryopick.model.config import build_network

#: Logit a new channel starts below the background channel: e**-12 is
#: 6e-6, so no old class's probability moves by more than that.
START_MARGIN = 12.0
#: Threshold a new class has until its labelled examples set one.
START_THRESHOLD = 0.5
#: Smallest class radius, in voxels of the model's grid, the model can
#: learn: the target sphere (half the radius) must hold a voxel.
MIN_GRID_RADIUS = 1.5
#: Below this radius, in voxels of the model's grid, a class learnt from
#: clicks is picked unreliably. On the benchmark's phantoms
#: (docs/benchmarks.md "New classes"), 20 clicks gave F4 0.46, 0.40 and
#: 0.59 for proteins of 2.9, 3.3 and 3.5 grid voxels (albumin; a 70 Å-radius
#: pseudo-protein: no better from 50 clicks, after a review round, or on
#: a 10 Å grid) but 0.96 for another of 3.8, and 0.83-0.96 for 4.4-5.1:
#: among unlabelled proteins of its size, a small one may have too few
#: voxels to be told from them.
SMALL_GRID_RADIUS = 4.0


def add_classes(
    model: LoadedModel,
    classes: tuple[ParticleClass, ...],
    origin: dict | None = None,
) -> LoadedModel:
    """Return a copy of ``model`` that also predicts ``classes``.

    Parameters
    ----------
    model : LoadedModel
        The starting model; not modified.
    classes : tuple of ParticleClass
        Classes the model lacks (labels and colours are assigned by
        :func:`~napari_cryopick.classes.extend_classes`).
    origin : dict, optional
        Where the classes come from (parent model, runs, number of
        labels), stored with each new class in the card.

    Returns
    -------
    LoadedModel
        The wider network (eval mode) and its card; the path is the
        starting model's.

    Raises
    ------
    CryopickError
        If a class is already known, named badly, or too small for the
        model's grid.
    """
    import torch

    new = extend_classes(model.classes, tuple(classes))
    if not new:
        return model
    for cls in new:
        _check_grid(model, cls)
    origin = {'parent': model.card.name, **(origin or {})}
    new = tuple(
        replace(c, metadata={**c.metadata, 'origin': origin}) for c in new
    )
    config = replace(
        model.card.network,
        out_channels=model.card.network.out_channels + len(new),
    )
    network = build_network(config)
    with torch.no_grad():
        _copy_weights(model.network, network, len(new))
    network.eval()
    card = model.card.to_dict()
    card['network'] = config.to_dict()
    card['classes'] = [*card['classes'], *classes_to_card(new)]
    thresholds = card.setdefault('thresholds', {})
    for cls in new:
        thresholds[cls.name] = START_THRESHOLD
    return LoadedModel(network, ModelCard.from_dict(card), model.path)


def known_channels(model: LoadedModel) -> int | None:
    """Return how many output channels ``model`` had before classes were added.

    Background first; ``None`` when no class was added (each added class
    records its ``origin`` and takes the next channel).
    """
    added = [c.label for c in model.classes if 'origin' in c.metadata]
    return min(added) if added else None


def small_class_caution(cls: ParticleClass, voxel_size: float) -> str | None:
    """Return a caution for a class small on the model's grid, else None.

    Parameters
    ----------
    cls : ParticleClass
        A class learnt from clicks.
    voxel_size : float
        Å per voxel of the model's grid.

    Returns
    -------
    str or None
        One sentence for the log or the widget (see
        :data:`SMALL_GRID_RADIUS`).
    """
    size = cls.radius / voxel_size
    if size >= SMALL_GRID_RADIUS:
        return None
    return (
        f"{cls.name} is {size:.1f} voxels in radius on the model's "
        f'{voxel_size:.0f} Å grid: classes under '
        f'{SMALL_GRID_RADIUS * voxel_size:.0f} Å learnt from clicks were '
        'picked unreliably in the benchmark (F4 0.40-0.96, against '
        '0.83-0.96 for larger ones); review its picks before trusting them'
    )


def _check_grid(model: LoadedModel, cls: ParticleClass) -> None:
    if cls.radius / model.voxel_size < MIN_GRID_RADIUS:
        raise input_error(
            model.path,
            f'runs on a {model.voxel_size:g} Å grid, too coarse for class '
            f'{cls.name!r} of radius {cls.radius:g} Å (needs a radius of '
            f'{MIN_GRID_RADIUS * model.voxel_size:g} Å or more)',
        )


def _copy_weights(old, new, added: int) -> None:
    """Copy ``old``'s weights into the wider ``new`` (in place)."""
    import torch

    new_modules = dict(new.named_modules())
    for name, module in old.named_modules():
        target = new_modules[name]
        own = dict(module.named_parameters(recurse=False))
        own.update(module.named_buffers(recurse=False))
        for key, value in own.items():
            wide = getattr(target, key)
            if wide is None or value is None:
                continue
            if wide.shape == value.shape:
                wide.copy_(value)
                continue
            if not isinstance(
                module, torch.nn.Conv3d | torch.nn.ConvTranspose3d
            ):
                raise ValueError(f'cannot widen {name}.{key}')
            _widen(module, key, value, wide, added)
    last = [
        m
        for m in new.modules()
        if isinstance(m, torch.nn.Conv3d | torch.nn.ConvTranspose3d)
    ][-1]
    if last.bias is not None:
        last.bias[-added:] -= START_MARGIN


def _widen(module, key: str, value, wide, added: int) -> None:
    """Old block in place; new outputs copy background; new inputs zero."""
    import torch

    transposed = isinstance(module, torch.nn.ConvTranspose3d)
    out_dim = 1 if transposed and key == 'weight' else 0
    in_dim = 0 if transposed else 1
    wide.zero_()
    block = tuple(slice(0, n) for n in value.shape)
    wide[block] = value
    if wide.shape[out_dim] != value.shape[out_dim]:
        n_old = value.shape[out_dim]
        index = [slice(None)] * wide.ndim
        background = [slice(None)] * wide.ndim
        background[out_dim] = slice(0, 1)
        for channel in range(n_old, n_old + added):
            index[out_dim] = slice(channel, channel + 1)
            wide[tuple(index)] = wide[tuple(background)]
    if key == 'weight' and wide.shape[in_dim] != value.shape[in_dim]:
        # New outputs read the old ones as background does; nothing
        # reads a new input channel (old logits stay exact).
        index = [slice(None)] * wide.ndim
        index[in_dim] = slice(value.shape[in_dim], None)
        wide[tuple(index)] = 0.0


def class_probabilities(logits, known: int | None):
    """Return class probabilities; the first ``known`` among themselves.

    A class added by fine-tuning takes probability from the classes the
    starting model knew wherever it fires, also where it is wrong; read
    among themselves, those keep the odds fine-tuning taught them to keep
    (:mod:`napari_cryopick.model.sparse`), so their picks and thresholds
    stay the starting model's.

    Parameters
    ----------
    logits : torch.Tensor
        (B, C, ...) network outputs.
    known : int or None
        Channels (background first) the network had before classes were
        added (:func:`~napari_cryopick.model.newclass.known_channels`);
        ``None``: one softmax over all.

    Returns
    -------
    torch.Tensor
        Probabilities, shaped like ``logits``.
    """
    probs = logits.softmax(dim=1)
    if known is None or known >= logits.shape[1]:
        return probs
    probs[:, :known] = logits[:, :known].softmax(dim=1)
    return probs
