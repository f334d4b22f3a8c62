"""Secrets (MQTT password, X keys) from systemd credentials or the environment, never the file.

A secret named ``mqtt_password`` is read from ``$CREDENTIALS_DIRECTORY/mqtt_password``
(systemd's ``LoadCredential=``) or, failing that, from ``TENSORCHICKEN_MQTT_PASSWORD``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

KNOWN = (
    "mqtt_password",
    "twitter_consumer_key",
    "twitter_consumer_secret",
    "twitter_access_token",
    "twitter_access_token_secret",
    "web_password",
)


def read_secret(name: str, environ: dict[str, str] | None = None) -> SecretStr | None:
    """The secret ``name``, wrapped so that it never shows in a repr or a log; None if unset."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            return SecretStr(path.read_text(encoding="utf-8").strip())
    value = env.get(f"TENSORCHICKEN_{name.upper()}")
    return SecretStr(value) if value else None
