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
    """Probabilities and ranges of each augmentation.

    ``noise`` adds white noise (standard deviation drawn per patch, in
    units of the normalised image). ``coloured_noise`` is the chance of
    adding low-passed noise as well (Gaussian with ``coloured_sigma``
    voxels, rescaled to a standard deviation drawn from
    ``coloured_level``): real and denoised tomograms carry noise with
    the signal's spectrum, which binning does not average away and
    white noise does not imitate. 0 keeps the v1 recipe.
    """

    flip: float = 0.5
    rot90: bool = True
    polarity: float = 0.5
    scale: tuple[float, float] = (0.6, 1.6)
    offset: tuple[float, float] = (-0.4, 0.4)
    noise: tuple[float, float] = (0.0, 0.6)
    blur: float = 0.25
    blur_sigma: tuple[float, float] = (0.4, 1.0)
    coloured_noise: float = 0.0
    coloured_level: tuple[float, float] = (0.2, 1.5)
    coloured_sigma: tuple[float, float] = (0.5, 1.5)


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
    images = images * scale + offset + noise * gauss
    if torch.rand(1, generator=generator).item() < config.coloured_noise:
        images = _add_coloured_noise(images, config, generator)
    return images


def _add_coloured_noise(images, config, generator):
    import torch

    sigma = float(_uniform(*config.coloured_sigma, (1,), generator))
    noise = _gaussian_blur(
        torch.randn(images.shape, generator=generator), sigma
    )
    level = _uniform(
        *config.coloured_level, (images.shape[0], 1, 1, 1, 1), generator
    )
    spread = noise.std(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-6)
    # Rescaled as normalisation would rescale a noisy tomogram: the
    # noise takes part of the unit spread, the particles lose contrast.
    return (images + noise * (level / spread)) / torch.sqrt(1.0 + level**2)


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
