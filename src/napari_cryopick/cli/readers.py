"""``cryopick readers``: let napari open cryopick's files without asking."""

from __future__ import annotations


def add_parser(commands) -> None:
    """Register the ``readers`` subcommand."""
    parser = commands.add_parser(
        'readers',
        help="make napari open .zarr folders, .csv and TIFF with cryopick's "
        'readers, without its Choose-reader dialog',
        description="napari's own reader also claims every .zarr folder, "
        '.csv and TIFF, so napari asks which reader to use. This saves '
        "cryopick as napari's choice for those patterns (in napari's "
        "settings, as the dialog's 'Remember my choice' would). cryopick "
        "hands a CSV or TIFF that is not picks or a tomogram to napari's "
        'own reader. MRC, copick JSON and STAR need nothing: only cryopick '
        'reads them.',
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a reader you chose for these patterns before',
    )
    parser.add_argument(
        '--undo',
        action='store_true',
        help='remove the preferences naming cryopick (napari asks again)',
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Save (or remove) the preferences and say what changed."""
    import sys

    from napari_cryopick import reader_preferences as prefs

    lines = []
    if args.undo:
        changes = prefs.forget_cryopick()
        lines = [
            f'{c.pattern}: no preferred reader (napari asks)' for c in changes
        ]
        if not changes:
            lines = ['no napari reader preference named cryopick']
    else:
        for change in prefs.prefer_cryopick(force=args.force):
            note = '' if change.changed else ' (unchanged)'
            if change.after != prefs.PLUGIN:
                note = ' (your choice, kept; --force replaces it)'
            lines.append(f'{change.pattern} -> {change.after}{note}')
    lines.append(f'napari settings: {prefs.settings_file()}')
    sys.stdout.write('\n'.join(lines) + '\n')
    return 0
