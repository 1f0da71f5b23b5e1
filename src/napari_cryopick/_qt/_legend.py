"""What the marks on the class layers mean, for the Score widget."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel

from napari_cryopick.viewer.scoring import FALSE, HIT

#: Shapes and fills (not hues) tell the kinds of mark apart; the class
#: colours are in the Pick widget, beside each class's slider.
LEGEND = (
    ('&#9711;', None, "ring in the class's colour: a model or user pick"),
    ('&#9633;', None, "square in the class's colour: a reference pick"),
    ('&#9679;', HIT, 'light fill: the pick matches a reference'),
    ('&#9679;', FALSE, 'dark fill: a false positive'),
    ('&#10005;', None, 'cross: a reference no pick matched'),
)


def score_legend() -> QLabel:
    """Return a label explaining the marks of scored layers."""
    rows = []
    for mark, fill, text in LEGEND:
        style = ''
        if fill is not None:
            r, g, b = (round(255 * c) for c in fill[:3])
            # A grey outline, so the light and the dark fill both show.
            style = f' style="color: rgb({r},{g},{b}); background: #777"'
        rows.append(f'<span{style}>&nbsp;{mark}&nbsp;</span> {text}')
    label = QLabel('<br>'.join(rows))
    label.setWordWrap(True)
    return label
