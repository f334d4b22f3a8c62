"""What each model costs on this board, so that the critical path's deadline follows it.

``models.deadline_ms`` is chosen for a board that keeps up. On a slower one (a Pi Zero 2 W, or
a Pi 3 with two cameras, where one inference takes 300-1200 ms) a model that needs 1.2 s is past
a 1 s deadline on every crop: its answers never count, and a jay or an owl that only the bird
model knows is never a predator. Always late is the board's pace, not a stall. So the wait for a
critical model is the larger of the configured deadline and its own measured cost, with a margin,
times the crops ahead of this one in its queue; only an answer later than that is a stall, and
the decision goes on without it.

Example::

    pace = Pace(seed_ms=warmup_ms)
    pace.add(score.total_ms)                   # every answer the model gives
    wait_ms = pace.deadline_ms(cfg.deadline_ms, ahead=worker.backlog)
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

# An answer up to half as long again as the model's typical time is its pace, not a stall.
PACE_MARGIN = 1.5
# Recent answers the typical time is taken from: enough to ride out one slow crop, few enough
# to follow a board that heats up and throttles within a minute.
WINDOW = 16


class Pace:
    """The recent times of one model on this board (thread-safe)."""

    def __init__(self, seed_ms: float | None = None, window: int = WINDOW) -> None:
        self._lock = threading.Lock()
        self._ms: deque[float] = deque(maxlen=window)
        if seed_ms:
            self._ms.append(float(seed_ms))

    def add(self, ms: float) -> None:
        """Record the time of one answer (from the call to the answer, in ms)."""
        with self._lock:
            self._ms.append(float(ms))

    def typical_ms(self) -> float | None:
        """The median of the recent times; None before the first."""
        with self._lock:
            return statistics.median(self._ms) if self._ms else None

    def deadline_ms(self, floor_ms: float, ahead: int = 0) -> float:
        """How long to wait for an answer: at least ``floor_ms`` (the configured deadline), and
        at least the margin over the typical time for this crop and the ``ahead`` crops before
        it in the model's queue."""
        typical = self.typical_ms()
        if typical is None:
            return floor_ms
        return max(floor_ms, PACE_MARGIN * typical * (ahead + 1))
