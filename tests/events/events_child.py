"""A child process for the kill tests, running the same code the appliance runs.

    python events_child.py append LOG N           # append N events, print each id once durable
    python events_child.py reporters LOG CONFIG    # run start_reporters until SIGTERM
    python events_child.py archive FOLDER          # archive big events for ever, print each
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from edge.config.reporters import ArchiveConfig, ReportersConfig
from edge.event import Event
from edge.events import Archive, EventLog, start_reporters


def make_event(i: int, verdict: str = "chicken") -> Event:
    """A plausible event numbered ``i``."""
    now = time.time()
    return Event(camera="coop", start_time=now, end_time=now, verdict=verdict, label=f"label{i}",
                 score=0.9, scores={"primary": {"verdict": verdict, "score": 0.9}},
                 deterrents=["siren"] if verdict == "predator" else [],
                 latency_ms={"inference": 12.5, "total": 80.0})


def append(path: str, count: str) -> None:
    with EventLog(Path(path)) as log:
        for i in range(int(count)):
            print(log.append(make_event(i)), flush=True)


def reporters(path: str, config: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cfg = ReportersConfig.model_validate(json.loads(config))
    with EventLog(Path(path)) as log:
        running = start_reporters(cfg, log, stop, on_arm=lambda armed, source: None,
                                  armed=lambda: True)
        print("started", flush=True)
        stop.wait()
        running.close()


def archive(folder: str) -> None:
    arch = Archive(Path(folder), ArchiveConfig(min_free_mb=0, save_crops=True))
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    big = rng.standard_normal((512, 1024), dtype=np.float32)  # 2 MB: a kill lands mid-write
    snapshot = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    i = 0
    while True:
        arch.save("coop", time.time(), snapshot, {"small": crop, "big": big})
        i += 1
        print(i, flush=True)


if __name__ == "__main__":
    {"append": append, "reporters": reporters, "archive": archive}[sys.argv[1]](*sys.argv[2:])
