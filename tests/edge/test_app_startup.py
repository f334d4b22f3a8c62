"""The appliance starts and guards when the world is not ready: a camera that does not answer at
boot, a metrics port someone else holds, and a second camera whose replay ends early.

One real run (real model, real photos, mock pins) is shared by the tests below:

- ``coop`` refuses to open the first time (a camera slower to boot than the Pi), then shows a
  raccoon ``RACCOON_AT_S`` seconds after it opens;
- ``gate`` shows an empty scene briefly and ends (``loop: false``), long before the raccoon;
- the metrics address is a port this test holds;
- systemd's notify socket is a datagram socket of the test's.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory, MockPWMPin

from camera.config import CameraConfig
from camera.errors import CameraOpenError
from camera.opening import open_source
from camera.source import FrameSource
from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import Config, parse_config
from edge.health.notify import Notifier, StartupExtender
from edge.health.summary import RunSummary

HUNG_AFTER_S = 1.5
# The gate camera has ended and HUNG_AFTER_S has passed by then: before the fix, its stale
# progress held every deterrent off and the raccoon was never chased.
RACCOON_AT_S = 4.5
DURATION_S = 10.0


def config(state: Path, metrics_port: int) -> Config:
    data = yaml.safe_load(f"""
cameras:
  - {{name: coop, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 640,
      height: 360, fps: 10, loop: false, stall_s: 0.5,
      arrivals: [{{image: "asset:raccoon__raccoon-7.jpg", at_s: {RACCOON_AT_S}, for_s: 60,
                   box: [0.2, 0.05, 0.6, 0.9], label: predator}}]}}
  - {{name: gate, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 640,
      height: 360, fps: 10, loop: false,
      arrivals: [{{image: "asset:speciesnet__blank2.jpg", at_s: 0, for_s: 0.3}}]}}
models:
  use:
    - {{name: mobilenet_v2_imagenet, role: primary, threads: 2}}
decision: {{armed: true}}
gpio:
  pin_factory: mock
  deterrents:
    - {{name: siren, kind: siren, pin: 17, pattern: {{on_s: 0.3, off_s: 0, repeats: 1}},
        min_rest_s: 0}}
health: {{metrics_address: "127.0.0.1:{metrics_port}", hung_after_s: {HUNG_AFTER_S}}}
paths: {{state_dir: "{state}"}}
""")
    return parse_config(data, "test")


class LateCamera:
    """The real source factory, but the first open of ``coop`` fails like an RTSP camera
    still booting."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, cam: CameraConfig, resolve: Any) -> FrameSource:
        if cam.name == "coop" and not self.refused:
            self.refused += 1
            raise CameraOpenError(f"camera {cam.name}: rtsp://10.0.0.9/stream: 503")
        return open_source(cam, resolve)


class Listener:
    """A datagram socket standing in for systemd's notify socket, drained by a thread (its
    queue holds only a few datagrams)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self._got: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                self._got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                if self._done.is_set():  # and nothing more is queued
                    return

    def messages(self) -> list[str]:
        """Every datagram received, once the ones already sent have been read."""
        self._done.set()
        self._thread.join()
        self.sock.close()
        return self._got


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Run:
    summary: RunSummary
    appliance: Appliance
    notes: list[str]
    warnings: list[str]
    refused: int


@pytest.fixture(scope="module")
def run(asset_store: AssetStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("app")
    listener = Listener(tmp / "notify.sock")
    notifier = Notifier(str(tmp / "notify.sock"), environ={"WATCHDOG_USEC": "1000000"})
    records = Records()
    logging.getLogger().addHandler(records)
    camera = LateCamera()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()  # the metrics port is taken by someone else
    try:
        with Appliance(
            config(tmp / "state", busy.getsockname()[1]),
            asset_store,
            pin_factory=MockFactory(pin_class=MockPWMPin),
            notifier=notifier,
            source_factory=camera,
        ) as appliance:
            summary = appliance.run(duration_s=DURATION_S)  # used to raise CameraOpenError
        yield Run(summary, appliance, listener.messages(), records.lines, camera.refused)
    finally:
        logging.getLogger().removeHandler(records)
        busy.close()


def test_a_camera_missing_at_boot_is_awaited_and_then_guarded(run: Run) -> None:
    coop = run.summary.cameras["coop"]
    assert run.refused == 1 and coop["open_failures"] == 1 and coop["reopens"] >= 1
    assert coop["frames"] > 0 and coop["error"] is None
    assert coop["firings"] >= 1, run.summary
    assert run.summary.stop_reason == "duration reached"


def test_ready_comes_with_the_camera_awaited_and_the_status_follows(run: Run) -> None:
    ready = next(m for m in run.notes if "READY=1" in m)
    assert "STATUS=watching 2 camera(s), models mobilenet_v2_imagenet; waiting for camera(s): " \
           "coop" in ready
    later = run.notes[run.notes.index(ready) + 1:]
    assert "STATUS=watching 2 camera(s), models mobilenet_v2_imagenet" in later
    assert any("WATCHDOG=1" in m for m in later)
    assert later[-1] == "STOPPING=1\nSTATUS=stopping: duration reached"


def test_a_busy_metrics_port_is_a_warning_not_a_failure(run: Run) -> None:
    assert run.appliance.metrics_server is None
    assert any("metrics server cannot listen on 127.0.0.1" in w
               and "running without the metrics endpoint" in w for w in run.warnings), run.warnings


def test_a_loop_whose_replay_ended_is_not_taken_for_hung(run: Run) -> None:
    gate = run.summary.cameras["gate"]
    assert gate["error"] is None and gate["frames"] > 0
    assert run.summary.cameras["coop"]["firings"] >= 1  # the deterrents were not held off
    assert not any("made no progress" in w for w in run.warnings), run.warnings
    assert not any("no heartbeat from the loop" in w for w in run.warnings), run.warnings


def test_up_is_zero_once_stopped(run: Run) -> None:
    assert run.appliance.metrics.registry.get_sample_value("tensorchicken_up") == 0


def test_a_long_start_up_step_asks_for_more_time_up_to_a_limit(tmp_path: Path) -> None:
    listener = Listener(tmp_path / "notify.sock")
    notifier = Notifier(str(tmp_path / "notify.sock"), environ={})
    with StartupExtender(notifier, "loading models", every_s=0.05, for_s=60, limit_s=0.1):
        threading.Event().wait(0.5)  # a slow model fetch
    extend = "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=loading models (0 s so far)"
    assert listener.messages() == ["STATUS=loading models", extend, extend]


def test_a_quick_start_up_step_sends_only_its_status(tmp_path: Path) -> None:
    listener = Listener(tmp_path / "notify.sock")
    notifier = Notifier(str(tmp_path / "notify.sock"), environ={})
    with StartupExtender(notifier, "loading models", every_s=30):
        pass
    assert listener.messages() == ["STATUS=loading models"]


def test_a_camera_configured_wrongly_still_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    """Only a camera that is absent is awaited: a replay of a file that is not there is a
    configuration error (exit 2: systemd's RestartPreventExitStatus), not a traceback."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "cameras": [{"name": "coop", "kind": "replay", "address": str(tmp_path / "gone.mp4")}],
        "models": {"use": [{"name": "mobilenet_v2_imagenet", "role": "primary"}]},
        "gpio": {"pin_factory": "auto"},
        "health": {"metrics_address": None},
        "paths": {"state_dir": str(tmp_path / "state")},
    }))
    wrapper = Path(__file__).with_name("run_wrapper.py")
    proc = subprocess.run([sys.executable, str(wrapper), "run", "-c", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stdout.splitlines()[-1])["code"] == 2, proc.stderr
    assert "tensorchicken run: cannot start: camera coop: replay address" in proc.stderr
    assert "Traceback" not in proc.stderr
