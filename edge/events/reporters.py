"""Start the enabled reporters (MQTT, X), each on its own thread with its own cursor.

Example (the app's wiring)::

    reporters = start_reporters(cfg.reporters, log, stop, on_arm=decider.set_armed,
                                armed=lambda: decider.armed, canary=rendezvous.canary)
    ...
    reporters.report_problem("the event log cannot be written: disk full")
    reporters.close()

A reporter that cannot start (its secrets are missing) is logged and marked stopped in the
log for ``doctor``; the others start regardless. A reporter that publishes the canary's alarm or
why events are not kept (MQTT) registers its own listeners for them as it is built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classifier.canary import CanaryMonitor
from edge.config.reporters import ReportersConfig
from edge.events.courier import Backoff, Courier, Sink
from edge.events.errors import SinkStopped
from edge.events.identity import NodeIdentity, node_identity
from edge.events.log import EventLog, SinkStatus
from edge.events.mqtt import MqttSink
from edge.events.twitter import TwitterSink, XClient, XCredentials
from edge.secrets import read_secret

logger = logging.getLogger(__name__)


@dataclass
class ReporterSet:
    """The running reporters; :meth:`close` stops and joins them (idempotent)."""

    log: EventLog
    couriers: list[Courier] = field(default_factory=list)
    # The reporters that publish why events are not kept (MQTT's report_problem).
    problem_listeners: list[Callable[[str | None], None]] = field(default_factory=list)

    def report_problem(self, problem: str | None) -> None:
        """Tell the reporters what stops events being kept, or None when they are kept again."""
        for listener in self.problem_listeners:
            listener(problem)

    def wake(self) -> None:
        """Make every reporter look at the log now."""
        for courier in self.couriers:
            courier.wake()

    def status(self) -> list[SinkStatus]:
        """Each reporter's cursor, backlog and health, from the log."""
        return self.log.sink_status()

    def close(self) -> None:
        """Stop every reporter and wait for it (each finishes the delivery in flight)."""
        for courier in self.couriers:
            courier.close()

    def __enter__(self) -> ReporterSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the reporters ask of the appliance: the arm switch, the canary to publish and the
    appliance's health for the farm view."""

    on_arm: Callable[[bool, str], None]
    armed: Callable[[], bool]
    canary: CanaryMonitor | None = None
    health: Callable[[], dict[str, Any]] = dict  # e.g. {"frame_age_s": 1.5}


def _farm_status(log: EventLog, health: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The farm view's status: the appliance's health and each reporter's backlog."""
    return {**health(), "backlog": {s.name: s.backlog for s in log.sink_status()}}


def build_sinks(cfg: ReportersConfig, log: EventLog, reporters: ReporterSet, hooks: Hooks, *,
                identity: NodeIdentity | None = None,
                clock: Callable[[], float] = time.time) -> list[Sink]:
    """The enabled sinks; one that cannot be built is logged and marked stopped. The MQTT sink
    listens to ``reporters``' problems and to the canary's alarm; ``identity`` is the
    appliance's on the broker, by default the one kept beside the log."""
    sinks: list[Sink] = []
    if cfg.mqtt.enabled:
        identity = identity or node_identity(cfg.mqtt, log.path.parent)
        mqtt = MqttSink(cfg.mqtt, identity, on_arm=hooks.on_arm, armed=hooks.armed,
                        password=read_secret("mqtt_password"), clock=clock,
                        status=lambda: _farm_status(log, hooks.health))
        reporters.problem_listeners.append(mqtt.report_problem)
        if hooks.canary is not None:
            hooks.canary.listeners.append(lambda status: mqtt.report_canary(status.to_dict()))
        sinks.append(mqtt)
    if cfg.twitter.enabled:
        try:
            client = XClient(XCredentials.from_secrets(read_secret), cfg.twitter.api_base,
                             cfg.twitter.timeout_s)
            sinks.append(TwitterSink(cfg.twitter, log, client, clock=clock))
        except SinkStopped as exc:
            logger.error("reporter twitter: not started: %s", exc)
            log.report_stopped(TwitterSink.name, str(exc))
    return sinks


def start_reporters(cfg: ReportersConfig, log: EventLog, stop: threading.Event, *,
                    on_arm: Callable[[bool, str], None], armed: Callable[[], bool],
                    canary: CanaryMonitor | None = None,
                    clock: Callable[[], float] = time.time,
                    identity: NodeIdentity | None = None,
                    health: Callable[[], dict[str, Any]] = dict) -> ReporterSet:
    """Start a thread per enabled reporter; new events in ``log`` wake them at once. Those
    that publish the ``canary``'s alarm listen to it.

    ``identity``: the appliance's names on the broker (see :func:`build_sinks`); ``health()``
    adds to the farm view's status (the last frame's age).
    """
    backoff = Backoff(cfg.retry_initial_s, cfg.retry_max_s)
    reporters = ReporterSet(log)
    hooks = Hooks(on_arm, armed, canary, health)
    for sink in build_sinks(cfg, log, reporters, hooks, identity=identity, clock=clock):
        courier = Courier(sink, log, stop, backoff=backoff, poll_s=cfg.poll_s, clock=clock)
        log.cursor(sink.name)  # register now: events from here on are this reporter's to send
        courier.start()
        reporters.couriers.append(courier)
        logger.info("reporter %s: started at event %d", sink.name, log.cursor(sink.name))
    return reporters
