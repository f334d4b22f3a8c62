"""``tensorchicken label``: look at archived crops and say what they really are.

    tensorchicken label [list] [--unlabelled] [--json]      # every archived crop, its verdict
    tensorchicken label set EVENT... --as chicken [--subclass plymouth_rock]
    tensorchicken label clear EVENT...

EVENT is an event's number as ``tensorchicken events`` and ``list`` show it (``41`` or ``#41``),
or the archive name ``list`` shows (``2026-05-01/211403.250117_coop``), or its last part when
that is unique. ``-c FILE`` and ``--state-dir DIR`` go before or after the action. Labels go
to ``<state_dir>/labels.csv``; ``tensorchicken train --from-archive`` learns from them. A
command-line flow for now; a web page can use the same functions (``edge/train/labels.py``).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from edge.cli import CliError
from edge.cli.common import (
    add_config_arg,
    add_json_arg,
    add_state_dir_arg,
    config_from,
    print_json,
)
from edge.config import Config
from edge.events.archive import Archive
from edge.paths import default_state_dir
from edge.train.errors import LabelError
from edge.train.labels import (
    LABELS_FILE,
    VERDICTS,
    ArchivedCrop,
    LabelStore,
    archived_crops,
    resolve_events,
)


def state_dir_of(config: Config) -> Path:
    """The configured state folder, or the default one."""
    return Path(config.paths.state_dir) if config.paths.state_dir else default_state_dir()


def owner_crops(config: Config) -> tuple[list[ArchivedCrop], LabelStore]:
    """Every archived crop with its logged verdict and label, and the label store."""
    state = state_dir_of(config)
    labels = LabelStore(state / LABELS_FILE)
    if not (state / "archive").is_dir():
        return [], labels  # nothing archived yet; looking must not create the folder
    archive = Archive(state / "archive", config.reporters.archive)
    try:
        return archived_crops(archive, labels, state / "events.sqlite3"), labels
    except LabelError as exc:
        raise CliError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its three actions."""
    p = sub.add_parser("label", help="list archived crops and record what they really are")
    add_config_arg(p)
    add_state_dir_arg(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    ls = actions.add_parser("list", help="archived crops, the verdict given, your label")
    ls.add_argument("--unlabelled", action="store_true", help="only crops without a label")
    add_json_arg(ls)
    put = actions.add_parser("set", help="record what the crops of EVENT... really are")
    put.add_argument("events", nargs="+", metavar="EVENT",
                     help="event numbers as 'tensorchicken events' shows them, or archive names")
    put.add_argument("--as", dest="label", required=True, choices=VERDICTS)
    put.add_argument("--subclass", default="", help="breed or species (optional)")
    clear = actions.add_parser("clear", help="forget your labels of EVENT...")
    clear.add_argument("events", nargs="+", metavar="EVENT")
    for action in (ls, put, clear):
        # Also after the action (``label list -c FILE``); SUPPRESS keeps a value given
        # before the action when none is given after it.
        add_config_arg(action, default=argparse.SUPPRESS)
        add_state_dir_arg(action, default=argparse.SUPPRESS)
    p.set_defaults(func=run, action=None, unlabelled=False, json=False)


def run(args: argparse.Namespace) -> int:
    """Do the action (``list`` when none is given)."""
    config = config_from(args)
    state = state_dir_of(config)
    if not state.is_dir():  # "0 archived crops" would hide a mistyped folder
        raise CliError(f"{state}: no state folder here (has the appliance run with it? for the "
                       "demo's crops, add the --state-dir that 'tensorchicken demo' printed)")
    crops, store = owner_crops(config)
    try:
        if args.action in (None, "list"):
            _print(crops, args.unlabelled, args.json)
        elif args.action == "set":
            store.set(resolve_events(crops, args.events), args.label, args.subclass)
            print(f"{len(args.events)} crop(s) labelled {args.label} in {store.path}")
        else:
            gone = store.remove(resolve_events(crops, args.events))
            print(f"{gone} label(s) removed from {store.path}")
    except LabelError as exc:
        raise CliError(str(exc)) from None
    return 0


def _print(crops: list[ArchivedCrop], unlabelled: bool, as_json: bool) -> None:
    shown = [c for c in crops if not (unlabelled and c.correction)]
    if as_json:
        print_json([{
            "event": c.event, "event_id": c.event_id, "crop": str(c.crop), "time": c.time,
            "verdict": c.verdict,
            "label": c.label, "owner_label": c.correction.label if c.correction else None,
            "owner_subclass": c.correction.subclass if c.correction else None,
        } for c in shown])
        return
    for c in shown:
        number = f"#{c.event_id}" if c.event_id is not None else "-"
        when = datetime.fromtimestamp(c.time).strftime("%Y-%m-%d %H:%M:%S")
        mine = f"labelled {c.correction.label}" if c.correction else "unlabelled"
        if c.correction and c.correction.subclass:
            mine += f"/{c.correction.subclass}"
        said = f"{c.verdict} ({c.label})" if c.label else c.verdict
        print(f"{number}  {c.event}  {when}  said {said}  {mine}  {c.crop}")
    labelled = sum(1 for c in crops if c.correction)
    print(f"{len(crops)} archived crop(s), {labelled} labelled")
