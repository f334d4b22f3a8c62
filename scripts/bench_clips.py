#!/usr/bin/env python3
"""What clips cost: the pre-roll's memory and the SD-card bytes written per event.

    python scripts/bench_clips.py [-c CONFIG] [--seconds 60] [--visit-s 8] [--json]

Real footage (the default camera's clip, scaled to the camera's size and played at its frame
rate, in video time, as fast as it decodes) goes through the appliance's own
:class:`~edge.clips.ClipRecorder` with the configured ``clips:`` settings (the defaults without
``-c``). It prints the video format this machine writes, then:

1. the pre-roll: the most bytes its JPEG ring held, its frames, and the bound of the hand-over
   queue (raw frames waiting for the clip thread, at most 8); and what handing a frame over
   costs the frame loop (p50 and p99 of ``ClipRecorder.frame``);
2. per event: a visit of ``--visit-s`` seconds that fires half-way, its clip (``pre_s`` before
   the visit to ``post_s`` after the firing): bytes and frames; and a visit that ends without
   an event, whose clip is written to the recording folder and deleted (bytes written all the
   same).

The card also gets the event's snapshot and crops (scripts/bench_events.py measures those).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2

from camera.config import CameraConfig
from edge.assets import AssetStore, mirrors_from_env
from edge.clip_format import best_format
from edge.clips import ClipRecorder
from edge.config import load_config
from edge.config.clips import ClipsConfig
from edge.event import Event
from edge.latency import percentile


class Kept:
    """The clips handed over, by event; their sizes are read before anything moves them."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        self.done = threading.Event()

    def adopt(self, event: Event, path: Path | None) -> None:
        if path is not None:
            self.sizes[event.label] = path.stat().st_size
            capture = cv2.VideoCapture(str(path))
            self.frames[event.label] = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()
            path.unlink()
        self.done.set()


def frames_of(camera: CameraConfig, store: AssetStore, seconds: float) -> Any:
    """``(video time, BGR frame at the camera's size)``, looping the clip."""
    path = store.resolve(camera.address)
    n, step = 0, 1.0 / camera.fps
    while n * step < seconds:
        capture = cv2.VideoCapture(path)
        while n * step < seconds and (got := capture.read())[0]:
            image = cv2.resize(got[1], (camera.width, camera.height))
            yield n * step, image
            n += 1
        capture.release()


def measure(camera: CameraConfig, cfg: ClipsConfig, store: AssetStore, seconds: float,
            visit_s: float) -> dict[str, Any]:
    kept = Kept()
    with tempfile.TemporaryDirectory(prefix="bench-clips-") as folder:
        clips = ClipRecorder(camera.name, cfg, Path(folder), kept.adopt)
        fired = Event(camera.name, 0, 0, "predator", "fired", 1.0, deterrents=["siren"])
        quiet = Event(camera.name, 0, 0, "background", "unfired", 0.0)
        visit_at = seconds / 2
        handover_ms: list[float] = []
        for t, image in frames_of(camera, store, seconds):
            while clips.pending():  # as a live camera would: the clip thread keeps up
                threading.Event().wait(0.001)
            started = time.perf_counter()
            clips.frame(t, image)  # what the frame loop pays, per frame it offers
            handover_ms.append((time.perf_counter() - started) * 1000)
            if abs(t - visit_at) < 0.5 / camera.fps:
                clips.visit_started(t)
            if abs(t - (visit_at + visit_s / 2)) < 0.5 / camera.fps:
                clips.event(fired, t + cfg.post_s)
            if abs(t - (visit_at + visit_s)) < 0.5 / camera.fps:
                clips.visit_ended(t)
                clips.visit_started(t + 1 / camera.fps)  # a visit with no event
            if abs(t - (visit_at + 2 * visit_s)) < 0.5 / camera.fps:
                clips.event(quiet, t)
                clips.visit_ended(t)
        clips.close()
        fmt = best_format(clips.frame_size or (cfg.width, cfg.width * 9 // 16), cfg.fps)
        width, height = clips.frame_size or (0, 0)
        return {
            "format": f"{fmt.name} ({fmt.fourcc}{fmt.suffix})",
            "camera": f"{camera.width}x{camera.height} at {camera.fps:g} fps",
            "clip_size": f"{width}x{height} at {cfg.fps:g} fps",
            "preroll_peak_mb": clips.preroll.peak / 2**20,
            "preroll_frames": len(clips.preroll.frames),
            "handover_bound_mb": 8 * width * height * 3 / 2**20,
            "event_clip_mb": kept.sizes.get("fired", 0) / 2**20,
            "event_clip_frames": kept.frames.get("fired", 0),
            "event_clip_s": cfg.pre_s + visit_s / 2 + cfg.post_s,
            "unfired_visit_mb": kept.sizes.get("unfired", 0) / 2**20,
            "dropped_frames": clips.dropped,
            "loop_ms_p50": percentile(handover_ms, 50),
            "loop_ms_p99": percentile(handover_ms, 99),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", help="configuration file (the defaults without)")
    parser.add_argument("--seconds", type=float, default=60.0, help="video seconds to play")
    parser.add_argument("--visit-s", type=float, default=8.0, help="length of the visit")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    store = AssetStore(mirrors=mirrors_from_env())
    figures = measure(config.cameras[0], config.clips, store, args.seconds, args.visit_s)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"clips: {figures['format']}, {figures['clip_size']}, from a camera of "
          f"{figures['camera']}")
    print(f"pre-roll: {figures['preroll_peak_mb']:.2f} MB at most ({figures['preroll_frames']} "
          f"JPEG frames); hand-over queue at most {figures['handover_bound_mb']:.1f} MB")
    print(f"per event: clip of {figures['event_clip_s']:g} s, {figures['event_clip_frames']} "
          f"frames, {figures['event_clip_mb']:.2f} MB written")
    print(f"per visit of {args.visit_s:g} s that fired nothing (a hen: logged with its clip; "
          f"wind: its clip deleted): {figures['unfired_visit_mb']:.2f} MB written")
    print(f"the frame loop's cost per frame: p50 {figures['loop_ms_p50']:.2f} ms, p99 "
          f"{figures['loop_ms_p99']:.2f} ms (a kept frame is shrunk and copied; the others cost "
          f"a comparison); frames dropped at the hand-over: {figures['dropped_frames']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
