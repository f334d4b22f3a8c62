"""A recorded clip or a folder of frames run through the appliance's own path, visit by visit.

Every frame goes through :meth:`edge.pipeline.CameraLoop.process`, the loop's own step: motion,
crops, the classifier, the decider (confirmation in the visit's classified frames, chicken veto,
cooldown, arming, quiet hours), a deterrent bank on gpiozero mock pins (never a real pin) and the
recorder writing to a real event log. The decider is armed whatever the configuration says (the
pins are mock ones: the question is what the decision would do). Nothing runs in real time:
the loop, the decider and the bank all read one clock that follows the clip (frame ``k`` is at
``k / fps`` seconds), so a visit ends after the same ``quiet_s`` of still frames as it would
live, however fast the machine. A burst's pattern plays on its own thread in real time, which a
replay usually outruns, so each burst is ended when the clip's clock reaches its length, and its
rest starts then, as live; else the bank's guard, reading the clip's clock, would find it past
``max_on_s`` and force it off, and the rest would start late. (A replay slower than real time
lets the pattern end first, a little early by the clip's clock.)

``board_ms`` plays a slower board: after a classified frame the loop is busy for that long of
the clip's time, and the frames that arrive meanwhile are skipped, as the capture ring skips
stale frames on a Pi that cannot keep up. Each visit is reported with its classified frames, how
many were called predator, whether and how soon it fired, which deterrents its firings switched
on and which the chicken veto kept off, and the verdict of its event.

Example::

    with load_classifier(config.models, store) as classifier:
        visits = replay_visits(camera_cfg, config, classifier, state_dir=tmp)
    fired = [v for v in visits if v.fired]
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actuators.bank import DeterrentBank, make_pin_factory
from camera.capture import Capture
from camera.config import CameraConfig
from camera.errors import EndOfStream
from camera.opening import open_source
from classifier import Classifier
from edge.config import Config
from edge.decider import Decider
from edge.episode import Episode
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats
from edge.pipeline import CameraLoop, Parts

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class VisitReport:
    """One visit of a replayed clip; times are seconds into the clip.

    ``time_to_fire_s`` runs from the visit's first classified frame to the end of the inference
    that fired (``None`` if it never fired); ``verdict`` is that of the visit's event in the
    log (``None`` when nothing was logged: background-only visits are counted, not logged).
    ``deterrents`` are those its firings switched on, ``vetoed`` those a firing kept off because
    a hen was in view or the camera is one where hens live (``decision.hens_live_in``).
    """

    clip: str
    start_s: float
    end_s: float
    classified: int
    predator_frames: int
    firings: int
    time_to_fire_s: float | None
    verdict: str | None
    rules: dict[str, int]
    deterrents: tuple[str, ...] = ()
    vetoed: tuple[str, ...] = ()

    @property
    def fired(self) -> bool:
        """Whether any deterrent fired during the visit."""
        return self.firings > 0

    @property
    def confirmed(self) -> bool:
        """Whether the decider confirmed a predator at any frame of the visit (it fired, or
        would have but for the cooldown, the veto, quiet hours or a resting bank)."""
        return any(rule not in ("no_predator", "unconfirmed") for rule in self.rules)


class _ClipClock:
    """The clip's time, read by the loop, the decider and the bank alike."""

    def __init__(self) -> None:
        self.ns = 0

    def now_ns(self) -> int:
        return self.ns

    def now_s(self) -> float:
        return self.ns / NS_PER_S


@dataclass(slots=True)
class _Open:
    """A visit under way: its episode, and what the replay saw of it."""

    episode: Episode
    start_s: float
    firings_before: int
    fired_at_s: float | None = None


def replay_visits(
    camera: CameraConfig,
    config: Config,
    classifier: Classifier,
    *,
    state_dir: Path,
    board_ms: float = 0.0,
    quiet_s: float = 2.0,
    resolve: Callable[[str], str] = str,
) -> list[VisitReport]:
    """Run ``camera``'s clip or frame folder (its ``address``, played once, as fast as it
    decodes) through the pipeline with ``config``'s decision and deterrents; one report per
    visit. The event log is written in ``state_dir``; ``resolve`` turns ``asset:NAME``
    addresses into paths (``AssetStore.resolve``)."""
    if board_ms < 0:
        raise ValueError(f"board_ms must be 0 or more, got {board_ms}")
    cfg = camera.model_copy(update={"realtime": False, "loop": False})
    clock = _ClipClock()
    bank = DeterrentBank(config.gpio, pin_factory=make_pin_factory("mock"),
                         hung_after_s=config.health.hung_after_s, clock=clock.now_ns)
    state_dir.mkdir(parents=True, exist_ok=True)
    event_log = EventLog(state_dir / "events.sqlite3")
    recorder = Recorder(event_log, None)
    try:
        recorder.start()
        parts = Parts(
            classifier,
            # Armed whatever the file says: the pins are mock ones, and the question is what
            # the decision would do.
            Decider(config.decision.model_copy(update={"armed": True}), config.gpio.deterrents,
                    clock=clock.now_s),
            bank,
            recorder,
            LatencyStats(),
            ApplianceMetrics.create(clock_ns=clock.now_ns),
            on_progress=bank.heartbeat,
        )
        stop = threading.Event()
        source = open_source(cfg, resolve)
        # The loop's own capture thread is never started: frames are handed over one by one.
        capture = Capture(cfg, lambda: source, stop)
        loop = CameraLoop(cfg, capture, parts, stop, quiet_s=quiet_s, clock_ns=clock.now_ns,
                          health=config.health)
        visits = _play(loop, source, clock, board_ms / 1000.0, cfg,
                       lambda: _end_bursts(bank, config, clock.ns))
        recorder.close()
        events = event_log.list()
    finally:
        recorder.close()
        event_log.close()
        bank.close()
    # An event starts when its visit does (the episode's first frame, in the clip's time); a
    # visit that fired twice (after a cooldown) has an event per firing.
    verdicts = {e.start_time: e.verdict for e in events}
    switched_on: dict[float, set[str]] = {}
    kept_off: dict[float, set[str]] = {}
    for e in events:
        switched_on.setdefault(e.start_time, set()).update(e.deterrents)
        kept_off.setdefault(e.start_time, set()).update(e.decision.get("vetoed", ()))
    return [dataclasses.replace(report, verdict=verdicts.get(start),
                                deterrents=tuple(sorted(switched_on.get(start, ()))),
                                vetoed=tuple(sorted(kept_off.get(start, ()))))
            for start, report in visits]


def _end_bursts(bank: DeterrentBank, config: Config, now_ns: int) -> None:
    """End every burst whose pattern is over by the clip's clock (the module docstring)."""
    for deterrent in config.gpio.deterrents:
        device = bank.device(deterrent.name)
        started = device.burst_started_ns
        if started is not None and now_ns - started >= deterrent.pattern.burst_s * NS_PER_S:
            device.force_off()


def _play(
    loop: CameraLoop, source: Any, clock: _ClipClock, board_s: float, cfg: CameraConfig,
    tick: Callable[[], None],
) -> list[tuple[float, VisitReport]]:
    source.open()
    fps = float(source.fps)
    loop.frames_at(fps)
    reports: list[tuple[float, VisitReport]] = []
    current: _Open | None = None
    busy_until = -1.0
    index = 0
    try:
        while True:
            try:
                read = source.read()
            except EndOfStream:
                break
            if read is None:
                continue
            t = index / fps
            index += 1
            if t < busy_until:
                continue  # the board was still busy with an earlier frame: stale, skipped
            clock.ns = round(t * NS_PER_S)
            tick()
            frame = dataclasses.replace(read, seq=index, capture_ns=clock.ns, wall_time=t)
            classified_before = loop.counters.motion_frames
            loop.parts.on_progress()
            loop.process(frame)
            if loop.counters.motion_frames > classified_before:
                busy_until = t + board_s
            current = _follow(loop, current, reports, t + board_s, cfg.name)
        loop.finish()
        current = _follow(loop, current, reports, index / fps, cfg.name)
    finally:
        source.close()
    return reports


def _follow(
    loop: CameraLoop, current: _Open | None, reports: list[tuple[float, VisitReport]],
    decided_s: float, clip: str,
) -> _Open | None:
    """Notice a visit that began, fired or ended at this frame."""
    episode = loop.episode
    if current is not None and episode is not current.episode:
        reports.append((current.start_s, _report(current, loop.counters.firings, clip)))
        current = None
    if episode is not None and current is None:
        current = _Open(episode, episode.start_time, loop.counters.firings)
    if current is not None and current.fired_at_s is None \
            and loop.counters.firings > current.firings_before:
        current.fired_at_s = decided_s
    return current


def _report(visit: _Open, firings_now: int, clip: str) -> VisitReport:
    episode = visit.episode
    return VisitReport(
        clip=clip,
        start_s=round(visit.start_s, 3),
        end_s=round(episode.last_motion, 3),
        classified=sum(episode.verdicts.values()),
        predator_frames=episode.verdicts.get("predator", 0),
        firings=firings_now - visit.firings_before,
        time_to_fire_s=(None if visit.fired_at_s is None
                        else round(visit.fired_at_s - visit.start_s, 3)),
        verdict=None,
        rules=dict(episode.rules),
    )
