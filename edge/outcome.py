"""What a firing did: after the deterrents fire, the camera is watched until it is known whether
the predator left (and after how long), stayed past the burst, or came back.

One :class:`OutcomeWatch` per camera loop, fed on the loop's thread with the loop's clock
(seconds; a replay passes video time), doing no I/O: a decided outcome goes to ``decided(event,
outcome)``, which hands it to the recorder (the event's row is updated there, durably, and the
reporters are told with an update message).

A firing's outcome is decided when, first of:

- the same visit fires again (``fired_again``; the new firing is watched in its turn);
- a visit confirmed as a predator's starts on the camera within ``return_s`` of the visit's end
  (``returned``);
- ``return_s`` has passed since the visit ended with nobody back (it left);
- ``watch_max_s`` has passed since the firing (a visit that never ends: it stayed);
- the loop ends (the source ended, or the appliance stops): decided on what was seen so far,
  with ``watched_s`` saying how long that was.

``left_after_s`` is the time from the firing to the visit's last motion, or None while it was
still there when decided. It ``stayed`` when it was still moving ``stay_s`` after the end of the
longest burst that fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edge.config.clips import OutcomeConfig
from edge.event import Event

RESULTS = ("left", "stayed", "returned")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one firing did (see the module's docstring for each field)."""

    left_after_s: float | None
    stayed: bool
    returned: bool
    fired_again: bool
    watched_s: float

    @property
    def result(self) -> str:
        """One word for the counts: ``returned``, else ``stayed`` (still there after the burst,
        or fired at again), else ``left``."""
        if self.returned:
            return "returned"
        return "stayed" if self.stayed or self.fired_again else "left"

    def to_dict(self) -> dict[str, Any]:
        """The event JSON's ``outcome``."""
        return {
            "result": self.result,
            "left_after_s": None if self.left_after_s is None else round(self.left_after_s, 2),
            "stayed": self.stayed,
            "returned": self.returned,
            "fired_again": self.fired_again,
            "watched_s": round(self.watched_s, 2),
        }


@dataclass(slots=True)
class _Watched:
    """One firing under watch."""

    event: Event
    fired_at: float
    burst_end: float
    last_seen: float
    left_at: float | None = None  # the visit's last motion, once the visit ended


class OutcomeWatch:
    """One camera's firings, watched until each one's outcome is decided."""

    def __init__(self, cfg: OutcomeConfig, decided: Callable[[Event, Outcome], None]) -> None:
        self.cfg = cfg
        self._decided = decided
        self._watched: list[_Watched] = []

    @property
    def watching(self) -> int:
        """Firings whose outcome is not decided yet."""
        return len(self._watched)

    def fired(self, event: Event, now: float, burst_s: float) -> None:
        """``event`` fired at ``now``, bursts lasting ``burst_s`` at most. A firing of the
        same visit still under watch is decided: the animal stayed and it fired again."""
        for w in [w for w in self._watched if w.left_at is None]:
            self._decide(w, now, fired_again=True)
        self._watched.append(_Watched(event, now, now + burst_s, now))

    def seen(self, now: float, *, predator: bool) -> None:
        """Motion at ``now`` (``predator``: in a visit confirmed as a predator's)."""
        for w in list(self._watched):
            if w.left_at is None:
                w.last_seen = now
            elif predator and now - w.left_at <= self.cfg.return_s:
                self._decide(w, now, returned=True)

    def visit_ended(self, last_motion: float) -> None:
        """The visit closed; its last motion was at ``last_motion``."""
        for w in self._watched:
            if w.left_at is None:
                w.left_at = w.last_seen = max(w.fired_at, last_motion)

    def tick(self, now: float) -> None:
        """Decide what is due at ``now``: no return within ``return_s``, or watched too long."""
        for w in [w for w in self._watched if self._due(w, now)]:
            self._decide(w, now)

    def _due(self, w: _Watched, now: float) -> bool:
        if w.left_at is None:
            return now - w.fired_at >= self.cfg.watch_max_s
        return now - w.left_at > self.cfg.return_s

    def finish(self, now: float) -> None:
        """The camera is no longer watched: decide every firing on what was seen."""
        for w in list(self._watched):
            self._decide(w, now)

    def _decide(self, w: _Watched, now: float, *, fired_again: bool = False,
                returned: bool = False) -> None:
        self._watched.remove(w)
        left_after = None if w.left_at is None else w.left_at - w.fired_at
        outcome = Outcome(left_after_s=left_after,
                          stayed=w.last_seen - w.burst_end >= self.cfg.stay_s,
                          returned=returned, fired_again=fired_again,
                          watched_s=max(0.0, now - w.fired_at))
        self._decided(w.event, outcome)


def outcome_counts(events: Iterable[Event]) -> dict[tuple[str, str], Counter[str]]:
    """``(deterrent, predator label) -> Counter(result)`` over the events' decided outcomes:
    which deterrent sends which animal away, for the digest and the web page."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for event in events:
        result = (event.outcome or {}).get("result")
        if result is None:
            continue
        for name in event.deterrents:
            counts.setdefault((name, event.label), Counter())[str(result)] += 1
    return counts


def counts_text(counts: dict[tuple[str, str], Counter[str]]) -> str:
    """The counts as one line: ``siren on red fox: 2 left, 1 returned; ...``."""
    return "; ".join(
        f"{name} on {label}: " + ", ".join(f"{n} {r}" for r in RESULTS if (n := c[r]))
        for (name, label), c in sorted(counts.items()))
