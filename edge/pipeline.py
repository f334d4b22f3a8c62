"""The frame loop of one camera: newest frame → motion → crop → classify → decide → act → event.

Nothing here waits on disk or network: events go to the recorder's queue, reports to reporter
threads, and deterrent patterns run on gpiozero's own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from actuators.bank import DeterrentBank, FireReport
from camera.capture import Capture
from camera.frame import Frame
from camera.motion import MotionDetector
from classifier import Classifier
from classifier.crop import crop_square
from classifier.rendezvous import Rendezvous
from edge.config import CameraConfig
from edge.decider import Decider, Decision
from edge.episode import Episode, event_from, worth_logging
from edge.event import Event
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats

log = logging.getLogger(__name__)

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class Parts:
    """What every camera loop shares."""

    classifier: Classifier | Rendezvous
    decider: Decider
    bank: DeterrentBank
    recorder: Recorder
    latency: LatencyStats
    metrics: ApplianceMetrics
    on_progress: Callable[[], None]


@dataclass(slots=True)
class LoopCounters:
    """What one loop has seen, for the summary and the metrics."""

    frames: int = 0
    skipped: int = 0
    motion_frames: int = 0
    episodes: int = 0
    events: int = 0
    firings: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    fired_at: list[float] = field(default_factory=list)


class CameraLoop:
    """Runs one camera's frames through the pipeline until stopped or the source ends."""

    def __init__(
        self,
        camera: CameraConfig,
        capture: Capture,
        parts: Parts,
        stop: threading.Event,
        *,
        quiet_s: float = 2.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.camera = camera
        self.capture = capture
        self.detector = MotionDetector(camera.motion)
        self.parts = parts
        self.stop = stop
        self.quiet_s = quiet_s
        self.counters = LoopCounters()
        self.error: BaseException | None = None
        self._clock_ns = clock_ns
        self._last_seq = -1
        self._episode: Episode | None = None

    def run(self) -> None:
        """The loop body; an exception stops every loop (the app turns the deterrents off)."""
        try:
            while not self.stop.is_set() and not self.capture.ended:
                self.step()
        except BaseException as exc:
            self.error = exc
            log.exception("camera %s: the loop failed; stopping", self.camera.name)
            self.stop.set()
        finally:
            self._close_episode(time.time())

    def step(self) -> None:
        """Take the newest frame (waiting at most a quarter second) and process it."""
        got = self.capture.latest(self._last_seq, timeout=0.25)
        self.parts.on_progress()
        if got is None:
            self._close_episode_if_quiet()
            return
        frame, skipped = got
        self._last_seq = frame.seq
        self.counters.frames += 1
        self.counters.skipped += skipped
        metrics = self.parts.metrics
        metrics.frame_done(self.camera.name, frame.capture_ns)
        if skipped:
            metrics.frames_skipped.inc(skipped, camera=self.camera.name, reason="stale")
        self.process(frame)

    def process(self, frame: Frame) -> None:
        """Run one frame through motion, and if it moved, the rest of the pipeline."""
        clock = self._clock_ns
        t_ready = clock()
        motion = self.detector.detect(frame.grey)
        t_motion = clock()
        stages = {
            "capture": (t_ready - frame.capture_ns) / NS_PER_MS,
            "motion": (t_motion - t_ready) / NS_PER_MS,
        }
        metrics = self.parts.metrics
        metrics.motion_seconds.observe((t_motion - t_ready) / 1e9, camera=self.camera.name)
        if not motion.moving:
            self.parts.latency.add(stages)
            self._close_episode_if_quiet()
            return
        self.counters.motion_frames += 1
        whole = motion.area >= self.camera.motion.whole_frame_above
        crop = crop_square(
            frame.image, motion.regions, whole_frame=whole, size=self.parts.classifier.crop_side
        )
        t_crop = clock()
        classification = self.parts.classifier.classify(crop)
        t_inference = clock()
        decision = self.parts.decider.decide(self.camera.name, classification)
        t_decision = clock()
        # A stop (SIGTERM) between the decision and here must not switch anything on.
        firing = decision.fire and not self.stop.is_set()
        report = self.parts.bank.fire(decision.devices) if firing else None
        stages |= {
            "crop": (t_crop - t_motion) / NS_PER_MS,
            "inference": (t_inference - t_crop) / NS_PER_MS,
            "decision": (t_decision - t_inference) / NS_PER_MS,
        }
        acted_ns = t_decision
        if report and report.pin_high_ns:
            acted_ns = min(report.pin_high_ns.values())
            stages["pin"] = (acted_ns - t_decision) / NS_PER_MS
        stages["total"] = (acted_ns - frame.capture_ns) / NS_PER_MS
        self.parts.latency.add(stages)
        for score in classification.models.values():
            metrics.inference_seconds.observe(score.total_ms / 1000, model=score.model)
        metrics.decision_latency_seconds.observe(
            (t_decision - frame.capture_ns) / 1e9, camera=self.camera.name
        )
        self.counters.verdicts[classification.verdict.value] += 1
        episode = self._open_episode(frame)
        episode.consider(frame, classification, crop, stages, decision.rule)
        if report and report.fired:
            self._report_firing(episode, decision, report, stages)

    def _open_episode(self, frame: Frame) -> Episode:
        now = time.monotonic()
        if self._episode is None:
            self._episode = Episode(self.camera.name, frame.wall_time, now)
            self.counters.episodes += 1
        self._episode.last_motion = now
        return self._episode

    def _report_firing(
        self, episode: Episode, decision: Decision, report: FireReport, stages: dict[str, float]
    ) -> None:
        self.counters.firings += 1
        for name in report.fired:
            self.parts.metrics.deterrent_firings.inc(deterrent=name)
        self.counters.fired_at.append(time.time())
        log.warning(
            "camera %s: %s → fired %s (%s)",
            self.camera.name,
            episode.best.classification.label if episode.best else "?",
            ", ".join(report.fired),
            decision.rule,
        )
        reason = {"rule": decision.rule, **decision.reason, "refused": report.refused}
        self._submit(event_from(episode, time.time(), list(report.fired), reason, stages), episode)
        episode.events += 1
        # A later firing in the same visit reports what is seen then, not this sighting again.
        episode.best = None

    def _close_episode_if_quiet(self) -> None:
        episode = self._episode
        if episode is not None and time.monotonic() - episode.last_motion >= self.quiet_s:
            self._close_episode(time.time())

    def _close_episode(self, end_time: float) -> None:
        episode, self._episode = self._episode, None
        if episode is None or episode.events or not worth_logging(episode):
            return
        # Why nothing fired (unconfirmed, vetoed, disarmed, cooldown...), frame by frame.
        decision: dict[str, object] = {
            "rule": "no firing",
            "verdicts": dict(episode.verdicts),
            "rules": dict(episode.rules),
        }
        self._submit(event_from(episode, end_time, [], decision), episode)

    def _submit(self, event: Event, episode: Episode) -> None:
        best = episode.best
        # Every model saw the same crop; the archive keeps what each one was given.
        crops = {name: best.crop for name in event.scores} if best else {}
        # The crop's ticket lets the recorder add the shadow, canary and late answers to it.
        ticket = getattr(best.classification, "ticket", None) if best else None
        self.parts.recorder.submit(event, best.snapshot if best else None, crops, ticket=ticket)
        self.parts.metrics.events.inc(verdict=event.verdict)
        self.counters.events += 1
