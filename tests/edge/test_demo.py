"""The demo end to end: real clip, real photos, real models, mock pins, the local event log."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.demo import run_demo
from edge.event import Event
from edge.events.log import EventLog


def fired_events(demo, device: str) -> list[Event]:  # type: ignore[no-untyped-def]
    """The demo's events whose firing switched ``device`` on."""
    log = EventLog(Path(demo.state_dir) / "events.sqlite3")
    try:
        return [e for e in log.list() if device in e.deterrents]
    finally:
        log.close()


def bursts(states: list[tuple[float, bool]], active: bool, at_least_s: float) -> list[float]:
    """How long each stretch at the ``active`` level lasted, if ``at_least_s`` or longer.

    Mock pins record each state with the time since the previous change, so a stretch lasts as
    long as the next state's timestamp says. (Releasing a mock PWM pin records an instant LOW,
    which is not a burst.)
    """
    lasted = [after[0] for before, after in itertools.pairwise(states) if before[1] is active]
    return [t for t in lasted if t >= at_least_s]


@pytest.fixture(scope="module")
def demo(asset_store, tmp_path_factory):  # type: ignore[no-untyped-def]
    return run_demo(asset_store, duration_s=55, state_dir=tmp_path_factory.mktemp("demo"))


def test_fires_on_every_predator_and_never_on_chickens_or_empty_scenes(demo) -> None:  # type: ignore[no-untyped-def]
    outcomes = {a.image: (a.label, a.firings) for a in demo.arrivals}
    assert len(outcomes) == 7
    for image, (label, firings) in outcomes.items():
        if label == "predator":
            assert firings >= 1, f"{image}: the deterrent did not fire"
        else:
            assert firings == 0, f"{image} ({label}) fired the deterrent"
    assert demo.summary.cameras["yard"]["firings"] == 0, "people walking past fired the deterrent"


def test_the_pins_recorded_each_firing_and_ended_off(demo) -> None:  # type: ignore[no-untyped-def]
    firings = demo.summary.cameras["coop"]["firings"]
    assert firings >= 4
    factory = demo.pin_factory
    floodlight = [(s.timestamp, bool(s.state)) for s in factory.pin(27).states]
    siren = [(s.timestamp, bool(s.state)) for s in factory.pin(17).states]
    sprinkler = [(s.timestamp, bool(s.state)) for s in factory.pin(5).states]
    flood_on = bursts(floodlight, True, 0.1)
    assert len(flood_on) == firings  # one 2 s burst per firing ...
    assert all(1.9 <= t <= 2.5 for t in flood_on), flood_on  # ... for its on-time, not longer
    assert len(bursts(siren, True, 0.4)) == 2 * firings  # two 0.5 s blasts per firing
    # Active-low relay: LOW is on. The sprinkler sits out a firing whose visit had a hen in
    # it: on a loaded machine the motion left behind by one photo can join two visits.
    assert len(bursts(sprinkler, False, 0.9)) == len(fired_events(demo, "sprinkler"))
    assert floodlight[-1][1] is False and siren[-1][1] is False
    assert sprinkler[-1][1] is True  # relay off


def test_the_event_log_holds_each_firing_with_its_latency(demo) -> None:  # type: ignore[no-untyped-def]
    log = EventLog(Path(demo.state_dir) / "events.sqlite3")
    try:
        events = log.list()
    finally:
        log.close()
    fired = [e for e in events if e.deterrents]
    assert len(fired) == demo.summary.cameras["coop"]["firings"]
    for event in fired:
        assert event.verdict == "predator"
        assert set(event.deterrents) | set(event.decision["vetoed"]) == {
            "siren", "floodlight", "sprinkler"}
        if event.decision["vetoed"]:  # only ever for a hen seen in the same visit
            assert event.decision["chicken_max"] >= 0.4
        assert {"capture", "motion", "crop", "inference", "decision", "pin", "total"} <= set(
            event.latency_ms
        )
        assert event.snapshot and Path(event.snapshot).is_file()
        assert {"mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"} <= set(event.scores)


def test_people_walking_past_make_no_predator_event(demo) -> None:  # type: ignore[no-untyped-def]
    # A frame of a person's legs taken for a dog must not make the visit a predator's: no
    # predator event, so no "tensorchicken/predator ON" and no post either.
    log = EventLog(Path(demo.state_dir) / "events.sqlite3")
    try:
        yard = [e for e in log.list() if e.camera == "yard"]
    finally:
        log.close()
    assert [e for e in yard if e.verdict == "predator"] == []


def test_the_summary_has_latency_percentiles_per_stage(demo) -> None:  # type: ignore[no-untyped-def]
    latency = demo.summary.latency_ms
    for stage in ("capture", "motion", "crop", "inference", "decision", "pin", "total"):
        assert latency[stage]["n"] > 0
        assert 0 <= latency[stage]["p50"] <= latency[stage]["p99"]


def clip_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    frames = []
    while (got := capture.read())[0]:
        frames.append(got[1])
    capture.release()
    return frames


def unlike(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures, both shrunk to 80x45: the arrivals' sway (a
    photo moves 19 px at 1280 wide) and the video's compression hardly count, an animal does."""
    a, b = (cv2.resize(x, (80, 45), interpolation=cv2.INTER_AREA) for x in (a, b))
    return float(np.mean(cv2.absdiff(a, b)))


def test_every_firing_has_a_clip_from_before_the_animal_and_an_outcome(demo) -> None:  # type: ignore[no-untyped-def]
    log = EventLog(Path(demo.state_dir) / "events.sqlite3")
    try:
        fired = [e for e in log.list() if e.deterrents]
    finally:
        log.close()
    assert fired
    first_of_visit = {}
    for event in fired:  # a visit's later firings share its start
        first_of_visit.setdefault(event.start_time, event.id)
    empty = None  # the empty scene: the first clip's first frame, checked to be so below
    for event in fired:
        assert event.outcome is not None, f"event {event.id} has no outcome"
        assert event.outcome["result"] in ("left", "stayed", "returned")
        assert event.clip is not None and event.clip.startswith("archive/")
        path = Path(demo.state_dir) / event.clip
        assert path.parent == Path(str(event.snapshot)).parent  # beside the snapshot
        frames = clip_frames(path)
        snapshot = cv2.imread(str(event.snapshot))
        closest = min(unlike(f, snapshot) for f in frames)
        if first_of_visit[event.start_time] == event.id:
            # The pre-roll: the clip opens on the empty scene, before the animal's first
            # frame; then the animal, as the snapshot (a frame of the visit) shows it.
            assert unlike(frames[0], snapshot) > 3 * closest, (
                f"event {event.id}: the clip does not start before the animal")
            empty = frames[0] if empty is None else empty
        # A later firing's clip starts at the firing before; its sighting is in it too.
        assert empty is not None and closest < unlike(empty, snapshot) / 2, (
            f"event {event.id}: its sighting is not in its clip")
    # The recording folder is left empty: every clip went to its event or was deleted.
    assert not list((Path(demo.state_dir) / "archive" / ".recording").iterdir())
