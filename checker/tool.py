"""What every ``python -m checker`` command shares: exit statuses and argument parsing."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status when there is nothing more to do.

    ``argparse`` exits on ``--help`` (status 0) and on a usage error (status 2);
    the commands return a status instead, so that they can be called in-process.
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
