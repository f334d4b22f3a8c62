"""Each appliance's identity on a shared broker: chosen once, kept, configurable; upgrades keep
their topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config.reporters import MqttConfig
from edge.events.identity import IDENTITY_FILE, node_from_host, node_identity


def test_a_fresh_appliance_is_named_after_its_host_and_keeps_that_name(tmp_path: Path) -> None:
    first = node_identity(MqttConfig(), tmp_path, hostname=lambda: "Coop-East.local")
    assert (first.node, first.client_id) == ("coop-east", "coop-east")
    assert first.prefix == "tensorchicken/coop-east"
    assert first.group_set == "tensorchicken/all/armed/set"
    # Renamed host later: the topics and the Home Assistant device stay.
    again = node_identity(MqttConfig(), tmp_path, hostname=lambda: "barn")
    assert again == first
    assert json.loads((tmp_path / IDENTITY_FILE).read_text())["node"] == "coop-east"


def test_coops_with_the_image_default_host_name_get_distinct_kept_ids(tmp_path: Path) -> None:
    names = {node_identity(MqttConfig(), tmp_path / str(i), hostname=lambda: "raspberrypi").node
             for i in range(3)}
    assert len(names) == 3 and all(n.startswith("coop-") for n in names)
    kept = node_identity(MqttConfig(), tmp_path / "0", hostname=lambda: "raspberrypi").node
    assert kept in names


def test_an_upgraded_single_appliance_keeps_its_topics_and_device(tmp_path: Path) -> None:
    (tmp_path / "events.sqlite3").write_bytes(b"")  # it ran before identities existed
    legacy = node_identity(MqttConfig(), tmp_path, hostname=lambda: "henhouse")
    assert (legacy.node, legacy.prefix) == ("tensorchicken", "tensorchicken")
    # ...but not the shared client id: two upgraded coops must not take turns connecting.
    assert legacy.client_id == "tensorchicken-henhouse"
    assert node_identity(MqttConfig(), tmp_path, hostname=lambda: "renamed") == legacy
    # Told to join the farm: the configured node wins over the kept legacy prefix.
    joined = node_identity(MqttConfig(node="henhouse"), tmp_path)
    assert joined.prefix == "tensorchicken/henhouse"


def test_the_configuration_sets_node_client_id_and_prefix(tmp_path: Path) -> None:
    cfg = MqttConfig(node="north", client_id="north-pi", topic_root="farm/")
    identity = node_identity(cfg, tmp_path, hostname=lambda: "ignored")
    assert (identity.node, identity.client_id, identity.prefix, identity.group_set) == (
        "north", "north-pi", "farm/north", "farm/all/armed/set")
    assert not (tmp_path / IDENTITY_FILE).exists()


def test_all_is_not_a_node_and_a_broken_identity_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="names every appliance"):
        MqttConfig(node="All")
    (tmp_path / IDENTITY_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=IDENTITY_FILE):
        node_identity(MqttConfig(), tmp_path)


def test_host_names_that_cannot_tell_coops_apart() -> None:
    assert node_from_host("raspberrypi") is None and node_from_host("") is None
    assert node_from_host("Coop 2!") == "coop-2"


def test_an_unwritable_state_folder_does_not_stop_the_appliance(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a folder that cannot be made, like on a full disk
    state = tmp_path / "file" / "state"
    identity = node_identity(MqttConfig(), state, hostname=lambda: "coop-west")
    assert identity.node == "coop-west" and not state.exists()
