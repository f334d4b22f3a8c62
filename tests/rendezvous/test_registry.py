"""The model registry: run-time role changes over the configuration, kept across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from classifier.registry import ModelRegistry, RegistryError
from edge.config import ModelsConfig

V1 = "mobilenet_v1_075_imagenet"
TINY = "mobilenet_v1_025_imagenet"


def _roles(registry: ModelRegistry) -> dict[str, str]:
    return {u.name: u.role for u in registry.effective().use}


def test_promote_keeps_the_old_primary_as_a_shadow_and_rollback_restores(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    registry.register(TINY, "canary")
    registry.register(V1)
    registry.promote(V1)
    assert _roles(registry) == {
        "mobilenet_v2_imagenet": "shadow", "mobilenet_v2_inat_birds": "critical",
        TINY: "canary", V1: "primary",
    }
    # A new registry over the same folder (a restart) sees the same models.
    again = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    assert _roles(again)[V1] == "primary"
    again.rollback()
    roles = _roles(registry)
    assert roles["mobilenet_v2_imagenet"] == "primary" and roles[V1] == "shadow"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()


def test_package_path_follows_the_model_through_promotion(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "state", ModelsConfig())  # type: ignore[call-arg]
    registry.register("coop_head", package=tmp_path / "pkg")
    registry.promote("coop_head")
    primary = registry.effective().primary
    assert (primary.name, primary.package) == ("coop_head", str((tmp_path / "pkg").resolve()))


def test_refusals_leave_the_file_unchanged(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    with pytest.raises(RegistryError, match="is the primary"):
        registry.register("mobilenet_v2_imagenet")
    with pytest.raises(RegistryError, match="already the primary"):
        registry.promote("mobilenet_v2_imagenet")
    with pytest.raises(RegistryError, match="role must be shadow or canary"):
        registry.register(V1, "primary")  # type: ignore[arg-type]
    assert not (tmp_path / "models.yaml").exists()


def test_a_second_canary_replaces_the_first(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    registry.register(TINY, "canary")
    registry.register(V1, "canary")
    assert _roles(registry)[TINY] == "shadow" and _roles(registry)[V1] == "canary"


def test_damaged_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("roles: {x: boss}\n")
    with pytest.raises(RegistryError, match=r"models.yaml: roles must map"):
        ModelRegistry(tmp_path, ModelsConfig()).effective()  # type: ignore[call-arg]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_change_made_as_root_stays_readable_by_the_service_user(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    service_uid, service_gid = 64123, 64124  # the folder belongs to the service's user
    os.chown(state, service_uid, service_gid)
    ModelRegistry(state, ModelsConfig()).register(TINY, "canary")  # type: ignore[call-arg]
    written = (state / "models.yaml").stat()
    assert (written.st_uid, written.st_gid) == (service_uid, service_gid)
