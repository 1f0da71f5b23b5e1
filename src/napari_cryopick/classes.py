"""Particle classes: the CZII table, or a copick config's objects.

A :class:`ParticleClass` holds what every part of the project needs to
know about one kind of particle: its name, integer label, radius in Å
(which sets the metric's match distance and the layer's point size), its
weight in the score and its display colour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from napari_cryopick.errors import input_error


@dataclass(frozen=True)
class ParticleClass:
    """One pickable particle class.

    Parameters
    ----------
    name : str
        copick object name (no underscores).
    label : int
        Integer label, 1 or more (0 is background).
    radius : float
        Particle radius in Å.
    weight : float
        Weight of the class in the CZII score (0: not scored).
    color : tuple of int
        RGBA, each 0-255, as copick stores it.
    pdb_id : str or None
        PDB identifier of the structure, when known.
    """

    name: str
    label: int
    radius: float
    weight: float = 1.0
    color: tuple[int, int, int, int] = (100, 100, 100, 255)
    pdb_id: str | None = None
    metadata: dict = field(default_factory=dict, compare=False)

    @property
    def rgba(self) -> tuple[float, float, float, float]:
        """Colour as floats in [0, 1], as napari wants it."""
        return tuple(c / 255.0 for c in self.color)

    def to_copick(self) -> dict:
        """Return the copick ``pickable_objects`` entry for this class."""
        entry = {
            'name': self.name,
            'is_particle': True,
            'label': self.label,
            'color': list(self.color),
            'radius': self.radius,
            'metadata': {'score_weight': self.weight, **self.metadata},
        }
        if self.pdb_id:
            entry['pdb_id'] = self.pdb_id
        return entry


#: Voxel size (Å) of the CZII tomograms, as their OME-Zarr metadata
#: says although their folder is named ``VoxelSpacing10.000`` (DESIGN §4).
CZII_VOXEL_SIZE = 10.012444

#: Okabe & Ito's colour-blind-safe palette (without black and
#: vermillion): six hues that stay apart for deuteranopes, protanopes
#: and tritanopes, none of them the white/dark fills that mark hits and
#: false positives (:mod:`napari_cryopick.viewer.scoring`).
OKABE_ITO = (
    (86, 180, 233, 255),  # sky blue
    (230, 159, 0, 255),  # orange
    (204, 121, 167, 255),  # reddish purple
    (0, 114, 178, 255),  # blue
    (240, 228, 66, 255),  # yellow
    (0, 158, 115, 255),  # bluish green
)

CZII_CLASSES: tuple[ParticleClass, ...] = (
    ParticleClass('apo-ferritin', 1, 60.0, 1.0, OKABE_ITO[0], '4V1W'),
    ParticleClass('beta-amylase', 2, 65.0, 0.0, OKABE_ITO[1], '1FA2'),
    ParticleClass('beta-galactosidase', 3, 90.0, 2.0, OKABE_ITO[2], '6X1Q'),
    ParticleClass('ribosome', 4, 150.0, 1.0, OKABE_ITO[3], '6EK0'),
    ParticleClass('thyroglobulin', 5, 130.0, 2.0, OKABE_ITO[4], '6SCJ'),
    ParticleClass('virus-like-particle', 6, 135.0, 1.0, OKABE_ITO[5], '6N4V'),
)


#: The CZII colours before :data:`OKABE_ITO` (two greens, a brown, a
#: dark purple): model cards written then still carry them.
FORMER_CZII_COLOURS = {
    'apo-ferritin': (0, 117, 220, 255),
    'beta-amylase': (153, 63, 0, 255),
    'beta-galactosidase': (76, 0, 92, 255),
    'ribosome': (0, 92, 49, 255),
    'thyroglobulin': (43, 206, 72, 255),
    'virus-like-particle': (255, 204, 153, 255),
}


def display_color(particle: ParticleClass) -> tuple[int, int, int, int]:
    """Return the RGBA (0-255) colour to draw ``particle`` in.

    Its own colour, except a CZII class still in its former colour (a
    model card written before the colour-blind-safe palette): that
    class's colour in :data:`CZII_CLASSES`.
    """
    color = tuple(int(c) for c in particle.color)
    if FORMER_CZII_COLOURS.get(particle.name) == color:
        return class_map()[particle.name].color
    return color


def default_classes() -> tuple[ParticleClass, ...]:
    """Return the six CZII classes (the default registry)."""
    return CZII_CLASSES


def class_map(
    classes: tuple[ParticleClass, ...] | None = None,
) -> dict[str, ParticleClass]:
    """Return ``{name: ParticleClass}`` for ``classes`` (default: CZII)."""
    return {c.name: c for c in (classes or CZII_CLASSES)}


def classes_from_copick_config(path: str | Path) -> tuple[ParticleClass, ...]:
    """Read particle classes from a copick ``copick_config.json``.

    Only objects with ``is_particle`` true (the default) become classes.
    The score weight comes from ``metadata.score_weight`` when present,
    else from the CZII table for a CZII name, else 1.

    Parameters
    ----------
    path : str or Path
        The config file.

    Returns
    -------
    tuple of ParticleClass
        The classes in file order.

    Raises
    ------
    CryopickError
        If the file is missing, not JSON, or lacks particle objects.
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise input_error(path, 'no such file') from None
    except (OSError, ValueError) as err:
        raise input_error(path, f'not a readable JSON file ({err})') from None
    objects = (
        config.get('pickable_objects') if isinstance(config, dict) else None
    )
    if not isinstance(objects, list):
        raise input_error(path, 'no "pickable_objects" list in copick config')
    classes = [_class_from_object(path, obj) for obj in objects]
    classes = tuple(c for c in classes if c is not None)
    if not classes:
        raise input_error(path, 'copick config lists no particle objects')
    return classes


def _class_from_object(path: Path, obj: dict) -> ParticleClass | None:
    if not isinstance(obj, dict) or 'name' not in obj:
        raise input_error(path, f'pickable object without a name: {obj!r}')
    if not obj.get('is_particle', True):
        return None
    name = str(obj['name'])
    known = class_map().get(name)
    radius = obj.get('radius') or (known.radius if known else None)
    if radius is None:
        raise input_error(path, f'object {name!r} has no radius')
    metadata = dict(obj.get('metadata') or {})
    weight = metadata.pop('score_weight', known.weight if known else 1.0)
    color = tuple(int(c) for c in obj.get('color') or (100, 100, 100, 255))
    if len(color) == 3:
        color = (*color, 255)
    return ParticleClass(
        name=name,
        label=int(obj.get('label', 1)),
        radius=float(radius),
        weight=float(weight),
        color=color,
        pdb_id=obj.get('pdb_id'),
        metadata=metadata,
    )


#: Colours given to new classes without one: distinct from the CZII
#: colours (:data:`OKABE_ITO`) and from each other, most distinct first
#: (Okabe-Ito's vermillion, then Paul Tol's muted scheme).
NEW_CLASS_COLOURS: tuple[tuple[int, int, int, int], ...] = (
    (213, 94, 0, 255),
    (136, 34, 85, 255),
    (51, 34, 136, 255),
    (153, 153, 51, 255),
    (204, 102, 119, 255),
    (68, 170, 153, 255),
    (221, 204, 119, 255),
    (136, 204, 238, 255),
)


def check_class_name(name: str, source: str = '--class') -> str:
    """Return ``name`` if it can name a copick object, else raise.

    copick file names join user, session and object with underscores
    (DESIGN §6), so an object name must have none; it must also be
    non-empty and free of path separators and spaces.

    Raises
    ------
    CryopickError
        One line naming ``source`` and the bad name.
    """
    name = str(name)
    bad = (
        not name or any(ch in name for ch in '_/\\ \t') or name != name.strip()
    )
    if bad:
        raise input_error(
            source,
            f'class name {name!r} must be non-empty, without underscores, '
            'spaces or slashes (copick joins names with underscores)',
        )
    return name


def parse_class_spec(text: str) -> ParticleClass:
    """Parse ``NAME:RADIUS_Å[:COLOUR]`` as given to ``--class``.

    The colour is ``#rrggbb`` or ``r,g,b`` (0-255); the label is 0 until
    the class joins a model (:func:`extend_classes`).

    Raises
    ------
    CryopickError
        For a missing or non-positive radius, a bad name or colour.
    """
    parts = str(text).split(':')
    if len(parts) not in (2, 3) or not parts[1].strip():
        raise input_error(
            f'--class {text}', 'expected NAME:RADIUS_Å (e.g. proteasome:85)'
        )
    name = check_class_name(parts[0].strip(), f'--class {text}')
    try:
        radius = float(parts[1])
    except ValueError:
        radius = float('nan')
    if not radius > 0 or radius == float('inf'):
        raise input_error(
            f'--class {text}', f'radius {parts[1]!r} is not a positive Å value'
        )
    colour = (
        parse_colour(parts[2], f'--class {text}') if len(parts) == 3 else None
    )
    return ParticleClass(name, 0, radius, color=colour or (0, 0, 0, 0))


def parse_colour(text: str, source: str) -> tuple[int, int, int, int]:
    """Return RGBA 0-255 from ``#rrggbb`` or ``r,g,b[,a]``."""
    text = text.strip()
    try:
        if text.startswith('#') and len(text) == 7:
            values = [int(text[i : i + 2], 16) for i in (1, 3, 5)]
        else:
            values = [int(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) == 3:
        values.append(255)
    if len(values) != 4 or not all(0 <= v <= 255 for v in values):
        raise input_error(source, f'colour {text!r} is not #rrggbb or r,g,b')
    return tuple(values)


def extend_classes(
    known: tuple[ParticleClass, ...],
    new: tuple[ParticleClass, ...],
    source: str = '--class',
) -> tuple[ParticleClass, ...]:
    """Return ``new`` with labels and colours, checked against ``known``.

    Labels follow the highest known label, in order; a class without a
    colour (alpha 0) gets the next free one of :data:`NEW_CLASS_COLOURS`.

    Raises
    ------
    CryopickError
        If a new class has the name of a known one (a known class keeps
        its radius: the model and the metric use it), or a name twice.
    """
    names = {c.name for c in known}
    seen: set[str] = set()
    label = max((c.label for c in known), default=0)
    # As drawn: a card in the former CZII colours shows the palette's.
    used = {display_color(c) for c in known}
    free = [c for c in NEW_CLASS_COLOURS if c not in used]
    out = []
    for cls in new:
        check_class_name(cls.name, source)
        if cls.name in names or cls.name in seen:
            raise input_error(source, f'class {cls.name!r} is already known')
        seen.add(cls.name)
        label += 1
        colour = cls.color
        if colour[3] == 0:
            colour = free.pop(0) if free else NEW_CLASS_COLOURS[label % 8]
        out.append(replace(cls, label=label, color=colour))
    return tuple(out)
