"""The frame loop of one camera: newest frame → motion → crop → classify → decide → act → event.

Nothing here waits on disk or network: events go to the recorder's queue, reports to reporter
threads, and deterrent patterns run on gpiozero's own threads.

When the motion detector finds several regions apart, each is cropped and classified (largest
first, at most ``motion.max_regions``); the most predator-like answer is decided on and its crop
becomes the event's, while the other regions' chicken scores still count for the chicken veto.
One region costs one crop and one inference, as it always did.

A frame whose processing raises (a model's transient ``RuntimeError``, a pin write error) is
logged (at a limited rate), counted and skipped: only ``health.max_failed_frames`` failures in a
row stop the appliance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actuators.bank import DeterrentBank, FireReport
from camera.box import Box
from camera.capture import Capture
from camera.config import CameraConfig
from camera.frame import Frame
from camera.motion import MotionDetector
from classifier.crop import crop_regions
from classifier.ensemble import Answer, CropClassifier
from classifier.verdict import Classification, Verdict
from edge.clips import ClipRecorder
from edge.config.clips import OutcomeConfig
from edge.config.system import HealthConfig
from edge.decider import Decider, Decision
from edge.episode import Episode, event_from, worth_logging
from edge.event import Event
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats
from edge.learn.collector import SceneCollector
from edge.outcome import Outcome, OutcomeWatch
from edge.web.feed import LiveFeed

log = logging.getLogger(__name__)

NS_PER_MS = 1_000_000
# A frame that keeps failing is logged with its traceback at most this often.
_ERROR_LOG_EVERY_NS = 10_000_000_000


@dataclass(slots=True)
class Parts:
    """What every camera loop shares."""

    classifier: CropClassifier
    decider: Decider
    bank: DeterrentBank
    recorder: Recorder
    latency: LatencyStats
    metrics: ApplianceMetrics
    on_progress: Callable[[], None]
    # Samples each camera's empty scene for the nightly re-fit (edge/learn/), off this path.
    scenes: SceneCollector | None = None
    live: LiveFeed | None = None  # the web page's pictures and last answers, when it is on
    outcome: OutcomeConfig | None = None  # how firings are watched (the defaults when None)


@dataclass(slots=True)
class LoopCounters:
    """What one loop has seen, for the summary and the metrics."""

    frames: int = 0
    skipped: int = 0
    motion_frames: int = 0
    episodes: int = 0
    events: int = 0
    firings: int = 0
    errors: int = 0  # frames whose processing raised, and were skipped
    verdicts: Counter[str] = field(default_factory=Counter)
    # The capture number (Frame.seq) of the frame each firing was decided on: where in its
    # source the firing happened, which a replay that runs behind real time (a slow board,
    # emulation) keeps and wall-clock time does not.
    fired_frames: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Looked:
    """The answer decided on, its crop, and the answers for the frame's other regions."""

    classification: Answer
    crop: np.ndarray
    others: list[Answer]


def _seen(episode: Episode) -> str:
    """What a firing was at, for its log line: the verdict, and the model's label beside it when
    the label is a class name ("predator (Samoyed, Samoyede 0.62)")."""
    if episode.best is None:
        return "?"
    c = episode.best.classification
    verdict = c.verdict.value
    return verdict if c.label == verdict else f"{verdict} ({c.label} {c.score:.2f})"


def _alarm(c: Classification) -> tuple[bool, float]:
    """How predator-like an answer is: a predator verdict first, then the predator score."""
    return c.verdict is Verdict.PREDATOR, c.predator_score


class CameraLoop:
    """Runs one camera's frames through the pipeline until stopped or the source ends.

    ``health`` gives ``max_failed_frames`` (the default configuration's when omitted).
    ``clock_ns`` (monotonic nanoseconds) times the stages and the visits: a visit ends
    ``quiet_s`` after its last motion on that clock (a replay in video time passes its own).
    ``clips`` is handed every frame, each visit's start and end and each event (it keeps a
    clip per event on its own thread).
    """

    def __init__(
        self,
        camera: CameraConfig,
        capture: Capture,
        parts: Parts,
        stop: threading.Event,
        *,
        quiet_s: float = 2.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        health: HealthConfig | None = None,
        clips: ClipRecorder | None = None,
    ) -> None:
        self.camera = camera
        self.clips = clips  # this camera's clip per event (edge/clips.py), when kept
        self.capture = capture
        self.detector = MotionDetector(camera.motion, camera.fps)
        self._motion_fps = camera.fps
        self.parts = parts
        self.stop = stop
        self.quiet_s = quiet_s
        self.max_failed_frames = (health or HealthConfig.model_validate({})).max_failed_frames
        self.counters = LoopCounters()
        self.error: BaseException | None = None
        self._clock_ns = clock_ns
        # Frame seqs start at 1: "after 0" means nothing taken yet, so nothing skipped.
        self._last_seq = 0
        self._episode: Episode | None = None
        self._failed_in_row = 0
        self._errors_logged_at: int | None = None
        # After a firing, what the animal does next (edge/outcome.py), on this loop's clock.
        self.outcomes = OutcomeWatch(parts.outcome or OutcomeConfig.model_validate({}),
                                     self._outcome_decided)

    def run(self) -> None:
        """The loop body. A frame that raises an ``Exception`` is logged, counted and skipped;
        ``max_failed_frames`` in a row set :attr:`error` and stop every loop (the app turns the
        deterrents off and exits with an error). Anything else (``KeyboardInterrupt``,
        ``SystemExit``) stops every loop at once and is raised again."""
        try:
            while not self.stop.is_set() and not self.capture.ended:
                try:
                    processed = self.step()
                except Exception as exc:
                    if self._failed(exc):
                        return
                else:
                    if processed:
                        self._recovered()
        except BaseException as exc:
            self.error = exc
            log.critical("camera %s: %r; stopping", self.camera.name, exc)
            self.stop.set()
            raise
        finally:
            self.finish()

    def summary(self) -> dict[str, Any]:
        """This loop's figures for the run's summary (``RunSummary.cameras``)."""
        c, stats = self.counters, self.capture.stats
        return {
            "frames": c.frames,
            "skipped": c.skipped,
            "motion_frames": c.motion_frames,
            "episodes": c.episodes,
            "events": c.events,
            "firings": c.firings,
            "verdicts": dict(c.verdicts),
            "fired_frames": list(c.fired_frames),
            "bad_frames": stats.bad_frames,
            "failed_frames": c.errors,
            "reopens": stats.reopens,
            "open_failures": stats.open_failures,
            "last_error": stats.last_error or None,
            "error": repr(self.error) if self.error else None,
        }

    @property
    def episode(self) -> Episode | None:
        """The visit under way, if any (read-only: a replay follows the visits with it)."""
        return self._episode

    def finish(self) -> None:
        """Close the visit under way, as when the source has ended; never raises, so that a
        failure here (the recorder already closed) cannot hide why the loop ended."""
        try:
            self._close_episode(time.time())
            self.outcomes.finish(self._now_s())
        except Exception:
            log.exception("camera %s: the last episode could not be recorded", self.camera.name)

    def step(self) -> bool:
        """Take the newest frame (waiting at most a quarter second) and process it; whether
        there was one."""
        got = self.capture.latest(self._last_seq, timeout=0.25)
        self.parts.on_progress()
        self.outcomes.tick(self._now_s())
        if got is None:
            self._close_episode_if_quiet()
            return False
        frame, skipped = got
        self.frames_at(self.capture.fps)
        self._last_seq = frame.seq
        self.counters.frames += 1
        self.counters.skipped += skipped
        metrics = self.parts.metrics
        metrics.frame_done(self.camera.name, frame.capture_ns)
        if skipped:
            metrics.frames_skipped.labels(camera=self.camera.name, reason="stale").inc(skipped)
        self.process(frame)
        return True

    def _failed(self, exc: Exception) -> bool:
        """Count a frame that raised; whether the loop must give up."""
        self.counters.errors += 1
        self._failed_in_row += 1
        name = self.camera.name
        if self._failed_in_row >= self.max_failed_frames:
            self.error = exc
            log.critical("camera %s: %d frames in a row failed; stopping", name,
                         self._failed_in_row, exc_info=exc)
            self.stop.set()
            return True
        now = self._clock_ns()
        logged = self._errors_logged_at
        if logged is None or now - logged >= _ERROR_LOG_EVERY_NS:
            self._errors_logged_at = now
            log.error("camera %s: a frame failed and was skipped (%d in a row, %d in all)",
                      name, self._failed_in_row, self.counters.errors, exc_info=exc)
        return False

    def _recovered(self) -> None:
        if self._failed_in_row:
            log.warning("camera %s: frames go through again after %d failed", self.camera.name,
                        self._failed_in_row)
            self._failed_in_row = 0

    def frames_at(self, fps: float) -> None:
        """Frames come at ``fps`` (a replayed file's recorded rate, not the configured one):
        motion's warm-up and re-learning are times, so a rate that differs from the one the
        detector counts in starts it afresh at this one. Nothing changes when it does not."""
        if fps != self._motion_fps:
            log.info("camera %s: frames come at %.3g fps, not %.3g: motion counts its warm-up "
                     "at that rate", self.camera.name, fps, self._motion_fps)
            self.detector = MotionDetector(self.camera.motion, fps)
            self._motion_fps = fps

    def process(self, frame: Frame) -> None:
        """Run one frame through motion, and if it moved, the rest of the pipeline."""
        clock = self._clock_ns
        t_ready = clock()
        if self.clips is not None:  # a small copy, now: the frame's buffer goes back to the ring
            self.clips.frame(t_ready / 1e9, frame.image)
        motion = self.detector.detect(frame.grey)
        t_motion = clock()
        live = self.parts.live
        if live is not None and live.wanted(self.camera.name):  # a page asked for a picture
            live.offer(self.camera.name, frame, motion.regions)
        stages = {
            "capture": (t_ready - frame.capture_ns) / NS_PER_MS,
            "motion": (t_motion - t_ready) / NS_PER_MS,
        }
        self.parts.metrics.motion_seconds.labels(camera=self.camera.name).observe(
            (t_motion - t_ready) / 1e9
        )
        scenes = self.parts.scenes
        if not motion.moving:
            self.parts.latency.add(stages)
            self._close_episode_if_quiet()
            if scenes is not None:  # after the latency: a due sample is not the frame's cost
                scenes.still(self.camera.name, frame, self.parts.classifier.crop_side)
            return
        if scenes is not None:
            scenes.moved(self.camera.name, motion.regions)
        self.counters.motion_frames += 1
        self._classify_and_act(frame, motion.regions, stages, t_motion)

    def _classify_and_act(
        self, frame: Frame, regions: tuple[Box, ...], stages: dict[str, float], t_motion: int
    ) -> None:
        """Crop, classify, decide, fire; then the latency, the metrics and the episode."""
        clock, parts = self._clock_ns, self.parts
        crops = crop_regions(frame.image, regions, limit=self.camera.motion.max_regions,
                             size=parts.classifier.crop_side)
        t_crop = clock()
        looked = self._look(crops)
        t_inference = clock()
        decision = parts.decider.decide(self.camera.name, looked.classification,
                                        elsewhere=looked.others)
        t_decision = clock()
        report = self._fire(decision)
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
        parts.latency.add(stages)
        self._observe(looked, (t_decision - frame.capture_ns) / 1e9)
        # Confirmed, but the bank switched nothing on (every device resting): say so.
        rule = "refused" if report is not None and not report.fired else decision.rule
        c = looked.classification
        if parts.live is not None:
            parts.live.saw(self.camera.name, c.verdict.value, c.label, c.score, rule)
        log.debug("camera %s: frame %d, %d region(s): %s %.3f (%s) -> %s", self.camera.name,
                  frame.seq, len(crops), c.verdict.value, c.score, c.label, rule)
        episode = self._open_episode(frame)
        self.outcomes.seen(episode.last_motion, predator=decision.confirmed)
        episode.consider(frame, c, looked.crop, stages, rule, confirmed=decision.confirmed)
        if report and report.refused:
            episode.refused.update(report.refused)
        if report and report.fired:
            self._report_firing(frame, episode, decision, report, stages)

    def _look(self, crops: list[np.ndarray]) -> _Looked:
        """Classify each crop; the most predator-like answer is the one decided on."""
        classifier, camera = self.parts.classifier, self.camera.name
        if len(crops) == 1:
            return _Looked(classifier.classify(crops[0], camera), crops[0], [])
        answers = [(classifier.classify(crop, camera), crop) for crop in crops]
        best, crop = max(answers, key=lambda a: _alarm(a[0]))
        return _Looked(best, crop, [c for c, _ in answers if c is not best])

    def _fire(self, decision: Decision) -> FireReport | None:
        """Fire what the decision says, and tell the decider what really fired (its cooldown
        starts only then)."""
        # A stop (SIGTERM) between the decision and here must not switch anything on.
        if not decision.fire or self.stop.is_set():
            return None
        report = self.parts.bank.fire(decision.devices)
        self.parts.decider.fired(self.camera.name, report.fired)
        return report

    def _observe(self, looked: _Looked, decision_s: float) -> None:
        metrics = self.parts.metrics
        for c in (looked.classification, *looked.others):
            for score in c.models.values():
                metrics.inference_seconds.labels(model=score.model).observe(score.total_ms / 1000)
            if c.within_scene is not None:
                metrics.scene_head_crops.labels(
                    camera=self.camera.name, by="refit" if c.within_scene else "base").inc()
        metrics.decision_latency_seconds.labels(camera=self.camera.name).observe(decision_s)
        self.counters.verdicts[looked.classification.verdict.value] += 1

    def _open_episode(self, frame: Frame) -> Episode:
        now = self._clock_ns() / 1e9
        if self._episode is None:
            self._episode = Episode(self.camera.name, frame.wall_time, now)
            self.counters.episodes += 1
            if self.clips is not None:
                self.clips.visit_started(now)
        self._episode.last_motion = now
        return self._episode

    def _report_firing(
        self, frame: Frame, episode: Episode, decision: Decision, report: FireReport,
        stages: dict[str, float],
    ) -> None:
        self.counters.firings += 1
        for name in report.fired:
            self.parts.metrics.deterrent_firings.labels(deterrent=name).inc()
        self.counters.fired_frames.append(frame.seq)
        log.warning("camera %s: %s → fired %s (%s)", self.camera.name, _seen(episode),
                    ", ".join(report.fired), decision.rule)
        reason = {"rule": decision.rule, **decision.reason, "refused": report.refused}
        event = event_from(episode, time.time(), list(report.fired), reason, stages)
        self._submit(event, episode)
        burst_s = max(self.parts.bank.device(n).cfg.pattern.burst_s for n in report.fired)
        self.outcomes.fired(event, self._now_s(), burst_s)
        episode.events += 1
        # A later firing in the same visit reports what is seen then, not this sighting again.
        episode.best = None

    def _close_episode_if_quiet(self) -> None:
        episode = self._episode
        if episode is not None and self._clock_ns() / 1e9 - episode.last_motion >= self.quiet_s:
            self._close_episode(time.time())

    def _close_episode(self, end_time: float) -> None:
        episode, self._episode = self._episode, None
        if episode is None:
            return
        try:
            self._visit_over(episode, end_time)
        finally:  # after the visit's last event: its clip ends here
            if self.clips is not None:
                self.clips.visit_ended(self._now_s())

    def _visit_over(self, episode: Episode, end_time: float) -> None:
        """Log a closed visit that fired nothing, if it saw anything; a quiet one may be an
        empty scene for edge/learn/."""
        self.parts.decider.end_visit(self.camera.name)
        self.outcomes.visit_ended(episode.last_motion)
        # A hen or a predator in any frame, confirmed or not: it may still be there, at rest.
        saw = bool(episode.verdicts.get("predator") or episode.verdicts.get("chicken"))
        if self.parts.scenes is not None:
            self.parts.scenes.visit_ended(self.camera.name, saw)
        if episode.events:
            return
        if not worth_logging(episode):
            # Motion called nothing: a candidate empty scene of this camera (edge/learn/). Not
            # a visit with a frame called hen or predator: something may be in it.
            if episode.best is not None and self.parts.scenes is not None and not saw:
                self.parts.scenes.quiet(self.camera.name, end_time, episode.best.crop)
            return
        # Why nothing fired (unconfirmed, vetoed, disarmed, cooldown, refused...), frame by frame.
        decision: dict[str, object] = {
            "rule": "refused" if episode.rules.get("refused") else "no firing",
            "verdicts": dict(episode.verdicts),
            "rules": dict(episode.rules),
        }
        if episode.refused:
            decision["refused"] = dict(episode.refused)
        self._submit(event_from(episode, end_time, [], decision), episode)

    def _now_s(self) -> float:
        return self._clock_ns() / 1e9

    def _outcome_decided(self, event: Event, outcome: Outcome) -> None:
        """Count a firing's outcome and add it to the event's row (on the recorder's thread)."""
        for name in event.deterrents:
            self.parts.metrics.deterrent_outcomes.labels(
                deterrent=name, predator=event.label, result=outcome.result).inc()
        log.info("camera %s: after firing at %s, it %s", self.camera.name, event.label,
                 outcome.result)
        found = outcome.to_dict()
        self.parts.recorder.update(event, lambda e: setattr(e, "outcome", found))

    def _submit(self, event: Event, episode: Episode) -> None:
        best = episode.best
        # Every model saw the same crop; the archive keeps what each one was given.
        crops = {name: best.crop for name in event.scores} if best else {}
        # The crop's ticket lets the recorder add the shadow, canary and late answers to it.
        ticket = getattr(best.classification, "ticket", None) if best else None
        # The sighting's arrays are the episode's own copies, never touched again: handed over.
        self.parts.recorder.submit(
            event, best.snapshot if best else None, crops, ticket=ticket, copy=False
        )
        self.parts.metrics.events.labels(verdict=event.verdict).inc()
        self.counters.events += 1
        if self.clips is not None:  # a firing's clip goes on post_s; a closed visit's ends now
            after = self.clips.cfg.post_s if event.deterrents else 0.0
            self.clips.event(event, self._now_s() + after)
