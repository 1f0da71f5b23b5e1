"""The training loop shared by the bundled model and fine-tuning."""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_cryopick.model.augment import AugmentConfig, augment
from napari_cryopick.model.sampling import PatchSampler

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Parameters
    ----------
    steps : int
        Optimiser steps.
    batch_size : int
        Patches per step.
    patch : tuple of int
        Patch shape (z, y, x) on the model's grid.
    lr : float
        Peak learning rate (AdamW; linear warm-up, cosine decay).
    weight_decay : float
        AdamW weight decay.
    warmup : int
        Warm-up steps.
    class_weights : tuple of float or None
        Cross-entropy weight per label (background first); ``None``: 1
        for background, 2 for every class (recall matters 16x more than
        precision in F4).
    pick_fraction, negative_fraction : float
        Patch sampling shares (see :class:`PatchSampler`).
    seed : int
        Seed for sampling, augmentation and initial weights.
    threads : int
        torch CPU threads (0: leave torch's default).
    augment : AugmentConfig
        Augmentation.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``
        (:func:`~napari_cryopick.model.device.resolve_device`).
    """

    steps: int = 2000
    batch_size: int = 4
    patch: tuple[int, int, int] = (48, 80, 80)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    class_weights: tuple[float, ...] | None = None
    pick_fraction: float = 0.7
    negative_fraction: float = 0.1
    seed: int = 0
    threads: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    device: str = 'auto'


@dataclass
class TrainProgress:
    """What the loop reports after each step."""

    step: int
    steps: int
    loss: float
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    losses: list[float]
    steps_done: int
    cancelled: bool
    seconds: float


def train(
    network,
    samples,
    config: TrainConfig,
    progress: Callable[[TrainProgress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    checkpoint_every: int = 0,
    state_file: str | Path | None = None,
    objective=None,
) -> TrainResult:
    """Train ``network`` in place on patches of ``samples``.

    Parameters
    ----------
    network : torch.nn.Module
        The network (its last layer gives one logit per label).
    samples : list of TrainingSample
        Training tomograms.
    config : TrainConfig
        Settings.
    progress : callable, optional
        Called with a :class:`TrainProgress` after every step.
    cancel : callable, optional
        Polled before every step; training stops when it returns true.
    on_checkpoint : callable, optional
        Called with the step number every ``checkpoint_every`` steps (to
        save or validate); the network is in eval mode during the call.
    checkpoint_every : int
        Period of ``on_checkpoint`` calls (0: never).
    state_file : str or Path, optional
        Where the loop saves its whole state (weights, optimiser, random
        generators, step) after every ``on_checkpoint``; when the file
        exists, training resumes from it, so a long run killed half-way
        goes on where it stopped.
    objective : torch.nn.Module, optional
        ``objective(network, images, labels)`` returns the loss of a
        batch (e.g. :func:`~napari_cryopick.model.sparse.sparse_objective`
        for sparse labels); default: Dice + cross-entropy on the labels.

    Returns
    -------
    TrainResult
        Losses per step and whether training was cancelled.
    """
    import torch

    from napari_cryopick.model.device import resolve_device

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = PatchSampler(
        samples,
        config.patch,
        config.pick_fraction,
        config.negative_fraction,
        config.seed,
    )
    device = resolve_device(config.device)
    network.to(device)
    if objective is None:
        objective = _segmentation_objective(_loss(network, config))
    loss_fn = objective.to(device)
    with _training_layout(network, loss_fn, device):
        optimiser = torch.optim.AdamW(
            network.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
        )
        losses, start = [], time.perf_counter()
        first = 1
        if state_file is not None and Path(state_file).exists():
            first = _resume(state_file, network, optimiser, generator, sampler)
            log.info('resumed from %s at step %d', state_file, first - 1)
        step = first - 1
        for step in range(first, config.steps + 1):
            if cancel is not None and cancel():
                return TrainResult(losses, step - 1, True, _since(start))
            lr = _learning_rate(step, config)
            for group in optimiser.param_groups:
                group['lr'] = lr
            loss = _step(
                network, sampler, loss_fn, optimiser, config, generator
            )
            losses.append(loss)
            if progress is not None:
                progress(
                    TrainProgress(step, config.steps, loss, lr, _since(start))
                )
            if checkpoint_every and step % checkpoint_every == 0:
                if on_checkpoint:
                    _checkpoint(network, on_checkpoint, step)
                if state_file is not None:
                    _save_state(
                        state_file,
                        step,
                        network,
                        optimiser,
                        generator,
                        sampler,
                    )
        return TrainResult(losses, step, False, _since(start))


def _layout(device):
    """Memory layout of the networks and the images while training.

    On the CPU, channels-last 3D: oneDNN's convolutions run a training
    step of the bundled U-Net about a fifth faster in it (1.24 -> 0.98 s
    for 4 patches of 48 x 80 x 80 on 2 cores). Elsewhere the default.
    """
    import torch

    if device.type == 'cpu':
        return torch.channels_last_3d
    return torch.contiguous_format


@contextmanager
def _training_layout(network, objective, device):
    """Train in :func:`_layout`; give the network back in the usual one."""
    import torch

    layout = _layout(device)
    network.to(memory_format=layout)
    objective.to(memory_format=layout)  # a teacher network, if it has one
    try:
        yield
    finally:
        network.to(memory_format=torch.contiguous_format)


def _device_of(network):
    return next(network.parameters()).device


def _save_state(path, step, network, optimiser, generator, sampler) -> None:
    import torch

    state = {
        'step': step,
        'network': network.state_dict(),
        'optimiser': optimiser.state_dict(),
        'generator': generator.get_state(),
        # The numpy generator's state holds ints too big for a tensor.
        'sampler': json.dumps(sampler.rng.bit_generator.state),
    }
    path = Path(path)
    tmp = path.with_name(f'.tmp-{path.name}')
    torch.save(state, tmp)
    tmp.replace(path)


def _resume(path, network, optimiser, generator, sampler) -> int:
    import torch

    # On the CPU first: a state saved on a GPU resumes anywhere.
    state = torch.load(path, map_location='cpu', weights_only=True)
    network.load_state_dict(state['network'])
    optimiser.load_state_dict(state['optimiser'])
    generator.set_state(state['generator'])
    sampler.rng.bit_generator.state = json.loads(state['sampler'])
    return int(state['step']) + 1


def _since(start: float) -> float:
    return time.perf_counter() - start


def _checkpoint(network, callback, step: int) -> None:
    network.eval()
    try:
        callback(step)
    finally:
        network.train()


def _learning_rate(step: int, config: TrainConfig) -> float:
    if step <= config.warmup:
        return config.lr * step / max(1, config.warmup)
    done = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * done)))


def _loss(network, config: TrainConfig):
    import torch
    from monai.losses import DiceCELoss

    n_labels = _out_channels(network)
    weights = config.class_weights or (1.0,) + (2.0,) * (n_labels - 1)
    if len(weights) != n_labels:
        raise ValueError(
            f'{len(weights)} class weights for {n_labels} network outputs'
        )
    return DiceCELoss(
        to_onehot_y=True,
        softmax=True,
        include_background=False,
        weight=torch.tensor(weights, dtype=torch.float32),
        lambda_dice=0.5,
        lambda_ce=1.0,
    )


def _segmentation_objective(loss):
    """Wrap a loss of (logits, labels) as an objective of the network."""
    import torch

    class Segmentation(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.loss = loss

        def forward(self, network, images, labels):
            return self.loss(network(images), labels)

    return Segmentation()


def _out_channels(network) -> int:
    import torch

    with torch.no_grad():
        last = [
            m
            for m in network.modules()
            if isinstance(m, torch.nn.Conv3d | torch.nn.ConvTranspose3d)
        ][-1]
    return int(last.out_channels)


def _step(network, sampler, loss_fn, optimiser, config, generator) -> float:
    import torch

    network.train()
    images, labels = sampler.batch(config.batch_size)
    images = torch.from_numpy(images)
    labels = torch.from_numpy(labels.astype(np.int64))
    images, labels = augment(images, labels, config.augment, generator)
    device = _device_of(network)
    images = images.to(device).contiguous(memory_format=_layout(device))
    labels = labels.to(device)
    optimiser.zero_grad(set_to_none=True)
    loss = loss_fn(network, images, labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
    optimiser.step()
    return float(loss.detach())
