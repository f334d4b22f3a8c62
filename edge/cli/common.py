"""Arguments and set-up shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.assets import AssetError, AssetStore, mirrors_from_env
from edge.cli import CliError
from edge.config import Config, ConfigError, load_config


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
