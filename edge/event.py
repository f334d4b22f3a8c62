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
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``time`` repeats ``start_time`` for readers that want one time."""
        data = asdict(self)
        data["time"] = self.start_time
        return data
