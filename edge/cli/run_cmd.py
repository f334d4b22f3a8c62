"""``tensorchicken run``: the appliance, until stopped. This is what systemd starts."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import Any

from edge.cli import CliError
from edge.cli.common import add_config_arg, add_mirror_arg, config_from, number_in, store_from
from edge.logs import configure as configure_logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("run", help="run the appliance until stopped (SIGTERM/SIGINT)")
    add_config_arg(p)
    add_mirror_arg(p)
    p.add_argument("--duration", type=number_in(0, 1e9), metavar="S",
                   help="stop after S seconds")
    arming = p.add_mutually_exclusive_group()
    arming.add_argument(
        "--armed",
        dest="armed",
        action="store_true",
        default=None,
        help="fire deterrents (overrides decision.armed)",
    )
    arming.add_argument(
        "--disarmed",
        dest="armed",
        action="store_false",
        help="detect and report, never fire (overrides decision.armed)",
    )
    p.set_defaults(func=run)


def build_appliance(args: argparse.Namespace, **overrides: Any) -> Any:
    """The appliance for the arguments; a start-up failure becomes a one-line error."""
    from actuators.errors import DeterrentError
    from camera.errors import CameraError
    from classifier.errors import ModelError
    from edge.app import Appliance
    from edge.assets import AssetError
    from edge.config import ConfigError

    config = config_from(args)
    configure_logging(
        logging.DEBUG if args.verbose else config.logging.level, config.logging.json_lines
    )
    store = store_from(args, config)
    try:
        return Appliance(config, store, **overrides)
    except (AssetError, CameraError, ConfigError, ModelError, DeterrentError, OSError) as exc:
        raise CliError(f"cannot start: {exc}") from None


def install_stop_signals(appliance: Any) -> None:
    """SIGTERM and SIGINT stop the loops and turn every deterrent off at once; SIGHUP reloads
    the models (configuration ``models:`` and ``models.yaml``) without a restart."""

    def handler(signum: int, _frame: object) -> None:
        appliance.request_stop(signal.Signals(signum).name)

    def reload(signum: int, _frame: object) -> None:
        appliance.request_reload("SIGHUP")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGHUP, reload)


def run(args: argparse.Namespace) -> int:
    """Run until a signal, the duration, or the end of every replayed source."""
    from camera.errors import SourceConfigError

    # Photos of the owner's yard and the event log are the owner's alone (0700 folders, 0600
    # files), run by hand as under systemd, whose UMask may leave them readable by a group.
    os.umask(os.umask(0o077) | 0o077)
    appliance = build_appliance(args, armed=args.armed, config_path=args.config)
    install_stop_signals(appliance)
    with appliance:
        try:
            summary = appliance.run(duration_s=args.duration)
        except SourceConfigError as exc:
            # A camera that is merely absent is awaited; one configured wrongly never works.
            raise CliError(f"cannot start: {exc}", code=2) from None
    log.info(
        "stopped (%s) after %.1f s; deterrents off: %s",
        summary.stop_reason,
        summary.seconds,
        appliance.bank.states(),
    )
    silent = summary.silent_cameras()
    for line in silent:
        log.error("%s", line)
    return 1 if appliance.failed or silent else 0
