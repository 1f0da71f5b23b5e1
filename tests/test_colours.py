"""Class colours: distinct for colour-blind readers and from the fills
that mark hits and false positives."""

import itertools

import numpy as np
import pytest

from napari_cryopick.classes import (
    CZII_CLASSES,
    FORMER_CZII_COLOURS,
    ParticleClass,
    display_color,
)
from napari_cryopick.viewer.scoring import FALSE, HIT

#: Machado, Oliveira & Fernandes (2009), full severity, on linear RGB.
CVD = {
    'normal': np.eye(3),
    'protanopia': [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ],
    'deuteranopia': [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ],
    'tritanopia': [
        [1.255528, -0.076749, -0.178779],
        [-0.078411, 0.930809, 0.147602],
        [0.004733, 0.691367, 0.303900],
    ],
}


def _seen(rgb255, vision):
    srgb = np.asarray(rgb255, float)[..., :3] / 255
    linear = np.where(
        srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4
    )
    return np.clip(linear @ np.asarray(CVD[vision]).T, 0, 1)


def _closest(colours, vision) -> float:
    seen = _seen(colours, vision)
    return min(
        np.linalg.norm(a - b) for a, b in itertools.combinations(seen, 2)
    )


@pytest.mark.parametrize('vision', list(CVD))
def test_class_colours_stay_apart_for_every_reader(vision):
    colours = [display_color(c) for c in CZII_CLASSES]
    assert _closest(colours, vision) > 0.1
    # The former colours (two greens) did not: the check can fail.
    assert _closest(list(FORMER_CZII_COLOURS.values()), 'protanopia') < 0.1


def test_hit_and_false_fills_are_not_class_colours():
    # Light and dark, not hues: far from every class colour's lightness
    # or saturation.
    fills = [np.array(HIT[:3]) * 255, np.array(FALSE[:3]) * 255]
    for fill in fills:
        for particle in CZII_CLASSES:
            colour = display_color(particle)[:3]
            seen = _seen([fill, colour], 'deuteranopia')
            assert np.linalg.norm(seen[0] - seen[1]) > 0.3, particle.name


def test_cards_in_the_former_colours_are_drawn_in_the_palette():
    old = ParticleClass('ribosome', 4, 150.0, color=(0, 92, 49, 255))
    assert display_color(old) == CZII_CLASSES[3].color
    mine = ParticleClass('ribosome', 4, 150.0, color=(1, 2, 3, 255))
    assert display_color(mine) == (1, 2, 3, 255)


def test_new_classes_get_colours_apart_from_the_czii_ones():
    from napari_cryopick.classes import extend_classes

    # A card written before the palette: its classes are drawn in it.
    old_card = tuple(
        ParticleClass(c.name, c.label, c.radius, color=FORMER_CZII_COLOURS[n])
        for n, c in ((c.name, c) for c in CZII_CLASSES)
    )
    new = tuple(
        ParticleClass(f'protein{i}', 0, 80.0, color=(0, 0, 0, 0))
        for i in range(3)
    )
    for known in (CZII_CLASSES, old_card):
        added = extend_classes(known, new)
        shown = [display_color(c) for c in known] + [c.color for c in added]
        assert len(set(shown)) == len(shown)
        assert _closest(shown, 'normal') > 0.1
