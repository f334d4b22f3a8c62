"""The ``web:`` configuration section: where the page is served, and how often it refreshes."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from edge.config.system import HostPort
from groundwork.section import Section

DEFAULT_ADDRESS = "127.0.0.1:8080"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever reaches this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or empty (every interface): not known to stay on this machine


class WebConfig(Section):
    """The coop's web page. Loopback only by default; any other address needs a password
    (credential ``web_password`` or ``TENSORCHICKEN_WEB_PASSWORD``, never this file)."""

    address: HostPort = Field(
        DEFAULT_ADDRESS,
        description="host:port to serve the page on; null to switch it off. Anything but "
        "loopback requires the web_password credential",
    )
    refresh_s: float = Field(
        2.0, ge=0.5, le=60, description="How often an open live page asks for a new picture"
    )
