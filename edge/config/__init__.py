"""One typed, validated configuration, read from one YAML file.

Every problem in a file is reported at once, each as ``key.path: message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from edge.config.base import Section
from edge.config.camera import ArrivalConfig, CameraConfig, MotionConfig
from edge.config.decision import DecisionConfig, QuietHours
from edge.config.deterrents import DeterrentConfig, GpioConfig, Pattern
from edge.config.models import ModelsConfig, ModelUse
from edge.config.reporters import ArchiveConfig, MqttConfig, ReportersConfig, TwitterConfig
from edge.config.system import HealthConfig, LoggingConfig, PathsConfig

__all__ = [
    "ArchiveConfig",
    "ArrivalConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DecisionConfig",
    "DeterrentConfig",
    "GpioConfig",
    "HealthConfig",
    "LoggingConfig",
    "ModelUse",
    "ModelsConfig",
    "MotionConfig",
    "MqttConfig",
    "PathsConfig",
    "Pattern",
    "QuietHours",
    "ReportersConfig",
    "TwitterConfig",
    "load_config",
    "parse_config",
]


class Config(Section):
    """The whole appliance. Every default runs on a laptop: a replayed clip, mock pins,
    local reports only."""

    cameras: list[CameraConfig] = Field(
        default_factory=lambda: [CameraConfig.model_validate({})], min_length=1
    )
    models: ModelsConfig = Field(default_factory=ModelsConfig)  # type: ignore[arg-type]
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    gpio: GpioConfig = Field(default_factory=GpioConfig)
    reporters: ReportersConfig = Field(default_factory=ReportersConfig)  # type: ignore[arg-type]
    paths: PathsConfig = Field(default_factory=PathsConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)  # type: ignore[arg-type]
    health: HealthConfig = Field(default_factory=HealthConfig)  # type: ignore[arg-type]


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``problems`` lists every ``key: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


def _key_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the name of a validator's model in 'loc' for some errors; keys only here.
    return ".".join(str(part) for part in loc) or "(top level)"


def _message(error: dict[str, Any]) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
    elif error["type"] not in ("value_error", "missing") and "input" in error:
        shown = repr(error["input"])
        msg = f"{msg} (got {shown[:60]})"
    return msg


def parse_config(data: object, source: str = "<config>") -> Config:
    """Validate already-parsed YAML/JSON data; raises :class:`ConfigError` listing all problems."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            source, [f"(top level): expected a mapping of sections, got {type(data).__name__}"]
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_key_path(e['loc'])}: {_message(dict(e))}" for e in exc.errors()]
        raise ConfigError(source, problems) from None


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read it: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(
            str(path), [f"(file): not valid YAML at {where}: {getattr(exc, 'problem', exc)}"]
        ) from None
    return parse_config(data, str(path))
