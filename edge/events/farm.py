"""The farm view: every appliance seen on the broker, from its retained per-node topics.

Each appliance keeps ``availability``, ``armed``, ``state`` (its last event), ``status`` (last
frame age, backlog), ``canary`` and ``problem`` retained under ``<topic_root>/<node>/``; a
subscriber gets them all at once. :func:`read_farm` subscribes, gathers what the broker holds
and leaves; :func:`farm_nodes` turns those messages into one :class:`NodeView` per appliance.

Example::

    nodes = read_farm(config.reporters.mqtt, read_secret("mqtt_password"))
    [(n.node, n.online, n.armed) for n in nodes]
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from edge.config.reporters import GROUP_NODE, MqttConfig

log = logging.getLogger(__name__)

LEAVES = ("availability", "armed", "state", "status", "canary", "problem")
COLUMNS = ("node", "online", "armed", "last event", "last frame", "backlog", "canary")


class FarmError(RuntimeError):
    """The broker could not be read (refused, unreachable, no answer)."""


@dataclass(frozen=True, slots=True)
class NodeView:
    """One appliance as its retained topics tell it (None: not told)."""

    node: str
    online: bool | None
    armed: bool | None
    last_event: dict[str, Any] | None
    frame_age_s: float | None  # now, from the status's age at publication
    backlog: dict[str, int]
    canary_alarm: bool | None
    problem: str

    def cells(self, now: float | None = None) -> tuple[str, ...]:
        """The row of the farm view in words, under :data:`COLUMNS`."""
        age = "-" if self.frame_age_s is None else f"{self.frame_age_s:.0f} s ago"
        canary = _yes_no(self.canary_alarm, "ALARM", "ok")
        return (self.node, _yes_no(self.online, "online", "OFFLINE"),
                _yes_no(self.armed, "armed", "disarmed"), self._last_event(now), age,
                self._backlog(), canary + (f"; {self.problem}" if self.problem else ""))

    def _last_event(self, now: float | None) -> str:
        e = self.last_event
        if not e:
            return "-"
        at = e.get("time")
        now = time.time() if now is None else now
        age = f", {now - float(at):.0f} s ago" if isinstance(at, int | float) else ""
        return f"#{e.get('id')} {e.get('verdict')} ({e.get('label')}){age}"

    def _backlog(self) -> str:
        waiting = {k: v for k, v in self.backlog.items() if v}
        return ", ".join(f"{k} {v}" for k, v in waiting.items()) if waiting else "0"

    def to_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return {"node": self.node, "online": self.online, "armed": self.armed,
                "last_event": self.last_event, "frame_age_s": self.frame_age_s,
                "backlog": self.backlog, "canary_alarm": self.canary_alarm,
                "problem": self.problem}


def _yes_no(value: bool | None, yes: str, no: str) -> str:
    return "?" if value is None else (yes if value else no)


def _json(payload: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(payload) if payload else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _switch(payload: bytes | None, on: bytes, off: bytes) -> bool | None:
    return {on: True, off: False}.get(payload or b"")


def _node_view(node: str, leaves: dict[str, bytes], now: float) -> NodeView:
    status = _json(leaves.get("status")) or {}
    age = status.get("frame_age_s")
    at = status.get("at")
    frame_age = (float(age) + max(0.0, now - float(at))
                 if isinstance(age, int | float) and isinstance(at, int | float) else None)
    backlog = status.get("backlog") if isinstance(status.get("backlog"), dict) else {}
    canary = _json(leaves.get("canary"))
    return NodeView(
        node=node, online=_switch(leaves.get("availability"), b"online", b"offline"),
        armed=_switch(leaves.get("armed"), b"ON", b"OFF"), last_event=_json(leaves.get("state")),
        frame_age_s=round(frame_age, 1) if frame_age is not None else None,
        backlog={str(k): int(v) for k, v in (backlog or {}).items()},
        canary_alarm=bool(canary["alarm"]) if canary and "alarm" in canary else None,
        problem=(leaves.get("problem") or b"").decode("utf-8", "replace"))


def farm_nodes(messages: Iterable[tuple[str, bytes]], root: str,
               now: float | None = None) -> list[NodeView]:
    """One view per node from ``(topic, payload)`` messages under ``root``, by node name."""
    root = root.rstrip("/")
    by_node: dict[str, dict[str, bytes]] = {}
    for topic, payload in messages:
        parts = topic[len(root) + 1:].split("/") if topic.startswith(root + "/") else []
        if len(parts) == 2 and parts[1] in LEAVES and parts[0] != GROUP_NODE:
            by_node.setdefault(parts[0], {})[parts[1]] = payload
    now = time.time() if now is None else now
    return [_node_view(node, leaves, now) for node, leaves in sorted(by_node.items())]


def read_farm(cfg: MqttConfig, password: SecretStr | None, *, settle_s: float = 1.0,
              timeout_s: float = 10.0) -> list[NodeView]:
    """Connect, gather the retained per-node topics under ``cfg.topic_root``, disconnect.

    Retained messages follow the subscription's acknowledgement at once; ``settle_s`` of
    quiet after the last one ends the gathering. FarmError when the broker cannot be read.
    """
    root = cfg.topic_root.rstrip("/")
    got: list[tuple[str, bytes]] = []
    lock = threading.Condition()
    state: dict[str, Any] = {"subscribed": False, "refused": None, "last": time.monotonic()}

    def on_connect(client: mqtt.Client, u: object, f: object, reason: Any, p: object) -> None:
        if reason.is_failure:
            state["refused"] = f"the broker refused the connection: {reason}"
            return
        client.subscribe([(f"{root}/+/{leaf}", 1) for leaf in LEAVES])

    def on_subscribe(client: mqtt.Client, u: object, mid: int, codes: Any, p: object) -> None:
        with lock:
            state["subscribed"], state["last"] = True, time.monotonic()
            lock.notify_all()

    def on_message(client: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            got.append((message.topic, bytes(message.payload)))
            state["last"] = time.monotonic()

    # A client id of its own: the view must never take an appliance's connection over.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"tensorchicken-farm-{secrets.token_hex(4)}")
    if cfg.username:
        client.username_pw_set(cfg.username, password.get_secret_value() if password else None)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(cfg.host, cfg.port, keepalive=30)
    except OSError as exc:
        raise FarmError(f"cannot reach the broker {cfg.host}:{cfg.port}: {exc}") from None
    client.loop_start()
    try:
        _gather(lock, state, settle_s, timeout_s, f"{cfg.host}:{cfg.port}")
    finally:
        client.disconnect()
        client.loop_stop()
    with lock:
        return farm_nodes(list(got), root)


def _gather(lock: threading.Condition, state: dict[str, Any], settle_s: float,
            timeout_s: float, where: str) -> None:
    deadline = time.monotonic() + timeout_s
    with lock:
        while True:
            now = time.monotonic()
            if state["refused"]:
                raise FarmError(f"{where}: {state['refused']}")
            if state["subscribed"] and now - state["last"] >= settle_s:
                return
            if now >= deadline:
                if state["subscribed"]:
                    return  # a busy farm: what came in time
                raise FarmError(f"{where}: no answer within {timeout_s:g} s")
            lock.wait(0.1)
