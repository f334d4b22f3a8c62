"""The ``tensorchicken`` command line: one module per subcommand, each with ``register()``."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def _command_modules() -> list[str]:
    # Every module here that defines register(subparsers) adds one subcommand whose parser
    # sets ``func`` (args -> exit code); a new subcommand is a new module, nothing else.
    package = Path(__file__).parent
    names = (m.name for m in pkgutil.iter_modules([str(package)]))
    return sorted(n for n in names if n != "common" and not n.startswith("_"))


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a wrong argument is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> ArgumentParser:
    """The parser with every subcommand registered."""
    parser = ArgumentParser(
        prog="tensorchicken",
        description="Guards a henhouse: motion, a quantised classifier, GPIO deterrents, reports.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"tensorchicken {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in _command_modules():
        module = importlib.import_module(f"edge.cli.{name}")
        if hasattr(module, "register"):
            module.register(sub)
    _accept_verbose(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tensorchicken")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _accept_verbose(parser: argparse.ArgumentParser) -> None:
    """Let every subcommand (and its actions) take ``-v`` too: ``tensorchicken run -v`` as
    well as ``tensorchicken -v run``."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command in action.choices.values():
            taken = {s for a in command._actions for s in a.option_strings}
            flags = [f for f in ("-v", "--verbose") if f not in taken]
            if flags:
                # SUPPRESS: a subcommand given no -v leaves the main parser's value alone
                # instead of resetting it to False.
                command.add_argument(*flags, dest="verbose", action="store_true",
                                     default=argparse.SUPPRESS, help="debug logging")
            _accept_verbose(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    from edge.logs import configure

    configure(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        sys.stderr.write(f"tensorchicken {args.command}: {exc}\n")
        return exc.code


class CliError(Exception):
    """A failure to report as one line and an exit code, not a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
