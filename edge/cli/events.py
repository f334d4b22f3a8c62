"""``tensorchicken events [--since WHEN] [--limit N] [--json] [-c CONFIG | --state-dir DIR]``:
read the event log.

WHEN is a date or time (``2026-05-01``, ``2026-05-01T20:00``), an age (``90s``, ``30m``, ``2h``,
``7d``: that long ago) or Unix seconds. With ``--json``, a JSON array of events, each with
``id``, ``time``, ``verdict``, ``label``, ``score``, ``deterrents``, ``latency_ms``, ``clip``
(the video, relative to the state folder, or null), ``outcome`` (what a firing did: ``result``,
``left_after_s``, ``returned``, ``fired_again``; null while undecided) and the rest of the event.
``--sinks`` shows each reporter's cursor, backlog and health instead.
"""

from __future__ import annotations

import argparse
import re
import time
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
from edge.event import Event
from edge.events.errors import EventLogError
from edge.events.log import EventLog, SinkStatus

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float | None = None) -> float:
    """A WHEN argument as Unix seconds; ArgumentTypeError says what is accepted."""
    text = text.strip()
    if match := _AGE.match(text):
        return (time.time() if now is None else now) - float(match[1]) * _UNIT_S[match[2]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r} as a time: use 2026-05-01, 2026-05-01T20:00, an age like "
            "30m, 2h or 7d, or Unix seconds") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("events", help="list events from the event log")
    p.add_argument("--since", type=parse_when, metavar="WHEN",
                   help="only events from then on (2026-05-01, 2026-05-01T20:00, 2h, 7d)")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N events")
    p.add_argument("--sinks", action="store_true",
                   help="show each reporter's cursor, backlog and health")
    add_json_arg(p)
    add_config_arg(p)
    add_state_dir_arg(p)
    p.set_defaults(func=run)


def log_path(args: argparse.Namespace) -> Path:
    """``<state_dir>/events.sqlite3`` for ``--state-dir``, the configured or the default one."""
    from edge.doctor.checks import state_dir_of

    return state_dir_of(config_from(args)) / "events.sqlite3"


def run(args: argparse.Namespace) -> int:
    """Print the events (or the reporters' state); exit 1 when there is no log."""
    if args.limit is not None and not 1 <= args.limit <= 2**62:  # SQLite's integers end at 2**63
        raise CliError(f"--limit must be 1 or more (a count SQLite can hold), got {args.limit}",
                       code=2)
    path = log_path(args)
    try:
        with EventLog(path, readonly=True) as log:
            if args.sinks:
                _print_sinks(log.sink_status(), args.json)
            else:
                _print_events(log.list(since=args.since, limit=args.limit), args.json)
    except EventLogError as exc:
        raise CliError(f"{exc} (has the appliance run with this state folder? for the demo's "
                       "events, add the --state-dir that 'tensorchicken demo' printed)") from None
    return 0


def _print_events(events: list[Event], as_json: bool) -> None:
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    for e in events:
        when = datetime.fromtimestamp(e.start_time).strftime("%Y-%m-%d %H:%M:%S")
        total = e.latency_ms.get("total")
        latency = f" {total:.0f} ms" if total is not None else ""
        fired = ",".join(e.deterrents) or "-"
        print(f"#{e.id} {when} {e.camera} {e.verdict} {e.label} {e.score:.2f} "
              f"fired={fired}{latency}{_afterwards(e)}")
    if not events:
        print("no events")


def _afterwards(e: Event) -> str:
    """`` outcome=left 2.5s clip=archive/...`` for what is known."""
    text = ""
    if e.deterrents:
        o = e.outcome
        left = o and o.get("left_after_s")
        text += " outcome=" + ("watching" if o is None else str(o.get("result"))
                               + (f" {left:g}s" if left is not None else ""))
    if e.clip:
        text += f" clip={e.clip}"
    return text


def _print_sinks(statuses: list[SinkStatus], as_json: bool) -> None:
    if as_json:
        print_json([s.to_dict() for s in statuses])
        return
    for s in statuses:
        health = "ok" if s.healthy else (f"STOPPED: {s.stopped_reason}" if s.stopped_reason
                                         else f"FAILING: {s.last_error}")
        print(f"{s.name}: at event {s.cursor}, {s.backlog} waiting, {health}")
