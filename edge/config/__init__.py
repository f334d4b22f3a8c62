"""One typed, validated configuration, read from one YAML file.

Every problem in a file is reported at once, each as ``key.path: message``. Each package owns
its section's model (``camera.config``, ``classifier.config``, ``actuators.config``; the
appliance's own sections are here); this module composes them and checks the file as a whole.
Import a package's model from its package (``from camera.config import CameraConfig``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from actuators.config import KINDS, GpioConfig
from camera.config import CameraConfig
from classifier.config import ModelsConfig
from classifier.errors import ClassifierError
from classifier.spec import declared_files, load_specs
from edge.config.clips import ClipsConfig, OutcomeConfig
from edge.config.decision import DecisionConfig, QuietHours
from edge.config.learn import LearnConfig
from edge.config.reporters import ArchiveConfig, MqttConfig, ReportersConfig, TwitterConfig
from edge.config.system import HealthConfig, LoggingConfig, PathsConfig
from edge.config.web import WebConfig
from edge.config.yaml_text import MAX_BYTES, YamlRefused, parse_yaml
from groundwork.section import Section

__all__ = [
    "ArchiveConfig",
    "ClipsConfig",
    "Config",
    "ConfigError",
    "DecisionConfig",
    "HealthConfig",
    "LearnConfig",
    "LoggingConfig",
    "MqttConfig",
    "OutcomeConfig",
    "PathsConfig",
    "QuietHours",
    "ReportersConfig",
    "TwitterConfig",
    "WebConfig",
    "load_config",
    "parse_config",
]


class Config(Section):
    """The whole appliance. Every default runs on a laptop: a replayed clip, mock pins,
    local reports only."""

    cameras: list[CameraConfig] = Field(
        default_factory=lambda: [CameraConfig.model_validate({})], min_length=1
    )
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    gpio: GpioConfig = Field(default_factory=GpioConfig)
    reporters: ReportersConfig = Field(default_factory=ReportersConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    learn: LearnConfig = Field(default_factory=LearnConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    clips: ClipsConfig = Field(default_factory=ClipsConfig)
    outcome: OutcomeConfig = Field(default_factory=OutcomeConfig)

    @model_validator(mode="after")
    def _whole_file(self) -> Config:
        """The problems that span sections, every one of them at once (a validator that raised
        would hide the ones after it)."""
        found = [*self._camera_names_distinct(), *self._hen_cameras_exist(),
                 *self._models_and_assets_known(), *self._quiet_devices_exist()]
        if found:
            raise KeyProblems(found)
        return self

    def _camera_names_distinct(self) -> list[tuple[str, str]]:
        # Events, metrics and the loops' progress go by camera name: a twin would mix them up.
        names = [c.name for c in self.cameras]
        twice = sorted({n for n in names if names.count(n) > 1})
        return [("cameras", f"two cameras share the name {', '.join(twice)}")] if twice else []

    def _hen_cameras_exist(self) -> list[tuple[str, str]]:
        # A misspelt camera here would leave the sprinkler free to wet the nest box.
        names = [c.name for c in self.cameras]
        unknown = [n for n in self.decision.hens_live_in if n not in names]
        if not unknown:
            return []
        return [("decision.hens_live_in", f"{', '.join(map(repr, unknown))} is not a camera's "
                 f"name ({', '.join(names)})")]

    def _models_and_assets_known(self) -> list[tuple[str, str]]:
        # A misspelt model or demo asset is found when the file is checked (validate-config,
        # exit 2, not retried), not by a start that fails or a camera awaited for ever.
        names = _manifest_names()
        if names is None:
            return []
        models, files = names
        found = []
        unknown = [u.name for u in self.models.use if u.package is None and u.name not in models]
        if unknown:
            found.append(("models.use", f"{', '.join(map(repr, unknown))} is not a classifier of "
                          f"the model manifest ({', '.join(sorted(models))}) and names no "
                          "package"))
        addresses = [c.address for c in self.cameras]
        addresses += [a.image for c in self.cameras for a in c.arrivals]
        # "asset:" is edge.assets.ASSET_PREFIX, which imports back into this package.
        missing = [a for a in addresses
                   if a.startswith("asset:") and a.removeprefix("asset:") not in files]
        if missing:
            found.append(("cameras", f"{', '.join(map(repr, missing))}: no such file in the "
                          "asset manifest (an asset: address names one of its files)"))
        return found

    def _quiet_devices_exist(self) -> list[tuple[str, str]]:
        # A typo here would leave a siren sounding at night, and the Decider would only
        # find it at start-up: a restart loop instead of a clear validate-config error.
        names = [d.name for d in self.gpio.deterrents]
        unknown = [q for q in self.decision.quiet_devices if q not in {*KINDS, *names}]
        if not unknown:
            return []
        return [("decision.quiet_devices", f"{', '.join(map(repr, unknown))} is neither a "
                 f"deterrent kind ({', '.join(KINDS)}) nor a deterrent name "
                 f"({', '.join(names) or 'none'})")]


@functools.cache
def _manifest_names() -> tuple[frozenset[str], frozenset[str]] | None:
    """The shipped manifest's classifier models and files (None when it cannot be read: the
    models' own loading then says why)."""
    try:
        specs = load_specs()
        files = declared_files()
    except (ClassifierError, OSError, ValueError):
        return None
    return frozenset(n for n, spec in specs.items() if spec.kind == "classifier"), files


class KeyProblems(ValueError):
    """The problems that span sections, raised by the validator of the whole configuration,
    each with the key it belongs to (pydantic gives such errors no location of their own)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``problems`` lists every ``key: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


def _lines(error: dict[str, Any]) -> list[str]:
    """The ``key: message`` lines of one pydantic error (several for :class:`KeyProblems`)."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyProblems):
        prefix = "".join(f"{p}." for p in error["loc"])  # the section's, when nested
        return [f"{prefix}{key}: {message}" for key, message in cause.problems]
    return [f"{_key_path(error)}: {_message(error)}"]


def _key_path(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model of the section that holds the key at ``loc`` (None where it is not one)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list: its type is what the list's field held
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model an annotation holds: itself, or a list's or an optional's item."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _homes(key: str, model: type[BaseModel], prefix: str) -> Iterator[str]:
    """Where in the configuration a key named ``key`` belongs (``cameras[].fps``)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if name == key:
            yield path
        inner = _model_in(field.annotation)
        if inner is not None:
            origin = get_origin(field.annotation)
            inside = "[]" if origin is list else ".<name>" if origin is dict else ""
            yield from _homes(key, inner, f"{path}{inside}.")


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """"unknown key", with the nearest known one, or the section's keys when none is near."""
    section = _section_at(loc)
    if section is None or not loc:
        return "unknown key"
    known = sorted(section.model_fields)
    homes = list(_homes(str(loc[-1]), Config, ""))
    if homes:  # a key in the wrong section: say where it lives
        return f"unknown key here; it is {' or '.join(homes)}"
    near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if near:
        return f"unknown key; did you mean {near[0]!r}?"
    return f"unknown key; this section's keys: {', '.join(known)}"


def _message(error: dict[str, Any]) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        msg = _unknown_key(tuple(error["loc"]))
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
        problems = [line for e in exc.errors() for line in _lines(dict(e))]
        raise ConfigError(source, problems) from None


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML file; ``None`` gives the defaults, an empty file is refused."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        if not path.is_file() and path.exists():
            raise ConfigError(str(path), ["(file): not a regular file"])
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # a huge file is refused, never read whole
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read it: {exc.strerror}"]) from None
    try:
        data = parse_yaml(raw)
    except YamlRefused as exc:
        raise ConfigError(str(path), [f"(file): {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(
            str(path), [f"(file): not valid YAML at {where}: {getattr(exc, 'problem', exc)}"]
        ) from None
    if data is None:
        # A truncated file would otherwise mean every default: mock pins and the demo clip,
        # a Pi that runs "fine" and drives no pin.
        raise ConfigError(str(path), [
            "(file): the file is empty (no sections): a truncated file? "
            "Write at least the sections you use"])
    return parse_config(data, str(path))
