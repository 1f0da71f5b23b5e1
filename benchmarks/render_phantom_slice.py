"""Render docs/images/phantom_slice.png from full-size phantoms.

Layout, top to bottom: the central z-slice (x-y) of a CZII-sized phantom
with the default look; its x-z slice through the middle row (the missing
wedge elongates and streaks along z); the same scene's top-left quarter
under two random looks (``PhantomLook.random(1)``, ``random(3)``). Grey,
contrast from the 1st to 99th percentile of each panel. Needs no
matplotlib: the PNG is written with zlib and struct.

Usage: python benchmarks/render_phantom_slice.py [OUT.png] [--seed S]
"""

from __future__ import annotations

import argparse
import struct
import time
import zlib
from pathlib import Path

import numpy as np

from napari_cryopick.simulate import (
    PhantomLook,
    PhantomParams,
    simulate_tomogram,
)

GAP = 6
DEFAULT_OUT = Path(__file__).parents[1] / 'docs/images/phantom_slice.png'


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a 2D uint8 array as an 8-bit greyscale PNG."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    rows = b''.join(b'\x00' + row.tobytes() for row in image)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return (
            struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)
        )

    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
    png += chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b'')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def grey(panel: np.ndarray) -> np.ndarray:
    """Map the 1st-99th percentile of ``panel`` to 0-255."""
    low, high = np.percentile(panel, [1, 99])
    scaled = (panel - low) / max(high - low, 1e-30)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def simulate(seed: int, look: PhantomLook) -> np.ndarray:
    start = time.perf_counter()
    phantom = simulate_tomogram(PhantomParams(look=look), seed)
    print(f'simulated in {time.perf_counter() - start:.1f} s: {look}')
    return phantom.volume


def compose(default: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    nz, ny, nx = default.shape
    xy = grey(default[nz // 2])
    xz = grey(default[:, ny // 2, :])
    half = (nx - GAP) // 2
    quarter = [grey(v[nz // 2, :half, :half]) for v in others]
    bottom = np.full((half, nx), 255, np.uint8)
    bottom[:, :half] = quarter[0]
    bottom[:, nx - half :] = quarter[1]
    gap = np.full((GAP, nx), 255, np.uint8)
    return np.vstack([xy, gap, xz, gap, bottom])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', nargs='?', type=Path, default=DEFAULT_OUT)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    default = simulate(args.seed, PhantomLook())
    others = [simulate(args.seed, PhantomLook.random(s)) for s in (1, 3)]
    write_png(args.out, compose(default, others))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
