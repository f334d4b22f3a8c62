"""The appliance's Prometheus registry and its HTTP endpoint, built on ``prometheus_client``.

``prometheus_client`` (the format's reference implementation) keeps the values, renders the text
and serves it; this module adds what is the appliance's own: a registry of its own (not the
library's global one) with the process, platform and garbage-collector figures on, gauges read
only when someone scrapes (:class:`ScrapeTimeGauges`), the endpoint bound to
``health.metrics_address`` (by :func:`bind_server`, which the web page shares) with an error
naming the address, and the SoC temperature.

A scrape never holds up the frame loop: the library's metrics take their own short lock to copy
values, and a scrape-time gauge's function (which may read SQLite behind an fsync, or sysfs) is
called without any lock the loop takes.

Example::

    registry = new_registry()
    frames = Counter("tensorchicken_frames_total", "Frames processed", ("camera",),
                     registry=registry)
    frames.labels(camera="coop").inc()
    with MetricsServer("127.0.0.1:9464", registry):   # curl http://127.0.0.1:9464/metrics
        ...
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from edge.health import HealthError

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")

# Seconds, from a fast motion pass on a Pi 5 to a large model on a Pi Zero 2 W.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

LabelValues = tuple[str, ...]
Reading = Callable[[], float | None]


class MetricsError(HealthError, ValueError):
    """A metrics setting or use that cannot work: a bad address, labels that do not match."""


def new_registry() -> CollectorRegistry:
    """A registry of the appliance's own, with the process, platform and GC collectors.

    The library's ``*_created`` series (a timestamp beside every counter and histogram) are
    turned off for the whole process: they would double the series without telling an owner
    anything a restart counter does not, and the exposition stays what dashboards were built on.
    """
    prometheus_client.disable_created_metrics()
    registry = CollectorRegistry(auto_describe=True)
    prometheus_client.ProcessCollector(registry=registry)
    prometheus_client.PlatformCollector(registry=registry)
    prometheus_client.GCCollector(registry=registry)
    return registry


class ScrapeTimeGauges(Collector):
    """Gauges whose values are read from functions when a scrape asks, never pushed per frame.

    For figures cheaper to read when asked: a temperature, the age of the last frame, a queue
    length. A function that raises or returns None leaves its series out of that scrape, so a
    figure that cannot be read never fails the whole scrape.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name -> (help, label names, label values -> function)
        self._gauges: dict[str, tuple[str, tuple[str, ...], dict[LabelValues, Reading]]] = {}

    def define(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        """Declare a gauge family (its series are added by :meth:`watch`)."""
        with self._lock:
            self._gauges.setdefault(name, (help, tuple(labels), {}))

    def watch(self, name: str, function: Reading, **labels: str) -> None:
        """Read the series of ``name`` named by ``labels`` from ``function`` at each scrape."""
        with self._lock:
            if name not in self._gauges:
                raise MetricsError(f"gauge {name} is not defined")
            _, names, series = self._gauges[name]
            if set(labels) != set(names):
                raise MetricsError(f"gauge {name} takes labels {list(names)}, got {sorted(labels)}")
            series[tuple(str(labels[n]) for n in names)] = function

    def read(self, name: str, **labels: str) -> float | None:
        """The value one series would show in a scrape now (None: left out)."""
        with self._lock:
            _, names, series = self._gauges[name]
            function = series.get(tuple(str(labels[n]) for n in names))
        return None if function is None else self._call(name, function)

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so the registry knows their names without reading."""
        with self._lock:
            gauges = [(name, help, names) for name, (help, names, _) in self._gauges.items()]
        for name, help, names in gauges:
            yield GaugeMetricFamily(name, help, labels=names)

    def collect(self) -> Iterator[Metric]:
        """Each family with the series whose function gave a value."""
        with self._lock:  # copy only: the functions are called after the lock is released
            gauges = [(name, help, names, dict(series))
                      for name, (help, names, series) in self._gauges.items()]
        for name, help, names, series in gauges:
            family = GaugeMetricFamily(name, help, labels=names)
            for values, function in sorted(series.items()):
                value = self._call(name, function)
                if value is not None:
                    family.add_metric(list(values), value)
            yield family

    @staticmethod
    def _call(name: str, function: Reading) -> float | None:
        try:
            value = function()
        except Exception:
            # A scrape must not fail because one figure could not be read.
            log.exception("gauge %s: reading the value failed", name)
            return None
        return None if value is None else float(value)


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


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class MetricsServer:
    """``prometheus_client``'s handler for ``registry``, served from daemon threads on
    ``address`` (``host:port``).

    Bound by :func:`bind_server`, like the web page. Port 0 picks a free port (tests);
    :attr:`port` tells which.
    """

    def __init__(self, address: str, registry: CollectorRegistry) -> None:
        self.address = address
        self._host, self._port = parse_address(address)
        self._registry = registry
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
        handler = prometheus_client.MetricsHandler.factory(self._registry)
        self._server = bind_server(_Server, handler, self.address, "metrics server")
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
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
