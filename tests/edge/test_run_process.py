"""A real ``tensorchicken run`` process: SIGTERM leaves every pin off; systemd notifications
follow the loop's progress."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

WRAPPER = Path(__file__).with_name("run_wrapper.py")
README = Path(__file__).resolve().parents[2] / "README.md"
RACCOON = "asset:raccoon__raccoon-7.jpg"


def write_config(tmp_path: Path, **health: object) -> Path:
    config = {
        "cameras": [
            {
                "name": "coop",
                "kind": "arrivals",
                "address": "asset:speciesnet__blank2.jpg",
                "width": 640,
                "height": 360,
                "fps": 10,
                "loop": False,
                "arrivals": [
                    {
                        "image": RACCOON,
                        "at_s": 1.5,
                        "for_s": 60,
                        "box": [0.2, 0.05, 0.6, 0.9],
                        "label": "predator",
                    }
                ],
            }
        ],
        "gpio": {
            "pin_factory": "auto",
            "deterrents": [
                # A long burst, so that SIGTERM arrives while the siren is on.
                {
                    "name": "siren",
                    "kind": "siren",
                    "pin": 17,
                    "pattern": {"on_s": 8, "off_s": 0, "repeats": 1},
                    "max_on_s": 10,
                    "min_rest_s": 0,
                },
                {
                    "name": "sprinkler",
                    "kind": "sprinkler",
                    "pin": 22,
                    "active_high": False,
                    "pattern": {"on_s": 8, "off_s": 0, "repeats": 1},
                    "max_on_s": 10,
                    "min_rest_s": 0,
                },
            ],
        },
        "decision": {"armed": True},
        "paths": {"state_dir": str(tmp_path / "state")},
        "health": {"metrics_address": None, **health},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRAPPER), "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """Read stderr until a line contains ``needle``; the lines read so far."""
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if needle in line:
                done.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        proc.kill()
        raise AssertionError(f"no line with {needle!r} in {timeout} s:\n{''.join(lines)}")
    return lines


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, _ = proc.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def test_sigterm_turns_every_deterrent_off(tmp_path: Path) -> None:
    proc = start(write_config(tmp_path))
    wait_for_line(proc, "fired", timeout=90)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result["code"] == 0
    states = result["states"]
    assert isinstance(states, dict)
    siren, sprinkler = states["GPIO17"], states["GPIO22"]
    assert [s for _, s in siren][-3:] == [False, True, False]  # off at start, on, off at SIGTERM
    assert sprinkler[-1][1] is True  # active-low relay: HIGH is off
    assert False in [s for _, s in sprinkler]  # ... and it had been switched on
    on_for = siren[-1][0]  # mock pins record the time since the previous change
    assert on_for < 8, "the siren went off at SIGTERM, not at the end of its burst"


def documented_metric_families() -> set[str]:
    """The families the README's metrics table promises (its first column's names)."""
    text = README.read_text()
    table = text[text.index("The families an owner can rely on"):]
    rows = table[table.index("\n|"):].split("\n\n", 1)[0].splitlines()
    names = {name for row in rows[3:] for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert len(names) > 15, rows
    return names


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_running_appliance_serves_every_documented_metric_family(tmp_path: Path) -> None:
    port = free_port()
    proc = start(write_config(tmp_path, metrics_address=f"127.0.0.1:{port}"))
    try:
        wait_for_line(proc, "fired", timeout=90)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        finish(proc)
    families = list(text_string_to_metric_families(text))
    # The parser names a counter's family without its "_total"; the README names its samples.
    served = {f.name for f in families} | {f.name + "_total" for f in families
                                           if f.type == "counter"}
    missing = documented_metric_families() - served
    assert not missing, f"documented but not served: {sorted(missing)}"
    values = {s.name: s.value for f in families for s in f.samples if not s.labels}
    assert values["process_resident_memory_bytes"] > 50_000_000
    assert values["tensorchicken_up"] == 1
    frames = [s.value for f in families for s in f.samples
              if s.name == "tensorchicken_frames_total"]
    assert frames and frames[0] > 0
    fired = [s for f in families for s in f.samples
             if s.name == "tensorchicken_deterrent_firings_total"]
    assert {s.labels["deterrent"] for s in fired} == {"siren", "sprinkler"}


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> list[str]:
        end = time.monotonic() + seconds
        got = []
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data))
            got.append(data)
        return got


def test_ready_then_watchdog_only_while_the_loop_progresses(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    flag = tmp_path / "hang"
    env = {
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "2000000",
        "TC_HANG_FLAG": str(flag),
    }
    proc = start(write_config(tmp_path, hung_after_s=1.0), env)
    try:
        first = listener.drain(25)
        assert "READY=1" in "\n".join(first)
        ready_at = next(i for i, m in enumerate(first) if "READY=1" in m)
        assert any("WATCHDOG=1" in m for m in first[ready_at:]), first
        flag.touch()
        listener.drain(2.5)  # the loop hangs on its next frame; give hung_after_s to pass
        later = listener.drain(4)
        assert not any("WATCHDOG=1" in m for m in later), later
    finally:
        proc.send_signal(signal.SIGTERM)
        result = finish(proc)
    # The hung loop cannot be joined, but the pins were switched off and stay off.
    for spec, history in result["states"].items():  # type: ignore[union-attr]
        assert history[-1][1] is (spec == "GPIO22"), spec


@pytest.fixture(autouse=True)
def _mirror_for_children(asset_store) -> None:  # type: ignore[no-untyped-def]
    # Children inherit TENSORCHICKEN_MIRROR and TENSORCHICKEN_DATA_DIR from conftest.
    asset_store.fetch(["raccoon__raccoon-7.jpg", "speciesnet__blank2.jpg"])


def test_run_by_hand_keeps_the_state_owner_only(tmp_path: Path) -> None:
    """Photos of the yard and the event log: 0700 folders, 0600 files, whatever the umask."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # left open by an older run
    proc = subprocess.run(
        [sys.executable, str(WRAPPER), "run", "-c", str(write_config(tmp_path)),
         "--duration", "8"], capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.umask(0o022))
    assert json.loads(proc.stdout.splitlines()[-1])["code"] == 0, proc.stderr
    assert state.stat().st_mode & 0o077 == 0
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "snapshot.jpg" for p in files), proc.stderr
    assert any(p.name == "events.sqlite3" for p in files)
    for path in [*files, *(p for p in state.rglob("*") if p.is_dir())]:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
