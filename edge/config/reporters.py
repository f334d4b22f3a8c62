"""Where events go: MQTT (Home Assistant), X/Twitter, and the local archive.

Secrets are never part of this file: see ``edge.secrets``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config.base import Section


class MqttConfig(Section):
    """An MQTT broker; the password comes from the secret ``mqtt_password``."""

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = Field(None, description="CA bundle for TLS; the system's when unset")
    username: str | None = None
    client_id: str = Field("tensorchicken", min_length=1, max_length=64)
    topic_prefix: str = Field("tensorchicken", pattern=r"^[^#+]+$")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+]+$")
    keepalive_s: int = Field(30, ge=5, le=3600)


class TwitterConfig(Section):
    """Posting to X; the four OAuth 1.0a keys come from secrets ``twitter_*``."""

    enabled: bool = False
    daily_allowance: int = Field(15, ge=0, le=1000, description="Posts per 24 h at most")
    digest_time: str = Field("20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    api_base: str = Field("https://api.x.com", description="X API root (tests point it elsewhere)")


class ArchiveConfig(Section):
    """Snapshots and the exact model inputs of each event, kept on local disk."""

    enabled: bool = True
    max_age_days: float = Field(30.0, gt=0, le=3650)
    min_free_mb: float = Field(500.0, ge=0, description="Oldest files go first to keep this free")
    jpeg_quality: int = Field(85, ge=10, le=100)


class ReportersConfig(Section):
    """Every reporter; each delivers from its own cursor in the event log."""

    mqtt: MqttConfig = Field(default_factory=MqttConfig)  # type: ignore[arg-type]
    twitter: TwitterConfig = Field(default_factory=TwitterConfig)  # type: ignore[arg-type]
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)  # type: ignore[arg-type]

    @model_validator(mode="before")
    @classmethod
    def _no_plain_secrets(cls, data: object) -> object:
        secret_keys = {"password", "api_key", "api_secret", "access_token", "access_secret",
                       "consumer_key", "consumer_secret", "access_token_secret", "bearer_token"}
        if isinstance(data, dict):
            for section in ("mqtt", "twitter"):
                found = secret_keys & set(data.get(section) or {})
                if found:
                    raise ValueError(
                        f"{section}.{sorted(found)[0]}: secrets are not read from the config file; "
                        "set them in the environment (TENSORCHICKEN_<NAME>) or as a systemd "
                        "credential (see README, 'Secrets')"
                    )
        return data
