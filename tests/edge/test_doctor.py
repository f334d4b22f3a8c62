"""doctor: each part checked for real, and what is wrong said in words."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import parse_config
from edge.doctor.checks import FAIL, OK, run_checks


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
            "models": {"use": [{"name": "no_such_model", "role": "primary"}]},
            "reporters": {"mqtt": {"enabled": True, "port": port}},
        }
    )
    findings = {f.part: f for f in run_checks(config, asset_store)}
    assert findings["camera gate"].status == FAIL
    assert "missing.mp4" in findings["camera gate"].message
    assert findings["models"].status == FAIL
    assert "no_such_model" in findings["models"].message
    assert findings["mqtt"].status == FAIL
    assert findings["mqtt"].message.startswith(f"broker 127.0.0.1:{port} unreachable")


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
