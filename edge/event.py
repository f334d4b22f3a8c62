"""An event: what was seen, what was decided, what was done, and how long each stage took."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    """One motion episode worth keeping (a predator, a chicken, or a firing).

    Times are Unix seconds. ``scores`` maps each model that saw the crop to its answer
    (``verdict``, ``score``, ``predator``, ``chicken``, ``label``); ``latency_ms`` maps each stage
    (``capture``, ``motion``, ``crop``, ``inference``, ``decision``, ``pin``, ``total``) to
    milliseconds; ``decision`` says why the deterrents did or did not fire.
    ``clip`` is the event's video, relative to the state folder, once written (None before, or
    when there is none); ``outcome`` is what the firing did (:class:`edge.outcome.Outcome`'s
    dict), None until decided and for events that fired nothing. Both arrive after the event
    is first written, as updates of its row.
    ``id`` is given by the event log when the event is written.
    """

    camera: str
    start_time: float
    end_time: float
    verdict: str
    label: str
    score: float
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    deterrents: list[str] = field(default_factory=list)
    decision: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None
    crops: dict[str, str] = field(default_factory=dict)
    clip: str | None = None
    outcome: dict[str, Any] | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``time`` repeats ``start_time`` for readers that want one time."""
        data = asdict(self)
        data["time"] = self.start_time
        return data
