"""Every page and file the server answers, by route."""

from __future__ import annotations

from edge.config.web import WebConfig
from edge.web.auth import Guard
from edge.web.context import WebContext
from edge.web.http import Router


def build_router(ctx: WebContext, guard: Guard, cfg: WebConfig) -> Router:
    """The routes of every page, bound to the running appliance."""
    from edge.web.pages import events, farm, files, health, live, models

    router = Router()
    files.register(router, ctx)
    live.register(router, ctx, guard, cfg)
    events.register(router, ctx, guard)
    models.register(router, ctx, guard)
    health.register(router, ctx, guard)
    farm.register(router, ctx, guard)
    return router
