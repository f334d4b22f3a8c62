"""Who may use the page: loopback or a password, a CSRF token on every change, honest Hosts.

- Loopback (the default): no password, but the ``Host`` header must name this machine
  (``localhost``, 127.0.0.1, ``[::1]``), so that a web site the owner visits cannot point its own
  name at 127.0.0.1 (DNS rebinding) and read or drive the page.
- Any other address: HTTP Basic authentication with the ``web_password`` credential (systemd
  ``LoadCredential=web_password:...``, or ``TENSORCHICKEN_WEB_PASSWORD``), never from the
  configuration file; without one the server refuses to start.
- Every POST carries the page's CSRF token (random per start): a page from another site can
  make the browser send a form here, but cannot read the token to put in it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass, field

from pydantic import SecretStr

from edge.config.web import is_loopback
from edge.health.metrics import parse_address
from edge.secrets import read_secret

PASSWORD_CREDENTIAL = "web_password"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class WebSecurityError(ValueError):
    """The page cannot be served safely as configured (no password off loopback)."""


@dataclass(frozen=True, slots=True)
class Guard:
    """The rules for one running server."""

    loopback: bool
    password: SecretStr | None
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def host_ok(self, host_header: str | None) -> bool:
        """Whether the request's ``Host`` may be served (any, once a password guards the page)."""
        if self.password is not None:
            return True
        if not host_header:
            return False
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        name = name.strip("[]").lower()
        return name in LOOPBACK_NAMES or (name.startswith("127.") and is_loopback(name))

    def authorised(self, authorization: str | None) -> bool:
        """Whether the ``Authorization`` header carries the password (always, without one)."""
        if self.password is None:
            return True
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, given = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), self.password.get_secret_value().encode())

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a form's token is this server's."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_token.encode())


def guard_for(address: str, environ: dict[str, str] | None = None) -> Guard:
    """The guard for a server bound to ``address`` (``host:port``); WebSecurityError when a
    password is needed and none is set."""
    host, _ = parse_address(address, "web.address")
    password = read_secret(PASSWORD_CREDENTIAL, environ)
    if password is not None and not password.get_secret_value():
        password = None
    if is_loopback(host):
        return Guard(loopback=True, password=password)
    if password is None:
        shown = host or "every interface"
        raise WebSecurityError(
            f"web.address binds {shown}, beyond this machine: set a password in the systemd "
            f"credential {PASSWORD_CREDENTIAL} ($CREDENTIALS_DIRECTORY/{PASSWORD_CREDENTIAL}) or "
            f"in TENSORCHICKEN_WEB_PASSWORD, or bind 127.0.0.1 and use an SSH tunnel")
    return Guard(loopback=False, password=password)
