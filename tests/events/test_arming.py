"""A disarm from MQTT survives a restart; a configuration changed since then is a new decision;
the log and ``doctor`` say which one is in force and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import Config, parse_config
from edge.doctor.checks import check_arming
from edge.events.broker import MosquittoBroker


def _config(state: Path, broker: MosquittoBroker, cooldown_s: float = 40) -> Config:
    return parse_config(yaml.safe_load(f"""
cameras: [{{name: coop, kind: replay, address: "asset:speciesnet__blank2.jpg"}}]
models: {{use: [{{name: mobilenet_v2_imagenet, role: primary}}]}}
decision: {{armed: true, cooldown_s: {cooldown_s}}}
reporters: {{mqtt: {{enabled: true, host: {broker.host}, port: {broker.port}, node: coop}}}}
health: {{metrics_address: null}}
paths: {{state_dir: "{state}"}}
"""), "test")


def _start(config: Config, asset_store: AssetStore) -> Appliance:
    return Appliance(config, asset_store, pin_factory=MockFactory(pin_class=MockPWMPin))


def test_a_disarm_from_mqtt_survives_a_restart_until_the_configuration_changes(
        asset_store: AssetStore, tmp_path: Path, broker: MosquittoBroker, watch: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    config = _config(state, broker)
    watcher = watch(broker, "tensorchicken/coop/armed")
    with _start(config, asset_store) as app:
        assert app.decider.armed
        app._start_reporters()
        assert watcher.wait(lambda: watcher.on("tensorchicken/coop/armed")[-1:] == [b"ON"])
        watcher.client.publish("tensorchicken/coop/armed/set", "OFF", qos=1)
        assert watcher.wait(lambda: watcher.on("tensorchicken/coop/armed")[-1:] == [b"OFF"])
    # Killed or restarted: the owner's disarm still holds, and the log says why.
    caplog.clear()
    with _start(config, asset_store) as app:
        assert not app.decider.armed
    assert "starting disarmed: the owner's last command (disarm by mqtt" in caplog.text
    [finding] = check_arming(config, asset_store)
    assert finding.message.startswith("disarmed at start: the owner's last command")
    # The owner edits the file afterwards: that is the newer decision.
    changed = _config(state, broker, cooldown_s=30)
    caplog.clear()
    with _start(changed, asset_store) as app:
        assert app.decider.armed
    assert "starting ARMED: decision.armed: true in the configuration, changed since" in caplog.text
    [finding] = check_arming(changed, asset_store)
    assert finding.message.startswith("armed at start: decision.armed: true")
