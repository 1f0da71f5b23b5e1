"""Say what a path holds before a reader chokes on it.

A reader's own error on the wrong kind of input is true but unhelpful: a
tomogram given as picks fails as "not valid JSON ('utf-8' codec can't
decode byte 0x8f...)", a folder of MRC files as "not a zarr store".
These checks look at the name and the first bytes only and name what
the path is and what the command wanted instead.
"""

from __future__ import annotations

from pathlib import Path

from napari_cryopick.errors import input_error
from napari_cryopick.io import project as prj

#: File suffixes of MRC tomograms (IMOD's .rec, .st and .ali included).
MRC_SUFFIXES = ('.mrc', '.rec', '.map', '.mrcs', '.st', '.ali')
TIFF_SUFFIXES = ('.tif', '.tiff')
#: File suffixes of tomograms cryopick opens.
TOMOGRAM_SUFFIXES = (*MRC_SUFFIXES, *TIFF_SUFFIXES)
PICKS_SUFFIXES = ('.json', '.csv', '.star')
_TOMOGRAMS = 'an OME-Zarr store, an MRC or TIFF file, or a project'
_PICKS = 'a project, a Picks folder, a picks JSON or a CSV'


def is_mrc(path: Path) -> bool:
    """Return whether ``path`` starts as MRC2014 does (``MAP `` at 208)."""
    try:
        with path.open('rb') as handle:
            handle.seek(208)
            return handle.read(4) == b'MAP '
    except OSError:
        return False


def is_binary(path: Path) -> bool:
    """Return whether the first 4 KiB of ``path`` are not UTF-8 text."""
    try:
        with path.open('rb') as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if b'\0' in head:
        return True
    try:
        head.decode('utf-8')
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the 4 KiB edge is still text.
        return err.start < len(head) - 3
    return False


def tomogram_files(folder: Path) -> list[Path]:
    """Return the tomogram files and OME-Zarr stores in ``folder``, sorted."""
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith('.')
        and (
            (p.is_file() and p.suffix.lower() in TOMOGRAM_SUFFIXES)
            or prj.is_zarr_store(p)
        )
    )


def check_tomogram(path: str | Path) -> Path:
    """Refuse, in one line, a path that cannot be a tomogram.

    Parameters
    ----------
    path : str or Path
        What the user gave as a tomogram.

    Returns
    -------
    Path
        ``path``, when it may be one (its reader has the last word).

    Raises
    ------
    CryopickError
        For a folder that is neither a zarr store nor a project (saying
        so when it holds tomogram files), a picks file, or a file whose
        name and first bytes are no tomogram format.
    """
    path = Path(path)
    if not path.exists():
        raise input_error(path, 'no such file or folder')
    if path.is_dir():
        if prj.is_zarr_store(path) or prj.is_project(path):
            return path
        files = tomogram_files(path)
        if files:
            shown = ', '.join(f.name for f in files[:3])
            more = ', ...' if len(files) > 3 else ''
            raise input_error(
                path,
                f'a folder of {len(files)} tomogram{"s" * (len(files) != 1)} '
                f'({shown}{more}), not '
                'one tomogram: open one of them (cryopick predict takes the '
                'folder and picks each)',
            )
        raise input_error(
            path,
            'not a tomogram: a folder that is neither an OME-Zarr store '
            '(no .zattrs or zarr.json) nor a project (no ExperimentRuns)',
        )
    suffix = path.suffix.lower()
    if suffix in TOMOGRAM_SUFFIXES or is_mrc(path):
        return path
    if suffix in PICKS_SUFFIXES:
        raise input_error(path, f'a picks file, not a tomogram ({_TOMOGRAMS})')
    raise input_error(
        path,
        f'not a tomogram format cryopick reads (it reads {_TOMOGRAMS}; '
        f'MRC files end in {", ".join(MRC_SUFFIXES)})',
    )


def check_picks(path: str | Path) -> Path:
    """Refuse, in one line, a path that holds a tomogram, not picks.

    Parameters
    ----------
    path : str or Path
        What the user gave as picks.

    Returns
    -------
    Path
        ``path``, when it may hold picks (its reader has the last word).

    Raises
    ------
    CryopickError
        For a tomogram file or store, or a binary file.
    """
    path = Path(path)
    if path.is_dir() and prj.is_zarr_store(path):
        raise input_error(path, f'an OME-Zarr tomogram, not picks ({_PICKS})')
    if not path.is_file():
        return path
    if path.suffix.lower() in TOMOGRAM_SUFFIXES or is_mrc(path):
        raise input_error(path, f'a tomogram, not picks ({_PICKS})')
    if is_binary(path):
        raise input_error(path, f'a binary file, not picks ({_PICKS})')
    return path
