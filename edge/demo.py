"""The demo: the real pipeline on a replayed clip and photo arrivals, mock pins, no network."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import Config, parse_config
from edge.config.web import DEFAULT_ADDRESS
from edge.health.summary import RunSummary

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
# A firing decided on a frame up to this long after a photo left (its leaving is motion too)
# still belongs to it; the next photo comes 3 s later.
GRACE_S = 1.5


def demo_config(state_dir: Path, web_address: str | None = DEFAULT_ADDRESS) -> Config:
    """The shipped demo configuration, with its state in ``state_dir`` and its web page on
    ``web_address`` (None: no page)."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    data.setdefault("paths", {})["state_dir"] = str(state_dir)
    data.setdefault("web", {})["address"] = web_address
    return parse_config(data, str(DEMO_CONFIG))


@dataclass(slots=True)
class ArrivalOutcome:
    """What happened while one photo was on screen."""

    image: str
    label: str
    at_s: float
    firings: int
    shown: bool = True  # the camera got as far as this photo's time


@dataclass(slots=True)
class DemoResult:
    """The run's summary, each arrival's outcome, and the pin factory whose pins recorded it all."""

    summary: RunSummary
    arrivals: list[ArrivalOutcome] = field(default_factory=list)
    pin_factory: Any = None
    state_dir: Path | None = None

    @property
    def error(self) -> str | None:
        """Why the demo showed nothing worth a summary (a camera never delivered a frame, no
        photo arrival was shown), or None."""
        problems = self.summary.silent_cameras()
        if not problems and self.arrivals and not any(a.shown for a in self.arrivals):
            first = min(a.at_s for a in self.arrivals)
            problems.append(f"no photo arrival was shown (the first is due at {first:g} s; the "
                            f"run ended after {self.summary.seconds:.1f} s)")
        return "; ".join(problems) or None


def arrival_outcomes(config: Config, summary: RunSummary) -> list[ArrivalOutcome]:
    """Each photo arrival and the firings decided while it was on show, in the source's own
    time (frame n of a source paced at ``fps`` shows second (n - 1) / fps of its schedule),
    so that a run behind real time still credits each firing to the photo it saw."""
    outcomes = []
    for cam in config.cameras:
        counts = summary.cameras.get(cam.name, {})
        fired_s = [(seq - 1) / cam.fps for seq in counts.get("fired_frames", [])]
        # The source is paced at its fps: the frames it delivered say how far it got.
        reached_s = (counts.get("frames", 0) + counts.get("skipped", 0)) / cam.fps
        for arrival in cam.arrivals:
            begin, end = arrival.at_s, arrival.at_s + arrival.for_s
            hits = sum(1 for t in fired_s if begin <= t <= end + GRACE_S)
            outcomes.append(
                ArrivalOutcome(Path(arrival.image).name, arrival.label, arrival.at_s, hits,
                               shown=reached_s > arrival.at_s)
            )
    return outcomes


def run_demo(
    store: AssetStore,
    *,
    duration_s: float = 50.0,
    state_dir: Path | None = None,
    pin_factory: Any = None,
    web_address: str | None = DEFAULT_ADDRESS,
    announce: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo to its end (or ``duration_s``) and say what happened; ``announce`` is
    told the web page's address before the run starts."""
    from actuators.bank import make_pin_factory

    state = state_dir or Path(tempfile.mkdtemp(prefix="tensorchicken-demo-"))
    config = demo_config(state, web_address)
    factory = pin_factory or make_pin_factory("mock")
    with Appliance(config, store, pin_factory=factory, state_dir=state) as appliance:
        if announce is not None and appliance.web is not None:
            announce(appliance.web.url)
        summary = appliance.run(duration_s=duration_s)
    return DemoResult(summary, arrival_outcomes(config, summary), factory, state)
