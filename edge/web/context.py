"""What the pages may read and change: the running appliance's parts, behind one object.

The web thread reads shared state only through snapshots that are safe to take from another
thread (the decider's flag, a capture's counters, the bank's pin states, the keeper's status
file) and reads the event log through a read-only connection of its own, so a page load never
waits on a lock the camera loops hold.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camera.capture import Capture
from classifier.keeper import ModelKeeper
from edge.config import Config
from edge.decider import Decider
from edge.events.log import EventLog
from edge.web.feed import LiveFeed


@dataclass(slots=True)
class WebContext:
    """The appliance as the pages see it."""

    config: Config
    state_dir: Path
    decider: Decider
    bank: Any  # actuators.bank.DeterrentBank: states() only
    cameras: dict[str, Capture]
    feed: LiveFeed
    keeper: ModelKeeper | None = None
    config_path: Path | None = None
    started: float = field(default_factory=time.monotonic)
    _log: EventLog | None = None
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def archive_root(self) -> Path:
        """Where the recorder keeps snapshots and model inputs."""
        return self.state_dir / "archive"

    @property
    def log_path(self) -> Path:
        """The event log's file."""
        return self.state_dir / "events.sqlite3"

    def events(self) -> EventLog:
        """The page's own read-only connection to the event log (opened on first use)."""
        with self._log_lock:
            if self._log is None:
                self._log = EventLog(self.log_path, readonly=True)
            return self._log

    def close(self) -> None:
        """Close the page's event log connection; idempotent."""
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None
