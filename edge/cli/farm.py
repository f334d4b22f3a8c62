"""``tensorchicken farm``: every appliance seen on the broker, from its retained topics."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge.cli import CliError
from edge.cli.common import (
    add_config_arg,
    add_json_arg,
    config_from,
    number_in,
    port_number,
    print_json,
)
from edge.events.farm import COLUMNS, FarmError, read_farm
from edge.secrets import read_secret


def register(sub: Any) -> None:
    """Add the ``farm`` subcommand."""
    parser = sub.add_parser(
        "farm", help="list every appliance on the broker (online, armed, last event, ...)",
        description="Reads every appliance's retained topics under reporters.mqtt.topic_root "
        "from the configured broker (the password is the secret mqtt_password).")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.add_argument("--host", help="broker host (default: reporters.mqtt.host)")
    parser.add_argument("--port", type=port_number, help="broker port (default: "
                        "reporters.mqtt.port)")
    parser.add_argument("--username", help="broker user (the owner's on a farm with an ACL)")
    parser.add_argument("--settle", type=number_in(0.1, 600), default=1.0, metavar="S",
                        help="stop after S seconds without a new message (default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the farm; exit 1 when the broker cannot be read."""
    cfg = config_from(args).reporters.mqtt
    update = {k: v for k in ("host", "port", "username") if (v := getattr(args, k)) is not None}
    cfg = cfg.model_copy(update=update)
    try:
        nodes = read_farm(cfg, read_secret("mqtt_password"), settle_s=args.settle)
    except FarmError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json([n.to_dict() for n in nodes])
        return 0
    if not nodes:
        sys.stdout.write(f"no appliance under {cfg.topic_root}/ on {cfg.host}:{cfg.port}\n")
        return 0
    rows = [COLUMNS, *(n.cells() for n in nodes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                         + "\n")
    return 0
