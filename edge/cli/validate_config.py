"""``tensorchicken validate-config FILE``: check a configuration, print every problem."""

from __future__ import annotations

import argparse

from edge.cli.common import print_json
from edge.config import ConfigError, load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("validate-config", help="check a configuration file and list every problem")
    p.add_argument("file", help="YAML configuration file")
    p.add_argument("--json", action="store_true", help="print {ok, problems} as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when valid; 2 with every problem listed otherwise (the unit's "do not retry")."""
    try:
        load_config(args.file)
    except ConfigError as exc:
        if args.json:
            print_json({"ok": False, "file": args.file, "problems": exc.problems})
        else:
            print(exc)
        return 2
    if args.json:
        print_json({"ok": True, "file": args.file, "problems": []})
    else:
        print(f"{args.file}: OK")
    return 0
