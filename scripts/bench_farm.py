#!/usr/bin/env python3
"""A farm on one broker: N appliances' MQTT traffic against one Mosquitto on loopback.

    nice -n 10 python scripts/bench_farm.py [--appliances 50] [--seconds 60] [--speed 10]

Each appliance is the real reporter (its own event log, identity, client, courier thread)
delivering events with a snapshot at one every ``--event-every`` seconds (60: a busy night)
and its retained status every ``--status-every`` seconds (60, the default
``status_every_s``), both sped up ``--speed`` times so that a minute shows ten. Prints the
broker's CPU (per cent of one core) and memory (RSS, peak), this process's CPU and memory per
appliance (the reporters and their event logs; a Pi runs one of them), the bytes the broker
read per appliance, and whether any appliance was disconnected by another (a reconnect storm).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.board import memory_kb
from edge.config.reporters import ArchiveConfig, ReportersConfig
from edge.event import Event
from edge.events import Archive, EventLog, ReporterSet, start_reporters
from edge.events.broker import MosquittoBroker
from edge.events.identity import node_identity

TICKS = os.sysconf("SC_CLK_TCK")


def _proc(pid: int) -> tuple[float, int, int]:
    """CPU seconds, RSS and peak RSS (kB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return (cpu, *memory_kb(pid))


def _bytes_read(pid: int) -> int:
    """Bytes a process has read (sockets included), from /proc/<pid>/io."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _rss_kb() -> int:
    return memory_kb()[0]


def _event(camera: str, snapshot: str) -> Event:
    now = time.time()
    return Event(camera=camera, start_time=now, end_time=now + 2.0, verdict="chicken",
                 label="hen", score=0.88, snapshot=snapshot,
                 scores={"primary": {"verdict": "chicken", "score": 0.88}},
                 latency_ms={"inference": 38.0, "total": 72.0})


def _snapshot(folder: Path) -> str:
    """A 640x480 JPEG like the archive's (smooth picture, a little noise)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    picture = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
    noise: np.ndarray = np.asarray(rng.integers(0, 12, picture.shape, dtype=np.uint8))
    picture = cv2.add(picture, noise)
    saved = Archive(folder / "archive", ArchiveConfig(min_free_mb=0, save_crops=False)).save(
        "coop", time.time(), picture, {})
    return str(saved.snapshot)


class Farm:
    """N appliances' reporters, each with its own log and identity."""

    def __init__(self, folder: Path, broker: MosquittoBroker, count: int,
                 status_every_s: float) -> None:
        self.logs: list[EventLog] = []
        self.reporters: list[ReporterSet] = []
        stop = threading.Event()
        for i in range(count):
            node = f"coop-{i:02d}"
            cfg = ReportersConfig.model_validate({"mqtt": {
                "enabled": True, "host": broker.host, "port": broker.port, "node": node,
                "status_every_s": status_every_s, "discovery": True}})
            log = EventLog(folder / node / "events.sqlite3")
            self.logs.append(log)
            self.reporters.append(start_reporters(
                cfg, log, stop, on_arm=lambda on, source: None, armed=lambda: True,
                identity=node_identity(cfg.mqtt, folder / node),
                health=lambda: {"frame_age_s": 0.2}))

    def backlog(self) -> int:
        return sum(s.backlog for log in self.logs for s in log.sink_status())

    def close(self) -> None:
        for running in self.reporters:
            running.close()
        for log in self.logs:
            log.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp:
        folder = Path(tmp)
        snapshot = _snapshot(folder)
        snapshot_kb = Path(snapshot).stat().st_size / 1024
        broker = MosquittoBroker(folder / "broker")
        broker.start()
        assert broker.process is not None
        pid = broker.process.pid
        rss_before = _rss_kb()
        farm = Farm(folder, broker, args.appliances, args.status_every / args.speed)
        time.sleep(2.0)  # connections and discovery settle before measuring
        b_cpu0, _, _ = _proc(pid)
        b_in0 = _bytes_read(pid)
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        every = args.event_every / args.speed / args.appliances  # round robin over the farm
        sent = 0
        while time.monotonic() - started < args.seconds:
            farm.logs[sent % args.appliances].append(_event(f"cam{sent}", snapshot))
            sent += 1
            time.sleep(max(0.0, started + sent * every - time.monotonic()))
        deadline = time.monotonic() + 60
        while farm.backlog() and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        b_cpu1, b_rss, b_peak = _proc(pid)
        b_in = _bytes_read(pid) - b_in0
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        rss_farm = _rss_kb() - rss_before
        left = farm.backlog()
        farm.close()
        broker.stop()
        broker_log = (folder / "broker" / "mosquitto.log").read_text()
    my_cpu = (me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)
    return {
        "appliances": args.appliances, "seconds": round(elapsed, 1), "speed": args.speed,
        "events": sent, "events_per_appliance_per_min": round(
            sent / args.appliances / elapsed * 60, 1),
        "snapshot_kb": round(snapshot_kb, 1), "undelivered": left,
        "broker_cpu_pct": round(100 * (b_cpu1 - b_cpu0) / elapsed, 2),
        "broker_rss_mb": round(b_rss / 1024, 1), "broker_peak_rss_mb": round(b_peak / 1024, 1),
        "broker_in_kb_s_each": round(b_in / 1024 / elapsed / args.appliances, 2),
        "client_cpu_pct_each": round(100 * my_cpu / elapsed / args.appliances, 3),
        "client_rss_mb_each": round(rss_farm / 1024 / args.appliances, 2),
        "connections": broker_log.count("New client connected"),
        "taken_over": broker_log.count("already connected"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appliances", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=10.0,
                        help="run the farm this many times faster than real life")
    parser.add_argument("--event-every", type=float, default=60.0, metavar="S",
                        help="seconds between an appliance's events, in real life")
    parser.add_argument("--status-every", type=float, default=60.0, metavar="S",
                        help="seconds between an appliance's status, in real life")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
