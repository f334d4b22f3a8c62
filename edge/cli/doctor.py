"""``tensorchicken doctor``: check camera, models, pins, broker, disk, clock and reporters."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from edge.cli.common import (
    add_config_arg,
    add_json_arg,
    add_mirror_arg,
    config_from,
    print_json,
    store_from,
)
from edge.doctor.checks import FAIL, OK, WARN, Finding, run_checks

SERVICE_CONFIG = "/etc/tensorchicken/config.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("doctor", help="check the installation and say what is wrong, in words")
    add_config_arg(p)
    add_mirror_arg(p)
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed, 1 otherwise."""
    config = config_from(args)
    findings = [_which_config(args.config), *run_checks(config, store_from(args, config))]
    if args.json:
        print_json([dataclasses.asdict(f) for f in findings])
    else:
        for f in findings:
            print(f"{f.status.upper():<4}  {f.part:<18} {f.message}")
    return 1 if any(f.status == FAIL for f in findings) else 0


def _which_config(path: Path | None) -> Finding:
    """Say which configuration was checked; the built-in defaults are not the appliance's."""
    if path is not None:
        return Finding("config", OK, f"checked {path}")
    return Finding("config", WARN, "no -c FILE: checked the built-in defaults (the demo clip, "
                   f"mock pins), not the appliance; add -c {SERVICE_CONFIG}")
