"""The model registry: run-time role changes over the configuration, kept across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from classifier.config import ModelsConfig, ModelUse
from classifier.package import PACKAGE_FILE, PackageInfo
from classifier.registry import ModelRegistry, RegistryError

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


def _package(folder: Path, blend: float | None) -> Path:
    """A package description (``package.yaml`` only: the registry reads nothing else)."""
    ref = {"file": "x", "sha256": "0" * 64}
    info = PackageInfo.model_validate({
        "name": folder.name, "version": "1", "created": "2026-11-26T21:00:00Z",
        "extractor": {"model": "mobilenet_v1_embedding", "outputs": 1024, **ref},
        "head": ref, "verdicts": ref, "labels": ["background", "chicken", "predator"],
        "blend": blend})
    folder.mkdir(parents=True)
    (folder / PACKAGE_FILE).write_text(yaml.safe_dump(info.model_dump()))
    return folder


def test_package_path_follows_the_model_through_promotion(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "state", ModelsConfig())  # type: ignore[call-arg]
    registry.register("coop_head", package=_package(tmp_path / "pkg", blend=None))
    registry.promote("coop_head")
    primary = registry.effective().primary
    assert (primary.name, primary.package) == ("coop_head", str((tmp_path / "pkg").resolve()))


def test_a_blending_head_joins_the_primary_and_rollback_undoes_each_step(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "state", ModelsConfig())  # type: ignore[call-arg]
    registry.register("coop-1", package=_package(tmp_path / "coop-1", blend=0.5))
    registry.register("coop-2", package=_package(tmp_path / "coop-2", blend=0.5))
    base = _roles(registry)
    registry.promote("coop-1")
    assert _roles(registry) == {**base, "coop-1": "critical"}  # the primary stays
    with pytest.raises(RegistryError, match="coop-1 already decides"):
        registry.promote("coop-1")
    registry.promote("coop-2")  # one joined head at a time
    assert _roles(registry) == {**base, "coop-1": "shadow", "coop-2": "critical"}
    registry.promote(V1)  # a new primary: the head was fitted to the old one's answers
    assert _roles(registry) == {**base, "mobilenet_v2_imagenet": "shadow", V1: "primary",
                                "coop-1": "shadow", "coop-2": "shadow"}
    registry.register(TINY, "canary")  # a later registration survives the rollbacks
    registry.rollback()
    assert _roles(registry) == {**base, "coop-1": "shadow", "coop-2": "critical",
                                V1: "shadow", TINY: "canary"}
    registry.rollback()
    assert _roles(registry) == {**base, "coop-1": "critical", "coop-2": "shadow",
                                V1: "shadow", TINY: "canary"}
    registry.rollback()
    assert _roles(registry) == {**base, "coop-1": "shadow", "coop-2": "shadow",
                                V1: "shadow", TINY: "canary"}


def test_a_package_that_cannot_be_read_is_not_promoted(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "state", ModelsConfig())  # type: ignore[call-arg]
    registry.register("coop-1", package=tmp_path / "gone")
    with pytest.raises(RegistryError, match=r"model coop-1: .*gone/package.yaml: missing"):
        registry.promote("coop-1")
    assert registry.effective().primary.name == "mobilenet_v2_imagenet"


def test_refusals_leave_the_file_unchanged(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    with pytest.raises(RegistryError, match="is the primary"):
        registry.register("mobilenet_v2_imagenet")
    with pytest.raises(RegistryError, match="mobilenet_v2_imagenet already decides"):
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


def test_a_file_from_the_first_format_still_runs_and_rolls_back(tmp_path: Path) -> None:
    # Written before promotions stored undo records: history held the replaced primaries.
    (tmp_path / "models.yaml").write_text(
        f"primary: {TINY}\nhistory: [mobilenet_v2_imagenet, {V1}]\n"
        f"roles: {{mobilenet_v2_imagenet: shadow, {V1}: shadow}}\n")
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    assert registry.effective().primary.name == TINY
    registry.rollback()
    assert _roles(registry)[V1] == "primary" and _roles(registry)[TINY] == "shadow"
    assert "promoted:" in (tmp_path / "models.yaml").read_text()  # saved in today's format
    registry.rollback()
    roles = _roles(registry)
    assert roles["mobilenet_v2_imagenet"] == "primary" and roles[V1] == roles[TINY] == "shadow"


def test_rollback_gives_a_configured_model_its_configured_role_back(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    registry.promote("mobilenet_v2_inat_birds")  # configured as critical
    registry.rollback()
    assert _roles(registry) == {"mobilenet_v2_imagenet": "primary",
                                "mobilenet_v2_inat_birds": "critical"}
    registry.register(TINY, "canary")
    registry.promote(TINY)
    registry.rollback()
    assert _roles(registry)[TINY] == "canary"


def test_a_head_made_critical_in_the_configuration_also_gives_way(tmp_path: Path) -> None:
    configured = ModelsConfig(use=[  # type: ignore[call-arg]
        ModelUse(name="mobilenet_v2_imagenet", role="primary"),  # type: ignore[call-arg]
        ModelUse(name="coop-0", role="critical",  # type: ignore[call-arg]
                 package=str(_package(tmp_path / "coop-0", blend=0.5)))])
    registry = ModelRegistry(tmp_path / "state", configured)
    registry.register("coop-1", package=_package(tmp_path / "coop-1", blend=0.5))
    with pytest.raises(RegistryError, match="coop-0 already decides"):
        registry.promote("coop-0")
    registry.promote("coop-1")
    assert _roles(registry) == {"mobilenet_v2_imagenet": "primary", "coop-0": "shadow",
                                "coop-1": "critical"}
    registry.rollback()
    assert _roles(registry) == {"mobilenet_v2_imagenet": "primary", "coop-0": "critical",
                                "coop-1": "shadow"}


def test_unregister_drops_a_run_time_shadow_and_refuses_what_decides(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    registry.register(TINY)
    registry.register(V1)
    registry.unregister(TINY)
    assert TINY not in _roles(registry) and _roles(registry)[V1] == "shadow"
    with pytest.raises(RegistryError, match="not a shadow registered at run time"):
        registry.unregister("mobilenet_v2_inat_birds")  # configured
    registry.promote(V1)
    registry.register(TINY)
    registry.promote(TINY)  # V1 is a shadow again, and a rollback would make it primary
    assert _roles(registry)[V1] == "shadow"
    with pytest.raises(RegistryError, match="promoted once"):
        registry.unregister(V1)


def test_each_camera_s_default_head_is_promoted_and_rolled_back_on_its_own(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path, ModelsConfig())  # type: ignore[call-arg]
    heads = {c: tmp_path.resolve() / f"scene-default-{c}-1" for c in ("nest", "yard")}
    registry.shadow_heads({c: (f"scene-default-{c}-1", f) for c, f in heads.items()})
    assert registry.effective().camera_head_shadows == {c: str(f) for c, f in heads.items()}
    registry.promote_head("scene-default-nest-1", heads["nest"], "nest")
    with pytest.raises(RegistryError, match="already decides for camera nest"):
        registry.promote_head("scene-default-nest-1", heads["nest"], "nest")
    registry.promote_head("scene-default-yard-1", heads["yard"], "yard")
    again = tmp_path.resolve() / "scene-default-nest-2"
    registry.promote_head("scene-default-nest-2", again, "nest")
    effective = registry.effective()
    assert effective.camera_heads == {"nest": str(again), "yard": str(heads["yard"])}
    assert effective.camera_head_shadows == {}  # each left the shadows when promoted
    # Rolled back newest first, each camera to the head it had before that promotion.
    assert registry.rollback() == "scene-default-nest-2 (camera nest)"
    assert registry.effective().camera_heads == {"nest": str(heads["nest"]),
                                                 "yard": str(heads["yard"])}
    assert registry.rollback() == "scene-default-yard-1 (camera yard)"
    assert registry.rollback() == "scene-default-nest-1 (camera nest)"
    assert registry.effective().camera_heads == {}
    # Kept across restarts: a new registry on the same folder reads the same.
    registry.shadow_heads({"nest": ("scene-default-nest-2", again)})
    assert ModelRegistry(tmp_path, ModelsConfig()).effective().camera_head_shadows == {  # type: ignore[call-arg]
        "nest": str(again)}


def test_a_damaged_camera_head_map_is_named(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("heads: [nest]\n")
    with pytest.raises(RegistryError, match=r"models.yaml: heads must map camera names to head"):
        ModelRegistry(tmp_path, ModelsConfig()).effective()  # type: ignore[call-arg]
