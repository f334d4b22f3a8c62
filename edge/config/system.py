"""Paths, logging and health settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from edge.health.metrics import parse_address
from groundwork.section import Section


def _host_port(value: str | None) -> str | None:
    if value is not None:
        parse_address(value, "address")
    return value


# A server's host:port, or None for no server; checked with the file, not when the server
# starts, so that validate-config and doctor say what is wrong.
HostPort = Annotated[str | None, AfterValidator(_host_port)]


class PathsConfig(Section):
    """Where assets and state live. Unset means the per-user (or, as root, per-system) default."""

    data_dir: str | None = Field(None, description="Models, labels and demo assets")
    state_dir: str | None = Field(None, description="Event log and archive")


class LoggingConfig(Section):
    """Log level and format; the service logs to the journal through stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(False, description="One JSON object per line")


class HealthConfig(Section):
    """The metrics endpoint and the loop's liveness limits."""

    metrics_address: HostPort = Field(
        "127.0.0.1:9464", description="host:port for Prometheus text metrics; null to disable"
    )
    hung_after_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="No loop progress for this long: deterrents off, no watchdog",
    )
    max_failed_frames: int = Field(
        10,
        ge=1,
        le=10000,
        description="Frames in a row whose processing raises before the loop gives up (the "
        "service stops with an error and systemd restarts it); fewer are logged, counted and "
        "skipped",
    )
