"""The metrics registry, scraped over real HTTP and parsed by prometheus_client's own parser.

``prometheus-client`` (PyPI) is used here only, as the reference parser of the text format
0.0.4; the appliance itself does not depend on it.
"""

from __future__ import annotations

import math
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from edge.health.appliance_metrics import ApplianceMetrics
from edge.health.metrics import (
    CONTENT_TYPE,
    Metrics,
    MetricsError,
    MetricsServer,
    cpu_temperature_c,
    format_value,
    parse_address,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """name + sorted labels → value, for every sample the reference parser finds."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert isinstance(s, Sample)
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


@pytest.fixture()
def server() -> Iterator[tuple[MetricsServer, Metrics]]:
    metrics = Metrics()
    srv = MetricsServer("127.0.0.1:0", metrics)
    srv.start()
    yield srv, metrics
    srv.close()


def scrape(port: int, path: str = "/metrics") -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def test_counters_gauges_histograms_parse_as_prometheus_text() -> None:
    m = Metrics()
    frames = m.counter("tc_frames_total", "Frames", ("camera",))
    frames.inc(camera="coop")
    frames.inc(2, camera="coop")
    frames.inc(camera="run")
    temp = m.gauge("tc_temp_celsius", "Temperature")
    temp.set(51.5)
    hist = m.histogram("tc_infer_seconds", "Inference", ("model",), buckets=(0.01, 0.1, 1.0))
    for v in (0.005, 0.05, 0.05, 2.0):
        hist.observe(v, model="v2")

    text = m.render()
    got = samples(text)
    assert families(text) == {
        "tc_frames": "counter", "tc_temp_celsius": "gauge", "tc_infer_seconds": "histogram"
    }
    assert got[("tc_frames_total", (("camera", "coop"),))] == 3
    assert got[("tc_frames_total", (("camera", "run"),))] == 1
    assert got[("tc_temp_celsius", ())] == 51.5
    buckets = {le: got[("tc_infer_seconds_bucket", (("le", le), ("model", "v2")))]
               for le in ("0.01", "0.1", "1.0", "+Inf")}
    assert buckets == {"0.01": 1, "0.1": 3, "1.0": 3, "+Inf": 4}
    assert got[("tc_infer_seconds_count", (("model", "v2"),))] == 4
    assert got[("tc_infer_seconds_sum", (("model", "v2"),))] == pytest.approx(2.105)
    assert hist.count(model="v2") == 4


def test_label_values_and_help_are_escaped() -> None:
    m = Metrics()
    awkward = 'say "hi"\\ \nnext'
    m.counter("tc_odd_total", "Help with \\ and\nnewline", ("what",)).inc(what=awkward)
    text = m.render()
    family = next(iter(text_string_to_metric_families(text)))
    assert family.documentation == "Help with \\ and\nnewline"
    assert family.samples[0].labels == {"what": awkward}


def test_unlabelled_counter_shows_zero_before_first_increment() -> None:
    m = Metrics()
    m.counter("tc_restarts_total", "Restarts")
    assert samples(m.render()) == {("tc_restarts_total", ()): 0}


def test_gauge_function_is_read_at_scrape_and_failures_leave_the_series_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = Metrics()
    g = m.gauge("tc_backlog", "Backlog", ("reporter",))
    queue = [1, 2, 3]
    g.set_function(lambda: len(queue), reporter="mqtt")
    g.set_function(lambda: 1 / 0, reporter="broken")
    g.set_function(lambda: None, reporter="absent")
    assert samples(m.render()) == {("tc_backlog", (("reporter", "mqtt"),)): 3}
    queue.clear()
    assert samples(m.render()) == {("tc_backlog", (("reporter", "mqtt"),)): 0}
    assert "reading the value failed" in caplog.text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.counter("bad-name", "x"), "not a valid Prometheus name"),
        (lambda m: m.counter("tc_x_total", "x", ("__reserved",)), "not allowed"),
        (lambda m: m.counter("tc_x_total", "x", ("le",)), "not allowed"),
        (lambda m: m.counter("tc_x_total", "x", ("a", "a")), "repeat"),
        (lambda m: m.counter("tc_c_total", "x", ("camera",)).inc(cam="coop"), "takes labels"),
        (lambda m: m.counter("tc_c_total", "x").inc(-1), "cannot go down"),
        (lambda m: m.histogram("tc_h", "x", buckets=(1.0, 0.5)), "increasing"),
        (lambda m: (m.counter("tc_d", "x"), m.gauge("tc_d", "x")), "already a counter"),
    ],
)
def test_misuse_is_a_clear_error(call: Callable[[Metrics], object], message: str) -> None:
    with pytest.raises(MetricsError, match=message) as err:
        call(Metrics())
    assert isinstance(err.value, ValueError)


def test_registering_the_same_metric_twice_shares_it() -> None:
    m = Metrics()
    a = m.counter("tc_shared_total", "x", ("k",))
    b = m.counter("tc_shared_total", "x", ("k",))
    assert a is b


def test_counter_is_thread_safe() -> None:
    m = Metrics()
    c = m.counter("tc_n_total", "n", ("t",))

    def work() -> None:
        for _ in range(5000):
            c.inc(t="x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.value(t="x") == 20000


def test_server_serves_metrics_over_http(server: tuple[MetricsServer, Metrics]) -> None:
    srv, metrics = server
    assert srv.port != 0
    metrics.counter("tc_scrapes_total", "x").inc(7)
    content_type, body = scrape(srv.port)
    assert content_type == CONTENT_TYPE
    assert samples(body) == {("tc_scrapes_total", ()): 7}
    with pytest.raises(urllib.error.HTTPError) as err:
        scrape(srv.port, "/")
    assert err.value.code == 404


def test_server_close_releases_the_port_and_is_idempotent() -> None:
    srv = MetricsServer("127.0.0.1:0", Metrics())
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
            MetricsServer(f"127.0.0.1:{port}", Metrics()).start()


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


def test_format_value() -> None:
    assert [format_value(v) for v in (3.0, 0.25, math.inf, -math.inf, math.nan)] == [
        "3", "0.25", "+Inf", "-Inf", "NaN"
    ]


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
    am.inference_seconds.observe(0.02, model="mobilenet_v2")
    am.events.inc(verdict="predator")
    am.deterrent_firings.inc(deterrent="siren")
    backlog = [5]
    am.watch_backlog("mqtt", lambda: backlog[0])

    got = samples(am.registry.render())
    assert got[("tensorchicken_frames_total", (("camera", "coop"),))] == 21
    assert got[("tensorchicken_frames_per_second", (("camera", "coop"),))] == pytest.approx(10.0)
    age = got[("tensorchicken_last_frame_age_seconds", (("camera", "coop"),))]
    assert age == pytest.approx(0.13)
    assert got[("tensorchicken_cpu_temperature_celsius", ())] == 47.0
    assert got[("tensorchicken_reporter_backlog_events", (("reporter", "mqtt"),))] == 5
    assert got[("tensorchicken_events_total", (("verdict", "predator"),))] == 1
    assert got[("tensorchicken_deterrent_firings_total", (("deterrent", "siren"),))] == 1

    clock.advance(10)  # the loop stalls: the rate drops to 0 and the age grows
    got = samples(am.registry.render())
    assert got[("tensorchicken_frames_per_second", (("camera", "coop"),))] == 0
    assert got[("tensorchicken_last_frame_age_seconds", (("camera", "coop"),))] > 10


def test_a_slow_gauge_function_does_not_hold_up_updates_from_other_threads() -> None:
    m = Metrics()
    frames = m.counter("tc_frames_total", "Frames", ("camera",))
    latency = m.histogram("tc_latency_seconds", "Latency")
    level = m.gauge("tc_level", "Level")
    entered, gate = threading.Event(), threading.Event()

    def backlog() -> float:  # stands for EventLog.sink_status() behind an fsync
        entered.set()
        gate.wait()
        return 4

    m.gauge("tc_backlog", "Backlog").set_function(backlog)
    scraped: list[str] = []
    scrape = threading.Thread(target=lambda: scraped.append(m.render()))
    scrape.start()
    try:
        assert entered.wait(10)  # the scrape is inside the slow function now
        updated = threading.Event()

        def frame_done() -> None:
            frames.inc(camera="coop")
            latency.observe(0.02)
            level.set(2)
            m.counter("tc_new_total", "Registered during a scrape")
            updated.set()

        threading.Thread(target=frame_done, daemon=True).start()
        # Liveness, not speed: before the fix this never happened while the gate was shut.
        assert updated.wait(10), "updates waited for the scrape's gauge function"
    finally:
        gate.set()
        scrape.join(10)
    got = samples(scraped[0])
    assert got[("tc_backlog", ())] == 4
    assert samples(m.render())[("tc_frames_total", (("camera", "coop"),))] == 1
