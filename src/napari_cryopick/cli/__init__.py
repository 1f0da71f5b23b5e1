"""The ``cryopick`` command line (DESIGN §10).

Every command turns bad input into one line on stderr and a non-zero
exit status; a traceback is printed only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from napari_cryopick import __version__
from napari_cryopick.cli import (
    demo,
    export,
    finetune,
    predict,
    readers,
    score,
    simulate,
)
from napari_cryopick.errors import CryopickError, OutputExistsError

_COMMANDS = (simulate, predict, score, finetune, export, demo, readers)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog='cryopick',
        description='Particle picking for cryo-electron tomograms.',
    )
    parser.add_argument(
        '--debug', action='store_true', help='show tracebacks on errors'
    )
    parser.add_argument(
        '--version',
        action='version',
        version=f'%(prog)s {__version__}',
        help='print the version and exit',
    )
    commands = parser.add_subparsers(dest='command', required=True)
    for module in _COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on a reported error, 2 on a usage error, 130 when
        interrupted.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        return int(args.run(args) or 0)
    except OutputExistsError as err:
        return _fail(args, f'error: {err}{_replace_hint(args)}', 1)
    except CryopickError as err:
        return _fail(args, f'error: {err}', 1)
    except KeyboardInterrupt:
        return _fail(args, 'interrupted', 130)
    except Exception as err:  # last resort: one line, never a bare trace
        from napari_cryopick.model.device import explain

        explained = explain(err)
        if explained is not None:
            return _fail(args, f'error: {explained}', 1)
        problem = f'unexpected error: {type(err).__name__}: {err}'
        return _fail(args, problem, 1)


def _replace_hint(args: argparse.Namespace) -> str:
    """Name the option of this command that replaces existing outputs."""
    for option in ('overwrite', 'force'):
        if hasattr(args, option):
            return f' (--{option} replaces it)'
    return ''


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if args.debug:
        logging.exception('cryopick %s', args.command)
    first = str(message).strip().splitlines()[0] if message else ''
    sys.stderr.write(f'cryopick {args.command}: {first}\n')
    return status


if __name__ == '__main__':
    sys.exit(main())
