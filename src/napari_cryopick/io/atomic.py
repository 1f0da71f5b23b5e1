"""Write files and folders so that a failure leaves nothing half-done.

Everything is first written next to its destination under a hidden
temporary name, then renamed into place: a rename within one file system
is atomic, so a reader sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from napari_cryopick.errors import exists_error, input_error

if TYPE_CHECKING:
    from collections.abc import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path: str | Path) -> None:
    """Give a temporary file the mode a plain ``open()`` would have.

    ``mkstemp`` makes files private (0600); results should be readable by
    others on a shared machine, as any file the user writes.
    """
    os.chmod(path, 0o666 & ~_umask())


def check_parent(path: str | Path) -> Path:
    """Make the parent folder of ``path``, with a clear error if it can't.

    Parameters
    ----------
    path : str or Path
        The file or folder about to be written.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    CryopickError
        If a parent is a regular file or cannot be created.
    """
    path = Path(path)
    _check_parents(path, path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise input_error(
            path, f'cannot create folder ({err.strerror})'
        ) from None
    return path


def check_path(path: str | Path, folder: bool = False) -> Path:
    """Refuse an output path that a file stands in the way of; create none.

    Parameters
    ----------
    path : str or Path
        The file or folder about to be written.
    folder : bool
        ``path`` itself is to be a folder (else a file).

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    CryopickError
        If a parent (or, for a folder, ``path`` itself) is a regular
        file, or a file's ``path`` is a folder.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise input_error(path, 'is a folder, not a file')
    _check_parents(path, path if folder else path.parent)
    return path


def _check_parents(path: Path, first: Path) -> None:
    for parent in [first, *first.parents]:
        if parent.exists() and not parent.is_dir():
            raise input_error(path, f'{parent} is a file, not a folder')
        if parent.exists():
            break


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file, rename).

    Parameters
    ----------
    path : str or Path
        Destination file.
    text : str
        Content.

    Returns
    -------
    Path
        The destination.
    """
    path = check_parent(path)
    if path.is_dir():
        raise input_error(path, 'is a folder, not a file')
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        make_readable(tmp)
        with os.fdopen(fd, 'w', encoding='utf-8', newline='') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``path`` on success.

    On an exception the temporary folder is removed and ``path`` is left
    as it was.

    Parameters
    ----------
    path : str or Path
        The folder to create (e.g. a ``.zarr`` store).
    overwrite : bool
        Replace an existing ``path``; otherwise an existing one is an error.

    Yields
    ------
    Path
        The temporary folder to write into.
    """
    path = check_parent(path)
    if path.exists() and not overwrite:
        raise exists_error(path)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
        yield tmp
        if path.exists():
            old = path.with_name(f'.{path.name}.old-{os.getpid()}')
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
