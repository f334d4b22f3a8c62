"""Fixtures for the event tests: a real Mosquitto broker and an MQTT watcher."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.events.broker import MosquittoBroker


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (``8m``) at ``folder``, unmounted after; the test is skipped
    where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture()
def tmpfs() -> Callable[[Path, str], contextlib.AbstractContextManager[Path]]:
    """``with tmpfs(folder, "8m"):`` mounts a real small filesystem there (see mounted_tmpfs)."""
    return mounted_tmpfs


@dataclass
class Watcher:
    """A subscriber that records every message; ``persistent`` keeps its session on the broker
    (clean_session off, QoS 1), so nothing published while it is away is lost to it."""

    broker: MosquittoBroker
    topic: str
    persistent: bool = False
    auth: tuple[str, str] | None = None  # user name and password on a broker with users
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        name = f"watch-{id(self)}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name,
                                  clean_session=not self.persistent)
        if self.auth:
            self.client.username_pw_set(*self.auth)
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(self.broker.host, self.broker.port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))
            self._cond.notify_all()

    def ready(self, timeout: float = 20.0) -> bool:
        """Wait until the broker has granted the subscription (messages from then on come)."""
        return self._subscribed.wait(timeout)

    def on(self, topic: str) -> list[bytes]:
        """Payloads received on ``topic``, in order."""
        with self._cond:
            return [p for t, p, _ in self.messages if t == topic]

    def event_ids(self, topic: str = "tensorchicken/events") -> list[int]:
        """Ids of the events received, in arrival order (duplicates kept)."""
        return [json.loads(p)["id"] for p in self.on(topic)]

    def wait(self, check: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Wait until ``check()`` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def watch() -> Iterator[Callable[..., Watcher]]:
    """Make watchers: ``watch(broker, "topic/#", persistent=False, auth=None)``; all closed
    after."""
    made: list[Watcher] = []

    def make(broker: MosquittoBroker, topic: str, persistent: bool = False,
             auth: tuple[str, str] | None = None) -> Watcher:
        watcher = Watcher(broker, topic, persistent, auth)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()
