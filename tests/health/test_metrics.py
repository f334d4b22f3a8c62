"""The appliance's metrics through prometheus_client: its registry, the scrape-time gauges and
the HTTP endpoint, scraped over real HTTP and read back with prometheus_client's own parser."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edge.health.appliance_metrics import ApplianceMetrics
from edge.health.metrics import (
    DEFAULT_BUCKETS,
    MetricsError,
    MetricsServer,
    ScrapeTimeGauges,
    cpu_temperature_c,
    new_registry,
    parse_address,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """name + sorted labels → value, for every sample the reference parser finds."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def render(am: ApplianceMetrics) -> str:
    return generate_latest(am.registry).decode()


@pytest.fixture()
def appliance_server() -> Iterator[tuple[MetricsServer, ApplianceMetrics]]:
    am = ApplianceMetrics.create(temperature=lambda: 47.0)
    srv = MetricsServer("127.0.0.1:0", am.registry)
    srv.start()
    yield srv, am
    srv.close()


def scrape(port: int) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def test_server_serves_the_appliance_metrics_with_process_figures(
    appliance_server: tuple[MetricsServer, ApplianceMetrics],
) -> None:
    srv, am = appliance_server
    assert srv.port != 0
    am.events.labels(verdict="predator").inc(7)
    content_type, body = scrape(srv.port)
    assert content_type.startswith("text/plain; version=0.0.4")
    got = samples(body)
    assert got[("tensorchicken_events_total", (("verdict", "predator"),))] == 7
    assert got[("process_resident_memory_bytes", ())] > 10_000_000
    assert any(name == "python_info" for name, _ in got)
    assert any(name.startswith("python_gc_") for name, _ in got)
    # The library's *_created series stay off: the exposition is what dashboards were built on.
    assert not any(name.endswith("_created") for name, _ in got)


def test_names_labels_and_buckets_are_the_ones_dashboards_use() -> None:
    am = ApplianceMetrics.create(temperature=lambda: None)
    am.motion_seconds.labels(camera="coop").observe(0.004)
    am.inference_seconds.labels(model="mobilenet_v2").observe(0.3)
    am.decision_latency_seconds.labels(camera="coop").observe(0.4)
    am.frames_skipped.labels(camera="coop", reason="stale").inc(3)
    got = samples(render(am))
    skipped = (("camera", "coop"), ("reason", "stale"))
    assert got[("tensorchicken_frames_skipped_total", skipped)] == 3
    for family, label in (("tensorchicken_motion_seconds", ("camera", "coop")),
                          ("tensorchicken_inference_seconds", ("model", "mobilenet_v2")),
                          ("tensorchicken_decision_latency_seconds", ("camera", "coop"))):
        bounds = [dict(labels)["le"] for name, labels in got
                  if name == family + "_bucket" and label in labels]
        assert bounds == [*(repr(b) for b in DEFAULT_BUCKETS), "+Inf"], family
    inference = (("le", "0.5"), ("model", "mobilenet_v2"))
    assert got[("tensorchicken_inference_seconds_bucket", inference)] == 1
    assert got[("tensorchicken_inference_seconds_sum", (("model", "mobilenet_v2"),))] == 0.3
    # No thermal zone (a VM, a laptop): the series is left out, not shown as 0.
    assert not any(name == "tensorchicken_cpu_temperature_celsius" for name, _ in got)


def test_scrape_time_gauges_read_when_asked_and_a_failure_leaves_the_series_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = new_registry()
    gauges = ScrapeTimeGauges()
    gauges.define("tc_backlog", "Backlog", ("reporter",))
    registry.register(gauges)
    queue = [1, 2, 3]
    gauges.watch("tc_backlog", lambda: len(queue), reporter="mqtt")
    gauges.watch("tc_backlog", lambda: 1 / 0, reporter="broken")
    gauges.watch("tc_backlog", lambda: None, reporter="absent")

    def backlog() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(registry).decode()
        return {k: v for k, v in samples(text).items() if k[0] == "tc_backlog"}

    assert backlog() == {("tc_backlog", (("reporter", "mqtt"),)): 3}
    queue.clear()
    assert backlog() == {("tc_backlog", (("reporter", "mqtt"),)): 0}
    assert gauges.read("tc_backlog", reporter="mqtt") == 0
    assert "reading the value failed" in caplog.text


def test_scrape_time_gauges_name_what_is_wrong() -> None:
    gauges = ScrapeTimeGauges()
    with pytest.raises(MetricsError, match="tc_absent is not defined"):
        gauges.watch("tc_absent", lambda: 1.0)
    gauges.define("tc_level", "Level", ("camera",))
    with pytest.raises(MetricsError, match=r"takes labels \['camera'\], got \['cam'\]"):
        gauges.watch("tc_level", lambda: 1.0, cam="coop")


def test_a_slow_scrape_time_gauge_does_not_hold_up_the_frame_loop() -> None:
    am = ApplianceMetrics.create(temperature=lambda: 47.0)
    entered, gate = threading.Event(), threading.Event()

    def pending() -> int:  # stands for EventLog.sink_status() behind an fsync
        entered.set()
        gate.wait()
        return 4

    am.watch_backlog("mqtt", pending)
    scraped: list[str] = []
    scraper = threading.Thread(target=lambda: scraped.append(render(am)))
    scraper.start()
    try:
        assert entered.wait(10)  # the scrape is inside the slow function now
        updated = threading.Event()

        def frame_loop() -> None:
            am.frame_done("run", 0)  # a new camera: registers its scrape-time gauges
            am.motion_seconds.labels(camera="run").observe(0.02)
            am.up.set(1)
            updated.set()

        threading.Thread(target=frame_loop, daemon=True).start()
        # Liveness, not speed: the loop's updates go through while the scrape waits.
        assert updated.wait(10), "the frame loop waited for the scrape's gauge function"
    finally:
        gate.set()
        scraper.join(10)
    backlog = ("tensorchicken_reporter_backlog_events", (("reporter", "mqtt"),))
    assert samples(scraped[0])[backlog] == 4
    assert samples(render(am))[("tensorchicken_frames_total", (("camera", "run"),))] == 1


def test_server_close_releases_the_port_and_is_idempotent() -> None:
    srv = MetricsServer("127.0.0.1:0", new_registry())
    srv.start()
    port = srv.port
    srv.close()
    srv.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_server_reports_a_busy_port_by_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            MetricsServer(f"127.0.0.1:{port}", new_registry()).start()


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("", 9464)),
     ("[::1]:80", ("::1", 80)), ("pi.local:0", ("pi.local", 0))],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["9464", "host:", "host:port", "::1:80", "h:70000"])
def test_parse_address_rejects(address: str) -> None:
    with pytest.raises(MetricsError, match="metrics address"):
        parse_address(address)


def test_cpu_temperature(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temperature_c(zone) == pytest.approx(48.312)
    assert cpu_temperature_c(tmp_path / "absent") is None
    zone.write_text("garbage")
    assert cpu_temperature_c(zone) is None


class FakeClockNs:
    def __init__(self) -> None:
        self.now = 1_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def test_appliance_metrics_frame_rate_age_and_standard_names() -> None:
    clock = FakeClockNs()
    am = ApplianceMetrics.create(clock_ns=clock, temperature=lambda: 47.0)
    for _ in range(21):  # 21 frames at 10 fps: 2 s
        am.frame_done("coop", clock.now - 30_000_000)  # captured 30 ms before processing
        clock.advance(0.1)
    am.inference_seconds.labels(model="mobilenet_v2").observe(0.02)
    am.events.labels(verdict="predator").inc()
    am.deterrent_firings.labels(deterrent="siren").inc()
    backlog = [5]
    am.watch_backlog("mqtt", lambda: backlog[0])

    got = samples(render(am))
    assert got[("tensorchicken_frames_total", (("camera", "coop"),))] == 21
    assert got[("tensorchicken_frames_per_second", (("camera", "coop"),))] == pytest.approx(10.0)
    age = got[("tensorchicken_last_frame_age_seconds", (("camera", "coop"),))]
    assert age == pytest.approx(0.13)
    assert got[("tensorchicken_cpu_temperature_celsius", ())] == 47.0
    assert got[("tensorchicken_reporter_backlog_events", (("reporter", "mqtt"),))] == 5
    assert got[("tensorchicken_events_total", (("verdict", "predator"),))] == 1
    assert got[("tensorchicken_deterrent_firings_total", (("deterrent", "siren"),))] == 1

    clock.advance(10)  # the loop stalls: the rate drops to 0 and the age grows
    got = samples(render(am))
    assert got[("tensorchicken_frames_per_second", (("camera", "coop"),))] == 0
    assert got[("tensorchicken_last_frame_age_seconds", (("camera", "coop"),))] > 10
