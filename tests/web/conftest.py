"""A web server over real parts (decider, mock-pin deterrent bank, event log, archive) without
cameras or models, for the HTTP tests."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import cv2
import pytest

from actuators.bank import DeterrentBank
from edge.config import Config, parse_config
from edge.decider import Decider
from edge.event import Event
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.web.context import WebContext
from edge.web.feed import LiveFeed
from edge.web.server import WebServer

from ..conftest import SHARED_DATA

PHOTO = SHARED_DATA / "images" / "predator" / "raccoon__raccoon-130.jpg"


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    body: str
    headers: dict[str, str]


def fetch(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
          raw: bytes | None = None) -> Reply:
    """GET (or POST ``data`` form-encoded) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    body = raw if raw is not None else (urlencode(data).encode() if data is not None else None)
    request = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as r:
            return Reply(r.status, r.read().decode("utf-8", "replace"), dict(r.headers))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers))


def one_event(state: Path, config: Config) -> Event:
    """A logged event whose snapshot and crop are in the archive, as the recorder leaves them."""
    image = cv2.imread(str(PHOTO))
    assert image is not None, PHOTO
    crop = cv2.resize(image, (224, 224))[..., ::-1].copy()
    saved = Archive(state / "archive", config.reporters.archive).save(
        "coop", time.time(), image, {"mobilenet": crop})
    event = Event("coop", time.time(), time.time() + 1, "predator", "raccoon", 0.9,
                  scores={"mobilenet": {"verdict": "predator", "score": 0.9, "predator": 0.9,
                                        "chicken": 0.0, "label": "raccoon"}},
                  deterrents=["siren"], decision={"rule": "confirmed", "hits": 2},
                  latency_ms={"motion": 2.0, "inference": 40.0, "total": 60.0},
                  snapshot=saved.snapshot, crops=saved.crops)
    with EventLog(state / "events.sqlite3") as log:
        log.append(event)
    return event


@dataclass
class Site:
    """A running server and what it serves."""

    server: WebServer
    ctx: WebContext
    event: Event

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    @property
    def csrf(self) -> str:
        return self.server.guard.csrf_token


def make_context(state: Path, config: Config, factory: object) -> WebContext:
    """The pages' view of an appliance made of real parts, with no camera."""
    bank = DeterrentBank(config.gpio, pin_factory=factory)
    decider = Decider(config.decision, config.gpio.deterrents)
    return WebContext(config, state, decider, bank, {}, LiveFeed())


@pytest.fixture()
def site(state_dir: Path, mock_factory: object) -> Iterator[Site]:
    config = parse_config({"paths": {"state_dir": str(state_dir)},
                           "web": {"address": "127.0.0.1:0"}})
    event = one_event(state_dir, config)
    ctx = make_context(state_dir, config, mock_factory)
    server = WebServer(config.web, ctx, environ={})
    server.start()
    try:
        yield Site(server, ctx, event)
    finally:
        server.close()
        ctx.bank.close()
