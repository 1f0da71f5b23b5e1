"""Augmentation: make the network indifferent to what it cannot know.

Contrast polarity, intensity scale and offset, noise, blur and the
direction of the missing wedge all vary between microscopes and
reconstructions; flips and 90° turns about z cover particle orientation
and wedge direction. All ops act on a torch batch in place of a
per-sample pipeline, which keeps the 2-core CPU busy with convolutions
rather than Python.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation."""

    flip: float = 0.5
    rot90: bool = True
    polarity: float = 0.5
    scale: tuple[float, float] = (0.6, 1.6)
    offset: tuple[float, float] = (-0.4, 0.4)
    noise: tuple[float, float] = (0.0, 0.6)
    blur: float = 0.25
    blur_sigma: tuple[float, float] = (0.4, 1.0)


def augment(images, labels, config: AugmentConfig, generator):
    """Return augmented copies of a batch.

    Parameters
    ----------
    images : torch.Tensor
        (B, 1, Z, Y, X) float.
    labels : torch.Tensor
        (B, 1, Z, Y, X) integer labels.
    config : AugmentConfig
        What to apply.
    generator : torch.Generator
        Source of randomness (for reproducible training).

    Returns
    -------
    tuple of torch.Tensor
        Images and labels.
    """
    images, labels = _geometry(images, labels, config, generator)
    return _intensity(images, config, generator), labels


def _uniform(low, high, size, generator):
    import torch

    return low + (high - low) * torch.rand(size, generator=generator)


def _geometry(images, labels, config, generator):
    import torch

    for dim in (2, 3, 4):
        if torch.rand(1, generator=generator).item() < config.flip:
            images, labels = images.flip(dim), labels.flip(dim)
    if config.rot90:
        k = int(torch.randint(0, 4, (1,), generator=generator).item())
        if k and images.shape[3] == images.shape[4]:
            images = torch.rot90(images, k, (3, 4))
            labels = torch.rot90(labels, k, (3, 4))
    return images.contiguous(), labels.contiguous()


def _intensity(images, config, generator):
    import torch

    b = images.shape[0]
    shape = (b, 1, 1, 1, 1)
    sign = torch.where(
        torch.rand(shape, generator=generator) < config.polarity, -1.0, 1.0
    )
    images = images * sign
    if torch.rand(1, generator=generator).item() < config.blur:
        sigma = float(_uniform(*config.blur_sigma, (1,), generator))
        images = _gaussian_blur(images, sigma)
    scale = _uniform(*config.scale, shape, generator)
    offset = _uniform(*config.offset, shape, generator)
    noise = _uniform(*config.noise, shape, generator)
    gauss = torch.randn(images.shape, generator=generator)
    return images * scale + offset + noise * gauss


def _gaussian_blur(images, sigma: float):
    import torch
    import torch.nn.functional as F

    radius = max(1, int(round(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    for dim in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = kernel.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = radius
        images = F.conv3d(
            F.pad(images, pad, mode='replicate'), kernel.view(shape)
        )
    return images
