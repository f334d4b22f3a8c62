"""The camera loop on real parts: photos arriving over a real empty scene (the arrivals source,
read through the real capture thread and frame ring), the real models, the real decider, a
deterrent bank on gpiozero mock pins, and the real recorder writing to an event log.

The source runs in lockstep with the loop (the next frame is read once the loop has taken the
last), so every frame is processed whatever the machine's speed, and nothing here is timed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actuators.bank import DeterrentBank
from actuators.config import GpioConfig
from camera.capture import Capture
from camera.config import CameraConfig
from camera.frame import Frame
from camera.replay import ArrivalsSource, schedule_length
from camera.ring import FrameRing
from classifier import Classification, Verdict, load_classifier
from classifier.config import ModelsConfig
from classifier.feature_head import FeatureHead, shipped_head
from classifier.scene_gate import GatedHead, SceneGate
from edge.config import DecisionConfig
from edge.config.clips import OutcomeConfig
from edge.config.reporters import ArchiveConfig
from edge.config.system import HealthConfig
from edge.decider import Decider
from edge.event import Event
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats
from edge.pipeline import CameraLoop, Parts
from tests.conftest import SHARED_DATA

IMAGES = SHARED_DATA / "images"
SCENE = IMAGES / "background" / "speciesnet__blank2.jpg"
FOX = IMAGES / "predator" / "wikianimals__fox.webp"
HEN = IMAGES / "chicken" / "h730breeds__brahma.jpg"
FPS = 10
# Short bursts, then an hour's rest: a device fires at most once in a test, and a device that
# has fired is refused for the rest of it, however slow the machine.
GPIO = GpioConfig.model_validate({"deterrents": [
    {"name": "siren", "kind": "siren", "pin": 17, "min_rest_s": 3600,
     "pattern": {"on_s": 0.2, "off_s": 0.1, "repeats": 1}},
    {"name": "light", "kind": "floodlight", "pin": 27, "min_rest_s": 3600,
     "pattern": {"on_s": 0.2, "off_s": 0.0, "repeats": 1}},
    {"name": "water", "kind": "sprinkler", "pin": 22, "active_high": False, "chicken_veto": True,
     "min_rest_s": 3600, "pattern": {"on_s": 0.2, "off_s": 0.0, "repeats": 1}},
]})


def arrival(image: Path, at_s: float, box: tuple[float, float, float, float] = (0.2, 0.05, 0.6,
            0.9), for_s: float = 2.0) -> dict[str, Any]:
    return {"image": str(image), "at_s": at_s, "for_s": for_s, "box": box}


def camera(*arrivals: dict[str, Any]) -> CameraConfig:
    return CameraConfig.model_validate({
        "name": "coop", "kind": "arrivals", "address": str(SCENE), "width": 1280,
        "height": 720, "fps": FPS, "realtime": False, "loop": False, "arrivals": list(arrivals),
    })


class Lockstep:
    """The arrivals source, one frame at a time: a frame is read only once the loop has taken
    the one before."""

    def __init__(self, inner: ArrivalsSource, ring: FrameRing, stop: threading.Event,
                 settle: Callable[[], None] = lambda: None) -> None:
        self.inner, self.ring, self.stop, self.settle = inner, ring, stop, settle
        self.fps = inner.fps

    def open(self) -> None:
        self.inner.open()

    def read(self) -> Frame | None:
        while self.ring.seq > self.ring.taken_seq and not self.stop.is_set():
            self.stop.wait(0.002)
        self.settle()
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


class Flaky:
    """The real classifier, made to raise on the calls ``fails`` picks (count from 1): the
    narrowest seam for a transient TFLite error."""

    def __init__(self, real: Any, fails: Callable[[int], BaseException | None]) -> None:
        self.real, self.fails, self.calls, self.raised = real, fails, 0, 0
        self.crop_side = real.crop_side

    def classify(self, rgb: np.ndarray, camera: str | None = None) -> Classification:
        self.calls += 1
        error = self.fails(self.calls)
        if error is not None:
            self.raised += 1
            raise error
        return self.real.classify(rgb, camera)


@dataclass
class Rig:
    loop: CameraLoop
    bank: DeterrentBank
    decider: Decider
    log: EventLog
    factory: Any
    classifier: Flaky

    def run(self) -> None:
        self.loop.capture.start()
        try:
            self.loop.run()
        finally:
            self.loop.capture.close()
            self.loop.parts.recorder.close()
            self.bank.all_off()

    def events(self) -> list[Event]:
        return self.log.list()

    def pin_went_active(self, pin: int) -> bool:
        active = pin != 22  # the sprinkler's relay is active low
        return any(bool(s.state) is active for s in self.factory.pin(pin).states[1:])


@pytest.fixture(scope="module")
def real_classifier(asset_store):  # type: ignore[no-untyped-def]
    classifier = load_classifier(ModelsConfig(), asset_store)
    yield classifier
    classifier.close()


@pytest.fixture()
def rig(real_classifier, mock_factory, tmp_path: Path) -> Iterator[Callable[..., Rig]]:  # type: ignore[no-untyped-def]
    made: list[Rig] = []

    def make(cam: CameraConfig, *, fails: Callable[[int], BaseException | None] = lambda n: None,
             health: HealthConfig | None = None, gpio: GpioConfig = GPIO,
             video_clock: bool = False, outcome: dict[str, Any] | None = None,
             **decision: Any) -> Rig:
        stop = threading.Event()
        clock_ns: Callable[[], int] = time.monotonic_ns
        rings: list[FrameRing] = []
        if video_clock:  # the time of the frame taken last: the loop, decider and bank agree
            def clock_ns() -> int:
                return rings[0].taken_seq * 1_000_000_000 // FPS if rings else 0
        decider = Decider(DecisionConfig.model_validate({"armed": True, **decision}),
                          gpio.deterrents, clock=lambda: clock_ns() / 1e9)
        bank = DeterrentBank(gpio, pin_factory=mock_factory, clock=clock_ns)
        log = EventLog(tmp_path / "events.sqlite3")
        recorder = Recorder(log, Archive(tmp_path / "archive",
                                         ArchiveConfig.model_validate({"min_free_mb": 0})))
        recorder.start()
        flaky = Flaky(real_classifier, fails)
        parts = Parts(flaky, decider, bank, recorder, LatencyStats(),  # type: ignore[arg-type]
                      ApplianceMetrics.create(), on_progress=bank.heartbeat,
                      outcome=OutcomeConfig.model_validate(outcome or {}))
        images = [a.image for a in cam.arrivals]

        def bursts_over() -> None:
            # On the video clock a burst takes no video time: the next frame waits for its end.
            deadline = time.monotonic() + 30
            while any(bank.device(n).bursting for n in bank.names) and time.monotonic() < deadline:
                stop.wait(0.005)

        def source() -> Lockstep:
            return Lockstep(ArrivalsSource(cam, cam.address, images), capture.ring, stop,
                            bursts_over if video_clock else lambda: None)

        capture = Capture(cam, source, stop)
        rings.append(capture.ring)
        loop = CameraLoop(cam, capture, parts, stop, quiet_s=0.0, health=health,
                          clock_ns=clock_ns)
        made.append(Rig(loop, bank, decider, log, mock_factory, flaky))
        return made[-1]

    yield make
    for r in made:
        r.bank.close()
        r.log.close()


def frames_of(cam: CameraConfig) -> int:
    return round(schedule_length(cam.arrivals) * FPS)


# -- the loop end to end ------------------------------------------------------------------------

def test_a_fox_fires_every_deterrent_and_a_hen_none(rig, caplog) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(FOX, 1.5), arrival(HEN, 5.0))
    r = rig(cam, confirm_n=2, cooldown_s=0)
    with caplog.at_level(logging.DEBUG, logger="edge.pipeline"):
        r.run()
    c = r.loop.counters
    assert r.loop.error is None and not r.loop.stop.is_set()
    assert c.frames == frames_of(cam) and c.skipped == 0  # lockstep: every frame, none skipped
    assert c.errors == 0 and c.firings >= 1
    assert all(r.pin_went_active(pin) for pin in (17, 27, 22))
    fired = [e for e in r.events() if e.deterrents]
    unfired = [e for e in r.events() if not e.deterrents]
    assert fired and all(e.verdict == "predator" for e in fired)
    assert set(fired[0].deterrents) == {"siren", "light", "water"}
    assert fired[0].decision["rule"] == "confirmed" and fired[0].snapshot
    assert [e.verdict for e in unfired] == ["chicken"]
    assert unfired[0].decision["rule"] == "no firing"
    assert "no_predator" in unfired[0].decision["rules"]
    # -v: each classified frame's verdict, score and rule
    assert "1 region(s): predator" in caplog.text and "-> confirmed" in caplog.text
    assert "1 region(s): chicken" in caplog.text and "-> no_predator" in caplog.text


def test_the_first_frame_is_not_counted_as_skipped(rig) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(HEN, 0.0, for_s=0.2))
    r = rig(cam)
    r.loop.capture.start()
    try:
        assert r.loop.step()
    finally:
        r.loop.capture.close()
        r.loop.parts.recorder.close()
    assert (r.loop.counters.frames, r.loop.counters.skipped) == (1, 0)


# -- a frame that fails -------------------------------------------------------------------------

def test_a_frame_that_raises_is_skipped_counted_and_survived(rig, caplog) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(FOX, 1.5, for_s=3.0))
    # Every third inference fails, as a flaky interpreter would: never twice in a row.
    r = rig(cam, fails=lambda n: RuntimeError("tflite: invoke failed") if n % 3 == 0 else None,
            confirm_n=2, cooldown_s=0)
    with caplog.at_level(logging.ERROR, logger="edge.pipeline"):
        r.run()
    assert r.classifier.raised >= 5
    assert r.loop.error is None and not r.loop.stop.is_set()
    assert r.loop.counters.errors == r.classifier.raised
    assert r.loop.counters.frames == frames_of(cam)  # the source ran to its end
    assert r.loop.counters.firings >= 1 and r.pin_went_active(27)
    # Logged at a limited rate: the first failure with its traceback, not one per frame.
    failures = [rec for rec in caplog.records if "frame failed" in rec.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


def test_failures_in_a_row_stop_the_loop_with_the_error(rig) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(FOX, 1.5))
    health = HealthConfig.model_validate({"max_failed_frames": 3})
    r = rig(cam, fails=lambda n: RuntimeError("tflite: invoke failed"), health=health)
    r.run()
    assert isinstance(r.loop.error, RuntimeError) and r.loop.stop.is_set()
    assert r.loop.counters.errors == 3 == r.classifier.raised
    assert r.loop.counters.firings == 0


def test_a_keyboard_interrupt_is_not_swallowed(rig) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(FOX, 1.5))
    r = rig(cam, fails=lambda n: KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        r.run()
    assert isinstance(r.loop.error, KeyboardInterrupt) and r.loop.stop.is_set()
    assert r.loop.counters.errors == 0


def test_the_failure_limit_is_configured_with_bounds() -> None:
    assert HealthConfig.model_validate({}).max_failed_frames == 10
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        HealthConfig.model_validate({"max_failed_frames": 0})
    assert HealthConfig.model_fields["max_failed_frames"].description


# -- cooldown only after a real firing ----------------------------------------------------------

def test_a_confirmation_the_bank_refuses_says_so_and_starts_no_cooldown(rig) -> None:  # type: ignore[no-untyped-def]
    cam = camera(arrival(FOX, 1.5))
    r = rig(cam, confirm_n=2, cooldown_s=600)
    # Every device has just fired (another camera saw the fox first) and rests: refused.
    assert r.bank.fire(r.bank.names).fired == r.bank.names
    r.run()
    assert r.loop.counters.firings == 0
    (event,) = r.events()
    assert event.verdict == "predator" and event.deterrents == []
    assert event.decision["rule"] == "refused"
    assert event.decision["rules"].get("refused", 0) >= 1 and "confirmed" not in event.decision[
        "rules"]
    assert set(event.decision["refused"]) == {"siren", "light", "water"}
    # No cooldown started: the next confirmed predator frames fire at once.
    fox = Classification(verdict=Verdict.PREDATOR, score=0.99, predator_score=0.99,
                         chicken_score=0.0, label="red fox", decided_by="test")
    assert [r.decider.decide("coop", fox).rule for _ in range(2)][-1] == "confirmed"


# -- several regions ----------------------------------------------------------------------------

def test_a_fox_and_a_hen_far_apart_are_classified_apart(rig, caplog) -> None:  # type: ignore[no-untyped-def]
    # A fox in the top-left corner, a hen in the bottom-right one: one square around both
    # shrinks the fox until the models call the scene background (measured: 0.02-0.11).
    cam = camera(arrival(FOX, 1.5, box=(0.0, 0.0, 0.3, 0.45)),
                 arrival(HEN, 1.5, box=(0.7, 0.55, 0.3, 0.45)))
    r = rig(cam, confirm_n=2, cooldown_s=0)
    with caplog.at_level(logging.DEBUG, logger="edge.pipeline"):
        r.run()
    regions = [int(m) for m in re.findall(r"frame \d+, (\d) region", caplog.text)]
    assert len(regions) == r.loop.counters.motion_frames and max(regions) == 2
    assert r.classifier.calls == sum(regions)  # one inference per region
    first = next(e for e in r.events() if e.deterrents)
    assert first.verdict == "predator" and first.score > 0.9
    # The hen in the other region keeps the sprinkler off.
    assert set(first.deterrents) == {"siren", "light"} and first.decision["vetoed"] == ["water"]
    assert first.decision["chicken_max"] >= 0.4 and first.decision["chicken_score"] < 0.1
    assert first.crops and all(Path(p).is_file() for p in first.crops.values())


# -- what a firing did --------------------------------------------------------------------------

# One short burst per device, resting half a second, all on the video clock: a visit that stays
# is fired at again after the decider's cooldown.
BRIEF = GpioConfig.model_validate({"deterrents": [
    {"name": "siren", "kind": "siren", "pin": 17, "min_rest_s": 0.5,
     "pattern": {"on_s": 0.05, "off_s": 0.0, "repeats": 1}},
]})


def outcomes_of(r: Rig) -> list[dict[str, Any] | None]:
    return [e.outcome for e in r.events() if e.deterrents]


def test_a_fox_that_leaves_after_the_firing(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(camera(arrival(FOX, 1.5, for_s=1.0)), gpio=BRIEF, video_clock=True,
            outcome={"stay_s": 3, "return_s": 0.5}, confirm_n=2, cooldown_s=5)
    r.log.cursor("mqtt")  # a reporter that was there before the event
    r.run()
    [outcome] = outcomes_of(r)
    assert outcome is not None and outcome["result"] == "left"
    assert 0 < outcome["left_after_s"] < 2.0  # shown 1 s; its motion fades in the next second
    assert not outcome["returned"] and not outcome["fired_again"]
    # Added to the event's row later, and told to the reporters as one update.
    [(_, updated)] = r.log.updates_after("mqtt")
    assert updated.id == r.events()[0].id and updated.outcome == outcome
    assert r.log.updates_after("joined-later") == []  # its events will carry the outcome
    metrics = r.loop.parts.metrics.deterrent_outcomes
    assert metrics.labels(deterrent="siren", predator=r.events()[0].label,
                          result="left")._value.get() == 1


def test_a_fox_that_stays_is_fired_at_again(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(camera(arrival(FOX, 1.5, for_s=3.0)), gpio=BRIEF, video_clock=True,
            outcome={"stay_s": 1}, confirm_n=2, cooldown_s=1)
    r.run()
    outcomes = outcomes_of(r)
    assert len(outcomes) >= 2, "a fox in view 3 s and a 1 s cooldown: fired at again"
    first = outcomes[0]
    assert first is not None and first["fired_again"] and first["result"] == "stayed"
    assert first["left_after_s"] is None
    assert all(o is not None for o in outcomes)  # the last one too, when the clip ended


def test_a_fox_that_returns(rig) -> None:  # type: ignore[no-untyped-def]
    r = rig(camera(arrival(FOX, 1.5, for_s=1.0), arrival(FOX, 4.0, for_s=1.0)), gpio=BRIEF,
            video_clock=True, outcome={"stay_s": 3, "return_s": 10}, confirm_n=2, cooldown_s=2)
    r.run()
    outcomes = outcomes_of(r)
    assert len(outcomes) == 2
    first = outcomes[0]
    assert first is not None and first["returned"] and first["result"] == "returned"
    assert 0 < first["left_after_s"] < 2.0


# -- a camera's re-fitted head ------------------------------------------------------------------

@pytest.mark.parametrize("similarity,by", [(-2.0, "refit"), (2.0, "base")])
def test_the_crops_a_camera_s_re_fit_decided_are_counted(  # type: ignore[no-untyped-def]
    rig, similarity: float, by: str,
) -> None:
    """Every crop the loop classifies for a camera with a gated re-fit is counted by who decided
    it: a gate that admits everything counts them all for the re-fit, one that admits nothing
    all for the head it was re-fitted from."""
    shipped = shipped_head()
    anchor = np.ones((1, shipped.layer.inputs), np.float32) / np.sqrt(shipped.layer.inputs)
    gated = GatedHead(shipped.layer, shipped.layer, SceneGate(anchor, similarity, 1))
    cam = camera(arrival(FOX, 0.5, for_s=1.0))
    r = rig(cam, confirm_n=2, cooldown_s=0)
    classifier = r.classifier.real
    classifier.camera_heads = {cam.name: FeatureHead(shipped.info, gated)}
    try:
        r.run()
    finally:
        classifier.camera_heads = {}

    def counted(who: str) -> float:
        return r.loop.parts.metrics.registry.get_sample_value(
            "tensorchicken_scene_head_crops_total", {"camera": cam.name, "by": who}) or 0.0

    classified = sum(r.loop.counters.verdicts.values())
    assert classified > 0
    assert counted(by) >= classified  # the frame's other regions count too
    assert counted("base" if by == "refit" else "refit") == 0
