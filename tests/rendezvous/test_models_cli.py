"""``tensorchicken models`` and the keeper that applies changes to a running rendezvous."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from classifier.feature_head import SECOND_LOOK_DIR, load_feature_head, shipped_head
from classifier.keeper import ModelKeeper, read_status
from classifier.registry import ModelRegistry
from classifier.rendezvous import Rendezvous
from edge.cli import main
from edge.config import load_config
from edge.doctor.checks import check_rendezvous
from tests.conftest import SHARED_DATA, gated_refit_copy
from tests.rendezvous.conftest import uses

V2, V1, TINY = "mobilenet_v2_imagenet", "mobilenet_v1_075_imagenet", "mobilenet_v1_025_imagenet"


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"models:\n  use:\n    - {{name: {V2}, role: primary}}\n"
                    f"    - {{name: {TINY}, role: canary, threads: 1}}\n"
                    f"paths: {{state_dir: {tmp_path / 'state'}}}\n")
    return path


def test_promote_list_rollback_when_nothing_runs(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "promote", V1, "-c", str(config)]) == 0
    assert f"primary {V1} (recorded)" in capsys.readouterr().out
    assert main(["models", "list", "-c", str(config), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["name"]: m["role"] for m in listed["models"]} == {
        V2: "shadow", TINY: "canary", V1: "primary"} and listed["running"] is False
    assert main(["models", "rollback", "-c", str(config)]) == 0
    assert main(["models", "rollback", "-c", str(config)]) == 1
    assert "nothing to roll back" in capsys.readouterr().err


def test_list_names_the_default_head_and_each_camera_s_re_fit(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refit = tmp_path / "scene-default-x"
    gated_refit_copy(refit, "refit-1", crops=7)
    registry = ModelRegistry(tmp_path / "state", load_config(config).models)

    def listed() -> dict[str, Any]:
        assert main(["models", "list", "-c", str(config), "--json"]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    assert listed()["default_head"]["name"] == shipped_head().name
    assert listed()["camera_heads"] == listed()["camera_head_shadows"] == {}
    look = load_feature_head(SECOND_LOOK_DIR)
    assert listed()["second_look"] == {
        "name": look.name, "folder": None, "lights": ["day_colour", "night_ir", "night_colour"],
        "scene_crops": None, "error": None, "undecided_from": 0.2}
    assert main(["models", "list", "-c", str(config)]) == 0
    assert (f"second look:  {look.name} (shipped; its crops scored from 0.2 up to the "
            "threshold, in the default head's place") in capsys.readouterr().out
    registry.shadow_heads({"coop": ("default-refit-1", refit)})
    now = listed()
    assert now["default_head"]["name"] == shipped_head().name and now["camera_heads"] == {}
    assert now["camera_head_shadows"] == {"coop": {
        "name": "default-refit-1", "folder": str(refit),
        "lights": ["day_colour", "night_ir", "night_colour"], "scene_crops": 7, "error": None}}
    assert main(["models", "list", "-c", str(config)]) == 0
    assert ("camera coop's shadow: default-refit-1 (re-fitted; decides near its 7 crops, the "
            "shipped head elsewhere; scored beside it") in capsys.readouterr().out
    registry.promote_head("default-refit-1", refit, "coop")
    now = listed()
    assert now["default_head"]["name"] == shipped_head().name
    assert now["camera_heads"]["coop"]["name"] == "default-refit-1"
    assert now["camera_head_shadows"] == {}
    assert main(["models", "rollback", "-c", str(config)]) == 0
    assert "rolled back default-refit-1" in capsys.readouterr().out
    assert listed()["camera_heads"] == {}


def test_a_model_that_cannot_load_changes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "promote", "no_such_model", "-c", str(config)]) == 1
    assert "nothing changed: model 'no_such_model' is not in the manifest" in (
        capsys.readouterr().err)
    assert not (config.parent / "state" / "models.yaml").exists()


def test_compare_on_a_labelled_set(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label,subclass\nimages/chicken/c4f__47.png,chicken,hen\n"
                        "images/predator/coral__owl.jpg,predator,owl\n")
    args = ["models", "compare", "-c", str(config), "--manifest", str(manifest),
            "--root", str(SHARED_DATA), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pictures"] == 2 and report["canary"] == TINY
    primary = report["models"][V2]
    assert primary["agreement_with_primary"] == 1.0 and sum(primary["verdicts"].values()) == 2
    assert 0 <= primary["accuracy"] <= 1 and "predator_recall" in primary
    assert main(["models", "compare", "-c", str(config), "--root", "x"]) == 2


def test_keeper_applies_a_config_reload_and_reports_a_refused_one(
    loader: Any, tmp_path: Path, config: Path
) -> None:
    state = tmp_path / "state"
    cfg = load_config(config)
    registry = ModelRegistry(state, cfg.models)
    stop = threading.Event()
    with Rendezvous(registry.effective(), loader()) as rendezvous:
        wanted = [uses((V1, "primary"), (TINY, "canary")), uses(("no_such", "primary"))]
        keeper = ModelKeeper(rendezvous, registry, state, stop, reread=lambda: wanted[0])
        assert keeper.reload("SIGHUP") is not None and rendezvous.plan.primary == V1
        keeper.reread = lambda: wanted[1]
        assert keeper.reload("SIGHUP") is None and rendezvous.plan.primary == V1
        keeper.close()
    status = read_status(state)
    assert status is not None and "no_such" in status["last_error"]
    findings = list(check_rendezvous(cfg, None))  # type: ignore[arg-type]
    assert any(f.status == "warn" and "refused" in f.message for f in findings)


def test_keeper_rewrites_only_the_runtime_copy_until_something_lasting_changes(
    loader: Any, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    registry = ModelRegistry(state, load_config(config).models)
    kept = state / "models_status.json"
    with Rendezvous(registry.effective(), loader()) as rendezvous:
        keeper = ModelKeeper(rendezvous, registry, state, threading.Event(), runtime_dir=run)
        keeper.write_status()
        first = kept.stat()
        for _ in range(3):  # the keeper's periodic writes: figures only
            keeper.write_status()
        live = json.loads((run / "models_status.json").read_text())
        assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
        assert read_status(state) == live and live["primary"] == V2
        assert main(["models", "list", "-c", str(config), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["running"] is True
        keeper.reread = lambda: uses((V1, "primary"))
        assert keeper.reload("SIGHUP") is not None
        assert json.loads(kept.read_text())["primary"] == V1  # a swap reaches the SD card
        keeper.close()
        keeper.write_status(running=False)
    (run / "models_status.json").unlink()  # systemd removes the runtime directory on stop
    stopped = read_status(state)
    assert stopped is not None and stopped["running"] is False and stopped["primary"] == V1
