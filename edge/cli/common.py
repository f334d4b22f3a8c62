"""Arguments and set-up shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.assets import AssetError, AssetStore, mirrors_from_env
from edge.cli import CliError
from edge.config import Config, ConfigError, load_config


def number_in(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` (or above it, ``above_low``) to
    ``high``; NaN, infinity and anything outside are refused with exit 2 and one line (a
    ``--duration nan`` never ended, a ``--gap inf`` overflowed a timestamp)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        bottom = f"more than {low:g}" if above_low else f"{low:g} or more"
        if not math.isfinite(value) or value > high or value < low or (above_low
                                                                       and value == low):
            raise argparse.ArgumentTypeError(f"must be {bottom} and at most {high:g}, "
                                             f"got {text}")
        return value
    return parse


def port_number(text: str) -> int:
    """An argparse ``type``: a TCP port, 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {text!r}")
    return int(text)


def add_config_arg(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``-c/--config FILE`` (defaults run on a laptop). On an action's own parser pass
    ``default=argparse.SUPPRESS``, so that ``-c`` is taken after the action too (``learn status
    -c FILE``) and one given before it is kept when none is given after."""
    parser.add_argument("-c", "--config", type=Path, help="YAML configuration file", **kwargs)


def add_state_dir_arg(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--state-dir DIR``: the event log and archive to use, as ``demo --state-dir`` names
    them (overrides ``paths.state_dir``)."""
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR", **kwargs,
        help="the state folder (event log, archive) to use instead of the configured one; "
        "e.g. the one 'tensorchicken demo' printed",
    )


def add_mirror_arg(parser: argparse.ArgumentParser) -> None:
    """``--mirror DIR`` (repeatable): local folders tried before the network."""
    parser.add_argument(
        "--mirror", action="append", type=Path, default=[],
        help="folder holding asset files, tried before the network (repeatable; "
        "also TENSORCHICKEN_MIRROR=dir1:dir2)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output."""
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")


def config_from(args: argparse.Namespace) -> Config:
    """The configuration named by ``--config``, or a clear error."""
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise CliError(str(exc), code=2) from None
    if state_dir := getattr(args, "state_dir", None):
        paths = config.paths.model_copy(update={"state_dir": str(state_dir)})
        config = config.model_copy(update={"paths": paths})
    return config


def store_from(args: argparse.Namespace, config: Config | None = None) -> AssetStore:
    """The asset store for the configured data folder and the given mirrors."""
    mirrors = list(getattr(args, "mirror", []) or []) + mirrors_from_env()
    data_dir = Path(config.paths.data_dir) if config and config.paths.data_dir else None
    try:
        return AssetStore(data_dir=data_dir, mirrors=mirrors)
    except (OSError, AssetError) as exc:
        raise CliError(str(exc)) from None


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    json.dump(value, sys.stdout, default=str)
    sys.stdout.write("\n")
