"""The MQTT reporter against a real Mosquitto: order, outages, kills, Home Assistant discovery."""

from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from classifier.canary import CanaryMonitor, CanaryStatus
from edge.config.reporters import ArchiveConfig, ReportersConfig
from edge.events import Archive, EventLog, ReporterSet, start_reporters
from edge.events.broker import MosquittoBroker
from edge.events.mqtt import MqttSink
from tests.conftest import SHARED_DATA

CHILD = Path(__file__).with_name("events_child.py")
PHOTO = SHARED_DATA / "images/predator/animl__Cat-21.jpg"
OUTAGE_S = 60.0  # the broker comes back "a minute later"
sys.path.insert(0, str(CHILD.parent))
from events_child import make_event  # noqa: E402


def _config(broker: MosquittoBroker, **mqtt: Any) -> ReportersConfig:
    return ReportersConfig.model_validate({
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "reconnect_max_s": 1,
                 "publish_timeout_s": 3, **mqtt},
        "retry_initial_s": 0.2, "retry_max_s": 2})


class Arming:
    """The app's side of the switch: remembers every on_arm call."""

    def __init__(self) -> None:
        self.armed = True
        self.calls: list[tuple[bool, str]] = []

    def on_arm(self, armed: bool, source: str) -> None:
        self.calls.append((armed, source))
        self.armed = armed


@pytest.fixture()
def log(state_dir: Path) -> Iterator[EventLog]:
    with EventLog(state_dir / "events.sqlite3") as opened:
        yield opened


@pytest.fixture()
def reporters(log: EventLog) -> Iterator[Callable[..., ReporterSet]]:
    started: list[ReporterSet] = []

    def start(cfg: ReportersConfig, arming: Arming | None = None,
              canary: CanaryMonitor | None = None) -> ReporterSet:
        arming = arming or Arming()
        running = start_reporters(cfg, log, threading.Event(), on_arm=arming.on_arm,
                                  armed=lambda: arming.armed, canary=canary)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def _in_order_none_lost(received: list[int], expected: list[int]) -> None:
    # At least once: a redelivery after an outage may repeat an event, but the first arrival
    # of each is in order and none is missing.
    first_seen = list(dict.fromkeys(received))
    assert first_seen == expected


def test_events_arrive_in_order_with_state_snapshot_and_flag(
        broker: MosquittoBroker, watch: Callable[..., Any], log: EventLog,
        reporters: Callable[..., ReporterSet], state_dir: Path) -> None:
    watcher = watch(broker, "tensorchicken/#")
    reporters(_config(broker))
    saved = Archive(state_dir / "archive", ArchiveConfig(min_free_mb=0)).save(
        "coop", time.time(), cv2.imread(str(PHOTO)), {})
    ids = []
    for i in range(30):
        event = make_event(i, verdict="predator" if i % 10 == 0 else "chicken")
        event.snapshot = saved.snapshot if i == 29 else None
        ids.append(log.append(event))
    assert watcher.wait(lambda: len(watcher.event_ids()) >= 30)
    assert watcher.event_ids() == ids
    assert watcher.on("tensorchicken/predator") == [b"ON"] * 3
    # The last event's state follows its event and snapshot: wait for it, then look at what a
    # newcomer gets at once (the retained topics).
    assert watcher.wait(lambda: _state_id(watcher.on("tensorchicken/state")) == ids[-1])
    later = watch(broker, "tensorchicken/#")
    kept = ("state", "snapshot", "availability", "armed")
    assert later.wait(lambda: all(later.on(f"tensorchicken/{t}") for t in kept))
    retained = {t: p for t, p, kept in later.messages if kept}
    assert retained["tensorchicken/snapshot"] == Path(str(saved.snapshot)).read_bytes()
    assert json.loads(retained["tensorchicken/state"])["id"] == ids[-1]
    assert retained["tensorchicken/availability"] == b"online"
    assert retained["tensorchicken/armed"] == b"ON"
    assert _eventually(lambda: log.sink_status()[0].backlog == 0)  # PUBACKs in, cursor moved


def _state_id(states: list[bytes]) -> int | None:
    return int(json.loads(states[-1])["id"]) if states else None


# Home Assistant's MQTT docs: the config topic is <discovery_prefix>/<component>/[<node_id>/]
# <object_id>/config; each entity below needs the options named here; a device needs a
# unique_id and device.identifiers; availability uses payload_available/not_available.
REQUIRED = {
    "binary_sensor": {"state_topic", "payload_on", "payload_off", "device_class"},
    "sensor": {"state_topic", "value_template"},
    "image": {"image_topic", "content_type"},
    "switch": {"command_topic", "state_topic", "payload_on", "payload_off"},
}


def test_discovery_matches_home_assistant_and_is_announced_again(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet]) -> None:
    watcher = watch(broker, "homeassistant/#")
    reporters(_config(broker, off_delay_s=45))
    assert watcher.wait(lambda: len(watcher.messages) >= 5)
    configs = {t: json.loads(p) for t, p, _ in watcher.messages}
    late = watch(broker, "homeassistant/#")  # retained: Home Assistant finds them whenever
    assert late.wait(lambda: len(late.messages) >= 5)
    assert {t: json.loads(p) for t, p, kept in late.messages if kept} == configs
    assert sorted(configs) == [
        "homeassistant/binary_sensor/tensorchicken/canary/config",
        "homeassistant/binary_sensor/tensorchicken/predator/config",
        "homeassistant/image/tensorchicken/snapshot/config",
        "homeassistant/sensor/tensorchicken/last_verdict/config",
        "homeassistant/switch/tensorchicken/armed/config",
    ]
    for topic, config in configs.items():
        component = topic.split("/")[1]
        assert REQUIRED[component] <= set(config), topic
        assert config["availability_topic"] == "tensorchicken/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online",
                                                                                   "offline")
        assert config["device"]["identifiers"] == ["tensorchicken"]
        assert "#" not in json.dumps(config) and "+" not in config.get("state_topic", "")
    assert len({c["unique_id"] for c in configs.values()}) == 5
    binary = configs["homeassistant/binary_sensor/tensorchicken/predator/config"]
    assert binary["off_delay"] == 45 and binary["state_topic"] == "tensorchicken/predator"
    canary = configs["homeassistant/binary_sensor/tensorchicken/canary/config"]
    assert canary["state_topic"] == canary["json_attributes_topic"] == "tensorchicken/canary"
    assert (canary["device_class"], canary["entity_category"]) == ("problem", "diagnostic")
    switch = configs["homeassistant/switch/tensorchicken/armed/config"]
    assert switch["command_topic"] == "tensorchicken/armed/set"

    watcher.messages.clear()
    watcher.client.publish("homeassistant/status", "offline", qos=1)
    watcher.client.publish("homeassistant/status", "online", qos=1)  # Home Assistant restarted
    assert watcher.wait(lambda: len([m for m in watcher.messages if m[0] in configs]) >= 5)


def test_the_canary_alarm_is_published_retained_for_its_sensor(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet]) -> None:
    running = reporters(_config(broker))
    sink = running.couriers[0].sink
    assert isinstance(sink, MqttSink)
    status = CanaryStatus(canary="mobilenet_v1_025_imagenet", primary="mobilenet_v2_imagenet",
                          compared=50, disagreements=20, window=50, max_rate=0.2,
                          min_samples=20, alarm=True, since=1_780_000_000.0)
    watcher = watch(broker, "tensorchicken/canary")
    sink.report_canary(status.to_dict())
    assert watcher.wait(lambda: bool(watcher.on("tensorchicken/canary")))
    # What the discovery's value_template reads (value_json.alarm) and its attributes.
    assert json.loads(watcher.on("tensorchicken/canary")[-1]) == {**status.to_dict(), "rate": 0.4}
    late = watch(broker, "tensorchicken/canary")  # Home Assistant starting later still sees it
    assert late.wait(lambda: bool(late.messages))
    assert late.messages[-1][2] is True


def test_the_mqtt_reporter_listens_to_the_canary_it_is_given(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet]) -> None:
    monitor = CanaryMonitor(window=10, min_samples=4, max_rate=0.2)
    monitor.reset("mobilenet_v2_imagenet", "mobilenet_v1_025_imagenet")
    reporters(_config(broker), canary=monitor)
    watcher = watch(broker, "tensorchicken/canary")
    for _ in range(4):  # every crop disagrees: the alarm is raised at min_samples
        monitor.observe("mobilenet_v2_imagenet", agrees=False)
    assert watcher.wait(lambda: bool(watcher.on("tensorchicken/canary")))
    assert json.loads(watcher.on("tensorchicken/canary")[-1])["alarm"] is True


def test_a_canary_rate_at_the_limit_does_not_flap_the_home_assistant_sensor(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet]) -> None:
    running = reporters(_config(broker))
    sink = running.couriers[0].sink
    assert isinstance(sink, MqttSink)
    monitor = CanaryMonitor(window=50, min_samples=10, max_rate=0.2)
    sent: list[bool] = []
    monitor.listeners.append(lambda s: sent.append(s.alarm) or sink.report_canary(s.to_dict()))
    watcher = watch(broker, "tensorchicken/canary")
    monitor.reset("mobilenet_v2_imagenet", "mobilenet_v1_025_imagenet")
    rng = random.Random(0)
    for _ in range(500):  # disagreeing on about a fifth of the crops, the limit a fifth
        monitor.observe("mobilenet_v2_imagenet", agrees=rng.random() >= 0.2)
        # Crops come a few a second: each change reaches the broker before the next crop.
        assert watcher.wait(lambda: len(watcher.on("tensorchicken/canary")) == len(sent))
    assert sent[0] and len(sent) <= 6  # it flapped 27 times: each a state change in HA
    assert [json.loads(p)["alarm"] for p in watcher.on("tensorchicken/canary")] == sent


def test_arm_commands_accept_only_on_and_off(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet]) -> None:
    arming = Arming()
    reporters(_config(broker), arming)
    watcher = watch(broker, "tensorchicken/armed")
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed") == [b"ON"])
    for bad in (b"on", b"1", b"", b"ARM", b'{"armed": false}', b"\xff\xfe", b"OFF "):
        watcher.client.publish("tensorchicken/armed/set", bad, qos=1)
    watcher.client.publish("tensorchicken/armed/set", "OFF", qos=1)  # handled after the bad ones
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed")[-1:] == [b"OFF"])
    assert arming.calls == [(False, "mqtt")]
    watcher.client.publish("tensorchicken/armed/set", "ON", qos=1)
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed") == [b"ON", b"OFF", b"ON"])
    assert arming.calls == [(False, "mqtt"), (True, "mqtt")]


def test_a_retained_arm_command_is_ignored(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet], caplog: pytest.LogCaptureFixture) -> None:
    watcher = watch(broker, "tensorchicken/armed")
    stray = watcher.client.publish("tensorchicken/armed/set", "OFF", qos=1, retain=True)
    stray.wait_for_publish(10)  # kept by the broker: handed to every new subscriber
    arming = Arming()
    reporters(_config(broker), arming)
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed") == [b"ON"])
    # A live command after it: when it has been applied, the retained one was seen before.
    watcher.client.publish("tensorchicken/armed/set", "ON", qos=1)
    assert watcher.wait(lambda: arming.calls[-1:] == [(True, "mqtt")])
    assert arming.calls == [(True, "mqtt")] and arming.armed
    assert "ignored a retained b'OFF'" in caplog.text


def test_a_retained_arm_command_published_while_connected_is_ignored(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet], caplog: pytest.LogCaptureFixture) -> None:
    # `mosquitto_pub -r -t tensorchicken/armed/set -m OFF` while the appliance is connected:
    # an MQTT 3.1.1 broker forwards it to present subscribers with the retain flag cleared.
    arming = Arming()
    reporters(_config(broker), arming)
    watcher = watch(broker, "tensorchicken/armed")
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed") == [b"ON"])
    watcher.client.publish("tensorchicken/armed/set", "OFF", qos=1, retain=True)
    watcher.client.publish("tensorchicken/armed/set", "ON", qos=1)  # live, after it
    assert watcher.wait(lambda: arming.calls[-1:] == [(True, "mqtt")])
    assert arming.calls == [(True, "mqtt")] and arming.armed
    assert "ignored a retained b'OFF'" in caplog.text


class Producer:
    """Appends an event every ``every_s`` on its own thread, like the pipeline would."""

    def __init__(self, log: EventLog, every_s: float) -> None:
        self.ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(log, every_s), daemon=True)
        self._thread.start()

    def _run(self, log: EventLog, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.ids.append(log.append(make_event(len(self.ids))))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        return self.ids


@pytest.mark.slow
def test_a_broker_outage_of_a_minute_loses_nothing(
        broker: MosquittoBroker, watch: Callable[..., Any], log: EventLog,
        reporters: Callable[..., ReporterSet]) -> None:
    watcher = watch(broker, "tensorchicken/events", persistent=True)
    reporters(_config(broker))
    producer = Producer(log, every_s=0.1)
    assert watcher.wait(lambda: len(watcher.event_ids()) >= 20)
    time.sleep(1.5)  # let the broker save the watcher's session (autosave every second)
    broker.kill()
    deadline = time.monotonic() + OUTAGE_S
    assert watcher.wait(lambda: log.sink_status()[0].failing_since is not None, timeout=15)
    time.sleep(max(0.0, deadline - time.monotonic()))
    status = log.sink_status()[0]
    assert status.backlog > 100 and "not connected" in (status.last_error or "")
    broker.start()
    time.sleep(2)
    ids = producer.stop()
    assert watcher.wait(lambda: set(ids) <= set(watcher.event_ids()), timeout=60)
    _in_order_none_lost(watcher.event_ids(), ids)
    assert log.sink_status()[0].healthy


def _start_child(log: EventLog, cfg: ReportersConfig) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, str(CHILD), "reporters", str(log.path),
                              cfg.model_dump_json()], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "started"
    return child


def test_a_sigkilled_reporter_process_resumes_with_nothing_lost(
        broker: MosquittoBroker, watch: Callable[..., Any], log: EventLog) -> None:
    watcher = watch(broker, "tensorchicken/#")
    cfg = _config(broker, keepalive_s=5)
    child = _start_child(log, cfg)
    producer = Producer(log, every_s=0.02)
    try:
        assert watcher.wait(lambda: len(watcher.event_ids()) >= 40)
        child.send_signal(signal.SIGKILL)
        child.wait()
        # The broker tells everyone the reporter is gone (its last will).
        assert watcher.wait(lambda: watcher.on("tensorchicken/availability")[-1:] == [b"offline"])
        time.sleep(1)
        child = _start_child(log, cfg)
        time.sleep(1)
        ids = producer.stop()
        assert watcher.wait(lambda: set(ids) <= set(watcher.event_ids()), timeout=30)
        _in_order_none_lost(watcher.event_ids(), ids)
        assert watcher.on("tensorchicken/availability")[-1] == b"online"
    finally:
        producer.stop()
        child.send_signal(signal.SIGTERM)
        child.wait(20)


def test_credentials_come_from_secrets_and_a_refusal_shows_in_status(
        tmp_path: Path, log: EventLog, reporters: Callable[..., ReporterSet],
        monkeypatch: pytest.MonkeyPatch) -> None:
    secured = MosquittoBroker(tmp_path / "secured", users={"coop": "s3cret", "spy": "spy"})
    secured.start()
    try:
        monkeypatch.setenv("TENSORCHICKEN_MQTT_PASSWORD", "wrong")
        refused = reporters(_config(secured, username="coop"))
        assert _eventually(lambda: "refused" in (log.sink_status()[0].last_error or ""))
        refused.close()
        monkeypatch.setenv("TENSORCHICKEN_MQTT_PASSWORD", "s3cret")
        reporters(_config(secured, username="coop"))
        event_id = log.append(make_event(0))
        assert _eventually(lambda: log.sink_status()[0].cursor == event_id)
        assert log.sink_status()[0].healthy
    finally:
        secured.stop()


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_flood_of_commands_writes_a_few_log_lines_not_thousands(
        broker: MosquittoBroker, watch: Callable[..., Any],
        reporters: Callable[..., ReporterSet], capsys: pytest.CaptureFixture[str]) -> None:
    """1000 commands (junk and toggles) in about a second: journald would cut thousands of
    lines, hiding the one that says a deterrent fired; the repeats are held back."""
    from edge.logs import configure

    configure("INFO")
    arming = Arming()
    reporters(_config(broker), arming)
    watcher = watch(broker, "tensorchicken/armed")
    assert watcher.wait(lambda: watcher.on("tensorchicken/armed") == [b"ON"])
    for i in range(1000):
        watcher.client.publish("tensorchicken/armed/set", [b"junk", b"OFF", b"ON"][i % 3], qos=0)
    watcher.client.publish("tensorchicken/armed/set", "OFF", qos=1)
    assert watcher.wait(lambda: len(arming.calls) >= 2 and arming.calls[-1] == (False, "mqtt"))
    logging.getLogger("edge.pipeline").warning("camera coop: fox → fired siren (confirmed)")
    root = logging.getLogger()
    for ours in [h for h in root.handlers if h.get_name() == "tensorchicken"]:
        root.removeHandler(ours)  # it writes to this test's captured stderr
    lines = capsys.readouterr().err.splitlines()
    assert any("fired siren" in line for line in lines)
    assert len([line for line in lines if "mqtt" in line or "deterrents" in line]) < 40, lines


def test_a_later_outcome_goes_out_as_an_update_and_into_the_last_verdict_attributes(
        broker: MosquittoBroker, watch: Callable[..., Any], log: EventLog,
        reporters: Callable[..., ReporterSet]) -> None:
    watcher = watch(broker, "tensorchicken/#")
    reporters(_config(broker))
    event = make_event(0, verdict="predator")
    event.deterrents = ["siren"]
    log.append(event)
    assert watcher.wait(lambda: _state_id(watcher.on("tensorchicken/state")) == event.id)
    assert json.loads(watcher.on("tensorchicken/state")[-1])["outcome"] is None  # undecided
    event.outcome = {"result": "left", "left_after_s": 2.5, "returned": False,
                     "fired_again": False}
    event.clip = "archive/2026-05-01/211403.250117_coop/clip.mp4"
    log.update(event)
    assert watcher.wait(lambda: bool(watcher.on("tensorchicken/events/update")))
    update = json.loads(watcher.on("tensorchicken/events/update")[0])
    assert update["id"] == event.id and update["outcome"]["result"] == "left"
    assert update["clip"] == event.clip  # a path in the state folder, never the video
    assert watcher.wait(lambda: json.loads(watcher.on("tensorchicken/state")[-1])["outcome"]
                        is not None)
    state = json.loads(watcher.on("tensorchicken/state")[-1])
    assert state["outcome"]["left_after_s"] == 2.5 and state["clip"] == event.clip
    assert watcher.event_ids() == [event.id]  # an update, not a second event
