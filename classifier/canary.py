"""The canary: a fixed, trusted baseline model whose answers the others are measured against.

Every crop the canary scores is compared with each other model's answer to the same crop (a
model's own verdict, not the combination). When the primary disagrees with the canary on more
than ``max_rate`` of the last ``window`` crops (once ``min_samples`` were compared), the alarm
is raised: logged with the numbers, and handed to listeners (MQTT); it is lowered when the rate
falls clearly below the limit (to ``LOWER_BELOW`` of it), or has stayed within the limit for a
whole window of crops, so a rate hovering at the limit does not flap. A new primary or canary
starts a fresh window. With a retrained head joined to the primary the decision is the blend,
so the watched "primary" is that decision, named ``<primary>+<head>``
(``classifier/rendezvous.py``), and joining a head starts a fresh window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

LOWER_BELOW = 0.75  # a raised alarm is lowered at once only below this share of the limit


@dataclass(frozen=True, slots=True)
class CanaryStatus:
    """The primary's agreement with the canary over the window, and whether that alarms."""

    canary: str | None
    primary: str
    compared: int
    disagreements: int
    window: int
    max_rate: float
    min_samples: int
    alarm: bool
    since: float | None

    @property
    def rate(self) -> float:
        """Share of compared crops on which the primary's verdict differed from the canary's."""
        return self.disagreements / self.compared if self.compared else 0.0

    def describe(self) -> str:
        """One line with the numbers."""
        return (
            f"primary {self.primary} disagrees with canary {self.canary} on "
            f"{self.disagreements} of the last {self.compared} crops ({self.rate:.0%}; "
            f"allowed {self.max_rate:.0%} over {self.window}, from {self.min_samples} crops)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``rate`` and ``message``."""
        return {**asdict(self), "rate": round(self.rate, 4), "message": self.describe()}


class CanaryMonitor:
    """Agreement of every model with the canary, per model, over a sliding window of crops."""

    def __init__(
        self, window: int, min_samples: int, max_rate: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.min_samples = min_samples
        self.max_rate = max_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._agree: dict[str, deque[bool]] = {}
        self._canary: str | None = None
        self._primary = ""
        self._alarm_since: float | None = None
        self._within = 0  # the watched model's crops in a row with the rate within the limit
        self.listeners: list[Callable[[CanaryStatus], None]] = []

    def reset(self, primary: str, canary: str | None) -> None:
        """Start over for a (new) primary and canary; a raised alarm is lowered, and the
        listeners told (the MQTT message is retained: it would otherwise say "alarm" on)."""
        with self._lock:
            changed = (primary, canary) != (self._primary, self._canary)
            self._primary, self._canary = primary, canary
            lowered = changed and self._alarm_since is not None
            if changed:
                self._agree.clear()
                self._alarm_since = None
                self._within = 0
            status = self._status_locked()
        if lowered:
            log.warning("canary alarm over: a fresh window for %s", primary)
            for listener in list(self.listeners):
                listener(status)

    def observe(self, model: str, agrees: bool) -> None:
        """Record whether ``model`` agreed with the canary on one crop."""
        with self._lock:
            answers = self._agree.setdefault(model, deque(maxlen=self.window))
            answers.append(agrees)
            if model != self._primary:
                return
            status = self._status_locked()
            raised = self._alarm_since is not None
            self._within = self._within + 1 if status.rate <= self.max_rate else 0
            raise_it = not raised and self._should_alarm(status)
            lower_it = raised and self._should_lower(status)
            if raise_it:
                self._alarm_since = self._clock()
            elif lower_it:
                self._alarm_since = None
            status = self._status_locked()
        if raise_it:
            log.warning("canary alarm: %s", status.describe())
        elif lower_it:
            log.warning("canary alarm over: %s", status.describe())
        if raise_it or lower_it:
            for listener in list(self.listeners):
                listener(status)

    def _should_alarm(self, status: CanaryStatus) -> bool:
        return status.compared >= self.min_samples and status.rate > self.max_rate

    def _should_lower(self, status: CanaryStatus) -> bool:
        # Hysteresis: a rate hovering at the limit would raise and lower the alarm at every
        # other crop (each a Home Assistant state change). Lower it only when the rate is
        # clearly below the limit, or has stayed within it for a whole window of crops.
        return status.rate <= self.max_rate * LOWER_BELOW or self._within >= self.window

    def agreement(self, model: str) -> float | None:
        """Share of the window's crops on which ``model`` agreed with the canary."""
        with self._lock:
            answers = self._agree.get(model)
            return sum(answers) / len(answers) if answers else None

    def status(self) -> CanaryStatus:
        """The primary's figures now."""
        with self._lock:
            return self._status_locked()

    def _status_locked(self) -> CanaryStatus:
        answers = self._agree.get(self._primary, ())
        return CanaryStatus(
            canary=self._canary, primary=self._primary, compared=len(answers),
            disagreements=sum(1 for a in answers if not a), window=self.window,
            max_rate=self.max_rate, min_samples=self.min_samples,
            alarm=self._alarm_since is not None, since=self._alarm_since,
        )
