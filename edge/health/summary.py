"""What a run did: the figures the demo, the latency benchmark and the logs print at its end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RunSummary:
    """What a run did, for the demo, the benchmark and the logs.

    ``cameras`` holds each camera loop's own figures by camera name (``CameraLoop.summary()``:
    frames, skipped, motion frames, episodes, events, firings, verdicts, errors and reopens).
    """

    seconds: float
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    stop_reason: str = ""

    def silent_cameras(self) -> list[str]:
        """One line per camera that never delivered a frame in this run, saying why if known."""
        return [
            f"camera {name} never delivered a frame"
            + (f": {cam['last_error']}" if cam.get("last_error") else "")
            for name, cam in self.cameras.items()
            if not cam["frames"] and not cam["skipped"]
        ]
