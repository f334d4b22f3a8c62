"""Logging set-up: text for people, or one JSON object per line for log shippers.

Under systemd, stderr goes to the journal, which stamps each line with its own time.
"""

from __future__ import annotations

import json
import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "tensorchicken"


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


def configure(level: str | int, json_lines: bool = False) -> None:
    """Log to stderr at ``level``, as text or JSON lines; replaces our earlier set-up (and only
    ours: handlers others installed, such as a test runner's, stay)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
