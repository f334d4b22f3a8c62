"""Where events go: MQTT (Home Assistant), X/Twitter, and the local archive.

Secrets are never part of this file: see ``edge.secrets``.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from groundwork.section import Section

GROUP_NODE = "all"  # <topic_root>/all/armed/set reaches every appliance


class MqttConfig(Section):
    """An MQTT broker; the password comes from the secret ``mqtt_password``.

    Topics (under ``<topic_root>/<node>``): ``events`` (JSON, QoS 1), ``snapshot`` (JPEG, retained),
    ``state`` (JSON, retained), ``predator`` (``ON`` per fresh predator), ``availability``
    (``online``/``offline``, retained, the last will), ``armed`` (retained) and ``armed/set``
    (the command topic: ``ON`` or ``OFF``, anything else is logged and ignored); every
    appliance also obeys ``<topic_root>/all/armed/set``.
    """

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual for TLS)")
    tls: bool = Field(False, description="Connect with TLS, checking the broker's certificate")
    ca_file: str | None = Field(None, description="CA bundle for TLS; the system's when unset")
    username: str | None = Field(None, description="User name; the password is a secret")
    node: str | None = Field(
        None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$",
        description="This appliance's name on the broker: its topics <topic_root>/<node>/..., "
        "its client id and its Home Assistant device; unset: chosen once from the host name "
        "and kept in the state folder (identity.json)")
    area: str | None = Field(None, min_length=1, max_length=64,
                             description="Home Assistant's suggested area for the device")
    client_id: str | None = Field(None, min_length=1, max_length=64,
                                  pattern=r"^[A-Za-z0-9_-]+$",
                                  description="MQTT client id; the node when unset")
    topic_root: str = Field("tensorchicken", pattern=r"^[^#+]+$",
                            description="The farm's topics: <root>/<node>/... per appliance, "
                            "<root>/all/armed/set for every appliance")
    topic_prefix: str | None = Field(
        None, pattern=r"^[^#+]+$",
        description="Every topic this appliance publishes starts with it; <topic_root>/<node> "
        "when unset ('tensorchicken' keeps a single appliance's topics from before nodes)")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+]+$",
                                  description="Home Assistant's discovery prefix")
    discovery: bool = Field(True, description="Announce entities to Home Assistant")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    off_delay_s: int = Field(60, ge=1, le=86400,
                             description="'Predator present' turns off this long after the last")
    publish_timeout_s: float = Field(10.0, gt=0, le=300,
                                     description="Wait this long for the broker's PUBACK")
    reconnect_max_s: int = Field(30, ge=1, le=3600,
                                 description="Longest wait between reconnection attempts")
    status_every_s: float = Field(60.0, ge=1, le=3600,
                                  description="How often the retained 'status' (last frame "
                                  "age, backlog) is published for the farm view")

    @field_validator("node")
    @classmethod
    def _not_the_group(cls, node: str | None) -> str | None:
        if node is not None and node.lower() == GROUP_NODE:
            raise ValueError(f"'{GROUP_NODE}' names every appliance (the group command); "
                             "choose another node name")
        return node


class TwitterConfig(Section):
    """Posting to X; the four OAuth 1.0a keys come from secrets ``twitter_*``."""

    enabled: bool = False
    daily_allowance: int = Field(15, ge=0, le=1000,
                                 description="Posts per rolling 24 h at most, predators first")
    digest: bool = Field(True, description="Post a daily digest of the events not posted")
    digest_time: str = Field("20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             description="Local time (HH:MM) of the daily digest")
    api_base: str = Field("https://api.x.com", pattern=r"^https?://[^/]+$",
                          description="X API root for the media upload (tests point it elsewhere)")
    timeout_s: float = Field(30.0, gt=0, le=300, description="HTTP timeout per request")


class ArchiveConfig(Section):
    """Snapshots and the exact model inputs of each event, kept on local disk."""

    enabled: bool = True
    max_age_days: float = Field(30.0, gt=0, le=3650, description="Older events are deleted")
    min_free_mb: float = Field(500.0, ge=0, description="Oldest files go first to keep this free")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots")
    save_crops: bool = Field(True, description="Keep the exact input each model saw (lossless)")


class ReportersConfig(Section):
    """Every reporter; each delivers from its own cursor in the event log."""

    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    twitter: TwitterConfig = Field(default_factory=TwitterConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    poll_s: float = Field(0.5, gt=0, le=10,
                          description="How often a reporter in another process looks for events")
    retry_initial_s: float = Field(1.0, gt=0, le=60, description="First wait after a failure")
    retry_max_s: float = Field(300.0, ge=1, le=3600, description="Longest wait between retries")

    @model_validator(mode="before")
    @classmethod
    def _no_plain_secrets(cls, data: object) -> object:
        secret_keys = {"password", "api_key", "api_secret", "access_token", "access_secret",
                       "consumer_key", "consumer_secret", "access_token_secret", "bearer_token"}
        if isinstance(data, dict):
            # Every secret found is named: removing one only to be told of the next is slow.
            found = [f"{section}.{key}" for section in ("mqtt", "twitter")
                     if isinstance(data.get(section), dict)
                     for key in sorted(secret_keys & set(data[section]))]
            if found:
                raise ValueError(
                    f"{', '.join(found)}: secrets are not read from the config file; "
                    "set them in the environment (TENSORCHICKEN_<NAME>) or as a systemd "
                    "credential (see README, 'Secrets')"
                )
        return data
