"""Role changes made at run time: register a candidate, promote it, roll back.

The configuration's ``models.use`` is the base; the changes made by ``tensorchicken models
register/promote/rollback`` (and by retraining, which registers a local model package) are kept
in ``<state_dir>/models.yaml``, written atomically (temporary file, fsync, rename, fsync of the
folder) so that they survive restarts and a power cut never leaves half a file::

    primary: mobilenet_v1_075_imagenet        # overrides the configured primary (or null)
    history:                                  # what each promotion changed, newest last
      - {promoted: coop-20260501, primary: null, roles: {coop-20260501: shadow}}
    roles:                                    # models added or re-roled at run time
      mobilenet_v2_imagenet: shadow
      coop-20260501: critical
    packages:                                 # local model packages, by model name
      coop-20260501: /var/lib/tensorchicken/packages/coop-20260501

Rules, after the rendezvous architecture (every model sees every input; changing the decision is
changing whose answer is not ignored): a promoted model becomes the primary and the previous
primary becomes a **shadow**, so it stays loaded and scored and a rollback is instant. A package
whose head is *blended* with the zero-shot models (``blend`` in its ``package.yaml``,
``classifier/blend.py``) instead **joins** the critical path beside the primary: its answer is
blended with the zero-shot ones it was trained with, and the primary stays the fast model that
always answers (if the head is late, the zero-shot answer decides alone, as before the
promotion). One head is joined at a time, and a new primary sends the joined head back to the
shadows (it was fitted to the old primary's answers). Each promotion stores the roles it
changed, so a rollback restores those (and only those, so later registrations stay): the
rolled-back model gets its earlier role back, a shadow if it had none. The canary is never
displaced by a promotion of another model. A file written before promotions stored what they
changed (``history`` as a list of replaced primaries) is read as the same undo records, as far
as that list tells: a model it promoted from a stored role (a run-time canary) comes back as a
shadow, as it did then.

A re-fitted default head (``tensorchicken learn refit``) is per camera: each camera's re-fit is
first that camera's shadow (``head_shadows``), then, promoted, blended for that camera's crops
(``heads``); a rollback gives the camera its head before back.

Example::

    registry = ModelRegistry(state_dir, config.models)
    registry.register("mobilenet_v1_075_imagenet")          # scored as a shadow from now on
    registry.promote("mobilenet_v1_075_imagenet")           # it decides; the old primary shadows
    registry.rollback()                                      # back again
    classifier_config = registry.effective()                 # what the appliance runs
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from classifier.config import ModelsConfig, ModelUse
from classifier.errors import ClassifierError
from groundwork.durable import write_durably

log = logging.getLogger(__name__)

STATE_FILE = "models.yaml"
OffPathRole = Literal["shadow", "canary"]
_OFF_PATH = ("shadow", "canary")
# Roles stored in the file: off-path ones, and "critical" for a joined (blending) head.
_STORED_ROLES = (*_OFF_PATH, "critical")


class RegistryError(ClassifierError, ValueError):
    """A registry change that cannot be made, or a damaged ``models.yaml``."""


# What a promotion changed, to undo it: {"promoted": name, "primary": the stored primary before
# (a name or None), "roles": {name: its stored role before, or None if it had none}}, and for a
# re-fitted default head's promotion "camera" and "head": that camera's head folder before (or
# None: the shipped head).
Undo = dict[str, Any]


@dataclass(slots=True)
class RegistryState:
    """The changes on top of the configuration, as stored in ``models.yaml``."""

    primary: str | None = None
    history: list[Undo] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    # Per camera, the re-fitted default head that decides its crops in place of the shipped
    # one (its folder).
    heads: dict[str, str] = field(default_factory=dict)
    # Per camera, a re-fitted default head scored beside the decision while it waits to be
    # judged (its folder).
    head_shadows: dict[str, str] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """The file's text."""
        body: dict[str, Any] = {"primary": self.primary, "history": self.history,
                                "roles": self.roles, "packages": self.packages}
        if self.heads:
            body["heads"] = self.heads
        if self.head_shadows:
            body["head_shadows"] = self.head_shadows
        header = "# Written by tensorchicken (models register/promote/rollback); base: the config\n"
        return header + yaml.safe_dump(body, sort_keys=False)


def read_state(path: Path) -> RegistryState:
    """The registry state in ``path`` (empty when the file does not exist)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return RegistryState()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: cannot read the model registry: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"primary", "history", "roles", "packages",
                                                  "heads", "head_shadows"}:
        raise RegistryError(f"{path}: expected a mapping of primary, history, roles, packages "
                            "(and heads, head_shadows)")
    primary, history = data.get("primary"), data.get("history") or []
    roles, packages = data.get("roles") or {}, data.get("packages") or {}
    if primary is not None and not isinstance(primary, str):
        raise RegistryError(f"{path}: primary must be a model name or null, got {primary!r}")
    if not isinstance(history, list) or not all(isinstance(h, str) or _is_undo(h)
                                                for h in history):
        raise RegistryError(f"{path}: history must be a list of {{promoted, primary, roles}} "
                            "mappings (or, as written by earlier versions, of model names)")
    if not _is_roles(roles):
        raise RegistryError(f"{path}: roles must map model names to shadow, canary or critical")
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        raise RegistryError(f"{path}: packages must map model names to folders")
    heads, head_shadows = data.get("heads") or {}, data.get("head_shadows") or {}
    for key, value in (("heads", heads), ("head_shadows", head_shadows)):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise RegistryError(f"{path}: {key} must map camera names to head folders, "
                                f"got {value!r}")
    return RegistryState(
        primary, list(history), {str(k): str(v) for k, v in roles.items()},
        {str(k): v for k, v in packages.items()}, {str(k): v for k, v in heads.items()},
        {str(k): v for k, v in head_shadows.items()},
    )


def _is_roles(roles: Any) -> bool:
    return isinstance(roles, dict) and all(v in _STORED_ROLES for v in roles.values())


def _is_undo(entry: Any) -> bool:
    return (isinstance(entry, dict)
            and set(entry) - {"head", "camera"} == {"promoted", "primary", "roles"}
            and (entry.get("head") is None or isinstance(entry["head"], str))
            and ("head" not in entry or isinstance(entry.get("camera"), str))
            and isinstance(entry["promoted"], str)
            and (entry["primary"] is None or isinstance(entry["primary"], str))
            and isinstance(entry["roles"], dict)
            and all(v is None or v in _STORED_ROLES for v in entry["roles"].values()))


def _upgraded(history: list[Any], primary_now: str, base_primary: str) -> list[Undo]:
    """History entries of the first format, the name of the primary a promotion replaced, as
    the undo records that promotion would write now (the roles it set: that primary's shadow
    role, cleared again on rollback; the promoted model: the next primary in the list)."""
    out: list[Undo] = []
    for i, entry in enumerate(history):
        if not isinstance(entry, str):
            out.append(entry)
            continue
        following = history[i + 1] if i + 1 < len(history) else primary_now
        out.append({"promoted": following if isinstance(following, str) else primary_now,
                    "primary": None if entry == base_primary else entry,
                    "roles": {entry: None}})
    return out


def write_atomic_text(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` is the old file or the new one, never half of either.

    Written by root (``sudo tensorchicken models promote``), the file gets its folder's owner:
    the service's user must still read it (the temporary file is private, mode 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, text.encode("utf-8"), folder_owner=True)


class ModelRegistry:
    """Role changes made at run time (register, promote, rollback) persisted in
    ``<state_dir>/models.yaml`` (written atomically: temp file + fsync + rename) so they survive
    restarts; the config's ``models.use`` is the base.

    Each method re-reads the file first, so two processes (the appliance, a command) see each
    other's changes; a change is validated against the resulting configuration before it is
    written, so the file never describes a configuration that does not validate.
    """

    def __init__(self, state_dir: Path, base: ModelsConfig) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.base = base

    def state(self) -> RegistryState:
        """The stored changes (history entries of the first format read as undo records)."""
        state = read_state(self.path)
        now = state.primary or self.base.primary.name
        state.history = _upgraded(state.history, now, self.base.primary.name)
        return state

    def effective(self) -> ModelsConfig:
        """The base configuration with the stored changes applied: what the appliance runs."""
        return self._apply(self.state())

    def register(
        self, name: str, role: OffPathRole = "shadow", *, package: Path | None = None
    ) -> None:
        """Score ``name`` off the critical path from now on (as a shadow or as the canary).

        ``package`` is a local model package folder (one with ``package.yaml``); without it the
        name must be a model of the manifest (checked when it is loaded). Registering the
        current primary is refused; registering a canary replaces the configured one.
        """
        if role not in _OFF_PATH:
            raise RegistryError(f"role must be shadow or canary, got {role!r}")
        state = self.state()
        if name == self._apply(state).primary.name:
            raise RegistryError(f"{name} is the primary; promote another model first")
        if role == "canary":
            for other in self._apply(state).by_role("canary"):
                state.roles[other.name] = "shadow"
        state.roles[name] = role
        if package is not None:
            state.packages[name] = str(Path(package).resolve())
        self._save(state, f"registered {name} as {role}")

    def unregister(self, name: str) -> None:
        """Stop scoring ``name``, a shadow registered at run time (a re-fitted head that a newer
        one replaces); a model that decides, or one of the configuration, is refused."""
        state = self.state()
        if state.roles.get(name) != "shadow" or name in {u.name for u in self.base.use}:
            raise RegistryError(f"{name} is not a shadow registered at run time")
        if any(u.get("promoted") == name for u in state.history):
            raise RegistryError(f"{name} was promoted once; a rollback may need it")
        state.roles.pop(name)
        state.packages.pop(name, None)
        self._save(state, f"unregistered {name}")

    def promote(self, name: str) -> None:
        """Let ``name`` decide: a blending head joins the critical path beside the primary, any
        other model becomes the primary (the previous one a shadow). Rollback undoes it."""
        state = self.state()
        effective = self._apply(state)
        current = effective.primary.name
        # Heads joined by an earlier promotion or made critical in the configuration.
        joined = [u.name for u in effective.by_role("critical") if self._blends(state, u.name)]
        if name == current or name in joined:
            raise RegistryError(f"{name} already decides")
        undo: Undo = {"promoted": name, "primary": state.primary, "roles": {}}

        def set_role(model: str, role: str | None) -> None:
            undo["roles"].setdefault(model, state.roles.get(model))
            if role is None:
                state.roles.pop(model, None)
            else:
                state.roles[model] = role

        joins = self._blends(state, name)
        for head in joined:
            set_role(head, "shadow")  # one joined head; a new primary is not its partner
        if joins:
            set_role(name, "critical")
        else:
            set_role(name, None)
            set_role(current, "shadow")
            state.primary = None if name == self.base.primary.name else name
        state.history.append(undo)
        how = ("blended with the zero-shot models' answers" if joins
               else f"previous primary {current}")
        self._save(state, f"promoted {name} ({how})")

    def promote_head(self, name: str, folder: Path, camera: str) -> None:
        """Let the re-fitted default head ``name`` (its ``folder``: ``head.yaml`` and
        ``head.npz``) be blended for ``camera``'s crops in place of the default head blended
        there now. Rollback undoes it."""
        state = self.state()
        where = str(Path(folder).resolve())
        if state.heads.get(camera) == where:
            raise RegistryError(f"{name} already decides for camera {camera}")
        state.history.append({"promoted": name, "primary": state.primary, "roles": {},
                              "camera": camera, "head": state.heads.get(camera)})
        state.heads[camera] = where
        if state.head_shadows.get(camera) == where:
            del state.head_shadows[camera]  # it decides now: no longer scored beside itself
        self._save(state, f"promoted {name} (the default head blended with the zero-shot "
                   f"models' answers for camera {camera})")

    def shadow_heads(self, heads: Mapping[str, tuple[str, Path]]) -> None:
        """Score each camera's re-fitted default head (``heads``: camera → its name and folder)
        on every crop of that camera beside the decision, from the default head's features,
        in place of the shadows scored before; they never decide."""
        state = self.state()
        state.head_shadows = {camera: str(Path(folder).resolve())
                              for camera, (_, folder) in heads.items()}
        names = ", ".join(f"{name} ({camera})" for camera, (name, _) in sorted(heads.items()))
        self._save(state, f"registered the default head's shadows: {names or 'none'}")

    def rollback(self) -> str:
        """Undo the last promotion: the roles it changed are restored (later registrations are
        kept), so the model it promoted goes back to its earlier role, a shadow if it had none
        (it stays loaded and scored); a camera's re-fitted default head gives way to the head
        that camera had before. What was rolled back, in words."""
        state = self.state()
        if not state.history:
            raise RegistryError("nothing to roll back to: no model was promoted")
        undo = state.history.pop()
        state.primary = undo["primary"]
        for model, role in undo["roles"].items():
            if role is None:
                state.roles.pop(model, None)
            else:
                state.roles[model] = role
        promoted = undo["promoted"]
        what = f"{promoted} (camera {undo['camera']})" if "head" in undo else promoted
        if "head" in undo:  # a re-fitted default head: the one before decides there again
            if undo["head"] is None:
                state.heads.pop(undo["camera"], None)
            else:
                state.heads[undo["camera"]] = undo["head"]
        elif promoted not in state.roles and promoted not in {u.name for u in self.base.use}:
            state.roles[promoted] = "shadow"
        self._save(state, f"rolled back {what}")
        return what

    def _blends(self, state: RegistryState, name: str) -> bool:
        """Whether ``name`` is a model package whose head is blended with the zero-shot models
        (``classifier/blend.py``); RegistryError if its package cannot be read."""
        package = state.packages.get(name) or next(
            (u.package for u in self.base.use if u.name == name), None)
        if not package:
            return False
        # Imported here: commands that only read the registry need no model code.
        from classifier.package import read_package
        try:
            return read_package(Path(package)).blend is not None
        except ClassifierError as exc:
            raise RegistryError(f"model {name}: {exc}") from None

    def reset(self) -> None:
        """Forget every run-time change: the configuration alone decides again."""
        self._save(RegistryState(), "reset to the configuration")

    def _apply(self, state: RegistryState) -> ModelsConfig:
        uses: dict[str, dict[str, Any]] = {u.name: u.model_dump() for u in self.base.use}
        for name, role in state.roles.items():
            uses.setdefault(name, {"name": name})["role"] = role
        if state.primary is not None:
            base_primary = self.base.primary.name
            if state.primary != base_primary and uses[base_primary]["role"] == "primary":
                uses[base_primary]["role"] = "shadow"
            uses.setdefault(state.primary, {"name": state.primary})["role"] = "primary"
        for name, package in state.packages.items():
            if name in uses:
                uses[name]["package"] = package
        return self._validated(list(uses.values()), state.heads, state.head_shadows)

    def _validated(self, uses: list[dict[str, Any]], heads: Mapping[str, str],
                   head_shadows: Mapping[str, str]) -> ModelsConfig:
        data = self.base.model_dump()
        data["use"] = [ModelUse.model_validate(u) for u in uses]
        data["camera_heads"] = {**self.base.camera_heads, **heads}
        data["camera_head_shadows"] = {**self.base.camera_head_shadows, **head_shadows}
        try:
            return ModelsConfig.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(e["msg"] for e in exc.errors())
            raise RegistryError(f"{self.path}: the models would not validate: {problems}") from None

    def _save(self, state: RegistryState, what: str) -> None:
        self._apply(state)  # refuse to store a configuration that does not validate
        write_atomic_text(self.path, state.to_yaml())
        log.info("model registry: %s", what)
