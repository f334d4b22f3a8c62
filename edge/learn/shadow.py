"""What a candidate head said as a shadow, against what the appliance decided, event by event.

A shadow head scores every crop off the critical path; its answer is its own (the head alone),
stored in the event beside the running head's (``scores``) and the decided, blended scores
(``decision.predator_score`` / ``chicken_score``). The predator scores are blended linearly in
log-odds (``classifier/blend.py``), so the candidate's blended predator score is the decided one
moved by the blend weight times the difference of the two heads' log-odds:

    logit(candidate blended) = logit(decided) + w * (logit(candidate) - logit(running head))

exactly what the candidate would have decided on that crop. The chicken score is the higher of
the head's and the zero-shot models' (``decision.zero_shot_chicken``, stored for this): the
candidate's is the higher of its own and that. An event recorded before the chicken score was
the higher of the two has no ``zero_shot_chicken``; it was blended in log-odds, and is moved
as the predator score is.

Example::

    shadow_disagreements(events, "coop", "scene-20261205T0230Z", "coop-1", 0.5, thresholds, {})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from classifier.blend import hen_score, log_odds
from classifier.ensemble import Thresholds, verdict_for
from edge.event import Event
from edge.learn.judge import Disagreement


def _moved(decided: float, running: float, candidate: float, weight: float) -> float:
    z = log_odds(decided) + weight * (log_odds(candidate) - log_odds(running))
    return float(1.0 / (1.0 + np.exp(-z)))


def candidate_verdict(event: Event, candidate: str, running: str, weight: float,
                      thresholds: Thresholds) -> str | None:
    """The verdict ``candidate`` (a shadow) would have given ``event``'s crop blended in place
    of ``running`` (the joined head); None when the event lacks either answer."""
    got, had = event.scores.get(candidate), event.scores.get(running)
    decided = event.decision
    if got is None or had is None or "predator_score" not in decided:
        return None
    predator = _moved(float(decided["predator_score"]), float(had["predator"]),
                      float(got["predator"]), weight)
    if "zero_shot_chicken" in decided:
        chicken = hen_score(float(got["chicken"]), float(decided["zero_shot_chicken"]))
    else:  # recorded when the chicken scores were blended in log-odds too
        chicken = _moved(float(decided["chicken_score"]), float(had["chicken"]),
                         float(got["chicken"]), weight)
    return verdict_for(predator, chicken, thresholds)[0].value


def shadow_disagreements(
    events: Sequence[Event], camera: str, candidate: str, running: str, weight: float,
    thresholds: Thresholds, owner: Mapping[str, str],
) -> list[Disagreement]:
    """Every event of ``camera`` on which ``candidate`` would have decided otherwise;
    ``owner`` maps an event's crop folder name to the owner's label."""
    found = []
    for event in events:
        if event.camera != camera:
            continue
        said = candidate_verdict(event, candidate, running, weight, thresholds)
        if said is None or said == event.verdict:
            continue
        folder = next((Path(c).parent.name for c in event.crops.values()), "")
        found.append(Disagreement(camera, f"event {event.id} {folder}".strip(),
                                  owner.get(folder, ""), event.verdict, said))
    return found
