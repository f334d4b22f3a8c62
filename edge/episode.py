"""Motion episodes: the frames of one visit, turned into at most a few events.

An episode opens on the first frame with motion and closes after ``quiet_s`` without any.
It becomes an event at once when deterrents fire (so reports go out while the predator is
still there), and otherwise when it closes, if anything other than background was seen.
Background-only episodes (wind, shadows, people) are counted, not logged.

An episode is a predator's only once the decider confirmed it (``confirm_n`` predator frames
of the visit): a frame called predator in a visit that never confirmed (a person's legs taken
for a dog for one frame) is counted among the verdicts but never becomes the episode's
sighting, so the visit is not reported as a predator (no event, no ``predator ON``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from camera.frame import Frame
from classifier.verdict import Classification, Verdict
from edge.event import Event


@dataclass(slots=True)
class Sighting:
    """The most telling frame of an episode so far, with what the models made of it."""

    frame_time: float
    classification: Classification
    snapshot: np.ndarray
    crop: np.ndarray
    latency_ms: dict[str, float]


@dataclass(slots=True)
class Episode:
    """One visit on one camera."""

    camera: str
    start_time: float
    last_motion: float
    best: Sighting | None = None
    events: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    rules: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # deterrent -> why the bank said no

    def interest(self, c: Classification) -> float:
        """How telling a classification is: predators first, then chickens."""
        return c.predator_score * 2 + c.chicken_score

    def consider(
        self,
        frame: Frame,
        c: Classification,
        crop: np.ndarray,
        latency_ms: dict[str, float],
        rule: str,
        *,
        confirmed: bool,
    ) -> None:
        """Count the frame's verdict and its decision's rule; keep the frame as the episode's
        snapshot if it says more than the best so far. A predator frame is kept only when the
        decider had ``confirmed`` the visit by then."""
        self.verdicts[c.verdict.value] = self.verdicts.get(c.verdict.value, 0) + 1
        self.rules[rule] = self.rules.get(rule, 0) + 1
        if c.verdict is Verdict.PREDATOR and not confirmed:
            return
        if self.best is None or self.interest(c) > self.interest(self.best.classification):
            # The frame's buffer goes back to the camera ring on the next frame: copied. The
            # crop is new for every frame and never changed: kept as it is.
            self.best = Sighting(frame.wall_time, c, frame.image.copy(), crop, dict(latency_ms))


def event_from(
    episode: Episode,
    end_time: float,
    deterrents: list[str],
    decision: dict[str, object],
    latency_ms: dict[str, float] | None = None,
) -> Event:
    """The event for an episode's best sighting."""
    best = episode.best
    assert best is not None, "an event needs a classified frame"
    c = best.classification
    scores = {name: s.to_dict() for name, s in c.models.items()}
    return Event(
        camera=episode.camera,
        start_time=episode.start_time,
        end_time=end_time,
        verdict=c.verdict.value,
        label=c.label,
        score=round(c.score, 4),
        scores=scores,
        deterrents=deterrents,
        # The decided scores (blended, with a head joined) as the decider's reason names them:
        # a shadow head's answer is compared with the decision from these (edge/learn/shadow.py).
        decision={**decision, "decided_by": c.decided_by,
                  "predator_score": round(c.predator_score, 4),
                  "chicken_score": round(c.chicken_score, 4),
                  **({} if c.zero_shot_chicken is None
                     else {"zero_shot_chicken": c.zero_shot_chicken})},
        latency_ms={k: round(v, 2) for k, v in (latency_ms or best.latency_ms).items()},
    )


def worth_logging(episode: Episode) -> bool:
    """An unfired episode is logged when its best answer was not background."""
    return episode.best is not None and episode.best.classification.verdict != Verdict.BACKGROUND
