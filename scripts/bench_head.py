#!/usr/bin/env python3
"""What a retrained head costs on top of its embedding extractor, per picture.

    python scripts/bench_head.py [--package DIR] [--runs 200] [--threads 2]

Times, on the same 224x224 crop, the extractor alone (``Extractor.embed``: preparation and
``invoke()``) and the package model as the Classifier calls it (``probabilities``: the same, then
the head's standardise, multiply-add and softmax), interleaved so that both see the same machine
state. Warms up first and prints the board. Target: the package at most 10 % over the extractor.
Without ``--package`` the newest package under ``<data_dir>/packages`` is used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from classifier import load_image
from classifier.package import is_package, load_package_model, packages_dir
from edge.assets import AssetStore
from edge.board import board_name
from edge.latency import percentile
from edge.paths import default_data_dir

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTO = SHARED / "data" / "images" / "predator" / "coral__owl.jpg"




def newest_package() -> Path:
    """The most recently written package folder."""
    folder = packages_dir(default_data_dir())
    found = [p for p in folder.glob("*") if is_package(p)]
    if not found:
        sys.exit(f"no package under {folder}: run 'tensorchicken train' first")
    return max(found, key=lambda p: p.stat().st_mtime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="package folder (default: the newest)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    path = args.package or newest_package()
    model = load_package_model(path, AssetStore(), args.threads)
    import cv2

    crop = cv2.resize(load_image(PHOTO), (224, 224), interpolation=cv2.INTER_AREA)
    alone, whole, head_only = [], [], []
    features, _ = model.extractor.embed(crop)
    for i in range(args.runs + 20):
        t0 = time.perf_counter()
        model.extractor.embed(crop)
        t1 = time.perf_counter()
        model.probabilities(crop)
        t2 = time.perf_counter()
        model.head.probabilities(features)
        t3 = time.perf_counter()
        if i >= 20:  # warm-up
            alone.append((t1 - t0) * 1e3)
            whole.append((t2 - t1) * 1e3)
            head_only.append((t3 - t2) * 1e3)
    a, w, h = (percentile(v, 50) for v in (alone, whole, head_only))
    print(f"board: {board_name()}; package {model.name} ({len(model.labels)} classes); "
          f"{args.threads} threads; {args.runs} runs")
    print(f"extractor alone      median {a:7.3f} ms  p99 {percentile(alone, 99):7.3f} ms")
    print(f"extractor + head     median {w:7.3f} ms  p99 {percentile(whole, 99):7.3f} ms")
    print(f"head alone           median {h * 1e3:7.1f} us")
    print(f"overhead of the head: {100 * (w - a) / a:+.1f} % (median; target at most +10 %)")


if __name__ == "__main__":
    main()
