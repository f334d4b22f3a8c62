"""Health: systemd notifications (ready, watchdog, status) and Prometheus metrics.

The loop tells ``notify.Notifier`` when it makes progress and increments
``appliance_metrics.ApplianceMetrics``; a ``metrics.MetricsServer`` (``prometheus_client``'s
server) serves the figures on ``GET /metrics`` from its own threads.
"""

from __future__ import annotations


class HealthError(Exception):
    """The root of the errors raised by the health package."""
