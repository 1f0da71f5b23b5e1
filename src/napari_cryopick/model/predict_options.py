"""What every job of a ``cryopick predict`` call shares.

Apart from :mod:`napari_cryopick.model.jobs` (the work) and
:mod:`napari_cryopick.model.record` (what a finished run records), which
both need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from napari_cryopick.export import ExportSettings

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class PredictOptions:
    """What every job of a ``cryopick predict`` call shares.

    ``min_score``, when set, keeps the picks scoring at least that in
    every class instead of applying the model's per-class thresholds.
    ``cross_class`` keeps one class per particle among the kept picks
    (:func:`~napari_cryopick.model.peaks.suppress_across_classes`); off
    by default, as it cost F4 on noisy phantoms (docs/benchmarks.md).
    """

    out: Path
    model: Path | tuple[Path, ...] | None = None
    user_id: str = ExportSettings.user_id
    session_id: str = ExportSettings.session_id
    tta: bool = False
    force: bool = False
    threads: int = 0
    min_score: float | None = None
    voxel_size: float | None = None
    classes: tuple[str, ...] | None = None
    allow_coarse: bool = False
    cross_class: bool = False
    signal_check: bool = True
    likeness_check: bool = True
    device: str = 'auto'
    amp: bool = False
