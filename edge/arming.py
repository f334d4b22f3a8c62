"""The owner's last arm or disarm command, kept in the state folder across restarts.

A disarm from Home Assistant, MQTT or the web page must survive a kill and a restart: the
appliance must not re-arm from its configuration and fire seconds later. At start, the more
recent decision wins: the owner's last command, unless the configuration changed since it was
given (a changed file is a new decision). The command line's ``--armed``/``--disarmed``
overrides both for that run and is not kept.

Example::

    memory = ArmingMemory(state_dir)
    choice = memory.choose(config)            # ArmingChoice(armed=False, source=..., why=...)
    decider.set_armed(choice.armed, choice.source)
    memory.remember(False, "mqtt", config)    # each owner's command, as it comes
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import Config
from edge.events.archive import write_atomic

log = logging.getLogger(__name__)

ARMING_FILE = "armed.json"


@dataclass(frozen=True, slots=True)
class ArmingChoice:
    """Whether to start armed, who decided (``source``, for the log) and why."""

    armed: bool
    source: str
    why: str


def fingerprint(config: Config) -> str:
    """What identifies a configuration's settings: it changes when any setting changes."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


class ArmingMemory:
    """Reads and writes ``<state_dir>/armed.json``; a file that cannot be read counts as none."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / ARMING_FILE

    def last_command(self) -> dict[str, Any] | None:
        """The owner's last command as stored (``armed``, ``source``, ``at``, ``config``)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("arming: %s unreadable (%s): the configuration decides", self.path, exc)
            return None
        ok = isinstance(data, dict) and isinstance(data.get("armed"), bool)
        return data if ok else None

    def remember(self, armed: bool, source: str, config: Config) -> None:
        """Keep an owner's command (durably) with the configuration it was given under."""
        record = {"armed": armed, "source": source, "at": time.time(),
                  "config": fingerprint(config)}
        try:
            write_atomic(self.path, json.dumps(record).encode())
        except OSError as exc:  # a full disk: the command holds until the next restart
            log.error("arming: the %s command is in force but not kept for a restart: %s",
                      "arm" if armed else "disarm", exc)

    def choose(self, config: Config) -> ArmingChoice:
        """The more recent decision: the owner's last command, or a changed configuration."""
        configured = config.decision.armed
        by_file = ArmingChoice(configured, "configuration",
                               f"decision.armed: {str(configured).lower()} in the configuration")
        command = self.last_command()
        if command is None:
            return by_file
        said = f"{'arm' if command['armed'] else 'disarm'} by {command.get('source', '?')}"
        at = _when(float(command.get("at", 0)))
        if command.get("config") != fingerprint(config):
            why = f"{by_file.why}, changed since the owner's last command ({said}, {at})"
            return ArmingChoice(configured, "configuration", why)
        return ArmingChoice(command["armed"], f"owner's last command ({said})",
                            f"the owner's last command ({said}, {at}) is more recent than the "
                            "configuration (unchanged since)")
