"""doctor: each part checked for real, and what is wrong said in words."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from classifier.keeper import ModelKeeper
from classifier.registry import ModelRegistry
from classifier.rendezvous import load_rendezvous
from edge.assets import AssetStore
from edge.cli import main
from edge.config import parse_config
from edge.doctor.checks import (
    FAIL,
    OK,
    WARN,
    check_cameras,
    check_disk,
    check_pins,
    run_checks,
    service_pid,
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_laptop_with_defaults_is_healthy(asset_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = parse_config({"paths": {"state_dir": str(tmp_path)}})
    findings = {f.part: f for f in run_checks(config, asset_store)}
    assert findings["models"].status == OK
    assert (
        "mobilenet_v2_imagenet, mobilenet_v2_inat_birds loaded and ran"
        in findings["models"].message
    )
    assert findings["camera coop"].status == OK
    assert findings["camera coop"].message == "1280x720 frames"
    assert findings["pins"].status == OK
    assert findings["mqtt"].message == "disabled"
    assert findings["disk"].status == OK
    assert not [f for f in findings.values() if f.status == FAIL]


def test_broken_parts_are_named(asset_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = closed_port()
    config = parse_config(
        {
            "paths": {"state_dir": str(tmp_path)},
            "cameras": [
                {"name": "gate", "kind": "opencv", "address": str(tmp_path / "missing.mp4")}
            ],
            # A name the manifest lacks is refused with the file; a package that is not there
            # is found by loading it.
            "models": {"use": [{"name": "own", "package": str(tmp_path / "no_such_package"),
                                "role": "primary"}]},
            "reporters": {"mqtt": {"enabled": True, "port": port}},
        }
    )
    findings = {f.part: f for f in run_checks(config, asset_store)}
    assert findings["camera gate"].status == FAIL
    assert "missing.mp4" in findings["camera gate"].message
    assert findings["models"].status == FAIL
    assert "no_such_package" in findings["models"].message
    assert findings["mqtt"].status == FAIL
    assert findings["mqtt"].message.startswith(f"broker 127.0.0.1:{port} unreachable")


def test_a_state_folder_that_is_a_file_is_a_failure_not_a_crash(
    asset_store, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    taken = tmp_path / "state"
    taken.write_text("not a folder")
    config = parse_config({"paths": {"state_dir": str(taken)}})
    found = [f for f in check_disk(config, asset_store) if f.status == FAIL]
    assert [f.message for f in found] == [
        f"the state folder (paths.state_dir) {taken}: a file is there, not a folder"]


def test_the_command_exits_1_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"paths: {{state_dir: {tmp_path}}}\n"
        f"reporters: {{mqtt: {{enabled: true, port: {closed_port()}}}}}\n"
    )
    assert main(["doctor", "-c", str(config), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert {"part": "mqtt", "status": "fail"}.items() <= next(
        f for f in findings if f["part"] == "mqtt"
    ).items()


def test_parts_the_running_service_holds_are_warnings_not_failures(
    asset_store: AssetStore, tmp_path: Path
) -> None:
    config = parse_config({
        "paths": {"state_dir": str(tmp_path)},
        "cameras": [{"name": "usb", "kind": "opencv", "address": "/dev/video99"}],
        "models": {"use": [{"name": "mobilenet_v1_025_imagenet", "role": "primary"}]},
    })
    checks = (check_cameras, check_pins)
    alone = {f.part: f for f in run_checks(config, asset_store, checks)}
    assert alone["camera usb"].status == FAIL and alone["pins"].status == OK
    registry = ModelRegistry(tmp_path, config.models)
    with load_rendezvous(registry.effective(), asset_store) as rendezvous:
        keeper = ModelKeeper(rendezvous, registry, tmp_path, threading.Event())
        keeper.write_status()  # what the running appliance publishes
        assert service_pid(config) == os.getpid()
        running = {f.part: f for f in run_checks(config, asset_store, checks)}
        keeper.write_status(running=False)  # and on its way out
    held = f"in use by the running service (pid {os.getpid()})"
    assert running["camera usb"].status == WARN and held in running["camera usb"].message
    assert "/dev/video99" in running["camera usb"].message
    assert running["pins"].status == WARN and held in running["pins"].message
    assert service_pid(config) is None
    assert {f.part: f.status for f in run_checks(config, asset_store, checks)} == {
        "camera usb": FAIL, "pins": OK}
