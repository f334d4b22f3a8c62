#!/usr/bin/env python3
"""The latency benchmark: is this board fast enough to stop a jay before the egg is gone?

    python scripts/bench_latency.py [-c CONFIG] [--threads 1 2 4] [--arrivals 8] [--json]
    python scripts/bench_latency.py --pins auto --jumper 17:26     # on a Pi, a wire from 17 to 26
    python scripts/bench_latency.py --boards                       # slower boards, emulated
    python scripts/bench_latency.py --slow-factor 8 --cores 1      # all of it on a slower board

It names the board, then prints, for the configured models:

1. inference alone: median and p99 of the bare ``invoke()``, per model and thread count;
2. the whole pipeline (the appliance's own code, at the camera's real frame rate) on real
   predator photos arriving over a still scene: per-stage percentiles, and the end-to-end
   latency from the capture of the first frame showing each predator to the deterrent pin
   going high: on mock pins here; on a Pi, the real pin, and with a jumper wire from the
   deterrent pin to an input pin, the edge as the input pin saw it;
3. the original design side by side, on the same predator frames: the motion event saves a
   JPEG, then a new process loads the model and classifies it, then the pin goes high;

and compares the end-to-end p99 with the egg-pecking budget and with the floor (one frame
interval plus the inference on the critical path), and ends with what the whole appliance
costs while nothing moves (4), with no web page open and with the live page open. The
pipeline runs with the configured thresholds and confirmation; it is armed, and cooldowns, rests
and burst lengths are shortened so that every arrival can fire (they decide how often a
deterrent fires, not how fast).

On a fast machine it can also say how slower boards would fare: ``--slow-factor F`` makes every
model invoke F times longer (classifier.emulate) and ``--cores N`` pins the process to N cores,
for the whole report; ``--boards`` runs the pipeline once more per board of :data:`BOARDS`,
each slowed to that board's assumed inference time, and says which meet the egg-pecking budget
(every arrival fired, end-to-end p99 within it). The board times are assumptions, not
measurements: run this script on the board itself for its real figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camera.config import CameraConfig
from camera.opening import open_source
from camera.source import FrameSource
from classifier.emulate import pin_to_cores, slowed_invokes
from classifier.loader import load_model
from classifier.second_look import try_load_second_look
from classifier.spec import load_specs
from edge.app import Appliance
from edge.assets import AssetStore, mirrors_from_env
from edge.board import describe
from edge.config import Config, load_config, parse_config
from edge.latency import format_summary, percentile

PREDATORS = (
    "raccoon__raccoon-7.jpg",
    "wikianimals__fox.webp",
    "cubsub__Blue_Jay-0000.jpg",
    "coral__owl.jpg",
)
BACKGROUND = "speciesnet__blank2.jpg"
SHOW_S, GAP_S = 2.5, 2.5
# Assumed time of one invoke of the configured primary (MobileNet v2 224, quantised, 2 threads)
# on each board, ms: rough community figures, to scale this machine's run by; not measured here.
BOARDS = (
    ("Raspberry Pi 5", 15.0),
    ("Raspberry Pi 4", 45.0),
    ("Raspberry Pi 3 B+", 180.0),
    ("Raspberry Pi Zero 2 W", 400.0),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "-c", "--config", type=Path, help="the appliance's configuration (default: defaults)"
    )
    p.add_argument("--mirror", action="append", type=Path, default=[], help="asset mirror folder")
    p.add_argument("--threads", type=int, nargs="+", help="thread counts for inference alone")
    p.add_argument("--runs", type=int, default=200, help="invokes per model and thread count")
    p.add_argument("--arrivals", type=int, default=8, help="predator arrivals in the pipeline run")
    p.add_argument("--baseline-runs", type=int, default=4, help="frames for the original design")
    p.add_argument("--idle-s", type=float, default=30.0, help="seconds of the idle measurement")
    p.add_argument("--budget-ms", type=float, default=500.0, help="the egg-pecking budget")
    p.add_argument("--pins", choices=("mock", "auto"), default="mock", help="mock pins or the Pi's")
    p.add_argument("--jumper", metavar="OUT:IN", help="a wire from a deterrent pin to an input pin")
    p.add_argument("--slow-factor", type=float, default=1.0,
                   help="make every model invoke this many times longer (a slower board)")
    p.add_argument("--cores", type=int, help="pin the process to this many cores (like taskset)")
    p.add_argument("--boards", action="store_true",
                   help="also run the pipeline slowed to each board's pace: which meet the budget")
    p.add_argument("--board-arrivals", type=int, default=4, help="predator arrivals per board")
    p.add_argument("--quick", action="store_true", help="tiny run (CI smoke test)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.arrivals, args.baseline_runs, args.idle_s = 20, 2, 1, 3.0
        args.board_arrivals = 2
    return args


# -- 1. inference alone -------------------------------------------------------------------


def inference_alone(
    config: Config, store: AssetStore, threads: list[int], runs: int
) -> list[dict[str, Any]]:
    """Median and p99 of the bare invoke() for each critical-path model and thread count, and
    for the second look's extractor when it is on (it runs only on undecided crops)."""
    specs = load_specs()
    rows = []
    crop = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    for use in config.models.use:
        if use.role not in ("primary", "critical"):
            continue
        for n in threads:
            model = load_model(specs[use.name], store, n)
            times = _invoke_ms(model.probabilities, crop, runs)
            rows.append(_invoke_row(use.name, "critical", n, model.load_ms, times))
    if config.models.default_head and config.models.second_look:
        # The second look's extractor is on the critical path too, for the crops the default
        # head leaves undecided: their verdict waits for one invoke of it more.
        for n in threads:
            look = try_load_second_look(store, n)
            if look is None:
                continue
            times = _invoke_ms(look.embed, crop, runs)
            rows.append(_invoke_row(look.extractor.ref.model, "second look", n,
                                    look.extractor.load_ms, times))
    return rows


def _invoke_ms(infer: Callable[[np.ndarray], tuple[Any, float]], crop: np.ndarray, runs: int
               ) -> list[float]:
    """The invoke ms ``infer`` reports for ``runs`` runs on ``crop``, after 10 that warm up
    (the first invokes allocate and fill caches)."""
    for _ in range(10):
        infer(crop)
    return [infer(crop)[1] for _ in range(runs)]


def _invoke_row(model: str, role: str, threads: int, load_ms: float, times: list[float]
                ) -> dict[str, Any]:
    return {
        "model": model,
        "role": role,
        "threads": threads,
        "load_ms": round(load_ms, 1),
        "invoke_p50_ms": round(percentile(times, 50), 2),
        "invoke_p99_ms": round(percentile(times, 99), 2),
    }


# -- 2. the whole pipeline ----------------------------------------------------------------


class WitnessedSource:
    """A camera source that notes when each arrival is first in a frame, and keeps that frame."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fps: float = inner.fps
        self.reads = 0
        self.first_seen: dict[int, int] = {}
        self.first_frame: dict[int, np.ndarray] = {}

    def open(self) -> None:
        self.inner.open()
        self.reads = 0

    def read(self) -> Any:
        frame = self.inner.read()
        if frame is not None:
            for i in self.inner.arrivals_at(self.reads / self.inner.cfg.fps):
                if i not in self.first_seen:
                    self.first_seen[i] = frame.capture_ns
                    self.first_frame[i] = frame.image.copy()
            self.reads += 1
        return frame

    def close(self) -> None:
        self.inner.close()


def bench_config(base: Config, state_dir: Path, arrivals: int) -> Config:
    """The user's configuration, seen by one camera on which predators arrive."""
    cam = base.cameras[0]
    data = base.model_dump(mode="json")
    schedule = [
        {
            "image": f"asset:{PREDATORS[i % len(PREDATORS)]}",
            "at_s": 1.5 + i * (SHOW_S + GAP_S),
            "for_s": SHOW_S,
            "box": [0.2, 0.05, 0.6, 0.9],
            "label": "predator",
        }
        for i in range(arrivals)
    ]
    data["cameras"] = [
        {
            "name": "bench",
            "kind": "arrivals",
            "address": f"asset:{BACKGROUND}",
            "width": cam.width,
            "height": cam.height,
            "fps": cam.fps,
            "loop": False,
            "arrivals": schedule,
            "motion": data["cameras"][0]["motion"],
        }
    ]
    data["decision"]["armed"] = True  # it measures the way to the pin: it must fire
    data["decision"]["cooldown_s"] = 0
    data["decision"]["quiet_hours"] = []
    for d in data["gpio"]["deterrents"]:
        d.update(min_rest_s=0, pattern={**d["pattern"], "on_s": 0.2, "off_s": 0.0, "repeats": 1})
    data["reporters"]["mqtt"]["enabled"] = False
    data["reporters"]["twitter"]["enabled"] = False
    data["paths"]["state_dir"] = str(state_dir)
    data["health"]["metrics_address"] = None
    return parse_config(data, "benchmark")


def jumpered_mock_factory(out_pin: int, in_pin: int) -> Any:
    """Mock pins with a virtual wire from ``out_pin`` to ``in_pin``, like a jumper on the header."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    class JumperedPin(MockPWMPin):
        def __init__(self, factory: Any, info: Any, input_pin: Any = None) -> None:
            super().__init__(factory, info)
            self.input_pin = input_pin

        def _change_state(self, value: bool) -> bool:
            if self.input_pin is not None:
                (self.input_pin.drive_high if value else self.input_pin.drive_low)()
            return bool(super()._change_state(value))

    factory = MockFactory(pin_class=JumperedPin)
    factory.pin(out_pin, input_pin=factory.pin(in_pin))
    return factory


class EdgeWatcher:
    """Times each rising edge on an input pin wired to a deterrent pin."""

    def __init__(self, pin: int, factory: Any) -> None:
        from gpiozero import DigitalInputDevice

        self.edges: list[int] = []
        self.device = DigitalInputDevice(pin, pull_up=False, pin_factory=factory)
        self.device.when_activated = lambda: self.edges.append(time.monotonic_ns())

    def close(self) -> None:
        self.device.close()


def pipeline_run(config: Config, store: AssetStore, args: argparse.Namespace) -> dict[str, Any]:
    """Run the appliance on predator arrivals; end-to-end latency per arrival."""
    from actuators.bank import make_pin_factory

    jumper = tuple(int(p) for p in args.jumper.split(":")) if args.jumper else None
    if args.pins == "mock":
        out_pin = jumper[0] if jumper else int(config.gpio.deterrents[0].pin)
        jumper = (out_pin, jumper[1] if jumper else 26)
        factory = jumpered_mock_factory(*jumper)
    else:
        factory = make_pin_factory("auto")
    witnessed: list[WitnessedSource] = []

    def source(cam: CameraConfig, resolve: Any) -> FrameSource:
        witnessed.append(WitnessedSource(open_source(cam, resolve)))
        return witnessed[-1]

    with Appliance(config, store, pin_factory=factory, source_factory=source) as app:
        watcher = EdgeWatcher(jumper[1], factory) if jumper else None
        fired: list[int] = []
        fire = app.bank.fire

        def recording_fire(names: Any) -> Any:  # when the bank says each pin went high
            report = fire(names)
            if report.pin_high_ns:
                fired.append(min(report.pin_high_ns.values()))
            return report

        app.bank.fire = recording_fire  # type: ignore[method-assign]
        summary = app.run(duration_s=1.5 + args.arrivals * (SHOW_S + GAP_S) + 5)
        if watcher:
            watcher.close()
    highs = watcher.edges if watcher else fired
    seen = witnessed[-1].first_seen if witnessed else {}
    e2e = []
    for _i, start in sorted(seen.items()):
        later = [t for t in highs if start <= t <= start + int((SHOW_S + GAP_S) * 1e9)]
        if later:
            e2e.append((later[0] - start) / 1e6)
    frames = witnessed[-1].first_frame if witnessed else {}
    return {
        "e2e_ms": e2e,
        "arrivals": len(seen),
        "fired": len(e2e),
        "stages": summary.latency_ms,
        "edge": "input pin" if watcher else "pin write",
        "frames": [frames[i] for i in sorted(frames)],
    }


# -- 3. the original design ---------------------------------------------------------------


def original_design(
    frames: list[np.ndarray], model: str, bank_factory: Any, config: Config
) -> list[float]:
    """Per frame: save a JPEG, classify it in a new process that loads the model, fire a pin."""
    from actuators.bank import DeterrentBank

    times = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        DeterrentBank(config.gpio, pin_factory=bank_factory) as bank,
    ):
        for k, frame in enumerate(frames):
            started = time.monotonic_ns()
            path = Path(tmp) / f"motion-{k}.jpg"
            cv2.imwrite(str(path), frame)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "edge.cli",
                    "classify",
                    "--model",
                    model,
                    "--json",
                    str(path),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            verdict = json.loads(result.stdout)
            report = bank.fire([config.gpio.deterrents[0].name])
            done = min(report.pin_high_ns.values()) if report.pin_high_ns else time.monotonic_ns()
            times.append((done - started) / 1e6)
            bank.all_off()
            del verdict
    return times


# -- 4. idle -------------------------------------------------------------------------------


# What an open live page asks for, every web.refresh_s: the picture and the state (app.js).
PAGE_CLIENT = """
import sys, time, urllib.request
base, period = sys.argv[1], float(sys.argv[2])
while True:
    for path in ("live/idle.jpg", "live/state.json"):
        urllib.request.urlopen(base + path, timeout=10).read()
    time.sleep(period)
"""


def idle_cpu(base: Config, store: AssetStore, seconds: float,
             page_open: bool = False) -> dict[str, float]:
    """The whole appliance's CPU use on a still scene: what it costs to watch an empty coop,
    with its web page served and, with ``page_open``, the live page open in a browser (another
    process asks for what the page's script asks for, at the same rate)."""
    cam = base.cameras[0]
    data = base.model_dump(mode="json")
    data["cameras"] = [
        {
            "name": "idle",
            "kind": "arrivals",
            "address": f"asset:{BACKGROUND}",
            "width": cam.width,
            "height": cam.height,
            "fps": cam.fps,
            "loop": True,
            "arrivals": [],
            "motion": data["cameras"][0]["motion"],
        }
    ]
    data["reporters"]["mqtt"]["enabled"] = False
    data["reporters"]["twitter"]["enabled"] = False
    data["health"]["metrics_address"] = None
    data["web"]["address"] = "127.0.0.1:0"
    with tempfile.TemporaryDirectory() as state:
        data["paths"]["state_dir"] = state
        with Appliance(parse_config(data, "idle"), store) as app:
            app.run(duration_s=1.0)  # past start-up and the motion warm-up
        with Appliance(parse_config(data, "idle"), store) as app:
            page = None
            if page_open and app.web is not None:
                page = subprocess.Popen([sys.executable, "-c", PAGE_CLIENT, app.web.url,
                                         str(base.web.refresh_s)])
            try:
                cpu0, wall0 = os.times(), time.monotonic()
                summary = app.run(duration_s=seconds)
                cpu1, wall = os.times(), time.monotonic() - wall0
            finally:
                if page is not None:
                    page.kill()
                    page.wait()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    frames = summary.cameras["idle"]["frames"]
    motion = summary.latency_ms.get("motion", {})
    return {
        "seconds": round(wall, 1),
        "frames": frames,
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "motion_p50_ms": round(motion.get("p50", float("nan")), 2),
        "motion_p99_ms": round(motion.get("p99", float("nan")), 2),
    }


# -- 5. slower boards, emulated -------------------------------------------------------------


def slower_boards(
    base: Config, store: AssetStore, args: argparse.Namespace, primary_invoke_ms: float
) -> list[dict[str, Any]]:
    """The pipeline once per board of :data:`BOARDS`, every invoke slowed to that board's
    assumed pace (a board faster than this machine is run at this machine's pace)."""
    rows = []
    for board, invoke_ms in BOARDS:
        factor = max(1.0, invoke_ms / primary_invoke_ms)
        with tempfile.TemporaryDirectory() as state, slowed_invokes(factor=factor):
            run = pipeline_run(bench_config(base, Path(state), args.board_arrivals), store, args)
        p99 = percentile(run["e2e_ms"], 99) if run["e2e_ms"] else float("nan")
        meets = run["fired"] == run["arrivals"] and p99 <= args.budget_ms
        rows.append({"board": board, "assumed_invoke_ms": invoke_ms, "factor": round(factor, 1),
                     "arrivals": run["arrivals"], "fired": run["fired"],
                     "e2e_p99_ms": round(p99, 1), "meets_budget": meets})
    return rows


# -- the report ---------------------------------------------------------------------------


def report(args: argparse.Namespace) -> dict[str, Any]:
    from actuators.bank import make_pin_factory

    base = load_config(args.config)
    store = AssetStore(mirrors=list(args.mirror) + mirrors_from_env())
    system = describe()
    threads = args.threads or sorted({u.threads for u in base.models.use})
    alone = inference_alone(base, store, threads, args.runs)
    with tempfile.TemporaryDirectory() as state:
        run = pipeline_run(bench_config(base, Path(state), args.arrivals), store, args)
    primary = next(u.name for u in base.models.use if u.role == "primary")
    baseline = original_design(
        run["frames"][: args.baseline_runs],
        primary,
        make_pin_factory("mock") if args.pins == "mock" else None,
        base,
    )
    idle = idle_cpu(base, store, args.idle_s)
    page = idle_cpu(base, store, args.idle_s, page_open=True)
    boards = []
    if args.boards:
        # The pace measured above (already --slow-factor times slower, which each board's own
        # slowing adds to): each board is run at its assumed pace.
        mine = next(row["invoke_p50_ms"] for row in alone if row["model"] == primary
                    and row["threads"] == base.models.primary.threads)
        boards = slower_boards(base, store, args, mine)
    fps = base.cameras[0].fps
    inference = run["stages"].get("inference", {}).get("p50", float("nan"))
    floor = 1000 / fps + inference
    look = [row["invoke_p50_ms"] for row in alone if row["role"] == "second look"
            and row["threads"] == base.models.primary.threads]
    e2e = run["e2e_ms"]
    p50, p99 = percentile(e2e, 50), percentile(e2e, 99)
    base_p50 = percentile(baseline, 50)
    return {
        "board": system["board"],
        "system": system,
        "threads": threads,
        "inference_alone": alone,
        "fps": fps,
        "arrivals": run["arrivals"],
        "fired": run["fired"],
        "edge_measured_at": run["edge"],
        "e2e_ms": [round(x, 2) for x in e2e],
        "e2e_p50_ms": round(p50, 2),
        "e2e_p99_ms": round(p99, 2),
        "floor_ms": round(floor, 2),
        "second_look_p50_ms": look[0] if look else None,
        "ratio_to_floor": round(p99 / floor, 2),
        "budget_ms": args.budget_ms,
        "ratio_to_budget": round(p99 / args.budget_ms, 3),
        "baseline_ms": [round(x, 1) for x in baseline],
        "baseline_p50_ms": round(base_p50, 1),
        "speedup_over_baseline": round(base_p50 / p50, 1) if p50 == p50 and p50 > 0 else None,
        "stages": run["stages"],
        "idle": idle,
        "idle_live_page": page,
        "slow_factor": args.slow_factor,
        "cores": args.cores,
        "boards": boards,
    }


def print_report(r: dict[str, Any]) -> None:
    s = r["system"]
    print(f"board     {s['board']}  ({s['cores']} cores, governor {s['governor']})")
    if r["slow_factor"] != 1 or r["cores"]:
        print(f"emulated  invokes {r['slow_factor']:g}x longer"
              + (f", pinned to {r['cores']} core(s)" if r["cores"] else ""))
    print(
        f"software  Python {s['python']}, {s['runtime']}, NumPy {s['numpy']}, OpenCV {s['opencv']}"
    )
    print("\n1. inference alone (bare invoke)")
    for row in r["inference_alone"]:
        print(
            f"   {row['model']:<28} {row['threads']} thread(s)  p50 {row['invoke_p50_ms']:7.2f} ms"
            f"  p99 {row['invoke_p99_ms']:7.2f} ms  (load {row['load_ms']} ms)"
            + ("  second look: only on crops the default head leaves undecided"
               if row["role"] == "second look" else "")
        )
    print(
        f"\n2. the pipeline at {r['fps']:g} fps: {r['fired']} of {r['arrivals']} predator "
        f"arrivals fired (edge measured at the {r['edge_measured_at']})"
    )
    for line in format_summary(r["stages"]):
        print(f"   {line}")
    print(
        f"   end to end, first predator frame captured -> pin high: p50 {r['e2e_p50_ms']} ms, "
        f"p99 {r['e2e_p99_ms']} ms"
    )
    print(
        "\n3. the original design (JPEG, new process, load model, classify): "
        f"p50 {r['baseline_p50_ms']} ms -> this pipeline is {r['speedup_over_baseline']}x faster"
    )
    print(
        f"\nfloor (one frame interval + inference) {r['floor_ms']} ms: "
        f"p99 is {r['ratio_to_floor']}x the floor"
    )
    if r["second_look_p50_ms"] is not None:
        print(f"   a crop the default head leaves undecided also waits for the second look: "
              f"+{r['second_look_p50_ms']} ms (its invoke, p50; models.second_look: false "
              "turns it off)")
    verdict = "within" if r["e2e_p99_ms"] <= r["budget_ms"] else "OVER"
    print(f"budget {r['budget_ms']:g} ms: p99 is {verdict} it ({r['ratio_to_budget']}x)")
    idle, page = r["idle"], r["idle_live_page"]
    print(
        f"\n4. idle, a still scene at {r['fps']:g} fps: {idle['cpu_percent_of_one_core']} % of one "
        f"core ({idle['frames']} frames in {idle['seconds']} s; motion stage p50 "
        f"{idle['motion_p50_ms']} ms, p99 {idle['motion_p99_ms']} ms)"
    )
    print(
        f"   with the live web page open: {page['cpu_percent_of_one_core']} % of one core "
        f"({page['frames']} frames in {page['seconds']} s; motion stage p50 "
        f"{page['motion_p50_ms']} ms, p99 {page['motion_p99_ms']} ms)"
    )
    if r["boards"]:
        print(f"\n5. slower boards, emulated (assumed primary invoke time; {r['budget_ms']:g} ms "
              "budget)")
        for b in r["boards"]:
            verdict = "meets the budget" if b["meets_budget"] else "does NOT meet the budget"
            print(f"   {b['board']:<22} {b['assumed_invoke_ms']:6.0f} ms/invoke ({b['factor']}x): "
                  f"{b['fired']} of {b['arrivals']} fired, p99 {b['e2e_p99_ms']} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cores:
        pin_to_cores(args.cores)  # before any thread starts: they inherit it
    with slowed_invokes(factor=args.slow_factor):
        r = report(args)
    if args.json:
        json.dump(r, sys.stdout, default=str)
        print()
    else:
        print_report(r)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
