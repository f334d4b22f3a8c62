"""The rules a re-fitted head must pass, on real held-out examples' verdicts, and the shadow
comparison read back from real events' scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.blend import blend
from classifier.ensemble import Thresholds
from edge.event import Event
from edge.learn.examples import OWNER, Example
from edge.learn.judge import CameraComparison, Disagreement, compare_camera, judge
from edge.learn.shadow import candidate_verdict, shadow_disagreements


def example(label: str, kind: str = OWNER, n: int = 0) -> Example:
    return Example("coop", Path(f"/x/{label}{n}.png"), label, kind, "day", 0.0, f"g{n}", True)


HELD = [example("chicken", n=1), example("chicken", n=2), example("predator", n=3),
        example("background", "still", 4), example("background", "still", 5)]


def test_at_least_as_good_everywhere_is_promoted_and_disagreements_are_shown() -> None:
    running = ["predator", "chicken", "predator", "predator", "background"]
    candidate = ["chicken", "chicken", "predator", "background", "background"]
    c = compare_camera("coop", HELD, running, candidate)
    assert c.labelled == {"chicken": [2, 1, 2], "predator": [1, 1, 1]}
    assert (c.empty, c.empty_alarms_running, c.empty_alarms_candidate) == (2, 1, 0)
    assert [d.source for d in c.disagreements] == ["chicken1.png", "background4.png"]
    verdict = judge([c])
    assert verdict.promote and verdict.reasons == []
    assert CameraComparison.from_dict(c.to_dict()) == c  # the record keeps it as JSON


@pytest.mark.parametrize(("candidate", "reason"), [
    (["chicken", "chicken", "background", "background", "background"], "worse on the owner's "
     "predator crops (0 of 1 right, the running head 1)"),
    (["chicken", "chicken", "predator", "background", "predator"], "1 new false alarm(s) on 2 "
     "held-out empty scenes (background5.png)"),
])
def test_worse_on_a_class_or_a_new_false_alarm_keeps_it_a_shadow(candidate: list[str],
                                                                   reason: str) -> None:
    running = ["predator", "chicken", "predator", "background", "background"]
    verdict = judge([compare_camera("coop", HELD, running, candidate)])
    assert not verdict.promote and verdict.reasons == [f"coop: {reason}"]


def test_nothing_held_out_is_not_enough_to_judge() -> None:
    verdict = judge([CameraComparison("coop", {}, 0, 0, 0)])
    assert not verdict.promote and "not enough to judge" in verdict.reasons[0]


def test_live_shadow_answers_refuse_a_new_alarm_and_a_lost_predator() -> None:
    alarm = Disagreement("coop", "event 7", "", "background", "predator")
    lost = Disagreement("coop", "event 8", "predator", "predator", "chicken")
    fine = Disagreement("coop", "event 9", "chicken", "predator", "chicken")
    verdict = judge([compare_camera("coop", HELD[:1], ["chicken"], ["chicken"])],
                    [alarm, lost, fine])
    assert not verdict.promote and len(verdict.reasons) == 2
    assert "called predator what the appliance did not (event 7" in verdict.reasons[0]
    assert "missed a predator the owner confirmed (event 8)" in verdict.reasons[1]


def test_the_candidates_blended_verdict_is_the_decision_moved_in_log_odds() -> None:
    zero_shot, running, candidate = 0.7, 0.8, 0.05
    decided = blend(running, zero_shot, 0.5)
    event = Event("coop", 0.0, 1.0, "predator", "fox", decided, id=3,
                  scores={"coop-1": {"predator": running, "chicken": 0.1},
                          "scene-2": {"predator": candidate, "chicken": 0.1, "role": "shadow"}},
                  decision={"predator_score": decided, "chicken_score": blend(0.1, 0.05, 0.5)},
                  crops={"m": "/a/2026-01-01/101010.000001_coop/crop_m.png"})
    th = Thresholds(0.5, 0.3)
    assert blend(candidate, zero_shot, 0.5) < 0.5  # what the candidate would have decided
    assert candidate_verdict(event, "scene-2", "coop-1", 0.5, th) == "background"
    (d,) = shadow_disagreements([event], "coop", "scene-2", "coop-1", 0.5, th,
                                {"101010.000001_coop": "predator"})
    assert (d.truth, d.running, d.candidate, d.lost_predator) == ("predator", "predator",
                                                                   "background", True)
    assert shadow_disagreements([event], "other", "scene-2", "coop-1", 0.5, th, {}) == []
