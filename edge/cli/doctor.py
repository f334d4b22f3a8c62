"""``tensorchicken doctor``: check camera, models, pins, broker, disk, clock and reporters."""

from __future__ import annotations

import argparse
import dataclasses

from edge.cli.common import (
    add_config_arg,
    add_json_arg,
    add_mirror_arg,
    config_from,
    print_json,
    store_from,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("doctor", help="check the installation and say what is wrong, in words")
    add_config_arg(p)
    add_mirror_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed, 1 otherwise."""
    from edge.doctor.checks import FAIL, run_checks

    config = config_from(args)
    findings = run_checks(config, store_from(args, config))
    if args.json:
        print_json([dataclasses.asdict(f) for f in findings])
    else:
        for f in findings:
            print(f"{f.status.upper():<4}  {f.part:<18} {f.message}")
    return 1 if any(f.status == FAIL for f in findings) else 0
