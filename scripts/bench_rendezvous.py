#!/usr/bin/env python3
"""The rendezvous: critical-path time with and without two off-path models, and swap times.

    python scripts/bench_rendezvous.py [--manifest CSV --root DIR] [--crops 120] [--fps 10]

Crops come from a labelled photo set (the shared data by default), cut as the pipeline cuts
them, and are fed at the camera's frame rate, so off-path models get the time a real camera
leaves them. The critical path is the default primary and critical models; the two off-path
models are a shadow (MobileNet v1 0.75) and a canary (the TF2 MobileNet v2), one thread each.
"""

from __future__ import annotations

import argparse
import csv
import threading
import time
from pathlib import Path

import numpy as np

from classifier import crop_square, load_image
from classifier.config import ModelsConfig
from classifier.ensemble import load_any
from classifier.rendezvous import Rendezvous
from classifier.spec import load_specs
from edge.assets import AssetStore
from edge.board import board_name
from edge.latency import percentile

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CRITICAL = [("mobilenet_v2_imagenet", "primary"), ("mobilenet_v2_inat_birds", "critical")]
OFF_PATH = [("mobilenet_v1_075_imagenet", "shadow"), ("tf2_mobilenet_v2_imagenet", "canary")]
PROMOTED = [("mobilenet_v1_075_imagenet", "primary"), ("mobilenet_v2_imagenet", "shadow")]


def models(*entries: tuple[str, str]) -> ModelsConfig:
    """A models section of (name, role) pairs, one thread each."""
    use = [{"name": n, "role": r, "threads": 1} for n, r in entries]
    return ModelsConfig.model_validate({"use": use})


def crops(manifest: Path, root: Path, count: int) -> list[np.ndarray]:
    """Whole-frame crops of the labelled photos, sized for the models."""
    with manifest.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] != "video"][:count]
    return [
        crop_square(np.ascontiguousarray(load_image(root / r["file"])[..., ::-1]), [], size=224)
        for r in rows
    ]


def critical_path(rendezvous: Rendezvous, frames: list[np.ndarray], fps: float) -> list[float]:
    """classify() times at the camera's rate, after a warm-up."""
    for crop in frames[:10]:
        rendezvous.classify(crop)
    pause, times = threading.Event(), []
    for crop in frames:
        started = time.perf_counter()
        rendezvous.classify(crop)
        times.append((time.perf_counter() - started) * 1000)
        pause.wait(1 / fps)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=SHARED / "MANIFEST.csv")
    p.add_argument("--root", type=Path, default=SHARED)
    p.add_argument("--crops", type=int, default=120)
    p.add_argument("--fps", type=float, default=10.0)
    args = p.parse_args()
    store, specs = AssetStore(), load_specs()
    frames = crops(args.manifest, args.root, args.crops)
    print(f"board {board_name()}; {len(frames)} crops at {args.fps:g} fps")
    for label, cfg in (
        ("no off-path models", models(*CRITICAL)),
        ("shadow + canary", models(*CRITICAL, *OFF_PATH)),
    ):
        with Rendezvous(cfg, lambda use: load_any(use, store, specs)) as rendezvous:
            ms = critical_path(rendezvous, frames, args.fps)
            counts = {m["name"]: (m["scored"], m["skipped"]) for m in rendezvous.status()["models"]}
        print(
            f"{label:<20} critical path p50 {percentile(ms, 50):6.1f} ms  "
            f"p99 {percentile(ms, 99):6.1f} ms  (scored, skipped) {counts}"
        )
    with Rendezvous(models(*CRITICAL), lambda use: load_any(use, store, specs)) as rendezvous:
        for label, cfg in (
            ("promote", models(*PROMOTED)),
            ("rollback", models(*CRITICAL)),
            ("promote again", models(*PROMOTED)),
        ):
            report = rendezvous.swap(cfg)
            print(
                f"{label:<14} load+check+warm-up {report.prepare_ms:6.1f} ms, "
                f"switch {report.switch_ms * 1000:.1f} us"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
