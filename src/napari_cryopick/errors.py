"""The one exception type users see.

Every reader, writer and command raises :class:`CryopickError` for bad
input. Its message is one line that names the input and what is wrong,
so the command line can print it as it is and exit non-zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class CryopickError(Exception):
    """Bad input or a failed operation, described in one line."""


def input_error(path: str | Path, problem: str) -> CryopickError:
    """Build a :class:`CryopickError` that names ``path``.

    Parameters
    ----------
    path : str or Path
        The offending input.
    problem : str
        What is wrong with it, without a trailing full stop.

    Returns
    -------
    CryopickError
        The error, ready to raise.
    """
    message = f'{path}: {problem}'
    return CryopickError(' '.join(message.split()))


class OutputExistsError(CryopickError):
    """An output file or folder exists and was not to be replaced.

    The command line adds which option replaces it (``--overwrite``).
    """


def exists_error(path: str | Path) -> OutputExistsError:
    """Build the error for an output ``path`` that already exists."""
    return OutputExistsError(f'{path}: already exists, not overwritten')
