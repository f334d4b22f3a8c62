"""``tensorchicken learn``: how much of its scene each camera has learned; re-fit and judge.

``status`` (the default) shows each camera's empty-scene crops (hours of the day covered, day
and night), the last re-fit and judgement and the candidate waiting. ``refit`` re-fits the head
now on the cameras' scenes and the owner's labels and registers it as a shadow; ``judge``
promotes it or says why not (``--now``: without waiting ``learn.shadow_hours``); ``nightly``
is what the appliance runs on schedule: judge a candidate that has waited long enough, then
re-fit. ``refit``, ``judge`` and ``nightly`` lower their own priority first
(``learn.refit_nice``), so the frame loops keep the CPU.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from classifier import ClassifierError
from classifier.feature_head import heads_in_use
from classifier.registry import ModelRegistry
from edge.cli import CliError
from edge.cli.common import add_config_arg, add_json_arg, config_from, print_json, store_from
from edge.cli.label import state_dir_of
from edge.config import Config
from edge.learn.describe import describe_run, where_it_decides
from edge.learn.errors import LearnError
from edge.learn.job import judge_candidate, refit
from edge.learn.record import LearnRecord
from edge.learn.scenes import SceneStore, scenes_dir
from edge.train.errors import LabelError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its actions."""
    p = sub.add_parser("learn", help="each camera's own scene: what it learned, re-fit, judge")
    add_config_arg(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    for name, what in (("status", "scenes learned per camera, last re-fit"),
                       ("refit", "re-fit the head now and register it as a shadow"),
                       ("judge", "promote the waiting re-fit, or say why not"),
                       ("nightly", "judge a re-fit that waited long enough, then re-fit")):
        a = actions.add_parser(name, help=what)
        add_config_arg(a, default=argparse.SUPPRESS)  # also after the action
        add_json_arg(a)
        if name == "judge":
            a.add_argument("--now", action="store_true",
                           help="judge without waiting learn.shadow_hours")
    p.set_defaults(func=run, action=None, json=False, now=False)


def run(args: argparse.Namespace) -> int:
    """Do the action (``status`` when none is given)."""
    config = config_from(args)
    state = state_dir_of(config)
    if args.action in (None, "status"):
        return _status(config, args.json)
    os.nice(config.learn.refit_nice)  # below the frame loops, whoever started us
    try:
        if args.action == "refit":
            out: Any = refit(config, store_from(args, config), state)
        elif args.action == "judge":
            out = judge_candidate(config, state, force=args.now)
        else:
            out = nightly(args, config)
    except (LearnError, LabelError, ClassifierError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(out)
    else:
        for run_ in out if isinstance(out, list) else [out]:
            print(describe_run(run_))
    return 0


def nightly(args: argparse.Namespace, config: Config) -> list[dict[str, Any]]:
    """Judge a candidate that has waited long enough, then re-fit (unless one still waits)."""
    state = state_dir_of(config)
    runs = []
    cand = LearnRecord(state).candidate()
    if cand is not None and not cand.get("judged"):
        runs.append(judge_candidate(config, state))
        if runs[-1].get("deferred"):
            return runs
    runs.append(refit(config, store_from(args, config), state))
    return runs


def _deciding(heads: dict[str, Any], camera: str) -> dict[str, Any] | None:
    """The default head that decides ``camera``'s crops (None: the default head is off)."""
    return heads["camera_heads"].get(camera, heads["default_head"])


def _status(config: Config, as_json: bool) -> int:
    state = state_dir_of(config)
    store = SceneStore(scenes_dir(state), config.learn.per_hour, config.learn.refresh_h)
    coverage = [store.coverage(c.name) for c in config.cameras]
    record = LearnRecord(state)
    last = {k: record.last(k) for k in ("refit", "judge")}
    try:
        heads = heads_in_use(ModelRegistry(state, config.models).effective())
    except ClassifierError as exc:
        raise CliError(str(exc)) from None
    deciding = {c.name: _deciding(heads, c.name) for c in config.cameras}
    if as_json:
        print_json({"cameras": [{**c.to_dict(), "default_head": deciding[c.camera]}
                                for c in coverage],
                    "last_refit": last["refit"], "last_judgement": last["judge"],
                    "candidate": record.candidate()})
        return 0
    for c in coverage:
        head = deciding[c.camera]
        print(c.describe() + ("" if head is None else f"; decides with {head['name']}"
                              + (f" (its own re-fit{where_it_decides(head)})" if head["folder"]
                                 else " (shipped)")))
    for run_ in (r for r in last.values() if r is not None):
        print(describe_run(run_))
    if last["refit"] is None:
        print("no re-fit yet" + ("" if config.learn.refit_at == "" else
                                 f" (nightly at {config.learn.refit_at})"))
    return 0
