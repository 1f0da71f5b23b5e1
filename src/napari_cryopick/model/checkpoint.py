"""Checkpoints: weights plus a JSON model card, never a pickle.

A checkpoint is one safetensors file: the tensors of the network's
state dict, and the card (architecture, classes, voxel size, thresholds,
training recipe, measured scores) as JSON in the file's metadata.
safetensors holds only tensors and strings, so loading a hostile file
can never run code; a file that is not such a checkpoint gets a clear
one-line error.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from napari_cryopick.classes import ParticleClass
from napari_cryopick.errors import input_error
from napari_cryopick.io.atomic import check_parent, make_readable
from napari_cryopick.model.config import NetworkConfig, build_network
from napari_cryopick.model.likeness import Likeness

FORMAT = 'napari-cryopick-checkpoint'
FORMAT_VERSION = 1
CARD_KEY = 'cryopick_card'
#: The largest header safetensors itself accepts (bytes).
MAX_HEADER = 100_000_000
BUNDLED_NAME = 'cryopick-czii-v1.safetensors'


#: The models shipped inside the package, by the short name that
#: ``--model`` accepts.
SHIPPED = {
    'v1': 'cryopick-czii-v1.safetensors',
    'v2': 'cryopick-czii-v2.safetensors',
}


def bundled_checkpoint() -> Path:
    """Return the path of the model shipped inside the package."""
    return Path(
        str(files('napari_cryopick') / 'data' / 'models' / BUNDLED_NAME)
    )


@dataclass(frozen=True)
class ModelCard:
    """A model card: the typed fields every part needs, validated.

    Parameters
    ----------
    network : NetworkConfig
        The architecture.
    classes : tuple of ParticleClass
        The classes the network predicts, in label order.
    voxel_size : float
        Voxel size in Å of the grid the network runs on.
    thresholds : dict
        Per-class score thresholds (F4-optimal on held-out data).
    name : str
        The model's name.
    likeness : dict
        :class:`~napari_cryopick.model.likeness.Likeness` of classes
        learnt from clicks, by class name (their picks must look like
        the clicks).
    record : dict
        The whole card as JSON (training data and recipe, measured
        scores, fine-tuning history...), the typed fields included.
    """

    network: NetworkConfig
    classes: tuple[ParticleClass, ...]
    voxel_size: float
    thresholds: dict[str, float] = field(default_factory=dict)
    name: str = 'model'
    likeness: dict = field(default_factory=dict, compare=False, repr=False)
    record: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, card: dict, source: str | Path = 'model card'):
        """Validate a card read from JSON; ``source`` names it in errors.

        Raises
        ------
        CryopickError
            One line naming ``source`` and the first field that is
            missing or malformed.
        """
        if not isinstance(card, dict):
            raise input_error(source, 'model card is not a JSON object')
        for key in ('network', 'classes', 'voxel_size'):
            if key not in card:
                raise input_error(source, f'model card lacks {key!r}')
        try:
            network = NetworkConfig.from_dict(card['network'])
            classes = classes_from_card(card)
            voxel_size = float(card['voxel_size'])
            thresholds = {
                str(k): float(v)
                for k, v in (card.get('thresholds') or {}).items()
            }
            likeness = {
                str(k): Likeness.from_dict(v)
                for k, v in (card.get('likeness') or {}).items()
            }
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            problem = str(err).strip().splitlines()[0] or type(err).__name__
            raise input_error(
                source, f'malformed model card ({problem})'
            ) from None
        if not classes or not np.isfinite(voxel_size) or voxel_size <= 0:
            raise input_error(
                source,
                'malformed model card (no classes, or a voxel '
                'size that is not a positive number)',
            )
        if network.out_channels != len(classes) + 1:
            raise input_error(
                source,
                f'malformed model card ({network.out_channels} output '
                f'channels for {len(classes)} classes and background)',
            )
        return cls(
            network,
            classes,
            voxel_size,
            thresholds,
            str(card.get('name', 'model')),
            likeness,
            copy.deepcopy(card),
        )

    def to_dict(self) -> dict:
        """Return the card as JSON-ready data (a fresh copy)."""
        card = copy.deepcopy(self.record)
        card.update(
            name=self.name,
            network=self.network.to_dict(),
            classes=classes_to_card(self.classes),
            voxel_size=self.voxel_size,
            thresholds=dict(self.thresholds),
        )
        return card

    @property
    def radius_fraction(self) -> float | None:
        """Target sphere radius over class radius it was trained with."""
        value = self.record.get('target', {}).get('radius_fraction')
        return None if value is None else float(value)


def resolve_checkpoint(path: str | Path | None) -> Path:
    """Return the file a ``--model`` value names.

    ``None`` is the bundled model; a shipped model's short name (``v1``)
    is its file inside the package, unless a file of that name exists.
    """
    if path is None:
        return bundled_checkpoint()
    if str(path) in SHIPPED and not Path(path).is_file():
        return named_checkpoint(str(path))
    return Path(path)


def named_checkpoint(name: str) -> Path:
    """Return the path of a shipped model by its short name (``v1``).

    Parameters
    ----------
    name : str
        A key of :data:`SHIPPED`.

    Returns
    -------
    Path
        The ``.safetensors`` file inside the package.
    """
    return bundled_checkpoint().with_name(SHIPPED[name])


@dataclass
class LoadedModel:
    """A network in eval mode and its card."""

    network: object
    card: ModelCard
    path: Path

    @property
    def classes(self) -> tuple[ParticleClass, ...]:
        """The classes the network predicts, in label order."""
        return self.card.classes

    @property
    def voxel_size(self) -> float:
        """Voxel size in Å of the grid the network runs on."""
        return self.card.voxel_size

    @property
    def thresholds(self) -> dict[str, float]:
        """Per-class score thresholds (F4-optimal on held-out data)."""
        return dict(self.card.thresholds)


def classes_to_card(classes) -> list[dict]:
    """Serialise classes for a card.

    A class's ``metadata`` (e.g. ``origin``: where a class added by
    fine-tuning came from) is kept when it has any.
    """
    entries = []
    for c in classes:
        entry = {
            'name': c.name,
            'label': c.label,
            'radius': c.radius,
            'weight': c.weight,
            'color': list(c.color),
            'pdb_id': c.pdb_id,
        }
        if c.metadata:
            entry['metadata'] = copy.deepcopy(c.metadata)
        entries.append(entry)
    return entries


def classes_from_card(card: dict) -> tuple[ParticleClass, ...]:
    """Rebuild the classes stored in a card."""
    return tuple(
        ParticleClass(
            name=str(c['name']),
            label=int(c['label']),
            radius=float(c['radius']),
            weight=float(c['weight']),
            color=tuple(int(v) for v in c['color']),
            pdb_id=c.get('pdb_id'),
            metadata=dict(c.get('metadata') or {}),
        )
        for c in card['classes']
    )


def save_checkpoint(path: str | Path, network, card: ModelCard | dict) -> Path:
    """Write ``network``'s weights and ``card`` to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination ``.safetensors`` file.
    network : torch.nn.Module
        The network.
    card : ModelCard or dict
        The model card, or its JSON form (validated by
        :meth:`ModelCard.from_dict`).

    Returns
    -------
    Path
        The file written.
    """
    from safetensors.torch import save_file

    if not isinstance(card, ModelCard):
        card = ModelCard.from_dict(card)
    path = check_parent(path)
    card = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        **card.to_dict(),
    }
    tensors = {
        k: v.detach().contiguous().cpu()
        for k, v in network.state_dict().items()
    }
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={CARD_KEY: json.dumps(card)})
        make_readable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_card(path: str | Path) -> ModelCard:
    """Return the model card of a checkpoint without loading weights.

    Raises
    ------
    CryopickError
        If the file is missing, not a checkpoint, or its card is
        malformed (the message names the file and the field).
    """
    path = _existing(path)
    try:
        metadata = _safetensors_metadata(path)
    except (OSError, ValueError) as err:
        raise input_error(
            path, f'not a safetensors checkpoint ({err})'
        ) from None
    try:
        card = json.loads(metadata[CARD_KEY])
    except (KeyError, ValueError):
        raise input_error(
            path, 'safetensors file without a cryopick model card'
        ) from None
    if not isinstance(card, dict) or card.get('format') != FORMAT:
        raise input_error(path, 'not a napari-cryopick checkpoint')
    return ModelCard.from_dict(card, path)


def _safetensors_metadata(path: Path) -> dict:
    """Return the ``__metadata__`` strings of a safetensors header.

    Read in plain Python (an 8-byte little-endian length, then that
    many bytes of JSON: the format's whole header) rather than through
    the safetensors extension: the Pick widget reads a card as it docks,
    and loading the extension waited for the dynamic loader while the
    warm-up thread was loading libtorch (0.3 s of a frozen window).
    """
    with open(path, 'rb') as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError('shorter than a header')
        size = int.from_bytes(head, 'little')
        if size > min(MAX_HEADER, path.stat().st_size - 8):
            raise ValueError(f'header length {size} does not fit the file')
        header = json.loads(handle.read(size))
    if not isinstance(header, dict):
        raise ValueError('header is not a JSON object')
    metadata = header.get('__metadata__') or {}
    if not isinstance(metadata, dict):
        raise ValueError('__metadata__ is not a JSON object')
    return metadata


def load_checkpoint(path: str | Path | None = None) -> LoadedModel:
    """Load a checkpoint (default: the bundled model) in eval mode.

    Parameters
    ----------
    path : str or Path, optional
        The ``.safetensors`` file, or the short name of a shipped model
        (``v1``; see :data:`SHIPPED`).

    Returns
    -------
    LoadedModel
        Network and card.

    Raises
    ------
    CryopickError
        If the file is missing, not a checkpoint, its card is malformed,
        or its weights do not fit the architecture its card names.
    """
    from safetensors.torch import load_file

    path = _existing(resolve_checkpoint(path))
    card = read_card(path)
    try:
        network = build_network(card.network)
        network.load_state_dict(load_file(str(path)))
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        problem = str(err).strip().splitlines()[0]
        raise input_error(
            path, f'weights do not fit the card ({problem})'
        ) from None
    network.eval()
    return LoadedModel(network, card, path)


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise input_error(path, 'no such checkpoint file')
    return path
