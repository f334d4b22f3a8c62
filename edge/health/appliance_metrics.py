"""The standard set of figures the appliance exports, defined once.

The loop holds one :class:`ApplianceMetrics` and only increments; names, help texts, labels and
buckets live here, so a dashboard built against them keeps working. Figures that are cheaper to
read when asked (temperature, frame age, frame rate, reporter backlog) are computed at scrape time.

Example::

    am = ApplianceMetrics.create()
    am.frame_done("coop", frame.capture_ns)          # per processed frame
    am.frames_skipped.inc(camera="coop", reason="stale")
    am.motion_seconds.observe(0.004, camera="coop")
    am.inference_seconds.observe(0.021, model="mobilenet_v2")
    am.events.inc(verdict="predator")
    am.deterrent_firings.inc(deterrent="siren")
    am.watch_backlog("mqtt", outbox.pending)         # a callable, read at scrape time
    MetricsServer(config.health.metrics_address, am.registry).start()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.health.metrics import Counter, Gauge, Histogram, Metrics, cpu_temperature_c

PREFIX = "tensorchicken_"
NS = 1_000_000_000
# The frame rate is the number of frames in the last few seconds: long enough to be steady at
# 1 fps on a Pi Zero, short enough to show a stall within one scrape.
FPS_WINDOW_S = 5.0


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
    """Every figure the appliance exports; ``registry`` is what the metrics server renders."""

    registry: Metrics
    frames: Counter
    frames_skipped: Counter
    fps: Gauge
    last_frame_age_seconds: Gauge
    motion_seconds: Histogram
    inference_seconds: Histogram
    decision_latency_seconds: Histogram
    events: Counter
    deterrent_firings: Counter
    reporter_backlog: Gauge
    cpu_temperature_celsius: Gauge
    up: Gauge
    _rates: _FrameRates

    @classmethod
    def create(
        cls,
        registry: Metrics | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        temperature: Callable[[], float | None] = cpu_temperature_c,
    ) -> ApplianceMetrics:
        """Register the set in ``registry`` (a new one by default).

        ``clock_ns`` must be the clock of ``Frame.capture_ns`` (``time.monotonic_ns``).
        """
        r = registry or Metrics()
        cam = ("camera",)
        am = cls(
            registry=r,
            frames=r.counter(PREFIX + "frames_total", "Frames processed by the loop", cam),
            frames_skipped=r.counter(
                PREFIX + "frames_skipped_total",
                "Frames dropped before processing (stale, ring full, unreadable)",
                ("camera", "reason"),
            ),
            fps=r.gauge(PREFIX + "frames_per_second", "Frames processed per second, last 5 s", cam),
            last_frame_age_seconds=r.gauge(
                PREFIX + "last_frame_age_seconds",
                "Seconds since the newest processed frame was captured",
                cam,
            ),
            motion_seconds=r.histogram(
                PREFIX + "motion_seconds", "Time of the motion step per frame", cam
            ),
            inference_seconds=r.histogram(
                PREFIX + "inference_seconds", "Time of one model inference", ("model",)
            ),
            decision_latency_seconds=r.histogram(
                PREFIX + "decision_latency_seconds",
                "Capture to deterrent decision, per classified frame",
                cam,
            ),
            events=r.counter(PREFIX + "events_total", "Events logged", ("verdict",)),
            deterrent_firings=r.counter(
                PREFIX + "deterrent_firings_total", "Deterrent activations", ("deterrent",)
            ),
            reporter_backlog=r.gauge(
                PREFIX + "reporter_backlog_events",
                "Events logged but not yet delivered by a reporter",
                ("reporter",),
            ),
            cpu_temperature_celsius=r.gauge(
                PREFIX + "cpu_temperature_celsius", "SoC temperature (thermal zone 0)"
            ),
            up=r.gauge(PREFIX + "up", "1 while the loop is running, 0 once it stops"),
            _rates=_FrameRates(clock_ns),
        )
        am.cpu_temperature_celsius.set_function(temperature)
        return am

    def frame_done(self, camera: str, capture_ns: int) -> None:
        """One frame went through the loop: count it, and feed the frame rate and age."""
        self.frames.inc(camera=camera)
        if self._rates.add(camera, capture_ns):
            self.fps.set_function(lambda: self._rates.fps(camera), camera=camera)
            self.last_frame_age_seconds.set_function(
                lambda: self._rates.age_s(camera), camera=camera
            )

    def watch_backlog(self, reporter: str, pending: Callable[[], int | None]) -> None:
        """Read a reporter's undelivered-event count from ``pending`` at each scrape."""
        self.reporter_backlog.set_function(
            lambda: None if (n := pending()) is None else float(n), reporter=reporter
        )
