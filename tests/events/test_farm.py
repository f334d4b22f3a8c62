"""Three appliances on one real Mosquitto with the README's ACL: each its own identity, no
reconnect storm, no crossed topics, a device each in Home Assistant, one group disarm for all,
and no appliance able to command another."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.cli import main
from edge.config.reporters import ReportersConfig
from edge.events import EventLog, ReporterSet, start_reporters
from edge.events.broker import MosquittoBroker
from edge.events.identity import node_identity

ACL = Path(__file__).resolve().parents[2] / "docs/farm/farm.acl"
NODES = ("coop-a", "coop-b", "coop-c")
USERS = {**{n: f"pw-{n}" for n in NODES}, "owner": "pw-owner"}
OWNER = ("owner", USERS["owner"])
sys.path.insert(0, str(Path(__file__).parent))
from events_child import make_event  # noqa: E402


class Coop:
    """One appliance's reporters with its own log, identity, password and arm switch."""

    def __init__(self, node: str, broker: MosquittoBroker, folder: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.node = node
        self.armed = True
        self.calls: list[tuple[bool, str]] = []
        self.log = EventLog(folder / node / "events.sqlite3")
        mqtt_cfg = {"enabled": True, "host": broker.host, "port": broker.port,
                    "username": node, "reconnect_max_s": 1, "publish_timeout_s": 5}
        if node == "coop-c":  # named by the configuration; the others by their host names
            mqtt_cfg.update(node=node, area="North coop")
        cfg = ReportersConfig.model_validate({"mqtt": mqtt_cfg, "retry_initial_s": 0.2})
        # Chosen before the log existed, as the app does; the host name is this coop's.
        identity = node_identity(cfg.mqtt, folder / f"{node}-state", hostname=lambda: node)
        monkeypatch.setenv("TENSORCHICKEN_MQTT_PASSWORD", USERS[node])  # read at start
        self.reporters: ReporterSet = start_reporters(
            cfg, self.log, threading.Event(), on_arm=self._on_arm, armed=lambda: self.armed,
            identity=identity, health=lambda: {"frame_age_s": 2.0})

    def _on_arm(self, armed: bool, source: str) -> None:
        self.calls.append((armed, source))
        self.armed = armed

    def close(self) -> None:
        self.reporters.close()
        self.log.close()


@pytest.fixture(scope="module")
def farm_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path_factory.mktemp("farm"), users=USERS,
                             acl=ACL.read_text())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture()
def coops(farm_broker: MosquittoBroker, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Coop]]:
    made = {node: Coop(node, farm_broker, tmp_path, monkeypatch) for node in NODES}
    yield made
    for coop in made.values():
        coop.close()


def _publish_as(broker: MosquittoBroker, user: str, topic: str, payload: str) -> int:
    """Publish at QoS 1 over MQTT 5 as ``user``; the PUBACK's reason code (0: accepted)."""
    acked = threading.Event()
    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-probe",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, USERS[user])
    client.on_publish = lambda c, u, mid, rc, props: (codes.append(rc.value), acked.set())
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert acked.wait(20), f"no PUBACK for {topic}"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_three_coops_share_one_broker_each_its_own(
        farm_broker: MosquittoBroker, coops: dict[str, Coop],
        watch: Callable[..., Any]) -> None:
    owner = watch(farm_broker, "#", auth=OWNER)
    assert owner.ready()
    for coop in coops.values():
        for i in range(4):
            event = make_event(i)
            event.camera = coop.node  # tells a crossed topic from a right one
            coop.log.append(event)
    for node in NODES:
        topic = f"tensorchicken/{node}/events"
        assert owner.wait(lambda t=topic: len(owner.on(t)) >= 4), node
        assert {json.loads(p)["camera"] for p in owner.on(topic)} == {node}
    # Home Assistant: a device per coop, named after it, with entity ids of its own.
    assert owner.wait(lambda: len({t for t, *_ in owner.messages
                                   if t.endswith("/config")}) >= 15)
    configs = {t: json.loads(p) for t, p, _ in owner.messages if t.endswith("/config")}
    assert len(configs) == 15 and len({c["unique_id"] for c in configs.values()}) == 15
    for node in NODES:
        mine = [c for t, c in configs.items() if t.split("/")[2] == node]
        assert len(mine) == 5
        assert {json.dumps(c["device"]["identifiers"]) for c in mine} == {json.dumps([node])}
        assert {c["device"]["name"] for c in mine} == {node}
        areas = {c["device"].get("suggested_area") for c in mine}
        assert areas == ({"North coop"} if node == "coop-c" else {None})
        assert {c["availability_topic"] for c in mine} == {f"tensorchicken/{node}/availability"}

    # One group disarm reaches every coop; the owner may send it.
    assert _publish_as(farm_broker, "owner", "tensorchicken/all/armed/set", "OFF") == 0
    for node in NODES:
        topic = f"tensorchicken/{node}/armed"
        assert owner.wait(lambda t=topic: owner.on(t)[-1:] == [b"OFF"]), node
        assert coops[node].calls == [(False, "mqtt (all)")]

    # A compromised coop can neither command another nor the farm: the broker refuses it.
    not_authorised = 135  # MQTT 5 reason code
    assert _publish_as(farm_broker, "coop-a", "tensorchicken/coop-b/armed/set",
                       "ON") == not_authorised
    assert _publish_as(farm_broker, "coop-a", "tensorchicken/all/armed/set",
                       "ON") == not_authorised
    assert _publish_as(farm_broker, "coop-a", "homeassistant/switch/coop-b/armed/config",
                       "{}") == not_authorised
    # The owner's command to coop-b, after those: when it is applied, they would have been.
    assert _publish_as(farm_broker, "owner", "tensorchicken/coop-b/armed/set", "ON") == 0
    assert owner.wait(lambda: coops["coop-b"].calls[-1:] == [(True, "mqtt")])
    assert coops["coop-b"].calls == [(False, "mqtt (all)"), (True, "mqtt")]
    assert coops["coop-a"].calls == coops["coop-c"].calls == [(False, "mqtt (all)")]

    # No reconnect storm: each coop connected once, nobody's session was taken over.
    broker_log = (farm_broker.folder / "mosquitto.log").read_text()
    assert "already connected" not in broker_log
    for node in NODES:
        assert broker_log.count(f" as {node} ") == 1, node


def test_the_readme_shows_the_acl_tested_here() -> None:
    assert ACL.read_text() in (ACL.parents[2] / "README.md").read_text()


def test_a_coop_reads_only_its_own_and_the_group_commands(
        farm_broker: MosquittoBroker, watch: Callable[..., Any]) -> None:
    spy = watch(farm_broker, "#", auth=("coop-a", USERS["coop-a"]))
    assert spy.ready()
    for topic in ("tensorchicken/coop-b/armed/set", "tensorchicken/coop-b/events",
                  "homeassistant/switch/coop-b/armed/config", "tensorchicken/coop-a/armed/set",
                  "tensorchicken/all/armed/set"):
        assert _publish_as(farm_broker, "owner", topic, "X") == 0
    # In order from one publisher: once the last two arrived, the others would have too.
    assert spy.wait(lambda: len(spy.messages) >= 2)
    assert [t for t, *_ in spy.messages] == ["tensorchicken/coop-a/armed/set",
                                             "tensorchicken/all/armed/set"]


def test_the_farm_command_lists_every_coop_from_the_broker(
        farm_broker: MosquittoBroker, coops: dict[str, Coop], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        watch: Callable[..., Any]) -> None:
    owner = watch(farm_broker, "tensorchicken/+/status", auth=OWNER)
    assert owner.ready()
    event = make_event(7, verdict="predator")
    event.camera = "coop-b"
    coops["coop-b"].log.append(event)
    assert owner.wait(lambda: all(owner.on(f"tensorchicken/{n}/status") for n in NODES))
    state_b = "tensorchicken/coop-b/state"
    late = watch(farm_broker, state_b, auth=OWNER)
    assert late.wait(lambda: bool(late.on(state_b)))  # coop-b's event is on the broker
    coops["coop-c"].close()  # says offline (retained)
    config = tmp_path / "owner.yaml"
    config.write_text(f"reporters: {{mqtt: {{enabled: true, host: {farm_broker.host}, "
                      f"port: {farm_broker.port}}}}}\n")
    monkeypatch.setenv("TENSORCHICKEN_MQTT_PASSWORD", USERS["owner"])
    assert main(["farm", "-c", str(config), "--username", "owner", "--json",
                 "--settle", "0.5"]) == 0
    nodes = {n["node"]: n for n in json.loads(capsys.readouterr().out)}
    assert sorted(nodes) == list(NODES)  # not "all", not the owner
    assert [nodes[n]["online"] for n in NODES] == [True, True, False]
    assert all(nodes[n]["armed"] is True for n in NODES)
    assert nodes["coop-b"]["last_event"]["verdict"] == "predator"
    assert nodes["coop-b"]["last_event"]["camera"] == "coop-b"
    assert nodes["coop-a"]["backlog"] == {"mqtt": 0}
    assert nodes["coop-a"]["frame_age_s"] >= 2.0  # the age told, and older since
    assert main(["farm", "-c", str(config), "--username", "owner", "--settle", "0.5"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["node", "online", "armed"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["coop-a", "online"], ["coop-b", "online"], ["coop-c", "OFFLINE"]]
    # A wrong password is one line, not a traceback.
    monkeypatch.setenv("TENSORCHICKEN_MQTT_PASSWORD", "wrong")
    assert main(["farm", "-c", str(config), "--username", "owner"]) == 1
    assert "refused" in capsys.readouterr().err
