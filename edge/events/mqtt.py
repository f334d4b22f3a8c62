"""MQTT reporter with Home Assistant discovery (paho-mqtt 2.x, ``CallbackAPIVersion.VERSION2``).

Topics, under this appliance's prefix (``tensorchicken/<node>``, see :mod:`edge.events.identity`):

=====================  =========================================================  ==========
``events``             each event as JSON (``Event.to_dict()``), QoS 1             not kept
``snapshot``           the latest event's snapshot, JPEG bytes                     retained
``state``              the latest event in short JSON (verdict, label, score...)   retained
``predator``           ``ON`` for each predator seen within ``off_delay_s``        not kept
``availability``       ``online``; the last will sets ``offline``                  retained
``armed``              ``ON`` / ``OFF``: whether the deterrents may fire           retained
``armed/set``          the command topic: exactly ``ON`` or ``OFF``, else ignored  (in)
``canary``             the canary alarm: JSON (``alarm``, ``rate``, ``message``)   retained
``problem``            what stops the appliance keeping events (a full disk), or   retained
                       empty when nothing does
``status``             for the farm view: JSON (``at``, ``frame_age_s``,           retained
                       ``backlog`` per reporter), every ``status_every_s``
=====================  =========================================================  ==========

Every appliance also obeys the farm's group command ``<topic_root>/all/armed/set`` under the
same rules as its own ``armed/set``.

Home Assistant discovery (``<discovery_prefix>/<component>/<node>/<object>/config``,
retained; one device per node, named after it) announces a binary sensor "Predator present"
(turned off by Home Assistant ``off_delay_s`` after the last ``ON``), a sensor "Last
verdict", an image "Snapshot", a switch "Armed" and a diagnostic binary sensor "Model
disagrees with canary" (``problem``, from the ``canary`` topic); it is announced again
whenever Home Assistant publishes ``online`` on
``<discovery_prefix>/status``.

The client speaks MQTT 5 (Mosquitto 1.6 and later): its "retain as published" subscription
option is the only way to tell a command published retained while we are connected from a live
one, and every retained command is ignored.

Durability is ours: paho keeps QoS 1 messages only in memory, so :meth:`MqttSink.deliver`
returns only after the broker's PUBACK, and the courier advances the cursor only then.
Callbacks run on paho's network thread and only hand work over to the courier's thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import SecretStr

from edge.config.reporters import MqttConfig
from edge.event import Event
from edge.events.errors import DeliveryError
from edge.events.identity import NodeIdentity

logger = logging.getLogger(__name__)

ARM_PAYLOADS = {b"ON": True, b"OFF": False}
ONLINE, OFFLINE = "online", "offline"
_FIRST_CONNECT_S = 3.0


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic this reporter uses, from the configuration."""

    events: str
    snapshot: str
    state: str
    predator: str
    availability: str
    armed: str
    armed_set: str
    ha_status: str
    discovery_prefix: str
    node: str
    canary: str
    problem: str
    updates: str
    status: str
    group_set: str

    @classmethod
    def from_config(cls, cfg: MqttConfig, identity: NodeIdentity) -> Topics:
        """The topics of the appliance ``identity`` (prefixes without a trailing slash)."""
        p = identity.prefix
        d = cfg.discovery_prefix.rstrip("/")
        return cls(events=f"{p}/events", snapshot=f"{p}/snapshot", state=f"{p}/state",
                   predator=f"{p}/predator", availability=f"{p}/availability",
                   armed=f"{p}/armed", armed_set=f"{p}/armed/set", ha_status=f"{d}/status",
                   discovery_prefix=d, node=identity.node, canary=f"{p}/canary",
                   problem=f"{p}/problem", updates=f"{p}/events/update", status=f"{p}/status",
                   group_set=identity.group_set)

    @property
    def commands(self) -> tuple[str, str]:
        """The command topics obeyed: this appliance's and the farm's group command."""
        return (self.armed_set, self.group_set)

    def discovery(self, component: str, object_id: str) -> str:
        """The discovery config topic of one entity."""
        return f"{self.discovery_prefix}/{component}/{self.node}/{object_id}/config"


def _version() -> str:
    try:
        return metadata.version("tensorchicken")
    except metadata.PackageNotFoundError:
        return "unknown"


def discovery_messages(topics: Topics, off_delay_s: int,
                       area: str | None = None) -> dict[str, dict[str, Any]]:
    """Home Assistant discovery payloads, by config topic (see Home Assistant's MQTT docs).

    Each node is its own device, named after it, in the suggested ``area`` when given.
    """
    device: dict[str, Any] = {"identifiers": [topics.node], "name": topics.node,
                              "manufacturer": "TensorChicken", "model": "Henhouse guard",
                              "sw_version": _version()}
    if area:
        device["suggested_area"] = area
    common = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": {"name": "tensorchicken", "sw_version": _version()},
        "qos": 1,
    }
    entities: dict[tuple[str, str], dict[str, Any]] = {
        ("binary_sensor", "predator"): {
            "name": "Predator present", "state_topic": topics.predator, "device_class": "occupancy",
            "payload_on": "ON", "payload_off": "OFF", "off_delay": off_delay_s},
        ("sensor", "last_verdict"): {
            "name": "Last verdict", "state_topic": topics.state,
            "value_template": "{{ value_json.verdict }}", "json_attributes_topic": topics.state,
            "device_class": "enum", "options": ["chicken", "predator", "background"]},
        ("image", "snapshot"): {
            "name": "Snapshot", "image_topic": topics.snapshot, "content_type": "image/jpeg"},
        ("switch", "armed"): {
            "name": "Armed", "command_topic": topics.armed_set, "state_topic": topics.armed,
            "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
            "icon": "mdi:shield-lock"},
        # The deciding model disagrees with the trusted canary too often: a problem to look
        # at (the agreement rate and message come along as attributes), not a predator.
        ("binary_sensor", "canary"): {
            "name": "Model disagrees with canary", "state_topic": topics.canary,
            "value_template": "{{ 'ON' if value_json.alarm else 'OFF' }}",
            "payload_on": "ON", "payload_off": "OFF", "device_class": "problem",
            "entity_category": "diagnostic", "json_attributes_topic": topics.canary},
    }
    return {topics.discovery(component, obj): {**common, **entity,
                                              "unique_id": f"{topics.node}_{obj}"}
            for (component, obj), entity in entities.items()}


def state_payload(event: Event) -> dict[str, Any]:
    """The short retained state: the latest event, without the per-model details; its
    ``clip`` (a path in the state folder) and ``outcome`` are the last-verdict sensor's
    attributes in Home Assistant."""
    return {"id": event.id, "time": event.start_time, "camera": event.camera,
            "verdict": event.verdict, "label": event.label, "score": round(event.score, 4),
            "deterrents": event.deterrents, "clip": event.clip, "outcome": event.outcome}


class MqttSink:
    """Publishes events to an MQTT broker and takes ``armed`` commands from it.

    ``on_arm(armed, source)`` is called on the courier's thread for a valid command (source
    ``mqtt``, or ``mqtt (all)`` for the group command); ``armed()`` gives the current state to
    publish; ``status()``, when given, the farm view's ``status`` every ``status_every_s``.
    """

    name = "mqtt"

    def __init__(self, cfg: MqttConfig, identity: NodeIdentity, *,
                 on_arm: Callable[[bool, str], None], armed: Callable[[], bool],
                 password: SecretStr | None, clock: Callable[[], float] = time.time,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.cfg = cfg
        self.identity = identity
        self.topics = Topics.from_config(cfg, identity)
        self._status = status
        self._status_at: float | None = None
        self._on_arm = on_arm
        self._armed = armed
        self._password = password
        self._clock = clock
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._refused: str | None = None
        self._announce = False
        self._commands: deque[tuple[str, bytes]] = deque(maxlen=16)
        self._published_armed: bool | None = None
        self._canary: str | None = None
        self._problem: str | None = None
        self._wake: Callable[[], None] = lambda: None
        self._state_id: int | None = None  # the event the retained state shows

    # -- paho's thread: hand over only ------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: Any, properties: object) -> None:
        if reason.is_failure:
            self._refused = f"broker refused the connection: {reason}"
            logger.warning("mqtt: %s", self._refused)
            return
        self._refused = None
        # MQTT 5's "retain as published": a command published retained while we are
        # connected keeps its retain flag (MQTT 3.1.1 clears it), so it is ignored too.
        keep_flag = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe([(topic, keep_flag) for topic in (*self.topics.commands,
                                                            self.topics.ha_status)])
        client.publish(self.topics.availability, ONLINE, qos=1, retain=True)
        self._announce = True
        self._published_armed = None
        self._status_at = None
        self._connected.set()
        logger.info("mqtt: connected to %s:%d", self.cfg.host, self.cfg.port)
        self._wake()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason: Any, properties: object) -> None:
        if self._connected.is_set() and self._client is not None:
            logger.warning("mqtt: disconnected from %s:%d: %s", self.cfg.host, self.cfg.port,
                           reason)
        self._connected.clear()
        self._wake()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        if message.topic in self.topics.commands and message.retain:
            # A retained command would be replayed on every reconnect: one stray
            # `mosquitto_pub -r ... OFF` would disarm the coop each time the Wi-Fi blinks.
            logger.warning("mqtt: ignored a retained %r on %s: commands must not be retained "
                           "(clear it: mosquitto_pub -r -n -t %s)", bytes(message.payload)[:40],
                           message.topic, message.topic)
        elif message.topic in self.topics.commands:
            self._commands.append((message.topic, bytes(message.payload)))
        elif message.topic == self.topics.ha_status and message.payload == ONLINE.encode():
            self._announce = True  # Home Assistant restarted: it needs the discovery again
        self._wake()

    # -- the courier's thread --------------------------------------------------------------

    def open(self, wake: Callable[[], None]) -> None:
        """Start connecting in the background (paho retries until the broker answers)."""
        self._wake = wake
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.identity.client_id,
                             protocol=mqtt.MQTTv5)
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        if self.cfg.username:
            password = self._password.get_secret_value() if self._password else None
            client.username_pw_set(self.cfg.username, password)
        if self.cfg.tls:
            client.tls_set(ca_certs=self.cfg.ca_file)
        client.reconnect_delay_set(1, self.cfg.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self._client = client
        client.loop_start()
        # Give the first connection a moment so that a normal start logs no failure.
        self._connected.wait(_FIRST_CONNECT_S)

    def _require_client(self) -> mqtt.Client:
        if self._client is None or not self._connected.is_set():
            raise DeliveryError(self._refused or
                                f"not connected to the broker {self.cfg.host}:{self.cfg.port}")
        return self._client

    def service(self) -> None:
        """Apply arm commands, (re)announce discovery, keep ``armed`` current."""
        client = self._require_client()
        while self._commands:
            self._command(*self._commands.popleft())
        if self._announce:
            self._announce = False
            if self.cfg.discovery:
                for topic, payload in discovery_messages(self.topics, self.cfg.off_delay_s,
                                                         self.cfg.area).items():
                    client.publish(topic, json.dumps(payload), qos=1, retain=True)
        self._publish_status(client)
        armed = bool(self._armed())
        if armed != self._published_armed:
            client.publish(self.topics.armed, "ON" if armed else "OFF", qos=1, retain=True)
            self._published_armed = armed
        canary, self._canary = self._canary, None
        if canary is not None:
            client.publish(self.topics.canary, canary, qos=1, retain=True)
        problem, self._problem = self._problem, None
        if problem is not None:
            client.publish(self.topics.problem, problem, qos=1, retain=True)

    def report_canary(self, status: dict[str, Any]) -> None:
        """Publish the canary alarm's state (retained) at the next service; any thread."""
        self._canary = json.dumps(status, default=str)
        self._wake()

    def report_problem(self, problem: str | None) -> None:
        """Publish what stops events being kept (retained), or clear it with None; any thread."""
        self._problem = problem or ""
        self._wake()

    def _publish_status(self, client: mqtt.Client) -> None:
        """The farm view's retained ``status``, at connection and every ``status_every_s``."""
        now = self._clock()
        due = self._status_at is None or now - self._status_at >= self.cfg.status_every_s
        if self._status is None or not due:
            return
        self._status_at = now
        client.publish(self.topics.status, json.dumps({"at": now, **self._status()},
                                                      default=str), qos=1, retain=True)

    def _command(self, topic: str, payload: bytes) -> None:
        if payload not in ARM_PAYLOADS:
            logger.warning("mqtt: ignored %r on %s: the only commands are ON and OFF",
                           payload[:40], topic)
            return
        group = topic == self.topics.group_set
        logger.info("mqtt: %s command received%s", payload.decode(),
                    " for every appliance" if group else "")
        self._on_arm(ARM_PAYLOADS[payload], "mqtt (all)" if group else "mqtt")

    def deliver(self, event: Event) -> None:
        """Publish the event (and its snapshot, state, predator flag); return after PUBACKs."""
        client = self._require_client()
        messages: list[tuple[str, bytes | str, bool]] = [
            (self.topics.events, json.dumps(event.to_dict(), default=str), False)]
        snapshot = self._snapshot_bytes(event)
        if snapshot is not None:
            messages.append((self.topics.snapshot, snapshot, True))
        messages.append((self.topics.state, json.dumps(state_payload(event)), True))
        if event.verdict == "predator" and self._clock() - event.end_time < self.cfg.off_delay_s:
            messages.append((self.topics.predator, "ON", False))  # stale ones must not alarm
        # One at a time: with several small messages in flight, a broker's Nagle algorithm
        # holds PUBACKs for our delayed ACK (~40 ms an event); in turn, it is ~0.2 ms.
        for topic, payload, retain in messages:
            self._await_puback(client.publish(topic, payload, qos=1, retain=retain), event)
        self._state_id = event.id

    def deliver_update(self, event: Event) -> None:
        """Publish an event delivered before, now with its clip or outcome, on the
        ``events/update`` topic (the whole event again, QoS 1; at least once, so the same
        update may come twice); and the retained state again if it shows this event."""
        client = self._require_client()
        payload = json.dumps(event.to_dict(), default=str)
        self._await_puback(client.publish(self.topics.updates, payload, qos=1), event)
        if event.id is not None and event.id == self._state_id:
            state = json.dumps(state_payload(event))
            self._await_puback(client.publish(self.topics.state, state, qos=1, retain=True),
                               event)

    def _await_puback(self, info: mqtt.MQTTMessageInfo, event: Event) -> None:
        try:
            info.wait_for_publish(self.cfg.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"event {event.id} not published: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"event {event.id}: no PUBACK within "
                                f"{self.cfg.publish_timeout_s:g} s")

    @staticmethod
    def _snapshot_bytes(event: Event) -> bytes | None:
        if not event.snapshot:
            return None
        try:
            return Path(event.snapshot).read_bytes()
        except OSError as exc:  # retention may have deleted it; the event still goes
            logger.info("mqtt: snapshot of event %s not sent: %s", event.id, exc.strerror)
            return None

    def close(self) -> None:
        """Say ``offline`` (retained) and disconnect."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._connected.is_set():
            info = client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()
