#!/usr/bin/env python3
"""Benchmark of the camera side: motion cost per frame, capture-to-consumer latency of the
frame ring, and the CPU an idle loop (no motion) uses at 10 fps.

    python scripts/bench_motion.py [--frames 600] [--seconds 10]

Motion runs the default MotionConfig on real frames of the demo clip, given as a grey
plane at 640x480 and 1280x720 (so the figure includes scaling down to the motion width),
and on the small plane the capture normally hands over. Latency is measured from each
frame's capture stamp to the moment the consumer has it. The idle loop captures a still
scene at 1280x720, 10 fps, in real time, and runs motion on every frame, as the product
does when nothing happens. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from camera.capture import Capture
from camera.config import CameraConfig, MotionConfig
from camera.motion import MotionDetector
from camera.opening import open_source
from camera.source import grey_size
from edge.latency import percentile

_BESIDE = Path(__file__).resolve().parents[2] / "shared"
SHARED = Path(os.environ.get("TENSORCHICKEN_SHARED", _BESIDE))
CLIP = SHARED / "data" / "video" / "intel__one-by-one-person-detection.mp4"
STILL = SHARED / "data" / "images" / "background" / "speciesnet__blank2.jpg"


def clip_greys(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``count`` grey frames of the clip (from its busy middle), scaled to ``size``."""
    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 420)
    greys: list[np.ndarray] = []
    while len(greys) < count:
        ok, image = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        greys.append(cv2.cvtColor(cv2.resize(image, size), cv2.COLOR_BGR2GRAY))
    cap.release()
    return greys


def percentiles(values_ms: list[float]) -> str:
    return (f"median {percentile(values_ms, 50):7.3f} ms   p99 {percentile(values_ms, 99):7.3f} ms"
            f"   (n={len(values_ms)})")


def bench_motion(frames: int) -> None:
    cfg = CameraConfig()
    for label, size in (("640x480", (640, 480)), ("1280x720", (1280, 720)),
                        ("160x90 (capture's plane)", grey_size(cfg))):
        greys = clip_greys(frames, size)
        detector = MotionDetector(MotionConfig(), cfg.fps)
        for grey in greys[:20]:  # warm-up, and past the detector's own warm-up
            detector.detect(grey)
        times, moving = [], 0
        for grey in greys:
            start = time.perf_counter_ns()
            moving += detector.detect(grey).moving
            times.append((time.perf_counter_ns() - start) / 1e6)
        print(f"motion  {label:26s} {percentiles(times)}  moving in {moving}/{len(greys)}")


def bench_latency(seconds: float) -> None:
    cfg = CameraConfig(kind="replay", address=str(CLIP), fps=10, realtime=True, loop=True)
    stop = threading.Event()
    capture = Capture(cfg, lambda: open_source(cfg), stop)
    capture.start()
    latencies, seq, deadline = [], 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = capture.latest(seq, 1.0)
        if got is not None:
            latencies.append((time.monotonic_ns() - got[0].capture_ns) / 1e6)
            seq = got[0].seq
    stop.set()
    capture.close()
    print(f"ring    capture -> consumer (1280x720) {percentiles(latencies[5:])}  "
          f"skipped {capture.stats.skipped}")


def bench_idle(seconds: float) -> None:
    cfg = CameraConfig(kind="arrivals", address=str(STILL), fps=10, realtime=True, loop=True)
    stop = threading.Event()
    capture = Capture(cfg, lambda: open_source(cfg), stop)
    capture.start()
    detector = MotionDetector(cfg.motion, cfg.fps)
    seq, moving = 0, 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        got = capture.latest(seq, 1.0)
        if got is not None:
            seq = got[0].seq
            moving += detector.detect(got[0].grey).moving
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    capture.close()
    print(f"idle    1280x720 at 10 fps, motion on every frame: {100 * cpu / wall:5.1f} % of one "
          f"core over {wall:.1f} s ({capture.stats.frames} frames, {moving} with motion)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600, help="frames per motion size")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each live run")
    args = parser.parse_args()
    if not CLIP.is_file() or not STILL.is_file():
        parser.error(f"the shared clip and background are needed: {CLIP}, {STILL}")
    print(f"# {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__}, "
          f"OpenCV threads {cv2.getNumThreads()}, load average {os.getloadavg()[0]:.2f}")
    bench_motion(args.frames)
    bench_latency(args.seconds)
    bench_idle(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
