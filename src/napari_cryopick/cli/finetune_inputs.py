"""What ``cryopick finetune`` learns from: labelled runs and class definitions.

DATA (a copick project or config, the Kaggle layout) or ``--tomogram
FILE --picks FILE`` pairs, with ``--negatives``; ``--class`` and a copick
config's ``pickable_objects`` define classes the model lacks.
"""

from __future__ import annotations


def class_definitions(args) -> tuple:
    """Return the classes defined by --class and by DATA's copick config."""
    from napari_cryopick.classes import parse_class_spec
    from napari_cryopick.errors import CryopickError
    from napari_cryopick.io.sources import source_classes

    given = tuple(parse_class_spec(text) for text in args.class_specs)
    names = [c.name for c in given]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CryopickError(f'--class defines {twice[0]!r} twice')
    config = source_classes(args.data) if args.data is not None else ()
    for cls in config:
        mine = next((c for c in given if c.name == cls.name), None)
        if mine is not None and mine.radius != cls.radius:
            raise CryopickError(
                f'--class {cls.name}:{mine.radius:g} clashes with the '
                f'copick config ({cls.name} radius {cls.radius:g} Å)'
            )
    return given + tuple(c for c in config if c.name not in names)


def labelled_runs(args):
    """Return (training runs, held-out runs) from DATA or file pairs."""
    negatives = _negatives(args)
    if getattr(args, 'tomograms', None) or getattr(args, 'picks_files', None):
        runs, held = _paired_runs(args), []
    else:
        runs, held = _project_runs(args)
    if negatives is not None:
        runs = [_with_negatives(run, negatives) for run in runs]
    return runs, held


def _negatives(args):
    from napari_cryopick.io.sources import read_picks

    if getattr(args, 'negatives', None) is None:
        return None
    return read_picks(args.negatives, tomograms=_tomogram_source(args))


def _tomogram_source(args):
    if getattr(args, 'tomograms', None):
        return args.tomograms[0] if len(args.tomograms) == 1 else None
    return args.data


def _with_negatives(run, negatives):
    from dataclasses import replace

    mine = negatives[negatives['run'] == run.tomogram.run]
    if len(set(negatives['run'])) == 1:
        mine = negatives.assign(run=run.tomogram.run)
    return replace(run, negatives=mine)


def _paired_runs(args):
    """Return runs from --tomogram FILE --picks FILE pairs."""
    from napari_cryopick.errors import CryopickError, input_error
    from napari_cryopick.io.sources import open_tomogram, read_picks
    from napari_cryopick.model.finetune import LabelledRun

    if len(args.tomograms) != len(args.picks_files):
        raise CryopickError(
            f'{len(args.tomograms)} --tomogram for {len(args.picks_files)} '
            '--picks: give them in pairs'
        )
    runs, seen = [], set()
    for path, picks_path in zip(args.tomograms, args.picks_files, strict=True):
        tomogram = open_tomogram(path, voxel_size=args.voxel_size)
        if tomogram.run in seen:
            raise input_error(
                path, f'a second tomogram named {tomogram.run!r}'
            )
        seen.add(tomogram.run)
        picks = read_picks(picks_path, tomograms=path)
        names = set(picks['run'])
        if tomogram.run in names:
            picks = picks[picks['run'] == tomogram.run]
        elif len(names) > 1:
            raise input_error(
                picks_path,
                f'holds picks of runs {", ".join(sorted(names))}, none '
                f'named {tomogram.run!r} like {path.name}',
            )
        # The pair says which tomogram these picks belong to.
        runs.append(LabelledRun(tomogram, picks.assign(run=tomogram.run)))
    return runs


def _project_runs(args):
    from napari_cryopick.errors import input_error
    from napari_cryopick.io.copick_config import CONFIG_NAME
    from napari_cryopick.io.project import tomogram_runs
    from napari_cryopick.io.sources import (
        open_tomogram,
        read_picks,
        source_classes,
    )
    from napari_cryopick.model.finetune import LabelledRun

    picks = read_picks(
        args.labels or args.data,
        user_id=args.user_id,
        session_id=args.session_id,
        tomograms=args.data if args.labels else None,
        classes=source_classes(args.data),
    )
    available = tomogram_runs(args.data)
    labelled = [r for r in available if (picks['run'] == r).any()]
    chosen = args.runs.split(',') if args.runs else labelled
    for name in chosen:
        if name not in available:
            raise input_error(
                args.data,
                f'no run {name!r} with a tomogram '
                f'(runs: {", ".join(available)})',
            )
        if name not in labelled:
            raise input_error(args.data, f'run {name!r} has no picks')
    held = [r for r in labelled if r not in chosen] if args.runs else []

    # A copick config names the project: its folder holds the config.
    project = args.data
    if project.name == CONFIG_NAME and project.is_file():
        project = project.parent

    def load(name):
        tomogram = open_tomogram(
            project, name, args.tomo_type, voxel_size=args.voxel_size
        )
        return LabelledRun(tomogram, picks[picks['run'] == name])

    return [load(n) for n in chosen], [load(n) for n in held]
