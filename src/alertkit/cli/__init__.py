"""The ``alertkit`` command: ``check``, ``test``, ``simulate`` and ``notify-test``.

See docs/reference/cli.md.

Each command is a module with ``register(subparsers)`` (adds its parser and sets ``func``)
and ``run(args) -> int`` (the exit code). :func:`main` is the console script's entry point and
is also the way to call the CLI from Python, e.g. in a test::

    from alertkit.cli import main
    assert main(["test", "cpu_test.toml"]) == 0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from alertkit.cli import check, notify_test, simulate, test

__all__ = ["main"]

_COMMANDS = (check, test, simulate, notify_test)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command's subparser."""
    parser = argparse.ArgumentParser(
        prog="alertkit",
        description="Check, test and simulate alerting rules; test notifiers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Exit codes: 0 success, 1 a check or test failed, 2 bad usage or an invalid file,
    130 interrupted (Ctrl-C).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:  # argparse exits on --help (0) and on bad usage (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `alertkit simulate ... | head`: the reader left
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code
