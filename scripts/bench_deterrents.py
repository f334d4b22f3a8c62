#!/usr/bin/env python3
"""Decision-to-pin latency of the deterrent bank, on gpiozero mock pins (or the Pi's own).

    python scripts/bench_deterrents.py [--iterations 2000] [--pins mock|auto]

For each simulated confirmed predator it times ``Decider.decide`` and then ``DeterrentBank.fire``,
and prints, over all firings, the median and p99 of:
  decide        the decider's own time
  pin (first)   decision made -> first pin active (the bank's own stamp, as the pipeline records)
  pin (last)    decision made -> last of the three pins active
  edge (mock)   decision made -> the mock pin's own timestamp of its rising edge (cross-check)
The figures are this machine's, under its current load; on a Pi use ``--pins auto`` with the
deterrents disconnected (every pin really switches).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from actuators.bank import DeterrentBank, make_pin_factory
from actuators.config import DeterrentConfig, GpioConfig, Pattern
from classifier.verdict import Classification, Verdict
from edge.config import DecisionConfig
from edge.decider import Decider
from edge.latency import percentile

US = 1000.0


def deterrents() -> list[DeterrentConfig]:
    """Three devices with long bursts (each firing is cut by all_off) and no rest."""
    long_on = Pattern(on_s=30, off_s=0, repeats=1)
    return [
        DeterrentConfig(name="siren", kind="siren", pin=17, pattern=long_on, max_on_s=60,
                        min_rest_s=0),
        DeterrentConfig(name="floodlight", kind="floodlight", pin=27, pattern=long_on,
                        max_on_s=60, min_rest_s=0),
        DeterrentConfig(name="sprinkler", kind="sprinkler", pin=5, active_high=False,
                        pattern=long_on, max_on_s=60, min_rest_s=0),
    ]


def percentiles(values: list[float]) -> str:
    return f"median {percentile(values, 50):8.1f} us   p99 {percentile(values, 99):8.1f} us"


def bench(iterations: int, pins: str) -> dict[str, list[float]]:
    fox = Classification(verdict=Verdict.PREDATOR, score=0.9, predator_score=0.9,
                         chicken_score=0.0, label="red fox", decided_by="bench")
    decider = Decider(DecisionConfig(armed=True, confirm_n=1, confirm_m=1, cooldown_s=0),
                      deterrents())
    figures: dict[str, list[float]] = {"decide": [], "pin (first)": [], "pin (last)": [],
                                       "edge (mock)": []}
    with DeterrentBank(GpioConfig(deterrents=deterrents()),
                       pin_factory=make_pin_factory(pins)) as bank:
        first_pin = bank.device("siren").pin
        for i in range(iterations + 50):
            started = time.monotonic_ns()
            decision = decider.decide("bench", fox)
            decided = time.monotonic_ns()
            report = bank.fire(decision.devices)
            bank.heartbeat()
            if len(report.fired) != 3:
                raise SystemExit(f"firing {i} refused: {report.refused}")
            if i >= 50:  # warm-up done
                highs = report.pin_high_ns.values()
                figures["decide"].append((decided - started) / US)
                figures["pin (first)"].append((min(highs) - decided) / US)
                figures["pin (last)"].append((max(highs) - decided) / US)
                if pins == "mock":
                    figures["edge (mock)"].append((first_pin._last_change * 1e9 - decided) / US)
            bank.all_off()
    return {name: values for name, values in figures.items() if values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--pins", choices=["mock", "auto"], default="mock")
    args = parser.parse_args()
    print(f"{platform.machine()} {platform.system()} Python {platform.python_version()}, "
          f"{args.pins} pins, {args.iterations} firings of 3 deterrents")
    for name, values in bench(args.iterations, args.pins).items():
        print(f"  {name:12s} {percentiles(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
