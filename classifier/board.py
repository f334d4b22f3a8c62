"""Where answers that come after the decision meet: late critical answers, shadows, the canary.

Each crop the rendezvous classifies gets a ticket; the board keeps, per ticket, the answers
that arrived and the models still expected. The event writer asks it (:meth:`ScoreBoard.join`)
for an event's crop just before writing the event, waiting a bounded time for what is still
expected, so that an event is still written once, with every model that saw its crop. Only
the newest ``capacity`` tickets are kept: the board never grows.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from classifier.verdict import ModelScore


@dataclass(slots=True)
class _Entry:
    opened: float
    primary: str = ""
    canary: str | None = None
    scores: dict[str, ModelScore] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Joined:
    """What arrived for one ticket after the decision, and what did not."""

    scores: dict[str, ModelScore]
    roles: dict[str, str]
    skipped: tuple[str, ...]
    missing: tuple[str, ...]


class ScoreBoard:
    """Answers per ticket, thread-safe. Comparing with the canary is the caller's business:
    :meth:`add` returns the comparisons an answer settles."""

    def __init__(self, capacity: int = 512, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._cond = threading.Condition()

    def _entry(self, ticket: int) -> _Entry:
        entry = self._entries.get(ticket)
        if entry is None:
            entry = self._entries[ticket] = _Entry(self._clock())
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def open(self, ticket: int, primary: ModelScore, canary: str | None,
             decision: ModelScore | None = None) -> None:
        """A crop was decided on: its primary answer, the decision when that is not the
        primary's own (a retrained head joined to it), and the canary of the plan that saw it."""
        with self._cond:
            entry = self._entry(ticket)
            entry.primary, entry.canary = (decision or primary).model, canary
            entry.scores.setdefault(primary.model, primary)
            if decision is not None:
                entry.scores.setdefault(decision.model, decision)

    def expect(self, ticket: int, name: str, role: str) -> None:
        """``name`` (in ``role``) will answer for ``ticket`` later."""
        with self._cond:
            entry = self._entry(ticket)
            entry.roles[name] = role
            if name not in entry.scores:
                entry.expected.add(name)

    def skip(self, ticket: int, name: str) -> None:
        """``name`` did not score ``ticket``: its worker was behind."""
        with self._cond:
            self._entry(ticket).skipped.add(name)

    def add(self, ticket: int, score: ModelScore) -> list[tuple[str, bool]]:
        """Store an answer; returns the (model, agrees with the canary) pairs it settles."""
        with self._cond:
            entry = self._entry(ticket)
            entry.scores[score.model] = score
            entry.expected.discard(score.model)
            self._cond.notify_all()
            canary = entry.scores.get(entry.canary) if entry.canary else None
            if canary is None:
                return []
            if score.model == canary.model:
                others = [s for s in entry.scores.values() if s.model != canary.model]
            else:
                others = [score]
            return [(s.model, s.verdict == canary.verdict) for s in others]

    def join(self, ticket: int, wait_s: float) -> Joined | None:
        """What arrived for ``ticket`` after its decision, waiting until ``wait_s`` after the
        crop was decided for what is still expected; None for an unknown (too old) ticket."""
        with self._cond:
            entry = self._entries.get(ticket)
            if entry is None:
                return None
            until = entry.opened + wait_s
            while entry.expected:
                left = until - self._clock()
                if left <= 0:
                    break
                self._cond.wait(left)
            late = {n: s for n, s in entry.scores.items() if n in entry.roles}
            return Joined(late, dict(entry.roles), tuple(sorted(entry.skipped)),
                          tuple(sorted(entry.expected)))
