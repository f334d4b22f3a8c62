"""Health: cameras (frame rate, last frame age, reopens), reporters (backlog, last error),
disk, temperature, and charts of per-stage latency and of events per day by verdict, drawn from
the event log (what the appliance already records)."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from edge.health.metrics import cpu_temperature_c
from edge.latency import STAGES, percentile
from edge.train.labels import VERDICTS
from edge.web.auth import Guard
from edge.web.charts import horizontal_bars, stacked_columns
from edge.web.context import WebContext
from edge.web.http import Response, Router, html
from edge.web.ui import ago, page, table, when

LATENCY_EVENTS = 200  # the newest events whose stage times are charted
DAYS = 14


@dataclass(slots=True)
class FrameRates:
    """Frames per second of each camera between two page loads (or since the start)."""

    _last: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rate(self, camera: str, frames: int, started: float) -> float:
        """The rate since the previous call for ``camera`` (the first: since ``started``)."""
        now = time.monotonic()
        with self._lock:
            then, before = self._last.get(camera, (started, 0))
            if now - then >= 1.0:
                self._last[camera] = (now, frames)
        return (frames - before) / (now - then) if now > then else 0.0


def register(router: Router, ctx: WebContext, guard: Guard) -> None:
    """Add the route."""
    rates = FrameRates()
    router.add("GET", r"/health", lambda req: health_page(ctx, guard, rates))


def health_page(ctx: WebContext, guard: Guard, rates: FrameRates) -> Response:
    """The health page."""
    log = ctx.events()
    cams = []
    for name, capture in ctx.cameras.items():
        s = capture.stats
        state = "ended" if s.ended else ("connected" if s.connected else "awaited")
        cams.append((name, state, f"{rates.rate(name, s.frames, ctx.started):.1f}",
                     f"{s.last_frame_age_s:.1f} s", s.reopens, s.bad_frames, s.skipped))
    sinks = [(s.name, s.backlog, when(s.delivered_at), s.last_error or "-",
              when(s.failing_since) if s.failing_since else "-", s.stopped_reason or "-")
             for s in log.sink_status()]
    disk = shutil.disk_usage(ctx.state_dir)
    temp = cpu_temperature_c()
    body = "".join([
        "<h2>Cameras</h2>",
        table(("camera", "state", "fps", "last frame", "reopens", "bad frames", "skipped"), cams),
        "<h2>Reporters</h2>",
        table(("reporter", "backlog", "delivered", "last error", "failing since", "stopped"),
              sinks) if sinks else '<p class="muted">No reporter is on.</p>',
        "<h2>Pi</h2>",
        table(("what", "now"), (
            ("disk free (state)", f"{disk.free / 2**30:.1f} GB of {disk.total / 2**30:.1f} GB "
                                  f"({disk.free / disk.total:.0%})"),
            ("temperature", f"{temp:.1f} °C" if temp is not None else "not measured here"),
            ("running for", ago(time.monotonic() - ctx.started)),
        )),
        f"<h2>Latency per stage (newest {LATENCY_EVENTS} events)</h2>", _latency_chart(ctx),
        f"<h2>Events per day, last {DAYS} days</h2>", _days_chart(ctx),
    ])
    return html(page("health", "Health", body, guard.csrf_token))


def _latency_chart(ctx: WebContext) -> str:
    events = ctx.events().find(limit=LATENCY_EVENTS)
    samples: dict[str, list[float]] = {}
    for event in events:
        for stage, ms in event.latency_ms.items():
            samples.setdefault(stage, []).append(float(ms))
    if not samples:
        return '<p class="muted">No event with stage times yet (they come with firings).</p>'
    stages = [s for s in STAGES if s in samples] + sorted(set(samples) - set(STAGES))
    rows = [(s, [("p50", percentile(samples[s], 50)), ("p90", percentile(samples[s], 90))])
            for s in stages]
    return horizontal_bars(rows, "ms", "latency per stage, ms")


def _days_chart(ctx: WebContext) -> str:
    first = date.today() - timedelta(days=DAYS - 1)
    since = time.mktime(first.timetuple())
    counts: dict[str, dict[str, int]] = {}
    for day, verdict, n in ctx.events().per_day(since):
        counts.setdefault(day, {})[verdict] = n
    if not counts:
        return '<p class="muted">No events in these days.</p>'
    days = [(first + timedelta(days=i)).isoformat() for i in range(DAYS)]
    columns = [(d, [(v, float(counts.get(d, {}).get(v, 0))) for v in VERDICTS]) for d in days]
    return stacked_columns(columns, "events per day by verdict")
