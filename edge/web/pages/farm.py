"""Farm: every appliance on the broker (online, armed, last event, last frame age, backlog,
canary alarm), read from their retained topics at each page load, as ``tensorchicken farm``."""

from __future__ import annotations

from edge.events.farm import COLUMNS, FarmError, read_farm
from edge.secrets import read_secret
from edge.web.auth import Guard
from edge.web.context import WebContext
from edge.web.http import Response, Router, html
from edge.web.ui import esc, page, table

SETTLE_S = 0.5  # quiet after the last retained message: the broker sends them all at once
TIMEOUT_S = 5.0


def register(router: Router, ctx: WebContext, guard: Guard) -> None:
    """Add the route."""
    router.add("GET", r"/farm", lambda req: farm_page(ctx, guard))


def farm_page(ctx: WebContext, guard: Guard) -> Response:
    """The farm view; a broker that cannot be read is said, not an error page."""
    cfg = ctx.config.reporters.mqtt
    if not cfg.enabled:
        body = '<p class="muted">MQTT is off (reporters.mqtt.enabled): no farm to show.</p>'
        return html(page("farm", "Farm", body, guard.csrf_token))
    try:
        nodes = read_farm(cfg, read_secret("mqtt_password"), settle_s=SETTLE_S,
                          timeout_s=TIMEOUT_S)
    except FarmError as exc:
        body = f'<p class="muted">The broker could not be read: {esc(exc)}</p>'
        return html(page("farm", "Farm", body, guard.csrf_token))
    where = f"{cfg.host}:{cfg.port}, under {cfg.topic_root}/"
    body = (f'<p class="muted">Every appliance seen on {esc(where)}. An account limited by the '
            "farm ACL sees only this appliance (README, 'Several coops').</p>"
            + (table(COLUMNS, (n.cells() for n in nodes), css="farm") if nodes else
               '<p class="muted">No appliance has reported yet.</p>'))
    return html(page("farm", "Farm", body, guard.csrf_token))
