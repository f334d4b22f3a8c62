"""The empty-scene collector: bounded per camera and hour, day and night told apart, fed by the
frame loop off its critical path (real frames from ../shared, the real pipeline and models)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from actuators.bank import DeterrentBank
from actuators.config import GpioConfig
from camera.box import Box
from camera.capture import Capture
from camera.config import CameraConfig
from camera.frame import Frame
from camera.replay import ArrivalsSource
from classifier import load_classifier
from classifier.config import ModelsConfig
from edge.config import DecisionConfig, LearnConfig
from edge.config.reporters import ArchiveConfig
from edge.decider import Decider
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats
from edge.learn.collector import SceneCollector
from edge.learn.light import light_of
from edge.learn.places import MotionPlaces
from edge.learn.scenes import SceneStore, hour_of
from edge.pipeline import CameraLoop, Parts
from tests.conftest import SHARED_DATA
from tests.edge.test_pipeline import Lockstep

NEST = SHARED_DATA / "train" / "background"
DAY = NEST / "chookegg__EggCheck_image_2016-06-18_0900.jpg"
DUSK = NEST / "chookegg__EggCheck_image_2016-06-18_0700.jpg"  # greyscale: the camera's night
SCENE = SHARED_DATA / "images" / "background" / "speciesnet__blank2.jpg"
FOX = SHARED_DATA / "images" / "predator" / "wikianimals__fox.webp"
BARROW = SHARED_DATA / "images" / "background" / "inet__n02797295_barrow.JPEG"
NOON = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, -1))


def frame_of(path: Path, when: float, seq: int = 1) -> Frame:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 90))
    return Frame(seq, image, grey, time.monotonic_ns(), when)


def rgb_of(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_the_nest_box_by_day_is_day_and_at_dusk_night() -> None:
    assert light_of(rgb_of(DAY)) == "day"
    assert light_of(rgb_of(DUSK)) == "night"


def test_an_hour_slot_keeps_at_most_per_hour_crops_and_refreshes_after_days(tmp_path: Path
                                                                            ) -> None:
    store = SceneStore(tmp_path, per_hour=2, refresh_h=48)
    crop = cv2.resize(rgb_of(DAY), (224, 224))
    assert store.add("coop", NOON, crop, "still") is not None
    assert store.add("coop", NOON + 60, crop, "still") is not None
    assert not store.wants("coop", NOON + 120)
    assert store.add("coop", NOON + 120, crop, "still") is None  # full, oldest too young
    assert store.add("coop", NOON + 86400 + 60, crop, "still") is None  # one day: still young
    kept = store.add("coop", NOON + 2 * 86400 + 60, crop, "still")  # past refresh_h: replaces
    assert kept is not None
    times = [s.time for s in store.scenes("coop")]
    assert times == [NOON + 60, NOON + 2 * 86400 + 60]
    assert len(list((tmp_path / "coop").rglob("*.png"))) == 2  # the oldest file is gone
    night = store.add("coop", NOON + 3600 * 9, cv2.resize(rgb_of(DUSK), (224, 224)), "still")
    assert night is not None and night.light == "night"
    # A new store (a restart) reads the same index from disk.
    again = SceneStore(tmp_path, per_hour=2, refresh_h=48).coverage("coop")
    assert again.crops == 3 and again.by_light == {"day": 2, "night": 1}
    assert again.hours == tuple(sorted({hour_of(NOON), hour_of(NOON + 3600 * 9)}))


def test_bad_input_is_named(tmp_path: Path) -> None:
    store = SceneStore(tmp_path, per_hour=2, refresh_h=1)
    with pytest.raises(ValueError, match="camera name"):
        store.add("../x", NOON, np.zeros((8, 8, 3), np.uint8), "still")
    with pytest.raises(ValueError, match="kind"):
        store.add("coop", NOON, np.zeros((8, 8, 3), np.uint8), "moving")


class SlowStore(SceneStore):
    """The real store, whose writes wait for ``release``: a card that is slow right now."""

    release = threading.Event()

    def add(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.release.wait(10)
        return super().add(*args, **kwargs)


def test_a_due_sample_is_dropped_not_waited_for_while_the_writer_is_busy(tmp_path: Path) -> None:
    now = [0.0]
    store = SlowStore(tmp_path, per_hour=10, refresh_h=0)
    cfg = LearnConfig(scene_interval_s=1, still_s=0)
    collector = SceneCollector(store, MotionPlaces(seed=0), cfg, clock=lambda: now[0])
    try:
        frame = frame_of(DAY, NOON)
        assert collector.still("coop", frame, 224)  # taken by the writer, which now waits
        deadline = time.monotonic() + 5
        while not collector._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        now[0] = 2.0
        assert collector.still("coop", frame_of(DAY, NOON + 2), 224)  # queued behind it
        now[0] = 4.0
        started = time.perf_counter()
        assert not collector.still("coop", frame_of(DAY, NOON + 4), 224)  # dropped at once
        assert time.perf_counter() - started < 1.0 and collector.dropped == 1
        SlowStore.release.set()
        assert collector.wait_idle()
        assert collector.kept == 2 and store.coverage("coop").crops == 2
    finally:
        SlowStore.release.set()
        collector.close()


def test_samples_wait_for_stillness_and_are_cut_where_motion_happens(tmp_path: Path) -> None:
    now = [0.0]
    store = SceneStore(tmp_path, per_hour=10, refresh_h=0)
    places = MotionPlaces(seed=1)
    collector = SceneCollector(store, places, LearnConfig(scene_interval_s=1, still_s=5),
                               clock=lambda: now[0])
    try:
        where = Box(0.6, 0.5, 0.1, 0.2)
        collector.moved("coop", [where])
        now[0] = 3.0
        assert not collector.still("coop", frame_of(DAY, NOON), 224)  # still for 3 s only
        now[0] = 6.0
        assert collector.still("coop", frame_of(DAY, NOON), 224)
        assert collector.wait_idle()
        (scene,) = store.scenes("coop")
        assert scene.load().shape == (224, 224, 3) and scene.kind == "still"
        box = places.sample("coop")
        assert (box.w, box.h) == (where.w, where.h)  # the size of the camera's motion
        assert abs(box.x - where.x) <= where.w / 2 + 1e-9
    finally:
        collector.close()


def test_after_a_hen_or_a_predator_was_seen_the_scene_waits(tmp_path: Path) -> None:
    """A hen laying or a fox waiting does not move: after a visit that saw one, the camera's
    scene is not sampled for learn.after_visit_min, unless a visit that saw nothing ends the
    wait."""
    now = [0.0]
    store = SceneStore(tmp_path, per_hour=10, refresh_h=0)
    collector = SceneCollector(
        store, MotionPlaces(seed=1),
        LearnConfig(scene_interval_s=1, still_s=5, after_visit_min=30), clock=lambda: now[0])
    try:
        for camera in ("nest", "run"):  # a camera's stillness counts from its first frame
            assert not collector.still(camera, frame_of(DAY, NOON), 224)
            collector.visit_ended(camera, saw_something=True)
        now[0] = 60.0  # still for a minute: long enough, but a hen may be sitting there
        assert not collector.still("nest", frame_of(DAY, NOON), 224)
        assert not collector.still("run", frame_of(DAY, NOON), 224)
        assert collector.held_back == 2
        collector.visit_ended("run", saw_something=False)  # something moved and it was nothing
        assert collector.still("run", frame_of(DAY, NOON), 224)
        now[0] = 30 * 60.0 + 1.0  # the nest box's wait is over
        assert collector.still("nest", frame_of(DAY, NOON + 1), 224)
        assert collector.wait_idle()
        assert len(store.scenes("nest")) == len(store.scenes("run")) == 1
    finally:
        collector.close()


@pytest.fixture(scope="module")
def real_classifier(asset_store):  # type: ignore[no-untyped-def]
    classifier = load_classifier(ModelsConfig(), asset_store)
    yield classifier
    classifier.close()


@pytest.fixture()
def loop_parts(real_classifier, mock_factory, tmp_path: Path) -> Iterator[Parts]:  # type: ignore[no-untyped-def]
    gpio = GpioConfig.model_validate({"deterrents": []})
    bank = DeterrentBank(gpio, pin_factory=mock_factory)
    log = EventLog(tmp_path / "events.sqlite3")
    recorder = Recorder(log, Archive(tmp_path / "archive",
                                     ArchiveConfig.model_validate({"min_free_mb": 0})))
    recorder.start()
    parts = Parts(real_classifier, Decider(DecisionConfig(), gpio.deterrents), bank, recorder,
                  LatencyStats(), ApplianceMetrics.create(), on_progress=bank.heartbeat)
    yield parts
    recorder.close()
    bank.close()
    log.close()


def test_the_frame_loop_feeds_the_collector_its_still_frames(loop_parts: Parts, tmp_path: Path
                                                            ) -> None:
    cam = CameraConfig.model_validate({
        "name": "coop", "kind": "arrivals", "address": str(SCENE), "width": 1280,
        "height": 720, "fps": 10, "realtime": False, "loop": False,
        "arrivals": [{"image": str(FOX), "at_s": 3.0, "for_s": 1.0,
                      "box": (0.55, 0.3, 0.2, 0.3)},
                     {"image": str(BARROW), "at_s": 6.0, "for_s": 1.0,
                      "box": (0.1, 0.4, 0.3, 0.4)}],
    })
    ticks = [0.0]

    def clock() -> float:  # one second per call: the loop's frames pace the collector
        ticks[0] += 1.0
        return ticks[0]

    store = SceneStore(tmp_path / "scenes", per_hour=1000, refresh_h=0)
    places = MotionPlaces(seed=2)
    collector = SceneCollector(store, places, LearnConfig(scene_interval_s=4, still_s=2),
                               cameras=["coop"], clock=clock)
    loop_parts.scenes = collector
    stop = threading.Event()
    capture = Capture(cam, lambda: Lockstep(ArrivalsSource(cam, cam.address, [FOX, BARROW]),
                                            capture.ring, stop), stop)
    loop = CameraLoop(cam, capture, loop_parts, stop, quiet_s=0.0)
    capture.start()
    try:
        loop.run()
    finally:
        capture.close()
        collector.wait_idle()
        collector.close()
    assert loop.error is None and loop.counters.motion_frames > 0
    scenes = store.scenes("coop")
    still_frames = loop.counters.frames - loop.counters.motion_frames
    assert 0 < len(scenes) <= still_frames // 4 + 1
    assert all(s.load().shape == (224, 224, 3) for s in scenes)
    assert collector.dropped + collector.kept + collector.failed >= len(scenes)
    # The visits' motion was seen: later samples are cut at their sizes and places.
    assert places.sample("coop").w < 0.5
    # After the fox's visit the fox may be at rest there: the still frames until the
    # wheelbarrow's visit (nothing) were not sampled.
    assert collector.held_back > 0
    # The wheelbarrow's visit, called nothing and never logged, waits to join the scenes.
    assert loop.counters.episodes == 2 and loop.counters.events == 1  # the fox's
    (held,) = store.held("coop")
    assert held.kind == "quiet" and held.load().shape == (224, 224, 3)
