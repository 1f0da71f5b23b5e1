"""From a density map to a tomogram: the transfer of the microscope.

One forward FFT of the density, then per frequency: the missing wedge
of a single-axis tilt series, a phase-flipped CTF at 300 kV and a
Gaussian low-pass; noise is drawn directly in Fourier space, with the
same wedge. Last come polarity, scale and offset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.fft as sfft

if TYPE_CHECKING:
    from napari_cryopick.simulate.params import PhantomLook

#: Relativistic electron wavelength at 300 kV, Å.
WAVELENGTH = 0.019687
#: Spherical aberration, Å (2.7 mm, Titan Krios).
SPHERICAL_ABERRATION = 2.7e7
#: Amplitude contrast ratio of vitreous samples.
AMPLITUDE_CONTRAST = 0.1
#: The coloured noise is low-passed at this many times ``resolution``: a
#: denoiser (DenoisET, cryoCARE) smooths the noise more than the signal.
NOISE_BLUR = 1.5
#: Angular half-width (radians) of the wedge's soft edge; a sharp edge
#: rings, and real tilt series taper at high tilt anyway.
_WEDGE_SOFTNESS = np.deg2rad(4.0)
#: Zero planes padded above and below: the filters would otherwise wrap
#: the streaks of the bottom particles into the empty top.
_Z_PAD = 16
#: Frequency planes filtered at a time (bounds the temporaries).
_CHUNK = 8
#: Ball of offsets (radius 2 voxels) sampled around each particle centre.
_BALL = np.argwhere(np.sum((np.indices((5, 5, 5)) - 2) ** 2, axis=0) <= 4)


def image_volume(
    density: np.ndarray,
    look: PhantomLook,
    voxel_size: float,
    rng: np.random.Generator,
    centres: np.ndarray | None = None,
) -> np.ndarray:
    """Image a density map as a tomogram.

    Parameters
    ----------
    density : ndarray
        float32 (z, y, x) density, protein ~1. Not changed.
    look : PhantomLook
        Wedge, CTF, resolution, noise and display settings.
    voxel_size : float
        Å per voxel.
    rng : Generator
        Random source of the noise.
    centres : ndarray, optional
        (N, 3) particle centres (voxels), where the noise-free tomogram's
        RMS sets the signal level the noise is relative to. Default: the
        whole tomogram's standard deviation.

    Returns
    -------
    ndarray
        float32 tomogram, mean ``look.offset``, standard deviation
        ``look.scale`` (unless it is flat).
    """
    tomogram = _filtered(density, look, voxel_size)
    level = _signal_level(tomogram, centres)
    if look.noise > 0:
        noise = _noise(density.shape, look, voxel_size, rng)
        noise *= np.float32(look.noise * level / max(noise.std(), 1e-30))
        tomogram += noise
        del noise
    if look.gradient > 0:
        tomogram += np.float32(look.gradient * level) * _slow_field(
            density.shape, rng
        )
    return _quantised(_display(tomogram, look), look.bits)


def _slow_field(shape, rng: np.random.Generator) -> np.ndarray:
    """Return a unit-RMS background varying over hundreds of voxels.

    A plane tilted in a random direction (ice thicker on one side) plus
    a few broad bumps (uneven illumination, thickness), smooth in z.
    """
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    zz, yy, xx = np.meshgrid(*axes, indexing='ij', sparse=True)
    tilt = rng.standard_normal(3) * np.array([0.3, 1.0, 1.0])
    field = tilt[0] * zz + tilt[1] * yy + tilt[2] * xx
    for _ in range(3):
        at = rng.uniform(-1.0, 1.0, 2)
        width = rng.uniform(0.3, 0.8)
        bump = np.exp(-((yy - at[0]) ** 2 + (xx - at[1]) ** 2) / width**2)
        field = field + rng.normal() * bump
    field = np.broadcast_to(field, shape).astype(np.float32)
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def _quantised(tomogram: np.ndarray, bits: int) -> np.ndarray:
    """Round to ``2**bits`` levels between the 0.1 and 99.9 percentiles."""
    if bits <= 0:
        return tomogram
    low, high = np.percentile(tomogram[::4, ::4, ::4], (0.1, 99.9))
    step = (high - low) / (2**bits - 1) or 1.0
    levels = np.clip(np.round((tomogram - low) / step), 0, 2**bits - 1)
    return (low + levels * step).astype(np.float32)


def _filtered(
    density: np.ndarray, look: PhantomLook, voxel_size: float
) -> np.ndarray:
    shape = density.shape
    size = sfft.next_fast_len(shape[0] + 2 * _Z_PAD, real=True)
    padded = np.zeros((size, *shape[1:]), dtype=np.float32)
    start = (size - shape[0]) // 2
    padded[start : start + shape[0]] = density
    spectrum = sfft.rfftn(padded, workers=-1, overwrite_x=True)
    del padded
    _Frequencies((size, *shape[1:]), voxel_size).filter(spectrum, look)
    full = sfft.irfftn(spectrum, s=(size, *shape[1:]), workers=-1)
    return full[start : start + shape[0]]


def _noise(shape, look, voxel_size, rng) -> np.ndarray:
    # Noise is stationary, so it needs no padding: drawn on the
    # tomogram's own periodic grid, its wedge stays clean at the borders.
    freqs = _Frequencies(shape, voxel_size)
    spectrum = np.empty((*shape[:2], shape[2] // 2 + 1), dtype=np.complex64)
    freqs.fill_noise(spectrum, look, rng)
    return sfft.irfftn(spectrum, s=shape, workers=-1, overwrite_x=True)


def ctf(
    k: np.ndarray, defocus: float, deconvolution: float = 0.0
) -> np.ndarray:
    """Return the phase-flipped CTF at 300 kV, partly deconvolved.

    Parameters
    ----------
    k : ndarray
        Spatial frequency magnitude, 1/Å.
    defocus : float
        Underfocus, µm; 0 gives 1 everywhere (no CTF).
    deconvolution : float
        0: ``|CTF|``; towards 1 the transfer flattens to 1 except near
        the zeros, as a Wiener-type correction does.

    Returns
    -------
    ndarray
        Transfer in [0, 1].
    """
    if defocus <= 0:
        return np.ones_like(k)
    flipped = _flipped_ctf(k, defocus)
    strength = float(np.clip(deconvolution, 0.0, 1.0))
    return flipped / ((1.0 - strength) + strength * flipped + 1e-12)


def _flipped_ctf(k: np.ndarray, defocus: float) -> np.ndarray:
    k2 = k * k
    chi = np.pi * WAVELENGTH * defocus * 1e4 * k2 - (
        0.5 * np.pi * SPHERICAL_ABERRATION * WAVELENGTH**3 * k2 * k2
    )
    phase = np.sqrt(1.0 - AMPLITUDE_CONTRAST**2) * np.sin(chi)
    return np.abs(phase + AMPLITUDE_CONTRAST * np.cos(chi))


def lowpass(k: np.ndarray, resolution: float) -> np.ndarray:
    """Return a Gaussian low-pass that halves amplitude at 1/resolution."""
    if resolution <= 0:
        return np.ones_like(k)
    return np.exp(-np.log(2.0) * (k * resolution) ** 2)


def wedge_mask(kz: np.ndarray, kb: np.ndarray, wedge: float) -> np.ndarray:
    """Return the measured fraction of each frequency (1 outside the wedge).

    Parameters
    ----------
    kz : ndarray
        Frequency along z (the beam at zero tilt).
    kb : ndarray
        Frequency along the in-plane axis normal to the tilt axis.
    wedge : float
        Largest tilt, degrees; tilts in [-wedge, wedge] were recorded.

    Returns
    -------
    ndarray
        Soft mask: 0 inside the missing wedge, 1 outside.
    """
    if wedge >= 90:
        return np.ones(np.broadcast_shapes(kz.shape, kb.shape))
    # A frequency is recorded when its angle from the kb axis, seen in the
    # (kb, kz) plane, is at most the largest tilt.
    rho = np.hypot(kz, kb)
    sin_margin = np.sin(np.deg2rad(wedge)) * np.abs(kb) - np.cos(
        np.deg2rad(wedge)
    ) * np.abs(kz)
    margin = np.divide(sin_margin, rho, out=np.ones_like(rho), where=rho > 0)
    angle = np.arcsin(np.clip(margin, -1.0, 1.0))
    return np.clip(0.5 + angle / (2.0 * _WEDGE_SOFTNESS), 0.0, 1.0)


class _Frequencies:
    """The rfft frequency grid, filtered a few z planes at a time."""

    def __init__(self, shape: tuple[int, int, int], voxel_size: float):
        self.kz = sfft.fftfreq(shape[0], d=voxel_size)
        self.ky = sfft.fftfreq(shape[1], d=voxel_size)[:, None]
        self.kx = sfft.rfftfreq(shape[2], d=voxel_size)[None, :]
        self.kx_full = sfft.fftfreq(shape[2], d=voxel_size)
        self.plane = self.ky**2 + self.kx**2
        self.n_planes = shape[0]

    def _chunks(self, look):
        angle = np.deg2rad(look.tilt_axis)
        kb = -np.sin(angle) * self.kx + np.cos(angle) * self.ky
        for z0 in range(0, self.n_planes, _CHUNK):
            kz = self.kz[z0 : z0 + _CHUNK, None, None]
            k = np.sqrt(kz**2 + self.plane)
            yield slice(z0, z0 + _CHUNK), k, wedge_mask(kz, kb, look.wedge)

    def filter(self, spectrum: np.ndarray, look: PhantomLook) -> None:
        for part, k, wedge in self._chunks(look):
            tf = ctf(k, look.defocus, look.deconvolution)
            tf *= wedge * lowpass(k, look.resolution)
            spectrum[part] *= tf.astype(np.float32)

    def fill_noise(self, spectrum, look, rng) -> None:
        white = float(np.clip(look.noise_white, 0.0, 1.0))
        blur = look.resolution * NOISE_BLUR
        colour_power = self._mean_lowpass_power(blur)
        for part, k, wedge in self._chunks(look):
            power = (1.0 - white) * lowpass(k, blur) ** 2
            amplitude = wedge * np.sqrt(power / colour_power + white)
            draw = rng.standard_normal((*k.shape, 2), dtype=np.float32)
            spectrum[part] = draw.view(np.complex64)[..., 0] * amplitude

    def _mean_lowpass_power(self, resolution: float) -> float:
        # The Gaussian is separable, so its mean power over the grid is
        # the product of the three 1D means.
        axes = (self.kz, self.ky.ravel(), self.kx_full)
        means = [np.mean(lowpass(np.abs(k), resolution) ** 2) for k in axes]
        return float(np.prod(means))


def _signal_level(tomogram: np.ndarray, centres) -> float:
    if centres is not None and len(centres):
        at = np.round(np.asarray(centres)).astype(int)[:, None] + _BALL - 2
        at = at.reshape(-1, 3)
        at = at[np.all((at >= 0) & (at < tomogram.shape), axis=1)]
        if len(at):
            values = tomogram[tuple(at.T)].astype(np.float64)
            values -= tomogram.mean(dtype=np.float64)
            level = float(np.sqrt(np.mean(values**2)))
            if level > 0:
                return level
    level = float(tomogram.std())
    return level if level > 0 else 1.0


def _display(tomogram: np.ndarray, look: PhantomLook) -> np.ndarray:
    tomogram -= np.float32(tomogram.mean(dtype=np.float64))
    spread = float(tomogram.std(dtype=np.float64))
    gain = look.polarity * look.scale / (spread if spread > 0 else 1.0)
    tomogram *= np.float32(gain)
    tomogram += np.float32(look.offset)
    return np.ascontiguousarray(tomogram, dtype=np.float32)
