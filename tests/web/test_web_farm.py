"""The web page's farm view: every appliance on the broker, read from a real Mosquitto."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge.config import parse_config
from edge.config.reporters import ReportersConfig
from edge.events import EventLog, ReporterSet, start_reporters
from edge.events.broker import MosquittoBroker
from edge.web.server import WebServer

from .conftest import Site, fetch, make_context


def _coop(node: str, broker: MosquittoBroker, folder: Path) -> tuple[ReporterSet, EventLog]:
    cfg = ReportersConfig.model_validate({"mqtt": {
        "enabled": True, "host": broker.host, "port": broker.port, "node": node}})
    log = EventLog(folder / node / "events.sqlite3")
    armed = node != "coop-b"
    return start_reporters(cfg, log, threading.Event(), on_arm=lambda on, source: None,
                           armed=lambda: armed), log


def test_the_farm_page_lists_every_appliance_on_the_broker(
        broker: MosquittoBroker, tmp_path: Path, state_dir: Path, mock_factory: object) -> None:
    coops = [_coop(node, broker, tmp_path) for node in ("coop-a", "coop-b")]
    config = parse_config({"paths": {"state_dir": str(state_dir)},
                           "web": {"address": "127.0.0.1:0"},
                           "reporters": {"mqtt": {"enabled": True, "host": broker.host,
                                                  "port": broker.port, "node": "coop-a"}}})
    ctx = make_context(state_dir, config, mock_factory)
    server = WebServer(config.web, ctx, environ={})
    server.start()
    try:
        url = server.url.rstrip("/") + "/farm"
        deadline = time.monotonic() + 30
        body = fetch(url).body
        while "<td>disarmed</td>" not in body and time.monotonic() < deadline:
            body = fetch(url).body  # until both coops have said who they are
        assert '<a href="/farm" aria-current=page>Farm</a>' in body
        assert "<tr><td>coop-a</td><td>online</td><td>armed</td>" in body
        assert "<tr><td>coop-b</td><td>online</td><td>disarmed</td>" in body
    finally:
        server.close()
        ctx.bank.close()
        for reporters, log in coops:
            reporters.close()
            log.close()


def test_without_mqtt_the_farm_page_says_so(site: Site) -> None:
    page = fetch(site.url + "/farm")
    assert page.status == 200 and "MQTT is off" in page.body
