"""The web page's security rules over real HTTP: loopback or a password, CSRF on every change,
archive files from the archive only, a clear 4xx for bad input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from edge.config import ConfigError, parse_config
from edge.events.log import EventLog
from edge.train.labels import LABELS_FILE, LabelStore
from edge.web.auth import WebSecurityError
from edge.web.server import WebServer

from .conftest import Site, fetch, make_context

CHANGES = ("/arm", "/disarm", "/events/1/label", "/models/promote", "/models/rollback",
           "/models/train")


def test_a_lan_address_without_a_password_refuses_to_start(state_dir: Path,
                                                            mock_factory: object) -> None:
    config = parse_config({"web": {"address": "0.0.0.0:0"}})
    ctx = make_context(state_dir, config, mock_factory)
    with pytest.raises(WebSecurityError, match="web_password"):
        WebServer(config.web, ctx, environ={})
    ctx.bank.close()


def test_the_appliance_refuses_to_start_with_a_lan_address_and_no_password(
        state_dir: Path, monkeypatch: pytest.MonkeyPatch, asset_store: object) -> None:
    from edge.app import Appliance

    monkeypatch.delenv("TENSORCHICKEN_WEB_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = parse_config({"paths": {"state_dir": str(state_dir)},
                           "gpio": {"pin_factory": "mock"}, "web": {"address": "0.0.0.0:0"}})
    with pytest.raises(ConfigError, match=r"web\.address: .*web_password"):
        Appliance(config, asset_store)


def test_a_lan_address_takes_the_password_from_systemd_credentials(
        state_dir: Path, tmp_path: Path, mock_factory: object) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "web_password").write_text("hen-house-42\n")
    EventLog(state_dir / "events.sqlite3").close()  # the appliance's, made at its start
    config = parse_config({"web": {"address": "0.0.0.0:0"}})
    ctx = make_context(state_dir, config, mock_factory)
    server = WebServer(config.web, ctx, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/health"
        refused = fetch(url)
        assert refused.status == 401 and "Basic" in refused.headers["WWW-Authenticate"]
        wrong = base64.b64encode(b"owner:fox").decode()
        assert fetch(url, headers={"Authorization": f"Basic {wrong}"}).status == 401
        right = base64.b64encode(b"owner:hen-house-42").decode()
        page = fetch(url, headers={"Authorization": f"Basic {right}", "Host": "coop.lan"})
        assert page.status == 200 and "Cameras" in page.body
    finally:
        server.close()
        ctx.bank.close()


@pytest.mark.parametrize("path", CHANGES)
def test_every_change_without_the_csrf_token_is_refused(site: Site, path: str) -> None:
    armed = site.ctx.decider.armed
    for form in ({"label": "hen", "name": "x"}, {"label": "hen", "csrf": "forged"}):
        reply = fetch(site.url + path, data=form)
        assert reply.status == 403, (path, reply.status, reply.body)
        assert "CSRF" in reply.body
    assert site.ctx.decider.armed == armed
    assert not (site.ctx.state_dir / LABELS_FILE).exists()


def test_the_token_from_the_page_lets_the_change_through(site: Site) -> None:
    page = fetch(site.url + "/")
    assert f'value="{site.csrf}"' in page.body
    reply = fetch(site.url + "/disarm", data={"csrf": site.csrf})
    assert reply.status == 303 and reply.headers["Location"] == "/"
    assert site.ctx.decider.armed is False


@pytest.mark.parametrize("path", [
    "/archive/../events.sqlite3",
    "/archive/%2e%2e/%2e%2e/events.sqlite3",
    "/archive/2026-01-01/..%2f..%2fevents.sqlite3/x.jpg",
    "/archive/2026-01-01/../../events.sqlite3",
    "//etc/passwd",
    "/static/../app.py",
    "/static/config.py",
])
def test_nothing_outside_the_archive_is_served(site: Site, path: str) -> None:
    reply = fetch(site.url + path)
    assert reply.status in (400, 404), (path, reply.status)
    assert "SQLite" not in reply.body


def test_a_symlink_out_of_the_archive_is_not_followed(site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    folder = Path(site.event.snapshot or "").parent
    (folder / "leak.jpg").symlink_to(secret)
    day, name = folder.parent.name, folder.name
    assert fetch(f"{site.url}/archive/{day}/{name}/leak.jpg").status == 404
    snapshot = fetch(f"{site.url}/archive/{day}/{name}/snapshot.jpg")
    assert snapshot.status == 200 and snapshot.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(("path", "form", "status", "says"), [
    ("/events?verdict=fox", None, 400, "not one of"),
    ("/events?date=yesterday", None, 400, "YYYY-MM-DD"),
    ("/events?camera=../x", None, 400, "camera name"),
    ("/events?page=0", None, 400, "page"),
    ("/events/999", None, 404, "no event 999"),
    ("/events/1/label", {"label": "fox"}, 400, "not one of hen"),
    ("/models/rollback", {}, 409, "nothing to roll back"),
    ("/live/nocamera.jpg", None, 404, "no camera"),
    ("/nothing-here", None, 404, "nothing at"),
    ("/arm", "GET", 405, "not allowed"),
])
def test_bad_input_gets_a_clear_4xx(site: Site, path: str, form: dict[str, str] | str | None,
                                   status: int, says: str) -> None:
    data = None if form in (None, "GET") else {**form, "csrf": site.csrf}  # type: ignore[dict-item]
    reply = fetch(site.url + path, data=data)
    assert reply.status == status, (path, reply.status, reply.body)
    assert says in reply.body


def test_a_form_that_is_not_url_encoded_is_refused(site: Site) -> None:
    reply = fetch(site.url + "/arm", raw=b'{"csrf": 1}',
                  headers={"Content-Type": "application/json"})
    assert reply.status == 415


def test_a_foreign_host_name_is_refused_on_loopback(site: Site) -> None:
    # DNS rebinding: a site that points its own name at 127.0.0.1 must not read the page.
    assert fetch(site.url + "/", headers={"Host": "evil.example:8080"}).status == 421
    assert fetch(site.url + "/", headers={"Host": "localhost:9000"}).status == 200


def test_the_label_lands_where_train_reads_labels(site: Site) -> None:
    reply = fetch(f"{site.url}/events/{site.event.id}/label",
                  data={"label": "person", "csrf": site.csrf})
    assert reply.status == 303
    labels = LabelStore(site.ctx.state_dir / LABELS_FILE).read()
    ref = Path(site.event.snapshot or "").parent.relative_to(site.ctx.archive_root).as_posix()
    assert labels[ref].label == "background" and labels[ref].subclass == "person"
    assert "You said: <b id=\"owner-label\">person</b>" in fetch(
        f"{site.url}/events/{site.event.id}").body


def test_pages_carry_a_policy_that_loads_nothing_from_elsewhere(site: Site) -> None:
    page = fetch(site.url + "/events")
    assert page.status == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http" not in page.body.replace(site.url, "").split("<main")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
