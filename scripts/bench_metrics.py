#!/usr/bin/env python3
"""What the frame loop pays for its metrics, and what a scrape costs.

    python scripts/bench_metrics.py [--ops 200000] [--repeats 5]

Prints, in nanoseconds of CPU time per call (the median of --repeats runs of --ops calls each):
  counter inc        ``frames_skipped`` + 1 for one camera and reason (a labelled counter)
  histogram observe  ``motion_seconds`` for one camera (a labelled histogram, 12 buckets)
  frame_done         what the loop calls once per frame (frame count, rate and age bookkeeping)
  per frame          one classified frame's updates: frame_done, motion, two inferences, the
                     decision latency
and the time of one scrape (the exposition text of two cameras and three models, with the
process, platform and GC collectors), in ms.
The figures are this machine's and this Python's; on a Pi 4 expect them several times higher.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from prometheus_client import generate_latest

from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import percentile

CAMERAS = ("coop", "run")
MODELS = ("mobilenet_v2", "mobilenet_v3", "inat_birds")


def per_call_ns(call: Callable[[], None], ops: int, repeats: int) -> float:
    """The median over ``repeats`` runs of the mean CPU time of one call, in ns (CPU time of
    this thread, so that other processes on a busy machine do not count)."""
    runs = []
    for _ in range(repeats):
        start = time.thread_time_ns()
        for _ in range(ops):
            call()
        runs.append((time.thread_time_ns() - start) / ops)
    return percentile(runs, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000, help="calls per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs; the median is printed")
    args = parser.parse_args()

    am = ApplianceMetrics.create(temperature=lambda: 47.0)
    for camera in CAMERAS:
        am.frame_done(camera, time.monotonic_ns())
    for model in MODELS:
        am.inference_seconds.labels(model=model).observe(0.02)
    am.watch_backlog("mqtt", lambda: 0)

    def counter_inc() -> None:
        am.frames_skipped.labels(camera="coop", reason="stale").inc()

    def histogram_observe() -> None:
        am.motion_seconds.labels(camera="coop").observe(0.004)

    def frame_done() -> None:
        am.frame_done("coop", time.monotonic_ns())

    def per_frame() -> None:
        am.frame_done("coop", time.monotonic_ns())
        am.motion_seconds.labels(camera="coop").observe(0.004)
        am.inference_seconds.labels(model="mobilenet_v2").observe(0.021)
        am.inference_seconds.labels(model="inat_birds").observe(0.35)
        am.decision_latency_seconds.labels(camera="coop").observe(0.4)

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{args.ops} calls x {args.repeats} runs (median)")
    for name, call in (("counter inc", counter_inc), ("histogram observe", histogram_observe),
                       ("frame_done", frame_done), ("per frame", per_frame)):
        print(f"  {name:<18} {per_call_ns(call, args.ops, args.repeats):8.0f} ns")
    def scrape() -> None:
        generate_latest(am.registry)

    scrape_ns = per_call_ns(scrape, 200, args.repeats)
    print(f"  {'scrape':<18} {scrape_ns / 1e6:8.3f} ms")


if __name__ == "__main__":
    main()
