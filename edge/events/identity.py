"""Who this appliance is on a shared broker: its node name, MQTT client id and topic prefix.

Several coops on one broker must not share a client id (the broker would close one connection
for the other, again and again), topics or a Home Assistant device. So each appliance is a
*node*: ``reporters.mqtt.node`` when set, else a name chosen once and kept in the state folder
(``identity.json``, written durably): the host name, or ``coop-<6 hex>`` when the host name is
one every fresh Pi has (``raspberrypi``). Its topics are ``<topic_root>/<node>/...``; the group
command of the whole farm is ``<topic_root>/all/armed/set``.

An appliance upgraded from before identities (its state folder has an event log but no
``identity.json``) keeps its old topics and Home Assistant device: node ``tensorchicken``,
topics ``tensorchicken/...``, with a client id of its own (``tensorchicken-<host>``); that
choice is written to ``identity.json`` and logged once.

Example::

    identity = node_identity(config.reporters.mqtt, state_dir)  # before the event log opens
    identity.node, identity.prefix      # 'coop-east', 'tensorchicken/coop-east'
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.config.reporters import GROUP_NODE, MqttConfig
from groundwork.durable import write_durably

log = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"
LEGACY_NODE = "tensorchicken"  # client id, topic prefix and device of every appliance before
# Host names every fresh image has: two coops named so would collide.
GENERIC_HOSTS = frozenset({"raspberrypi", "localhost", "pi", "raspberry", "debian", "ubuntu",
                           "dietpi", GROUP_NODE})
_NOT_NODE = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """One appliance's names on the broker."""

    node: str       # names the Home Assistant device and the topics
    client_id: str  # the MQTT client id (the node unless configured)
    prefix: str     # this appliance's topics start with it
    root: str       # the farm's topics (group command, farm view) start with it

    @property
    def group_set(self) -> str:
        """The farm-wide arm/disarm command topic."""
        return f"{self.root}/{GROUP_NODE}/armed/set"


def node_from_host(hostname: str) -> str | None:
    """The host name as a node name, or None when it would not tell coops apart."""
    name = _NOT_NODE.sub("-", hostname.split(".")[0].lower()).strip("-_")[:40]
    return None if not name or name in GENERIC_HOSTS else name


def _stored(path: Path) -> dict[str, str | None] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ({exc}); set reporters.mqtt.node or delete "
                         "the file to choose a new identity") from None
    if not isinstance(data, dict) or not isinstance(data.get("node"), str):
        raise ValueError(f"{path}: no 'node' in it; set reporters.mqtt.node or delete the file")
    return data


def _chosen(state_dir: Path, hostname: Callable[[], str]) -> dict[str, str | None]:
    """The identity kept in the state folder, chosen (and kept) now if there is none."""
    path = Path(state_dir) / IDENTITY_FILE
    stored = _stored(path)
    if stored is not None:
        return stored
    mine = node_from_host(hostname()) or f"coop-{secrets.token_hex(3)}"
    if (Path(state_dir) / "events.sqlite3").exists():
        # Old topics and device, but a client id of its own: two upgraded appliances on one
        # broker must not take each other's connection every second.
        record: dict[str, str | None] = {"node": LEGACY_NODE, "topic_prefix": LEGACY_NODE,
                                         "client_id": f"{LEGACY_NODE}-{mine}"}
        log.warning("mqtt: this appliance ran before per-appliance identities: it keeps its "
                    "topics %s/... and its Home Assistant device (kept in %s; to join a farm "
                    "under %s/<node>/..., set reporters.mqtt.node, see README 'Several coops')",
                    LEGACY_NODE, path, LEGACY_NODE)
    else:
        record = {"node": mine, "topic_prefix": None}
        log.info("mqtt: this appliance is node %r (kept in %s)", mine, path)
    try:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        write_durably(path, json.dumps(record).encode())
    except OSError as exc:  # a full disk must not stop the guard: this run uses it anyway
        log.error("mqtt: identity %r not kept in %s (%s): chosen again at the next start",
                  record["node"], path, exc)
    return record


def node_identity(cfg: MqttConfig, state_dir: Path, *,
                  hostname: Callable[[], str] = socket.gethostname) -> NodeIdentity:
    """This appliance's identity: the configuration's settings, else the state folder's.

    Call it before the event log is first created (an event log without ``identity.json``
    marks an appliance upgraded from a single-appliance version).
    """
    root = cfg.topic_root.rstrip("/")
    record: dict[str, str | None] = {"node": cfg.node}
    if cfg.node is None:
        record = _chosen(state_dir, hostname)
    node = str(record["node"])
    prefix = (cfg.topic_prefix or record.get("topic_prefix") or f"{root}/{node}").rstrip("/")
    client_id = cfg.client_id or record.get("client_id") or node
    return NodeIdentity(node=node, client_id=client_id, prefix=prefix, root=root)
