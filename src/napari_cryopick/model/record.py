"""What made a run's picks: the model and settings, kept beside them.

``cryopick predict`` skips a run that is already done, but only when the
picks there came from the same model (by content: the checkpoint files'
SHA-256) and the same settings that change picks (TTA, score floor,
classes...). The record is a small JSON file per run, user and session,
``OUT/ExperimentRuns/<run>/.cryopick/<user>_<session>.json``, hidden so
copick sees only its own files. Picks without a record, or with another
one, are never taken as done and never replaced without ``--force``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import TYPE_CHECKING

from napari_cryopick.errors import input_error
from napari_cryopick.io.atomic import check_path, write_text
from napari_cryopick.io.names import picks_file_name, sanitize_name

if TYPE_CHECKING:
    from pathlib import Path

    from napari_cryopick.model.predict_options import PredictOptions

FORMAT = 'napari-cryopick-predict-record'
#: PredictOptions fields that do not change the picks.
_NOT_SETTINGS = frozenset(
    {'out', 'model', 'user_id', 'session_id', 'force', 'threads', 'device'}
)


def record_path(options: PredictOptions, run: str) -> Path:
    """Return the record file of ``run`` for this user and session."""
    name = (
        f'{sanitize_name(options.user_id)}_'
        f'{sanitize_name(options.session_id)}.json'
    )
    return options.out / 'ExperimentRuns' / run / '.cryopick' / name


def make_record(options: PredictOptions) -> dict:
    """Return the record of the model and settings ``options`` name.

    Parameters
    ----------
    options : PredictOptions
        The predict call's options.

    Returns
    -------
    dict
        ``{'format', 'model': [{'name', 'sha256'}...], 'settings': {...}}``,
        JSON-serialisable.
    """
    return {
        'format': FORMAT,
        'model': [_model_entry(p) for p in _checkpoints(options.model)],
        'settings': {
            f.name: _plain(getattr(options, f.name))
            for f in dataclasses.fields(options)
            if f.name not in _NOT_SETTINGS
        },
    }


def read_record(path: Path) -> dict | None:
    """Return the record at ``path``, or ``None`` if absent or unreadable."""
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` atomically."""
    write_text(path, json.dumps(record, indent=2) + '\n')


def differences(old: dict | None, new: dict) -> str:
    """Say in a few words how ``old`` differs from ``new`` ('' if not).

    Parameters
    ----------
    old : dict or None
        The record found beside the picks (``None``: no record).
    new : dict
        The record of this call.

    Returns
    -------
    str
        E.g. ``'another model (cryopick-czii-v1)'`` or
        ``'tta=False (now True)'``; empty when they match.
    """
    if old is None:
        return 'no record of the model and settings that made them'
    said = []
    if _hashes(old) != _hashes(new):
        names = ', '.join(m.get('name', '?') for m in old.get('model', []))
        said.append(f'another model ({names or "unknown"})')
    before, now = old.get('settings', {}), new['settings']
    for key in sorted(set(before) | set(now)):
        if before.get(key) != now.get(key):
            said.append(f'{key}={before.get(key)!r} (now {now.get(key)!r})')
    return ', '.join(said)


def check_run(options: PredictOptions, run: str, files) -> bool:
    """Return whether ``run`` is done with this model and these settings.

    Parameters
    ----------
    options : PredictOptions
        The predict call's options.
    run : str
        Run name.
    files : list of Path
        The picks files a finished run has.

    Returns
    -------
    bool
        True when every picks file exists and the record matches (skip
        the run); False when there is nothing there yet, or ``--force``.

    Raises
    ------
    CryopickError
        When picks of this user and session exist but were made with
        another model or settings (or no record says how), and
        ``options.force`` is not set: they are not replaced silently.
    """
    if options.force:
        return False
    path = record_path(options, run)
    present = [f for f in files if f.exists()]
    if not present and not path.exists():
        return False
    old = read_record(path)
    changed = differences(old, make_record(options))
    if not changed:
        # A record with a file missing is a run killed half-way: redo.
        return len(present) == len(files)
    raise input_error(
        options.out,
        f'run {run} already has picks of user {options.user_id} session '
        f'{options.session_id}, made with {changed}: --force replaces '
        'them, or choose another --out or --session-id',
    )


def output_files(options: PredictOptions, run: str, classes) -> list[Path]:
    """Return the picks files a finished run has under ``options.out``."""
    folder = options.out / 'ExperimentRuns' / run / 'Picks'
    return [
        folder / picks_file_name(options.user_id, options.session_id, c.name)
        for c in classes
    ]


def check_runs(options: PredictOptions, runs, classes) -> None:
    """Check every run before any is picked (see :func:`check_run`).

    Raises
    ------
    CryopickError
        If ``options.out`` is not a folder one can write into, or a run
        holds picks of other settings.
    """
    check_path(options.out, folder=True)
    for run in runs:
        check_run(options, run, output_files(options, run, classes))


def _checkpoints(model) -> list[Path]:
    from napari_cryopick.model.checkpoint import resolve_checkpoint

    if isinstance(model, tuple | list):
        paths = list(model)
    else:
        paths = [model] if model else []
    return [resolve_checkpoint(p) for p in paths or [None]]


def _model_entry(path: Path) -> dict:
    from napari_cryopick.model.checkpoint import read_card

    try:
        stat = path.stat()
    except OSError as err:
        raise input_error(path, f'cannot read ({err.strerror})') from None
    name = read_card(path).record.get('name', path.stem)
    return {
        'name': name,
        'sha256': _sha256(path, stat.st_mtime_ns, stat.st_size),
    }


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, mtime_ns: int, size: int) -> str:
    """Hash a checkpoint once per content version (mtime and size key)."""
    digest = hashlib.sha256()
    with path.open('rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _hashes(record: dict) -> list:
    return [m.get('sha256') for m in record.get('model', [])]


def _plain(value):
    """Return ``value`` as JSON would read it back (tuples as lists)."""
    return json.loads(json.dumps(value, default=str))
