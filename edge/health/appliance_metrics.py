"""The standard set of figures the appliance exports, defined once.

The loop holds one :class:`ApplianceMetrics` and only increments; names, help texts, labels and
buckets live here, so a dashboard built against them keeps working. Figures that are cheaper to
read when asked (temperature, frame age, frame rate, reporter backlog) are read at scrape time.

Example::

    am = ApplianceMetrics.create()
    am.frame_done("coop", frame.capture_ns)          # per processed frame
    am.frames_skipped.labels(camera="coop", reason="stale").inc()
    am.motion_seconds.labels(camera="coop").observe(0.004)
    am.inference_seconds.labels(model="mobilenet_v2").observe(0.021)
    am.events.labels(verdict="predator").inc()
    am.deterrent_firings.labels(deterrent="siren").inc()
    am.deterrent_outcomes.labels(deterrent="siren", predator="red fox", result="left").inc()
    am.watch_backlog("mqtt", outbox.pending)         # a callable, read at scrape time
    MetricsServer(config.health.metrics_address, am.registry).start()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import CollectorRegistry

from edge.health.metrics import DEFAULT_BUCKETS, ScrapeTimeGauges, cpu_temperature_c, new_registry

PREFIX = "tensorchicken_"
NS = 1_000_000_000
# The frame rate is the number of frames in the last few seconds: long enough to be steady at
# 1 fps on a Pi Zero, short enough to show a stall within one scrape.
FPS_WINDOW_S = 5.0
FPS = PREFIX + "frames_per_second"
FRAME_AGE = PREFIX + "last_frame_age_seconds"
BACKLOG = PREFIX + "reporter_backlog_events"
TEMPERATURE = PREFIX + "cpu_temperature_celsius"
EVENT_LOG_OK = PREFIX + "event_log_ok"
EVENTS_HELD = PREFIX + "events_held"


@dataclass
class _FrameClock:
    """Capture times of one camera's recent frames, for its frame rate and last-frame age."""

    times_ns: deque[int] = field(default_factory=lambda: deque(maxlen=1024))
    last_capture_ns: int | None = None


class _FrameRates:
    """Frames per second and age of the newest frame per camera, at scrape time."""

    def __init__(self, clock_ns: Callable[[], int]) -> None:
        self._clock_ns = clock_ns
        self._cameras: dict[str, _FrameClock] = {}
        self._lock = threading.Lock()

    def add(self, camera: str, capture_ns: int) -> bool:
        """Record a frame; True the first time this camera is seen."""
        now = self._clock_ns()
        with self._lock:
            new = camera not in self._cameras
            entry = self._cameras.setdefault(camera, _FrameClock())
            entry.times_ns.append(now)
            entry.last_capture_ns = capture_ns
        return new

    def fps(self, camera: str) -> float:
        """Frames processed per second over the last :data:`FPS_WINDOW_S` seconds."""
        since = self._clock_ns() - int(FPS_WINDOW_S * NS)
        with self._lock:
            recent = [t for t in self._cameras[camera].times_ns if t >= since]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) * NS / max(recent[-1] - recent[0], 1)

    def age_s(self, camera: str) -> float | None:
        """Seconds since the newest processed frame was captured."""
        with self._lock:
            last = self._cameras[camera].last_capture_ns
        return None if last is None else (self._clock_ns() - last) / NS


@dataclass
class ApplianceMetrics:
    """Every figure the appliance exports; ``registry`` is what the metrics server serves."""

    registry: CollectorRegistry
    frames: Counter
    frames_skipped: Counter
    motion_seconds: Histogram
    inference_seconds: Histogram
    decision_latency_seconds: Histogram
    events: Counter
    deterrent_firings: Counter
    # What each firing did, by deterrent and by what it fired at (edge/outcome.py).
    deterrent_outcomes: Counter
    # Crops a camera's re-fitted head answered, by who decided: the re-fit, within the scene it
    # learnt, or the head it was re-fitted from (classifier/scene_gate.py).
    scene_head_crops: Counter
    up: Gauge
    # Frames per second, last-frame age, reporter backlog and CPU temperature.
    scrape_time: ScrapeTimeGauges
    _rates: _FrameRates

    @classmethod
    def create(
        cls,
        registry: CollectorRegistry | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        temperature: Callable[[], float | None] = cpu_temperature_c,
    ) -> ApplianceMetrics:
        """Register the set in ``registry`` (a new one of :func:`new_registry` by default).

        ``clock_ns`` must be the clock of ``Frame.capture_ns`` (``time.monotonic_ns``).
        """
        r = registry or new_registry()
        cam = ("camera",)
        scrape_time = ScrapeTimeGauges()
        scrape_time.define(FPS, "Frames processed per second, last 5 s", cam)
        scrape_time.define(
            FRAME_AGE, "Seconds since the newest processed frame was captured", cam
        )
        scrape_time.define(
            BACKLOG, "Events logged but not yet delivered by a reporter", ("reporter",)
        )
        scrape_time.define(TEMPERATURE, "SoC temperature (thermal zone 0)")
        scrape_time.watch(TEMPERATURE, temperature)
        scrape_time.define(EVENT_LOG_OK, "1 while events are written to the event log; 0 while "
                           "it cannot be (a full disk): events then wait in memory")
        scrape_time.define(EVENTS_HELD, "Events waiting in memory to be written to the event log")
        r.register(scrape_time)
        return cls(
            registry=r,
            frames=Counter(PREFIX + "frames_total", "Frames processed by the loop", cam,
                           registry=r),
            frames_skipped=Counter(
                PREFIX + "frames_skipped_total",
                "Frames dropped before processing (stale, ring full, unreadable)",
                ("camera", "reason"),
                registry=r,
            ),
            motion_seconds=Histogram(
                PREFIX + "motion_seconds", "Time of the motion step per frame", cam,
                buckets=DEFAULT_BUCKETS, registry=r,
            ),
            inference_seconds=Histogram(
                PREFIX + "inference_seconds", "Time of one model inference", ("model",),
                buckets=DEFAULT_BUCKETS, registry=r,
            ),
            decision_latency_seconds=Histogram(
                PREFIX + "decision_latency_seconds",
                "Capture to deterrent decision, per classified frame",
                cam,
                buckets=DEFAULT_BUCKETS,
                registry=r,
            ),
            events=Counter(PREFIX + "events_total", "Events logged", ("verdict",), registry=r),
            deterrent_firings=Counter(
                PREFIX + "deterrent_firings_total", "Deterrent activations", ("deterrent",),
                registry=r,
            ),
            deterrent_outcomes=Counter(
                PREFIX + "deterrent_outcomes_total",
                "Firings by what the animal did next: left, stayed or returned",
                ("deterrent", "predator", "result"), registry=r,
            ),
            scene_head_crops=Counter(
                PREFIX + "scene_head_crops_total",
                "Crops a camera's re-fitted head answered, by who decided: the re-fit (within "
                "the scene it learnt) or the head it was re-fitted from (elsewhere)",
                ("camera", "by"), registry=r,
            ),
            up=Gauge(PREFIX + "up", "1 while the loop is running, 0 once it stops", registry=r),
            scrape_time=scrape_time,
            _rates=_FrameRates(clock_ns),
        )

    def frame_done(self, camera: str, capture_ns: int) -> None:
        """One frame went through the loop: count it, and feed the frame rate and age."""
        self.frames.labels(camera=camera).inc()
        if self._rates.add(camera, capture_ns):
            self.scrape_time.watch(FPS, lambda: self._rates.fps(camera), camera=camera)
            self.scrape_time.watch(FRAME_AGE, lambda: self._rates.age_s(camera), camera=camera)

    def watch_recorder(self, problem: Callable[[], str | None],
                       held: Callable[[], int]) -> None:
        """Read whether events are being kept, and how many wait in memory, at each scrape."""
        self.scrape_time.watch(EVENT_LOG_OK, lambda: 0.0 if problem() else 1.0)
        self.scrape_time.watch(EVENTS_HELD, lambda: float(held()))

    def watch_backlog(self, reporter: str, pending: Callable[[], int | None]) -> None:
        """Read a reporter's undelivered-event count from ``pending`` at each scrape."""
        self.scrape_time.watch(
            BACKLOG, lambda: None if (n := pending()) is None else float(n), reporter=reporter
        )
