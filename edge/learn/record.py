"""What the last re-fits did: ``<state_dir>/learn/record.json``, for ``doctor``, the metrics and
``tensorchicken learn status``.

One JSON object, rewritten atomically: ``candidate`` (the head now a shadow awaiting judgement,
if any) and ``runs`` (the last ``KEEP`` re-fits and judgements, newest last), each with when it
ran, how long it took, its peak memory, what it was fitted on, and what it changed.

Example::

    record = LearnRecord(state_dir)
    record.add({"kind": "refit", "at": time.time(), ...})
    record.last("refit")
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge.events.archive import write_atomic

log = logging.getLogger(__name__)

RECORD_FILE = "record.json"
KEEP = 20


def learn_dir(state_dir: Path) -> Path:
    """Where learning keeps its files: ``<state_dir>/learn``."""
    return Path(state_dir) / "learn"


class LearnRecord:
    """``record.json`` under ``<state_dir>/learn``. One writer at a time (the re-fit)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = learn_dir(state_dir) / RECORD_FILE

    def read(self) -> dict[str, Any]:
        """The record (empty when there is none; a damaged one is reported and ignored)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"candidate": None, "runs": []}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable, starting a new record: %s", self.path, exc)
            return {"candidate": None, "runs": []}
        if not isinstance(data, dict):
            return {"candidate": None, "runs": []}
        data.setdefault("candidate", None)
        data.setdefault("runs", [])
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    def add(self, run: dict[str, Any], candidate: dict[str, Any] | bool | None = False) -> None:
        """Append ``run``; with ``candidate`` (a dict, or None to clear it) set that too."""
        data = self.read()
        data["runs"] = [*data["runs"], run][-KEEP:]
        if candidate is not False:
            data["candidate"] = candidate
        self._write(data)

    def last(self, kind: str) -> dict[str, Any] | None:
        """The newest run of ``kind`` (``refit`` or ``judge``)."""
        return next((r for r in reversed(self.read()["runs"]) if r.get("kind") == kind), None)

    def candidate(self) -> dict[str, Any] | None:
        """The head awaiting judgement (name, package, base, registered at), if any."""
        found = self.read()["candidate"]
        return found if isinstance(found, dict) else None
