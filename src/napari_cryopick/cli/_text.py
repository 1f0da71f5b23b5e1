"""Small text helpers shared by the commands."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """Return ``'1 run'``, ``'2 runs'``, ``'0 runs'``."""
    return f'{count} {word}' + ('' if count == 1 else 's')
