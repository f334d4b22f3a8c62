#!/usr/bin/env python3
"""Event throughput of the log and the MQTT reporter, and what a stalled reporter costs the loop.

    python scripts/bench_events.py [--events 2000] [--submits 300] [--folder DIR]

Prints:
  log append       events/s that EventLog.append sustains (each one fsynced: durable on return)
  mqtt delivery    events/s the MQTT reporter delivers to a local Mosquitto, PUBACK per event
  submit           the time Recorder.submit takes (the loop's only contact with events), with a
                   1280x720 snapshot and a 224x224 crop, median / p99 / max, first with the
                   reporter healthy, then with the broker frozen (SIGSTOP) so the reporter stalls
The figures are this machine's, on the disk holding --folder (default: a temporary folder; on a
Pi, point it at the SD card). Needs the ``mosquitto`` binary for the MQTT figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.config.reporters import ArchiveConfig, ReportersConfig
from edge.event import Event
from edge.events import Archive, EventLog, Recorder, start_reporters
from edge.events.broker import MosquittoBroker, mosquitto_binary
from edge.latency import percentile

PHOTO = Path(__file__).resolve().parents[2] / "shared/data/images/predator/animl__Cat-21.jpg"


def make_event(i: int) -> Event:
    """A typical event: three models' scores, two deterrents, every stage's latency."""
    now = time.time()
    scores = {m: {"verdict": "predator", "score": 0.91, "predator": 0.91, "chicken": 0.02,
                  "label": "red fox"} for m in ("primary", "inception", "canary")}
    return Event(camera="coop", start_time=now, end_time=now + 2.0, verdict="predator",
                 label="red fox", score=0.91, scores=scores, deterrents=["siren", "floodlight"],
                 decision={"reason": "confirmed 3/5"},
                 latency_ms={"capture": 2.1, "motion": 1.3, "crop": 0.4, "inference": 38.0,
                             "decision": 0.05, "pin": 0.2, "total": 72.0})


def bench_append(folder: Path, count: int) -> float:
    with EventLog(folder / "append.sqlite3") as log:
        start = time.perf_counter()
        for i in range(count):
            log.append(make_event(i))
        return count / (time.perf_counter() - start)


def bench_mqtt(folder: Path, count: int, broker: MosquittoBroker) -> float:
    cfg = ReportersConfig.model_validate(
        {"mqtt": {"enabled": True, "host": broker.host, "port": broker.port}})
    with EventLog(folder / "mqtt.sqlite3") as log:
        reporters = start_reporters(cfg, log, threading.Event(), on_arm=lambda a, s: None,
                                    armed=lambda: True)
        try:
            time.sleep(0.5)  # connected, announced
            start = time.perf_counter()
            last = 0
            for i in range(count):
                last = log.append(make_event(i))
            while log.cursor("mqtt") < last:
                time.sleep(0.005)
            return count / (time.perf_counter() - start)
        finally:
            reporters.close()


def frame() -> np.ndarray:
    """A 1280x720 BGR frame: a real photo when the shared data is beside the checkout."""
    image = cv2.imread(str(PHOTO)) if PHOTO.is_file() else None
    if image is None:  # a smooth synthetic scene compresses like a camera frame, noise would not
        y, x = np.mgrid[0:720, 0:1280]
        image = np.dstack([(x // 5) % 256, (y // 3) % 256, ((x + y) // 7) % 256])
    return np.ascontiguousarray(cv2.resize(image.astype(np.uint8), (1280, 720)))


def time_submits(recorder: Recorder, count: int) -> list[float]:
    """Microseconds per submit, paced at 25 events/s (a busy night is far slower)."""
    snapshot = frame()
    crop = np.ascontiguousarray(cv2.resize(snapshot, (224, 224))[..., ::-1])
    pace = threading.Event()
    took = []
    for i in range(count):
        event = make_event(i)
        start = time.perf_counter_ns()
        recorder.submit(event, snapshot, {"primary": crop})
        took.append((time.perf_counter_ns() - start) / 1000)
        pace.wait(0.04)
    return took


def bench_submit(folder: Path, count: int, broker: MosquittoBroker | None,
                 stall: bool) -> tuple[list[float], int]:
    """Submit timings and the reporter's backlog at the end (it grows when stalled)."""
    tag = "stalled" if stall else "healthy"
    cfg = ReportersConfig.model_validate({"mqtt": {
        "enabled": broker is not None, "host": broker.host if broker else "127.0.0.1",
        "port": broker.port if broker else 1883, "publish_timeout_s": 5}})
    with EventLog(folder / f"submit-{tag}.sqlite3") as log:
        archive = Archive(folder / f"archive-{tag}", ArchiveConfig(min_free_mb=0))
        reporters = start_reporters(cfg, log, threading.Event(), on_arm=lambda a, s: None,
                                    armed=lambda: True)
        time.sleep(0.5)
        if stall and broker and broker.process:
            os.kill(broker.process.pid, signal.SIGSTOP)  # no PUBACK ever comes back
        try:
            with Recorder(log, archive) as recorder:
                took = time_submits(recorder, count)
                dropped = recorder.dropped_images
            backlog = sum(s.backlog for s in log.sink_status())
        finally:
            if stall and broker and broker.process:
                os.kill(broker.process.pid, signal.SIGCONT)
            reporters.close()
    if dropped:
        print(f"  ({dropped} event(s) kept without images: the card was slower than the events)")
    return took, backlog


def summary(values: list[float]) -> str:
    return (f"median {percentile(values, 50):7.1f} us   p99 {percentile(values, 99):7.1f} us   "
            f"max {max(values):7.1f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events for the rates")
    parser.add_argument("--submits", type=int, default=300, help="Recorder.submit calls timed")
    parser.add_argument("--folder", type=Path, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    print(f"# {platform.node()} {platform.machine()} {platform.python_version()}, "
          f"{os.cpu_count()} CPU(s)")
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp)
        print(f"log append       {bench_append(folder, args.events):8.0f} events/s")
        if mosquitto_binary() is None:
            print("mqtt             skipped: mosquitto is not installed", file=sys.stderr)
            took, _ = bench_submit(folder, args.submits, None, stall=False)
            print(f"submit (no reporter)  {summary(took)}")
            return 0
        with MosquittoBroker(folder / "broker") as broker:
            print(f"mqtt delivery    {bench_mqtt(folder, args.events, broker):8.0f} events/s")
            took, backlog = bench_submit(folder, args.submits, broker, stall=False)
            print(f"submit, reporter healthy   {summary(took)}   (backlog at end {backlog})")
            took, backlog = bench_submit(folder, args.submits, broker, stall=True)
            print(f"submit, reporter stalled   {summary(took)}   (backlog at end {backlog})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
