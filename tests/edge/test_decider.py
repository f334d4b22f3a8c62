"""The decider: the classifier's verdict counted N-of-M in the visit's classified frames, chicken
veto, a cooldown started only by a real firing, arming, quiet hours, and the reason every
decision carries."""

from __future__ import annotations

import logging
import threading
from datetime import time
from typing import Any

import pytest

from actuators.config import DeterrentConfig
from classifier.ensemble import Thresholds, verdict_for
from classifier.verdict import Classification, Verdict
from edge.config import ConfigError, DecisionConfig, QuietHours, parse_config
from edge.decider import Decider

DETERRENTS = [
    DeterrentConfig(name="siren", kind="siren", pin=17),
    DeterrentConfig(name="light", kind="floodlight", pin=27),
    DeterrentConfig(name="water", kind="sprinkler", pin=5, active_high=False, chicken_veto=True),
]
ALL = ("siren", "light", "water")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(predator: float = 0.0, chicken: float = 0.0) -> Classification:
    """A classification whose verdict follows the classifier's own rule (models' thresholds)."""
    verdict, score = verdict_for(predator, chicken, Thresholds(predator=0.3))
    return Classification(verdict=verdict, score=score, predator_score=predator,
                          chicken_score=chicken, label="red fox", decided_by="mobilenet")


def decider(clock: Clock | None = None, at: time = time(12, 0), **cfg: Any) -> Decider:
    cfg.setdefault("cooldown_s", 0)
    cfg.setdefault("armed", True)
    return Decider(DecisionConfig(**cfg), DETERRENTS, clock=clock or Clock(),
                   local_time=lambda: at)


def rules(d: Decider, scores: list[float], camera: str = "coop") -> list[str]:
    return [d.decide(camera, frame(s)).rule for s in scores]


# -- confirmation -----------------------------------------------------------------------------

def test_n_of_m_confirmation() -> None:
    d = decider(confirm_n=2, confirm_m=3)
    assert rules(d, [0.9, 0.1, 0.1, 0.9, 0.2, 0.8]) == [
        "unconfirmed", "no_predator", "no_predator",
        "unconfirmed",  # the first 0.9 has left the last three frames
        "no_predator", "confirmed",
    ]


def test_one_frame_is_enough_with_n_1() -> None:
    decision = decider(confirm_n=1, confirm_m=1).decide("coop", frame(0.6))
    assert decision.fire and decision.devices == ALL and decision.rule == "confirmed"


def test_the_classifier_verdict_is_the_only_threshold() -> None:
    # 0.35 is a predator for a classifier whose models.predator_threshold is 0.3: it must count
    # too, or the event says "predator" while nothing fires.
    d = decider(confirm_n=1)
    assert rules(d, [0.29996, 0.3, 0.35]) == ["no_predator", "confirmed", "confirmed"]
    hen = Classification(Verdict.CHICKEN, 0.9, predator_score=0.6, chicken_score=0.9,
                         label="hen", decided_by="mobilenet")
    assert d.decide("coop", hen).rule == "no_predator"  # the verdict counts, not the score


def test_decision_has_no_threshold_of_its_own() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"decision": {"predator_threshold": 0.5}})
    assert info.value.problems == [
        "decision.predator_threshold: unknown key here; it is models.predator_threshold"]


def test_a_slow_board_confirms_however_far_apart_the_frames_are() -> None:
    # 1.2 s per inference and more: the visit's classified frames count, not seconds.
    clock = Clock()
    d = decider(clock, confirm_n=2, confirm_m=3)
    assert rules(d, [0.9]) == ["unconfirmed"]
    clock.now += 4.0
    assert rules(d, [0.9]) == ["confirmed"]


def test_frames_of_an_earlier_visit_do_not_count() -> None:
    d = decider(confirm_n=2, confirm_m=3, chicken_veto=0.4)
    assert rules(d, [0.9]) == ["unconfirmed"]
    d.decide("coop", frame(0.0, chicken=0.5))
    d.end_visit("coop")
    assert rules(d, [0.9]) == ["unconfirmed"]
    decision = d.decide("coop", frame(0.9))
    # The hen belonged to the visit before: she no longer vetoes the sprinkler.
    assert decision.rule == "confirmed" and decision.devices == ALL
    assert decision.reason["visit_frames"] == 2


def test_the_window_of_seconds_is_gone_with_a_clear_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"decision": {"window_s": 3}})
    assert info.value.problems == [
        "decision: window_s is no longer used: confirmation counts the classified frames of one "
        "visit (confirm_n of confirm_m), however long a slow board takes; remove it"]


def test_cameras_are_confirmed_separately() -> None:
    d = decider(confirm_n=2, confirm_m=3)
    assert rules(d, [0.9], "yard") == ["unconfirmed"]
    assert rules(d, [0.9], "coop") == ["unconfirmed"]
    assert rules(d, [0.9], "coop") == ["confirmed"]


# -- veto, cooldown, arming, quiet hours ------------------------------------------------------

def test_a_chicken_in_view_vetoes_the_sprinkler_only() -> None:
    d = decider(confirm_n=1, chicken_veto=0.4)
    decision = d.decide("coop", frame(0.7, chicken=0.45))
    assert decision.devices == ("siren", "light")
    assert decision.reason["vetoed"] == ["water"]


def test_a_chicken_seen_a_moment_ago_still_vetoes() -> None:
    d = decider(confirm_n=2, confirm_m=3, chicken_veto=0.4)
    d.decide("coop", frame(0.6, chicken=0.5))
    assert d.decide("coop", frame(0.9, chicken=0.0)).devices == ("siren", "light")


def test_a_chicken_seen_anywhere_in_the_visit_still_vetoes() -> None:
    # Longer ago than the last confirm_m frames, but the same visit: she is likely still there.
    d = decider(confirm_n=2, confirm_m=3, chicken_veto=0.4)
    d.decide("coop", frame(0.0, chicken=0.6))
    assert rules(d, [0.0, 0.0, 0.0, 0.9]) == ["no_predator"] * 3 + ["unconfirmed"]
    decision = d.decide("coop", frame(0.9))
    assert decision.rule == "confirmed" and decision.devices == ("siren", "light")
    assert decision.reason["chicken_max"] == 0.6


def test_a_camera_where_hens_live_never_fires_the_sprinkler() -> None:
    # A nest-box camera: its hens are not recognised (no chicken score), the sprinkler stays
    # off there all the same; the run camera beside it still sprays a predator.
    d = decider(confirm_n=1, chicken_veto=0.4, hens_live_in=["nestbox"])
    nest = d.decide("nestbox", frame(0.9, chicken=0.0))
    assert nest.fire and nest.devices == ("siren", "light")
    assert nest.reason["vetoed"] == ["water"] and nest.reason["hens_live_here"] is True
    run = d.decide("run", frame(0.9, chicken=0.0))
    assert run.devices == ALL and "hens_live_here" not in run.reason


def test_hens_live_in_must_name_a_camera() -> None:
    with pytest.raises(ConfigError, match=r"decision.hens_live_in.*'nest' is not a camera"):
        parse_config({"cameras": [{"name": "coop"}],
                      "decision": {"hens_live_in": ["nest"]}}, "test")


def test_held_when_every_deterrent_is_vetoed_or_silenced() -> None:
    d = Decider(DecisionConfig(armed=True, confirm_n=1, cooldown_s=0, quiet_hours=[QuietHours(
        start="00:00", end="23:59")], quiet_devices=["siren", "floodlight"]), DETERRENTS,
        local_time=lambda: time(3, 0))
    decision = d.decide("coop", frame(0.8, chicken=0.6))
    assert (decision.fire, decision.devices, decision.rule) == (False, (), "held")


def test_cooldown_after_a_firing() -> None:
    clock = Clock()
    d = decider(clock, confirm_n=1, cooldown_s=20)
    first = d.decide("coop", frame(0.9))
    assert first.fire
    d.fired("coop", first.devices)
    clock.now += 19.5
    late = d.decide("yard", frame(0.9))  # one cooldown for every camera: the devices are shared
    assert (late.fire, late.rule, late.reason["cooldown_left_s"]) == (False, "cooldown", 0.5)
    clock.now += 0.5
    assert d.decide("coop", frame(0.9)).rule == "confirmed"


def test_a_confirmation_that_fired_nothing_starts_no_cooldown() -> None:
    clock = Clock()
    d = decider(clock, confirm_n=1, cooldown_s=20)
    assert d.decide("coop", frame(0.9)).fire
    d.fired("coop", ())  # the bank refused every device (resting)
    clock.now += 1.0
    assert d.decide("coop", frame(0.9)).rule == "confirmed"  # tries again, no cooldown
    d.fired("coop", ("light",))
    clock.now += 1.0
    assert d.decide("coop", frame(0.9)).rule == "cooldown"


def test_a_hen_in_another_region_of_the_frame_vetoes_the_sprinkler() -> None:
    d = decider(confirm_n=1, chicken_veto=0.4)
    decision = d.decide("coop", frame(0.9), elsewhere=[frame(0.0, chicken=0.8)])
    assert decision.devices == ("siren", "light") and decision.reason["vetoed"] == ["water"]
    assert decision.reason["chicken_max"] == 0.8
    assert decision.reason["predator_score"] == 0.9  # the decision is the fox region's


def test_disarmed_from_config_and_armed_from_mqtt(caplog: pytest.LogCaptureFixture) -> None:
    d = decider(confirm_n=1, armed=False)
    assert not d.armed
    assert d.decide("coop", frame(0.9)).rule == "disarmed"
    with caplog.at_level(logging.INFO, logger="edge.decider"):
        worker = threading.Thread(target=d.set_armed, args=(True, "mqtt"))
        worker.start()
        worker.join()
    assert d.armed and "deterrents armed by mqtt" in caplog.text
    assert d.decide("coop", frame(0.9)).rule == "confirmed"
    d.set_armed(False, "command line")
    assert d.decide("coop", frame(0.9)).rule == "disarmed"


@pytest.mark.parametrize(("now", "quiet"), [
    (time(21, 59), False), (time(22, 0), True), (time(3, 0), True), (time(5, 29), True),
    (time(5, 30), False), (time(12, 0), False),
])
def test_quiet_hours_across_midnight_silence_the_siren(now: time, quiet: bool) -> None:
    d = decider(at=now, confirm_n=1, quiet_hours=[QuietHours(start="22:00", end="05:30")])
    decision = d.decide("coop", frame(0.9))
    assert decision.reason["quiet_hours"] is quiet
    assert decision.devices == (("light", "water") if quiet else ALL)


def test_quiet_devices_must_name_a_deterrent_or_a_kind() -> None:
    with pytest.raises(ConfigError, match=r"decision.quiet_devices: 'horn' is neither"):
        Decider(DecisionConfig(quiet_devices=["siren", "horn"]), DETERRENTS)


def test_quiet_hours_must_not_be_empty() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"decision": {"quiet_hours": [{"start": "22:00", "end": "22:00"}]}})
    assert info.value.problems == [
        "decision.quiet_hours.0: start and end are both 22:00: the span would be empty"]


# -- the record ---------------------------------------------------------------------------------

def test_every_decision_says_why() -> None:
    d = decider(confirm_n=2, confirm_m=3)
    d.decide("coop", frame(0.8))
    decision = d.decide("coop", frame(0.75, chicken=0.1))
    assert decision.reason == {
        "camera": "coop", "verdict": "predator", "label": "red fox", "decided_by": "mobilenet",
        "predator_score": 0.75, "chicken_score": 0.1, "hits": 2,
        "confirm": "2 of the visit's last 3 classified frames", "visit_frames": 2,
        "chicken_max": 0.1, "armed": True,
        "quiet_hours": False, "vetoed": [], "silenced": [],
    }
