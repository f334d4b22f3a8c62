"""Live: each camera's newest picture with its motion boxes and last answer, the armed state
with Arm / Disarm, quiet hours and the deterrents.

The picture is asked for by the open page every ``web.refresh_s`` (not streamed): with no page
open the loops copy nothing, and a phone that hides the page stops asking.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import cv2
import numpy as np

from edge.config.web import WebConfig
from edge.decider import quiet_names
from edge.events.archive import encode_jpeg
from edge.web.auth import Guard
from edge.web.context import WebContext
from edge.web.feed import Shot
from edge.web.http import HttpError, Request, Response, Router, html, redirect
from edge.web.ui import Markup, ago, button, esc, page, table

WAIT_FOR_FRAME_S = 1.0
MAX_WIDTH = 960  # a phone screen; the full frame stays in the archive
JPEG_QUALITY = 75
BOX_BGR = (0, 200, 255)


def register(router: Router, ctx: WebContext, guard: Guard, cfg: WebConfig) -> None:
    """Add the routes."""
    router.add("GET", r"/", lambda req: live_page(ctx, guard, cfg))
    router.add("GET", r"/live/state\.json", lambda req: state(ctx))
    router.add("GET", r"/live/(?P<camera>[A-Za-z0-9_-]{1,64})\.jpg",
               lambda req, camera: picture(ctx, camera))
    router.add("POST", r"/arm", lambda req: set_armed(ctx, req, True))
    router.add("POST", r"/disarm", lambda req: set_armed(ctx, req, False))


def live_page(ctx: WebContext, guard: Guard, cfg: WebConfig) -> Response:
    """The live view."""
    csrf = guard.csrf_token
    armed = ctx.decider.armed
    arming = (button("/disarm", "Disarm", csrf, css="danger", name="disarm",
                     confirm="Disarm? Predators are still seen and reported, nothing fires.")
              if armed else button("/arm", "Arm", csrf, css="primary", name="arm"))
    decision = ctx.config.decision
    spans = ", ".join(f"{q.start}–{q.end}" for q in decision.quiet_hours) or "none"
    silenced = ", ".join(quiet_names(decision, ctx.config.gpio.deterrents)) or "none"
    quiet_now = decision.is_quiet(datetime.now().time())
    states = ctx.bank.states()
    deterrents = table(("deterrent", "kind", "pin", "now"), (
        (d.name, d.kind, d.pin,
         Markup(f'<span id="deterrent-{esc(d.name)}">{"ON" if states.get(d.name) else "off"}'
                 "</span>"))
        for d in ctx.config.gpio.deterrents))
    cameras = "".join(
        f'<section class="card"><h2>{esc(name)}</h2>'
        f'<img data-live="/live/{esc(name)}.jpg" src="/live/{esc(name)}.jpg" '
        f'alt="camera {esc(name)}" id="live-{esc(name)}">'
        f'<p id="verdict-{esc(name)}">{esc(_said(ctx, name))}</p></section>'
        for name in ctx.cameras)
    body = (
        f'<div data-state="/live/state.json" data-refresh-ms="{int(cfg.refresh_s * 1000)}"></div>'
        f'<p>Deterrents: <span id="armed-state" class="state {"on" if armed else "off"}">'
        f'{"ARMED" if armed else "DISARMED"}</span> {arming}</p>'
        f'<p class="muted">Quiet hours: {esc(spans)} (silencing {esc(silenced)}); '
        f'<span id="quiet-state">{"quiet hours now" if quiet_now else "not quiet hours"}</span>'
        '</p><p class="problem" id="live-error"></p>'
        f'<div class="cameras">{cameras}</div><h2>Deterrents</h2>{deterrents}'
    )
    return html(page("live", "Live", body, csrf))


def _said(ctx: WebContext, camera: str) -> str:
    seen = ctx.feed.sighting(camera)
    if seen is None:
        return "nothing classified yet"
    return (f"{seen.verdict} · {seen.label} {seen.score:.2f} · {seen.rule} · "
            f"{ago(time.time() - seen.at)} ago")


def state(ctx: WebContext) -> Response:
    """What the open live page refreshes: armed, quiet hours, last answers, deterrents."""
    cameras = {}
    for name in ctx.cameras:
        seen = ctx.feed.sighting(name)
        cameras[name] = ({"verdict": seen.verdict, "label": seen.label, "score": seen.score,
                          "rule": seen.rule, "age": f"{ago(time.time() - seen.at)} ago"}
                         if seen else {"verdict": None})
    body = {"armed": ctx.decider.armed,
            "quiet": ctx.config.decision.is_quiet(datetime.now().time()),
            "cameras": cameras, "deterrents": ctx.bank.states()}
    return Response(json.dumps(body).encode(), content_type="application/json")


def picture(ctx: WebContext, camera: str) -> Response:
    """The camera's newest frame as a JPEG with its motion boxes (encoded on this thread)."""
    if camera not in ctx.cameras:
        raise HttpError(404, f"no camera {camera!r}")
    shot = ctx.feed.latest(camera, WAIT_FOR_FRAME_S)
    if shot is None:
        raise HttpError(503, f"camera {camera}: no picture yet")
    return Response(encode_jpeg(drawn(shot), JPEG_QUALITY), content_type="image/jpeg")


def drawn(shot: Shot) -> np.ndarray:
    """The shot scaled to a phone's width, with its motion boxes (the shot is not changed)."""
    height, width = shot.image.shape[:2]
    scale = min(1.0, MAX_WIDTH / width)
    image = (cv2.resize(shot.image, (round(width * scale), round(height * scale)),
                        interpolation=cv2.INTER_AREA) if scale < 1.0 else shot.image.copy())
    h, w = image.shape[:2]
    for box in shot.boxes:
        x, y, bw, bh = box.to_pixels(w, h)
        cv2.rectangle(image, (x, y), (x + bw - 1, y + bh - 1), BOX_BGR, 2)
    return image


def set_armed(ctx: WebContext, req: Request, armed: bool) -> Response:
    """Arm or disarm the deterrents from the page."""
    ctx.decider.set_armed(armed, "web page")
    return redirect("/")
