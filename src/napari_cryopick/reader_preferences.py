"""napari's reader preferences for the files cryopick reads best.

napari's own reader also claims every ``.zarr`` folder, ``.csv`` and
TIFF, and napari plugins have no reader priority: when two plugins claim
a path, napari asks with its *Choose reader* dialog unless the user's
settings name a reader for the file-name pattern
(``settings.plugins.extension2reader``, what the dialog's *Remember my
choice* saves). :func:`prefer_cryopick` saves those preferences once, so
``napari denoised.zarr`` and ``napari picks.csv`` open with cryopick.
cryopick's readers hand a CSV or TIFF that is not theirs to napari's own
reader (see ``_reader.py``), so the preference costs napari's formats
nothing; a ``.zarr`` that is not a 3-D tomogram is declined and napari
then offers its other readers.
"""

from __future__ import annotations

from dataclasses import dataclass

PLUGIN = 'napari-cryopick'

#: File-name patterns napari matches its preferences against (a folder's
#: path ends with a separator there), the ones where napari's own reader
#: would otherwise compete with cryopick's.
PATTERNS = ('*.zarr/', '*.csv', '*.tif', '*.tiff')


@dataclass(frozen=True)
class PreferenceChange:
    """What happened to one pattern's preference."""

    pattern: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """Whether the preference was changed."""
        return self.before != self.after


def prefer_cryopick(settings=None, *, force: bool = False):
    """Name cryopick's readers in napari's settings for :data:`PATTERNS`.

    Parameters
    ----------
    settings : napari.settings.NapariSettings, optional
        Default: napari's (saved to the user's napari settings file).
    force : bool
        Replace a reader the user chose for a pattern (default: keep it).

    Returns
    -------
    list of PreferenceChange
        One per pattern.
    """
    settings = settings or _napari_settings()
    current = dict(settings.plugins.extension2reader)
    changes = []
    for pattern in PATTERNS:
        before = current.get(pattern)
        keep = before is not None and before != PLUGIN and not force
        after = before if keep else PLUGIN
        current[pattern] = after
        changes.append(PreferenceChange(pattern, before, after))
    settings.plugins.extension2reader = current
    return changes


def forget_cryopick(settings=None):
    """Remove the preferences that name cryopick's readers.

    Parameters
    ----------
    settings : napari.settings.NapariSettings, optional
        Default: napari's.

    Returns
    -------
    list of PreferenceChange
        One per pattern that named cryopick.
    """
    settings = settings or _napari_settings()
    current = dict(settings.plugins.extension2reader)
    changes = [
        PreferenceChange(pattern, reader, None)
        for pattern, reader in current.items()
        if reader == PLUGIN
    ]
    settings.plugins.extension2reader = {
        pattern: reader
        for pattern, reader in current.items()
        if reader != PLUGIN
    }
    return changes


def settings_file(settings=None) -> str:
    """Where napari keeps the settings (for messages)."""
    settings = settings or _napari_settings()
    return str(settings.config_path or 'napari settings (not saved)')


def _napari_settings():
    from napari.settings import get_settings

    return get_settings()
