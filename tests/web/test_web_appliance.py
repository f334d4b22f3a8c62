"""The page beside the guard: the demo prints its address, a busy port or a failing page never
stops the appliance."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_config
from edge.web.context import WebContext

from .conftest import Site, fetch


def test_demo_prints_the_address_and_serves_the_page_while_it_runs(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "demo", "--duration", "20", "--web", "127.0.0.1:0",
         "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"web page on (http://127\.0\.0\.1:\d+/)", first)
        assert match, first
        with urllib.request.urlopen(match[1] + "health", timeout=10) as page:
            assert page.status == 200 and "Cameras" in page.read().decode()
    finally:
        proc.kill()
        proc.wait()


def test_a_busy_port_loses_the_page_not_the_guard(state_dir: Path, asset_store: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from edge.app import Appliance

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = parse_config({"paths": {"state_dir": str(state_dir)},
                               "gpio": {"pin_factory": "mock"},
                               "web": {"address": f"127.0.0.1:{port}"}})
        with Appliance(config, asset_store) as app:
            assert app.web is None
            summary = app.run(duration_s=1.0)
    assert summary.stop_reason == "duration reached"
    assert f"web page cannot listen on 127.0.0.1:{port}" in caplog.text


def test_a_page_that_fails_answers_500_and_the_others_still_work(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: WebContext) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(WebContext, "events", broken)
    failed = fetch(site.url + "/events")
    assert failed.status == 500 and "the guard runs on" in failed.body
    assert fetch(site.url + "/").status == 200
