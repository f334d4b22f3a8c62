"""``tensorchicken fetch-models``: fetch and verify models, labels and demo assets."""

from __future__ import annotations

import argparse

from edge.assets import AssetError
from edge.cli import CliError
from edge.cli.common import add_config_arg, add_mirror_arg, config_from, store_from

# Files too large to fetch unasked (Inception, 23 MB): fetched when a configuration uses one, or
# with --group large.
ON_DEMAND = "large"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "fetch-models", help="fetch and verify every model, label file and demo asset"
    )
    add_config_arg(p)
    add_mirror_arg(p)
    p.add_argument("--group", choices=("models", "demo", ON_DEMAND),
                   help=f"only this group of files ({ON_DEMAND}: Inception, not fetched unasked)")
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch into the data folder; one line per file."""
    store = store_from(args, config_from(args))
    names = [n for n, f in store.files.items()
             if f.group == args.group or (args.group is None and f.group != ON_DEMAND)]
    try:
        for line in store.fetch(names, force=args.force):
            print(line)
    except AssetError as exc:
        raise CliError(str(exc)) from None
    print(f"{len(names)} file(s) verified in {store.data_dir}")
    return 0
