"""Paths, logging and health settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.health.metrics import parse_address
from groundwork.section import Section


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

    metrics_address: str | None = Field(
        "127.0.0.1:9464", description="host:port for Prometheus text metrics; null to disable"
    )

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        # Checked here, not when the server starts: validate-config and doctor then say so.
        if value is not None:
            parse_address(value, "address")
        return value
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
