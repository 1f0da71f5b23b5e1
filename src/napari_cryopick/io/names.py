"""copick naming rules for users, sessions and objects."""

from __future__ import annotations

import re

# copick splits picks file names on '_' into user, session and object, so
# none of the three may contain one; this mirrors copick's sanitize_name.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\s_]')


def sanitize_name(name: str) -> str:
    r"""Return ``name`` made safe for a copick file name.

    Characters copick cannot carry in a picks file name (``<>:"/\\|?*``,
    control characters, whitespace and ``_``) become ``-``.

    Parameters
    ----------
    name : str
        A user id, session id or object name.

    Returns
    -------
    str
        The sanitised name (never empty).
    """
    cleaned = _UNSAFE.sub('-', str(name).strip())
    if not cleaned:
        raise ValueError('a copick name cannot be empty')
    return cleaned


def picks_file_name(user_id: str, session_id: str, object_name: str) -> str:
    """Return ``<user>_<session>_<object>.json`` with sanitised parts."""
    parts = (sanitize_name(p) for p in (user_id, session_id, object_name))
    return '_'.join(parts) + '.json'


def parse_picks_file_name(stem: str) -> tuple[str | None, str | None, str]:
    """Split a picks file stem into (user, session, object).

    A stem without underscores is a Kaggle overlay file named after its
    object alone; user and session are then ``None`` (read them from the
    file body).
    """
    parts = stem.split('_')
    if len(parts) == 1:
        return None, None, stem
    if len(parts) < 3:
        raise ValueError(f'{stem!r} is not <user>_<session>_<object>')
    # An object name never holds '_' in copick, but be lenient with extra
    # parts and keep them in the object name rather than fail.
    return parts[0], parts[1], '_'.join(parts[2:])
