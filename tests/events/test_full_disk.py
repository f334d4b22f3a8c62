"""A full state disk at start: the appliance guards anyway, says loudly that events are not
being kept (log, status line, metrics, MQTT), holds them in memory and writes them when space
returns.

Two ways to fill the disk: a real 20 MB tmpfs filled with ``dd`` (when this user may mount),
and the same SQLite error ("database or disk is full") raised by SQLite itself, which always
runs.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import Config, parse_config
from edge.doctor.checks import check_disk
from edge.events import EventLog
from edge.events.broker import MosquittoBroker, free_port
from edge.health.summary import RunSummary

RACCOON_AT_S = 1.0
TIMEOUT_S = 60.0


def _config(state: Path, broker: MosquittoBroker, metrics_port: int) -> Config:
    return parse_config(yaml.safe_load(f"""
cameras:
  - {{name: coop, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 640,
      height: 360, fps: 10, loop: false,
      arrivals: [{{image: "asset:raccoon__raccoon-7.jpg", at_s: {RACCOON_AT_S}, for_s: 600,
                   box: [0.2, 0.05, 0.6, 0.9], label: predator}}]}}
models:
  use:
    - {{name: mobilenet_v2_imagenet, role: primary, threads: 2}}
decision: {{armed: true, cooldown_s: 1}}
gpio:
  pin_factory: mock
  deterrents:
    - {{name: siren, kind: siren, pin: 17, pattern: {{on_s: 0.2, off_s: 0, repeats: 1}},
        min_rest_s: 0}}
reporters:
  mqtt: {{enabled: true, host: {broker.host}, port: {broker.port}, reconnect_max_s: 1, node: coop}}
  archive: {{min_free_mb: 0}}
  retry_initial_s: 0.2
  retry_max_s: 1
health: {{metrics_address: "127.0.0.1:{metrics_port}"}}
paths: {{state_dir: "{state}"}}
"""), "test")


def _until(check: Callable[[], object], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _metric(port: int, name: str) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _guard_on_a_full_disk(asset_store: AssetStore, state: Path, broker: MosquittoBroker,
                          watch: Any, make_room: Callable[[], None]) -> None:
    """Start on a full disk; check the guard and the alarms; make room; check the events."""
    port = free_port()
    watcher = watch(broker, "tensorchicken/#")
    with Appliance(_config(state, broker, port), asset_store,
                   pin_factory=MockFactory(pin_class=MockPWMPin)) as app:
        assert app.recorder.problem and "disk is full" in app.recorder.problem
        summary: list[RunSummary] = []
        runner = threading.Thread(target=lambda: summary.append(app.run(duration_s=120)))
        runner.start()
        try:
            _until(lambda: app.loops[0].counters.firings >= 1, "a firing on a full disk")
            _until(lambda: app.recorder.pending() >= 1, "the event held in memory")
            assert "EVENTS NOT KEPT" in app._status_line()
            assert _metric(port, "tensorchicken_event_log_ok") == 0
            assert (_metric(port, "tensorchicken_events_held") or 0) >= 1
            _until(lambda: any(b"not being kept" in p for p in
                               watcher.on("tensorchicken/coop/problem")), "the MQTT problem")
            make_room()
            _until(lambda: app.recorder.pending() == 0 and app.recorder.problem is None,
                   "the held events written")
            _until(lambda: watcher.on("tensorchicken/coop/problem")[-1:] == [b""],
                   "the MQTT problem cleared")
            _until(lambda: watcher.event_ids("tensorchicken/coop/events"),
                   "an event delivered over MQTT")
            assert _metric(port, "tensorchicken_event_log_ok") == 1
        finally:
            app.request_stop("test over")
            runner.join(30)
    with EventLog(state / "events.sqlite3", readonly=True) as log:
        fired = [e for e in log.list() if e.deterrents]
    assert fired and fired[0].deterrents == ["siren"], "the firing on a full disk was kept"


def test_a_full_filesystem_at_start_still_guards_and_keeps_events_later(
        asset_store: AssetStore, tmp_path: Path, broker: MosquittoBroker, watch: Any,
        tmpfs: Any) -> None:
    state = tmp_path / "state"
    with tmpfs(state, "20m"):
        filler = state / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
        doctor = [f for f in check_disk(_config(state, broker, 0), asset_store)
                  if "EVENTS ARE NOT BEING KEPT" in f.message]
        assert doctor and doctor[0].status == "fail" and "No space left" in doctor[0].message
        _guard_on_a_full_disk(asset_store, state, broker, watch, lambda: filler.unlink())


def test_sqlite_saying_the_disk_is_full_at_start(
        asset_store: AssetStore, tmp_path: Path, broker: MosquittoBroker, watch: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same error, raised by SQLite: every new connection may use no more than one page
    (``max_page_count``) until room is made."""
    full = threading.Event()
    full.set()
    connect = sqlite3.connect

    def connect_to_a_full_disk(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        if full.is_set() and str(args[0]).endswith("events.sqlite3"):
            db.execute("PRAGMA max_page_count = 1")
        return db

    monkeypatch.setattr(sqlite3, "connect", connect_to_a_full_disk)
    _guard_on_a_full_disk(asset_store, tmp_path / "state", broker, watch, full.clear)


def test_a_model_change_on_a_full_disk_is_one_line_and_leaves_models_yaml(
    tmp_path: Path, tmpfs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main

    state = tmp_path / "state"
    config = tmp_path / "config.yaml"
    config.write_text(f"paths: {{state_dir: {state}}}\n")
    with tmpfs(state, "1m"):
        before = "# Written by tensorchicken\nprimary: null\nhistory: []\nroles: {}\n"
        (state / "models.yaml").write_text(before)
        filler = state / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        assert main(["models", "register", "mobilenet_v1_025_imagenet", "-c", str(config)]) == 1
        err = capsys.readouterr().err
        assert "nothing changed:" in err and "No space left on device" in err, err
        assert "Traceback" not in err
        assert (state / "models.yaml").read_text() == before
