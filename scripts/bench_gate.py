#!/usr/bin/env python3
"""What a re-fit's scene gate costs: per crop on the critical path, and once per re-fit.

    python scripts/bench_gate.py [--crops 192 1000 2000] [--runs 500]

For gates of N fitted crops (192 is one camera's full store of empty scenes at the defaults,
24 hours x ``learn.per_hour`` 8; ``learn.max_examples`` bounds a re-fit at 2000) over the default
head's 2560 features, times the shipped head's probabilities for one crop, the gated re-fit's
(the gate's matrix-vector product, then both heads), and fitting the gate (N x N
similarities), and prints the gate file's size. Features are random: the cost depends only on
the shapes. Prints the board.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifier.feature_head import shipped_head
from classifier.scene_gate import GatedHead
from edge.board import board_name
from edge.latency import percentile


def timed_ms(call: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crops", type=int, nargs="+", default=[192, 1000, 2000])
    p.add_argument("--runs", type=int, default=500)
    args = p.parse_args(argv)
    base = shipped_head().layer
    rng = np.random.default_rng(0)
    crop = rng.normal(size=(1, base.inputs)).astype(np.float32)
    print(f"board: {board_name()}; {base.inputs} features")
    plain = timed_ms(lambda: base.probabilities(crop), args.runs)
    print(f"shipped head alone: median {percentile(plain, 50):.3f} ms, "
          f"p95 {percentile(plain, 95):.3f} ms per crop")
    for n in args.crops:
        fitted = rng.normal(size=(n, base.inputs)).astype(np.float32)
        started = time.perf_counter()
        gated = GatedHead.around(base, base, fitted)
        fit_s = time.perf_counter() - started
        ms = timed_ms(functools.partial(gated.probabilities, crop), args.runs)
        print(f"gated, {n} crops: median {percentile(ms, 50):.3f} ms, p95 "
              f"{percentile(ms, 95):.3f} ms per crop; fitting the gate {fit_s:.2f} s; "
              f"gate file {len(gated.gate_bytes()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
