"""Writing a Picks table: one service, one set of defaults (no Qt here).

``cryopick export``, the napari writers and the Export widget all write
through :func:`export_picks` with :class:`ExportSettings`, so a copick
user or session, a score column or an overwrite means the same whatever
route the picks take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from napari_cryopick.errors import input_error
from napari_cryopick.io.names import sanitize_name

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

    from napari_cryopick.classes import ParticleClass

#: Formats by name: a copick project, a Kaggle CSV, RELION 5 and 4 STAR.
FORMATS = ('copick', 'csv', 'star', 'relion4')


@dataclass(frozen=True)
class ExportSettings:
    """How picks are written.

    Parameters
    ----------
    user_id, session_id : str
        copick user and session of the files written (made copick-safe:
        no ``_``, no path characters).
    include_score : bool
        Add a ``score`` column to a CSV (the Kaggle format has none).
    split_classes : bool
        STAR: one file per class, ``OUT_<class>.star``.
    overwrite : bool
        Replace existing files; otherwise an existing one is an error.
    """

    user_id: str = 'cryopick'
    session_id: str = '0'
    include_score: bool = False
    split_classes: bool = False
    overwrite: bool = False

    def copick_ids(self) -> tuple[str, str]:
        """Return the copick-safe user and session (defaults if blank)."""
        defaults = ExportSettings()
        return (
            _safe(self.user_id) or defaults.user_id,
            _safe(self.session_id) or defaults.session_id,
        )


def _safe(name: str) -> str:
    return sanitize_name(name) if str(name).strip() else ''


def export_picks(
    table: pd.DataFrame,
    out: str | Path,
    fmt: str,
    settings: ExportSettings = ExportSettings(),  # noqa: B008 - frozen
    *,
    classes: Sequence[ParticleClass] | None = None,
    runs: Sequence[str] | None = None,
    voxel_size: float | None = None,
    geometries: Mapping | None = None,
) -> list[Path]:
    """Write ``table`` to ``out`` in format ``fmt``; return the files.

    Parameters
    ----------
    table : DataFrame
        Picks table.
    out : str or Path
        A project folder (``copick``) or a file (``csv``, ``star``,
        ``relion4``).
    fmt : str
        One of :data:`FORMATS`.
    settings : ExportSettings
        Ids, columns and overwriting.
    classes : sequence of ParticleClass, optional
        The classes (copick: a file per class even when empty, and the
        config's objects; STAR: class numbers). Default: those present.
    runs : sequence of str, optional
        copick: the runs to write (a file per class even when empty).
    voxel_size : float, optional
        copick: the ``voxel_spacing`` recorded; RELION 4: the pixel size.
    geometries : mapping, optional
        STAR: ``{run: TomogramGeometry}`` to centre RELION 5 coordinates
        and give RELION 4 pixels.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    CryopickError
        An unknown format, a STAR file without what its coordinates
        need, or a file that exists without ``overwrite``.
    """
    out = Path(out)
    if fmt == 'csv':
        from napari_cryopick.io.kaggle_csv import write_picks_csv

        return [
            write_picks_csv(
                table,
                out,
                include_score=settings.include_score,
                overwrite=settings.overwrite,
            )
        ]
    if fmt == 'copick':
        return _copick(table, out, settings, classes, runs, voxel_size)
    if fmt in ('star', 'relion4'):
        return _star(
            table, out, fmt, settings, classes, voxel_size, geometries
        )
    raise input_error(
        out, f'unknown format {fmt!r} (use {", ".join(FORMATS)})'
    )


def _copick(table, out, settings, classes, runs, voxel_size) -> list[Path]:
    from napari_cryopick.io.copick_config import write_copick_config
    from napari_cryopick.io.copick_json import write_picks_json

    user, session = settings.copick_ids()
    files = write_picks_json(
        table,
        out,
        user,
        session,
        object_names=None if classes is None else [c.name for c in classes],
        runs=runs,
        voxel_spacing=voxel_size,
        overwrite=settings.overwrite,
    )
    write_copick_config(out, None if classes is None else tuple(classes))
    return files


def _star(table, out, fmt, settings, classes, voxel_size, geometries):
    from napari_cryopick.io.star_common import RELION4, RELION5
    from napari_cryopick.io.star_write import write_star

    flavour = RELION5 if fmt == 'star' else RELION4
    if not geometries and (flavour == RELION5 or not voxel_size):
        need = (
            'centred Å coordinates (RELION 5) need the tomograms'
            if flavour == RELION5
            else 'pixel coordinates need a voxel size or the tomograms'
        )
        raise input_error(out, need)
    return write_star(
        table,
        out,
        flavour,
        geometries or None,
        voxel_size=voxel_size,
        classes=classes,
        split_classes=settings.split_classes,
        overwrite=settings.overwrite,
    )
