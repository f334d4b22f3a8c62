"""Per-stage latency figures: every frame's stage times, summarised as percentiles."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping

STAGES = ("capture", "motion", "crop", "inference", "decision", "pin", "total")


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LatencyStats:
    """A bounded window of the latest samples per stage, safe to feed from several loops."""

    def __init__(self, window: int = 20000) -> None:
        self._samples: dict[str, deque[float]] = {}
        self._window = window
        self._lock = threading.Lock()

    def add(self, stages: Mapping[str, float]) -> None:
        """Record one frame's (or one event's) stage times in milliseconds."""
        with self._lock:
            for stage, ms in stages.items():
                self._samples.setdefault(stage, deque(maxlen=self._window)).append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, p50, p90, p99 and max, in milliseconds."""
        with self._lock:
            snapshot = {stage: list(values) for stage, values in self._samples.items()}
        ordered = [s for s in STAGES if s in snapshot] + sorted(set(snapshot) - set(STAGES))
        return {
            stage: {
                "n": len(snapshot[stage]),
                "p50": percentile(snapshot[stage], 50),
                "p90": percentile(snapshot[stage], 90),
                "p99": percentile(snapshot[stage], 99),
                "max": max(snapshot[stage]),
            }
            for stage in ordered
        }


def format_summary(summary: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Human-readable table lines for :meth:`LatencyStats.summary`."""
    lines = [f"{'stage':<10} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for stage, row in summary.items():
        lines.append(
            f"{stage:<10} {int(row['n']):>6} {row['p50']:>8.2f} {row['p90']:>8.2f} "
            f"{row['p99']:>8.2f} {row['max']:>8.2f}"
        )
    return lines
