"""The README's bridge recipe, run: a coop's own Mosquitto bridged to the farm's. The coop keeps
delivering (to its own broker) while the link is down; the backlog reaches the farm when it
returns, in order; the farm's group command reaches the coop through the bridge."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config.reporters import ReportersConfig
from edge.events import EventLog, start_reporters
from edge.events.broker import MosquittoBroker

FARM = Path(__file__).resolve().parents[2] / "docs/farm"
USERS = {"coop-a": "pw-a", "owner": "pw-owner"}
EVENTS = "tensorchicken/coop-a/events"
sys.path.insert(0, str(Path(__file__).parent))
from events_child import make_event  # noqa: E402


def _recipe(farm: MosquittoBroker) -> str:
    text = (FARM / "bridge.conf").read_text()
    for name, value in (("FARM_HOST", farm.host), ("FARM_PORT", str(farm.port)),
                        ("NODE", "coop-a"), ("PASSWORD", USERS["coop-a"])):
        text = text.replace(name, value)
    return text


@pytest.fixture()
def farm(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "farm", users=USERS,
                             acl=(FARM / "farm.acl").read_text())
    broker.start()
    yield broker
    broker.stop()


def test_a_bridged_coop_keeps_guarding_offline_and_its_backlog_arrives(
        farm: MosquittoBroker, tmp_path: Path, watch: Callable[..., Any]) -> None:
    coop_broker = MosquittoBroker(tmp_path / "coop", extra=_recipe(farm))
    coop_broker.start()
    calls: list[tuple[bool, str]] = []
    with EventLog(tmp_path / "state" / "events.sqlite3") as log:
        cfg = ReportersConfig.model_validate({
            "mqtt": {"enabled": True, "host": coop_broker.host, "port": coop_broker.port,
                     "node": "coop-a", "reconnect_max_s": 1}, "retry_initial_s": 0.2})
        reporters = start_reporters(cfg, log, threading.Event(),
                                    on_arm=lambda on, source: calls.append((on, source)),
                                    armed=lambda: True)
        try:
            # The owner's view of the farm keeps its session while the farm's broker is down.
            owner = watch(farm, EVENTS, persistent=True, auth=("owner", USERS["owner"]))
            assert owner.ready()
            sent = [log.append(make_event(i)) for i in range(3)]
            assert owner.wait(lambda: owner.event_ids(EVENTS) == sent)

            farm.stop()  # the link is down
            sent += [log.append(make_event(i)) for i in range(3, 8)]
            # The coop delivered them all to its own broker: nothing waits in its log.
            assert owner.wait(lambda: log.sink_status()[0].backlog == 0)
            farm.start()  # back: the bridge hands the backlog on
            assert owner.wait(lambda: len(set(owner.event_ids(EVENTS))) == len(sent), 60)
            assert list(dict.fromkeys(owner.event_ids(EVENTS))) == sent

            # The farm's group command crosses the bridge the other way.
            farm_cmd = watch(farm, "tensorchicken/coop-a/armed", auth=("owner",
                                                                        USERS["owner"]))
            assert farm_cmd.ready()
            farm_cmd.client.publish("tensorchicken/all/armed/set", "OFF", qos=1)
            assert owner.wait(lambda: calls == [(False, "mqtt (all)")], 60)
        finally:
            reporters.close()
            coop_broker.stop()


def test_the_readme_shows_the_bridge_tested_here() -> None:
    assert (FARM / "bridge.conf").read_text() in (FARM.parents[1] / "README.md").read_text()
