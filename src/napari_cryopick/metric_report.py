"""Around the CZII metric: refusing a meaningless pair, and the score table.

:func:`check_overlap` says when two pick sets share no run or no class
(a wrong folder, other names), which :func:`~napari_cryopick.metric.
score_picks` would score 0.0 as if every pick were wrong;
:func:`format_score_table` and :func:`table_headers` are what the
command line and the Score widget show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_cryopick.classes import CZII_CLASSES
from napari_cryopick.errors import CryopickError
from napari_cryopick.metric import require_columns

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from napari_cryopick.classes import ParticleClass
    from napari_cryopick.metric import ScoreResult


def check_overlap(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    classes: Sequence[ParticleClass] | None = None,
    names: tuple[str, str] = ('reference', 'candidate'),
) -> list[str]:
    """Refuse a pair of tables whose score would mean nothing.

    :func:`score_picks` ignores candidate runs the reference lacks and
    classes the class table lacks, so two sets that share no run (a
    wrong folder) or no class (other names) score 0.0 as if every pick
    were wrong. This says what matched nothing instead.

    Parameters
    ----------
    reference, candidate : DataFrame
        As for :func:`score_picks`.
    classes : sequence of ParticleClass, optional
        The class table (default: the CZII six).
    names : tuple of str
        How to name the two inputs in messages (e.g. their paths).

    Returns
    -------
    list of str
        Warnings about partial overlap: candidate runs or classes that
        are ignored.

    Raises
    ------
    CryopickError
        If the reference holds no picks, or the candidate's picks share
        no run with the reference, or no class with the class table.
    """
    known = [c.name for c in (CZII_CLASSES if classes is None else classes)]
    ref_name, cand_name = names
    require_columns(reference, 'reference', ['run', 'particle_type'])
    require_columns(candidate, 'candidate', ['run', 'particle_type'])
    if not len(reference):
        raise CryopickError(f'{ref_name}: holds no picks to score against')
    if not len(candidate):
        return [f'{cand_name} holds no picks: every reference is a miss']
    ref_runs = set(reference['run'])
    cand_runs = set(candidate['run'])
    if not ref_runs & cand_runs:
        raise CryopickError(
            f'{cand_name}: no run in common with {ref_name} (runs '
            f'{_few(cand_runs)} against {_few(ref_runs)}), nothing to score'
        )
    cand_classes = set(candidate['particle_type'])
    if not cand_classes & set(known):
        raise CryopickError(
            f'{cand_name}: no class the metric knows (classes '
            f'{_few(cand_classes)}; known: {_few(known)})'
        )
    warnings = []
    if cand_runs - ref_runs:
        warnings.append(
            f'{cand_name}: runs not in {ref_name} are ignored: '
            f'{_few(cand_runs - ref_runs)}'
        )
    if cand_classes - set(known):
        warnings.append(
            f'{cand_name}: classes the metric does not know are ignored: '
            f'{_few(cand_classes - set(known))}'
        )
    return warnings


def _few(names, limit: int = 6) -> str:
    names = sorted(map(str, names))
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def table_headers(beta: float = 4.0) -> list[str]:
    """Return the column headers of the per-class score table.

    The layout biologists read: class, predicted, true, hit, miss, FP,
    precision, recall, F-beta, weight; shared by the text table and the
    napari Score widget.
    """
    return [
        'class',
        'predicted',
        'true',
        'hit',
        'miss',
        'FP',
        'precision',
        'recall',
        f'F{beta:g}',
        'weight',
    ]


def format_score_table(result: ScoreResult) -> str:
    """Return the per-class score table as aligned plain text.

    Parameters
    ----------
    result : ScoreResult
        Output of :func:`score_picks`.

    Returns
    -------
    str
        One header line, one line per class, and a last line
        ``score: <weighted F4>`` (4 decimals).
    """
    header = table_headers(result.beta)
    rows = [header]
    for row in result.table.itertuples(index=False):
        counts = (row.predicted, row.true, row.hit, row.miss, row.fp)
        ratios = (row.precision, row.recall, row.fbeta)
        rows.append(
            [str(row.particle_type)]
            + [str(int(v)) for v in counts]
            + [f'{v:.4f}' for v in ratios]
            + [f'{row.weight:g}']
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        '  '.join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    lines.append(f'score: {result.score:.4f}')
    return '\n'.join(lines)
