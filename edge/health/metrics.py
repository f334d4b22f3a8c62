"""Counters, gauges and histograms, rendered in the Prometheus text format 0.0.4.

A small registry instead of ``prometheus_client``: the appliance needs a dozen figures, one lock
and no extra dependency on the Pi. Updating a metric is a dictionary update under a lock, cheap
enough for the frame loop; the text is built only when someone scrapes ``GET /metrics``. A
scrape holds the lock only to copy values: gauge functions (which may read SQLite or sysfs) are
called after it is released, so a slow one never holds up the frame loop's ``inc``/``observe``.

Example::

    metrics = Metrics()
    frames = metrics.counter("tensorchicken_frames_total", "Frames processed", ("camera",))
    frames.inc(camera="coop")
    server = MetricsServer("127.0.0.1:9464", metrics)
    server.start()          # curl http://127.0.0.1:9464/metrics
"""

from __future__ import annotations

import http.server
import logging
import math
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from edge.health import HealthError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")

# Seconds, from a fast motion pass on a Pi 5 to a large model on a Pi Zero 2 W.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

LabelValues = tuple[str, ...]


class MetricsError(HealthError, ValueError):
    """A metric used wrongly: a bad name, labels that do not match, a negative increment."""


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``NaN``, integers without ``.0``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: tuple[str, ...], values: LabelValues, extra: str = "") -> str:
    pairs = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class _Metric:
    """What every metric shares: a name, help text, label names and the registry's lock."""

    kind = ""

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...], lock: threading.RLock
    ) -> None:
        if not _NAME.match(name):
            raise MetricsError(f"metric name {name!r} is not a valid Prometheus name")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise MetricsError(f"metric {name}: label name {label!r} is not allowed")
        if len(set(labels)) != len(labels):
            raise MetricsError(f"metric {name}: label names repeat: {labels}")
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._lock = lock
        self._init_storage()

    def _init_storage(self) -> None:
        """Set up the per-series values (each kind keeps its own)."""

    def _key(self, labels: dict[str, object]) -> LabelValues:
        if set(labels) != set(self.labels):
            raise MetricsError(
                f"metric {self.name} takes labels {list(self.labels)}, got {sorted(labels)}"
            )
        return tuple(str(labels[n]) for n in self.labels)

    def header(self) -> list[str]:
        """The ``# HELP`` and ``# TYPE`` lines."""
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        """The sample lines; copies the values under the registry's lock, formats outside it."""
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (restarts reset it; Prometheus' ``rate()`` copes)."""

    kind = "counter"

    def _init_storage(self) -> None:
        self._values: dict[LabelValues, float] = {} if self.labels else {(): 0.0}

    def inc(self, amount: float = 1, **labels: object) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``."""
        if amount < 0:
            raise MetricsError(f"counter {self.name} cannot go down (inc by {amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: object) -> float:
        """The current value of one series (0 if never incremented)."""
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            values = sorted(self._values.items())
        return [f"{self.name}{_label_text(self.labels, k)} {format_value(v)}" for k, v in values]


class Gauge(_Metric):
    """A value that goes up and down, set directly or read from a function at scrape time."""

    kind = "gauge"

    def _init_storage(self) -> None:
        self._values: dict[LabelValues, float] = {}
        self._functions: dict[LabelValues, Callable[[], float | None]] = {}

    def set(self, value: float, **labels: object) -> None:
        """Set the series named by ``labels``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1, **labels: object) -> None:
        """Add ``amount`` (negative to subtract)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set_function(self, function: Callable[[], float | None], **labels: object) -> None:
        """Read the series from ``function`` at each scrape; None leaves the series out.

        For figures that are cheaper to read when asked than to push per frame: a temperature,
        the age of the last frame, a queue length.
        """
        key = self._key(labels)
        with self._lock:
            self._functions[key] = function

    def value(self, **labels: object) -> float | None:
        """The current value of one series, or None if it has none."""
        key = self._key(labels)
        with self._lock:
            source = self._functions.get(key, self._values.get(key))
        return self._read(key, source)

    def _read(
        self, key: LabelValues, source: float | Callable[[], float | None] | None
    ) -> float | None:
        """A copied value, or what a function returns; called without the lock, because a
        function may block (SQLite behind an fsync, a sysfs read)."""
        if not callable(source):
            return source
        try:
            return source()
        except Exception:
            # A scrape must not fail because one figure could not be read.
            log.exception("gauge %s%s: reading the value failed", self.name, key)
            return None

    def samples(self) -> list[str]:
        with self._lock:
            sources: dict[LabelValues, float | Callable[[], float | None]] = {
                **self._values, **self._functions
            }
        lines = []
        for key, source in sorted(sources.items()):
            value = self._read(key, source)
            if value is not None:
                lines.append(f"{self.name}{_label_text(self.labels, key)} {format_value(value)}")
        return lines


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count (durations)."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...],
        lock: threading.RLock,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        if not buckets or list(buckets) != sorted(set(buckets)) or math.isinf(buckets[-1]):
            raise MetricsError(f"histogram {name}: buckets must be finite and increasing")
        self.buckets = tuple(float(b) for b in buckets)
        super().__init__(name, help, labels, lock)

    def _init_storage(self) -> None:
        # Per series: counts per bucket (not cumulative; +Inf last), then the sum.
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: object) -> None:
        """Record one observation (e.g. an inference time in seconds)."""
        key = self._key(labels)
        index = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[index] += 1
            total[0] += value

    def count(self, **labels: object) -> int:
        """How many observations one series holds."""
        key = self._key(labels)
        with self._lock:
            series = self._series.get(key)
            return sum(series[0]) if series else 0

    def samples(self) -> list[str]:
        with self._lock:
            series = [(k, (list(c), t[0])) for k, (c, t) in sorted(self._series.items())]
        lines = []
        for key, (counts, total) in series:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = 'le="' + format_le(bound) + '"'
                lines.append(f"{self.name}_bucket{_label_text(self.labels, key, le)} {running}")
            labels = _label_text(self.labels, key)
            lines.append(f"{self.name}_sum{labels} {format_value(total)}")
            lines.append(f"{self.name}_count{labels} {running}")
        return lines


def format_le(bound: float) -> str:
    """A bucket bound as Prometheus clients write it (``0.5``, ``1.0``, ``+Inf``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


M = TypeVar("M", bound=_Metric)


class Metrics:
    """A thread-safe registry of metrics; :meth:`render` gives the exposition text.

    Registering a name twice returns the first metric when the kind and labels match (so two
    parts of the appliance can share one), and raises :class:`MetricsError` otherwise.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Counter:
        """A counter; by convention its name ends in ``_total``."""
        return self._register(Counter, name, help, labels)

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Gauge:
        """A gauge."""
        return self._register(Gauge, name, help, labels)

    def histogram(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> Histogram:
        """A histogram with the given upper bounds (``+Inf`` is added)."""
        with self._lock:
            existing = self._metrics.get(name)
            if existing is None:
                metric = Histogram(name, help, labels, self._lock, buckets)
                self._metrics[name] = metric
                return metric
            return self._same(existing, Histogram, labels)

    def _register(
        self, cls: type[M], name: str, help: str, labels: tuple[str, ...]
    ) -> M:
        with self._lock:
            existing = self._metrics.get(name)
            if existing is None:
                metric = cls(name, help, labels, self._lock)
                self._metrics[name] = metric
                return metric
            return self._same(existing, cls, labels)

    @staticmethod
    def _same(existing: _Metric, cls: type[M], labels: tuple[str, ...]) -> M:
        if not isinstance(existing, cls) or existing.labels != tuple(labels):
            raise MetricsError(
                f"metric {existing.name} is already a {existing.kind} with labels "
                f"{list(existing.labels)}; cannot register it as a {cls.kind} with {list(labels)}"
            )
        return existing

    def __iter__(self) -> Iterator[_Metric]:
        with self._lock:
            return iter(list(self._metrics.values()))

    def render(self) -> str:
        """Every metric in the Prometheus text format 0.0.4, ending with a newline."""
        lines: list[str] = []
        for metric in self:  # a copy of the list: registering during a scrape is fine
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


def parse_address(address: str, what: str = "metrics address") -> tuple[str, int]:
    """``host:port`` (``[::1]:9464``, ``:9464`` for every interface) as (host, port); the
    :class:`MetricsError` (a ValueError) names ``what`` the address is for."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise MetricsError(f"{what} {address!r}: expected host:port, e.g. 127.0.0.1:9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise MetricsError(f"{what} {address!r}: put an IPv6 host in brackets: [::1]:9464")
    return host, int(port)


ServerT = TypeVar("ServerT", bound=http.server.HTTPServer)


def bind_server(server_class: type[ServerT], handler: type[http.server.BaseHTTPRequestHandler],
                address: str, what: str) -> ServerT:
    """A ``server_class`` bound to ``address`` (``host:port``; IPv6 when the host is one);
    OSError naming ``what`` and the address when it cannot listen."""
    host, port = parse_address(address, f"{what} address")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = type("_BoundServer", (server_class,), {"address_family": family})
    try:
        return bound((host or "0.0.0.0", port), handler)
    except OSError as exc:
        raise OSError(exc.errno, f"{what} cannot listen on {address}: {exc.strerror}") from None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"not found; metrics are at /metrics\n")
            return
        self._reply(200, self.server.metrics.render().encode())

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("metrics %s: " + format, self.client_address[0], *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    metrics: Metrics


class MetricsServer:
    """Serves ``GET /metrics`` from a daemon thread, bound to ``address`` (``host:port``).

    Port 0 picks a free port (tests); :attr:`port` tells which. The frame loop never waits on
    it: a scrape takes the registry's lock only while it copies the values.
    """

    def __init__(self, address: str, metrics: Metrics) -> None:
        self.address = address
        self._host, self._port = parse_address(address)
        self._metrics = metrics
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when the address asked for port 0)."""
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind and serve; raises ``OSError`` naming the address when it cannot bind."""
        if self._server is not None:
            return
        server = bind_server(_Server, _Handler, self.address, "metrics server")
        server.metrics = self._metrics
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5},
            name="metrics-http", daemon=True,
        )
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self._host or "0.0.0.0", self.port)

    def close(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_temperature_c(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C from the kernel's thermal zone; None where there is none."""
    try:
        return int(path.read_text().strip()) / 1000
    except (OSError, ValueError):
        return None
