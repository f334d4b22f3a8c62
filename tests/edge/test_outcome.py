"""A firing's outcome, decided on the loop's clock: left, stayed (fired again), returned."""

from __future__ import annotations

import pytest

from edge.config.clips import OutcomeConfig
from edge.event import Event
from edge.outcome import Outcome, OutcomeWatch

CFG = OutcomeConfig.model_validate({"stay_s": 2, "return_s": 10, "watch_max_s": 60})


def watch() -> tuple[OutcomeWatch, list[tuple[Event, Outcome]]]:
    decided: list[tuple[Event, Outcome]] = []
    return OutcomeWatch(CFG, lambda e, o: decided.append((e, o))), decided


def fox() -> Event:
    return Event("coop", 0.0, 0.0, "predator", "red fox", 0.9, deterrents=["siren"])


def test_an_animal_that_leaves_is_decided_once_the_return_window_passed() -> None:
    w, decided = watch()
    event = fox()
    w.fired(event, 100.0, burst_s=1.0)
    w.seen(100.5, predator=True)  # its own visit: not a return
    w.visit_ended(101.5)
    w.tick(111.5)
    assert decided == []  # exactly return_s after it left: it may still come back
    w.tick(111.6)
    [(got, outcome)] = decided
    assert got is event and outcome.result == "left"
    assert outcome.to_dict() == {"result": "left", "left_after_s": 1.5, "stayed": False,
                                 "returned": False, "fired_again": False, "watched_s": 11.6}


def test_an_animal_that_stays_until_it_is_fired_at_again() -> None:
    w, decided = watch()
    first, second = fox(), fox()
    w.fired(first, 100.0, burst_s=1.0)
    w.seen(104.0, predator=True)
    w.fired(second, 105.0, burst_s=1.0)
    [(got, outcome)] = decided
    assert got is first and outcome.fired_again and outcome.stayed
    assert outcome.left_after_s is None and outcome.result == "stayed"
    assert w.watching == 1  # the second firing is watched in its turn


def test_an_animal_that_stays_without_another_firing_is_decided_at_watch_max() -> None:
    w, decided = watch()
    w.fired(fox(), 100.0, burst_s=1.0)
    w.seen(159.0, predator=True)
    w.tick(159.9)
    assert decided == []
    w.tick(160.0)
    [(_, outcome)] = decided
    assert outcome.result == "stayed" and not outcome.fired_again and outcome.left_after_s is None


def test_an_animal_that_returns_within_the_window() -> None:
    w, decided = watch()
    w.fired(fox(), 100.0, burst_s=1.0)
    w.visit_ended(100.8)
    w.seen(104.0, predator=False)  # a hen, or a visit not yet confirmed: not a return
    assert decided == []
    w.seen(105.0, predator=True)
    [(_, outcome)] = decided
    assert outcome.returned and outcome.result == "returned"
    assert outcome.left_after_s == pytest.approx(0.8) and not outcome.stayed


def test_what_is_undecided_when_the_camera_stops_is_decided_on_what_was_seen() -> None:
    w, decided = watch()
    w.fired(fox(), 100.0, burst_s=1.0)
    w.finish(100.5)
    [(_, outcome)] = decided
    assert outcome.result == "left" and outcome.watched_s == 0.5 and outcome.left_after_s is None
