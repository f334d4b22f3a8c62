"""Logging set-up: text for people, or one JSON object per line for log shippers.

Under systemd, stderr goes to the journal, which stamps each line with its own time. journald
drops a service's lines beyond its rate limit (10000 per 30 s by default), whichever they are:
so the same line repeated (a flood of MQTT commands) is let through only a few times a window,
and a firing, which says something new, is never crowded out.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "tensorchicken"


class RepeatLimit(logging.Filter):
    """Lets each message template (logger, level, format string) through ``burst`` times per
    ``window_s``; the next one let through says how many like it were held back."""

    def __init__(self, burst: int = 5, window_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst, self.window_s, self._clock = burst, window_s, clock
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # start, count, held
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            start, count, held = self._seen.get(key, [now, 0, 0])
            if now - start >= self.window_s:
                start, count = now, 0
            count += 1
            passes = count <= self.burst
            self._seen[key] = [start, count, 0 if passes else held + 1]
            if len(self._seen) > 10_000:  # templates are few; never grow without bound
                self._seen.clear()
        if passes and held:
            record.msg = f"{record.msg} ({held:.0f} more like this held back)"
        return passes


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the traceback if any)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes each record to ``sys.stderr`` as it is then, not as it was at set-up: a thread
    that logs late (an MQTT client's, on connecting) must not write to a stream that was
    replaced and closed in the meantime (a test runner's capture, a re-opened stderr)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


def configure(level: str | int, json_lines: bool = False) -> None:
    """Log to stderr at ``level``, as text or JSON lines; replaces our earlier set-up (and only
    ours: handlers others installed, such as a test runner's, stay)."""
    handler = StderrHandler()
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RepeatLimit())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
