"""Secrets come from systemd credentials or the environment and never show in a repr."""

from __future__ import annotations

from pathlib import Path

from edge.secrets import read_secret


def test_a_systemd_credential_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "mqtt_password").write_text("from-credstore\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "TENSORCHICKEN_MQTT_PASSWORD": "from-env"}
    secret = read_secret("mqtt_password", env)
    assert secret is not None and secret.get_secret_value() == "from-credstore"
    assert "from-credstore" not in repr(secret) and "from-credstore" not in str(secret)


def test_the_environment_and_unset() -> None:
    secret = read_secret("twitter_access_token", {"TENSORCHICKEN_TWITTER_ACCESS_TOKEN": "t0ken"})
    assert secret is not None and secret.get_secret_value() == "t0ken"
    assert read_secret("twitter_access_token", {}) is None
    assert read_secret("mqtt_password", {"CREDENTIALS_DIRECTORY": "/nonexistent"}) is None
