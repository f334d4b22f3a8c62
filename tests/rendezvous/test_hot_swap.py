"""Promote and roll back while the appliance runs a clip with arrivals: no frame lost, the switch
timed, events after each switch decided by the model then primary."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from classifier.registry import ModelRegistry
from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import parse_config
from edge.events.log import EventLog

V2 = "mobilenet_v2_imagenet"
V1 = "mobilenet_v1_075_imagenet"
BOX = [0.2, 0.05, 0.6, 0.9]
VISITS = [("raccoon__raccoon-7.jpg", 0.5), ("wikianimals__fox.webp", 4.0),
          ("raccoon__raccoon-7.jpg", 7.5), ("wikianimals__fox.webp", 11.0),
          ("raccoon__raccoon-7.jpg", 14.5)]
PROMOTE_AT_S, ROLLBACK_AT_S, DURATION_S = 4.5, 11.5, 17.0


def _config(state: Path) -> Any:
    arrivals = [{"image": f"asset:{image}", "at_s": at, "for_s": 2.0, "box": BOX,
                 "label": "predator"} for image, at in VISITS]
    data = yaml.safe_load(f"""
cameras:
  - {{name: coop, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 1280,
      height: 720, fps: 10, loop: false}}
models:
  use:
    - {{name: {V2}, role: primary, threads: 2}}
decision: {{armed: true, cooldown_s: 1}}
gpio:
  pin_factory: mock
  deterrents:
    - {{name: floodlight, kind: floodlight, pin: 27, pattern: {{on_s: 0.3, off_s: 0, repeats: 1}},
        min_rest_s: 0.5}}
health: {{metrics_address: null}}
paths: {{state_dir: "{state}"}}
""")
    data["cameras"][0]["arrivals"] = arrivals
    return parse_config(data, "test")


def test_promote_and_rollback_mid_clip(asset_store: AssetStore, tmp_path: Path) -> None:
    config = _config(tmp_path)
    registry = ModelRegistry(tmp_path, config.models)
    calls: list[tuple[float, str]] = []
    swaps: list[Any] = []
    with Appliance(config, asset_store, state_dir=tmp_path) as appliance:
        rendezvous = appliance.classifier
        classify = rendezvous.classify

        def recording(rgb: Any, camera: str | None = None) -> Any:
            answer = classify(rgb, camera)
            calls.append((time.monotonic(), next(iter(answer.models))))
            return answer

        rendezvous.classify = recording  # the pipeline calls it through its Parts
        started = time.monotonic()
        timeline = threading.Thread(target=_changes, args=(registry, rendezvous, started, swaps))
        timeline.start()
        summary = appliance.run(duration_s=DURATION_S)
        timeline.join()
        motion_frames = summary.cameras["coop"]["motion_frames"]
    # No frame lost: every frame that moved was classified, each by the plan of its moment, and
    # the primary changed exactly twice (V2 → V1 → V2), never back and forth.
    assert appliance.loops[0].error is None and len(calls) == motion_frames
    order = [name for _, name in calls]
    changes = [(a, b) for a, b in itertools.pairwise(order) if a != b]
    assert changes == [(V2, V1), (V1, V2)], changes
    # Switch times were measured: load + check + warm-up first, then a reference swap.
    promote, rollback = swaps
    assert promote.primary == V1 and promote.loaded == (V1,)
    assert promote.switch_ms < promote.prepare_ms
    assert rollback.primary == V2 and rollback.loaded == ()  # V2 had stayed loaded as a shadow
    _events_follow_the_primary(tmp_path)


def _changes(registry: ModelRegistry, rendezvous: Any, started: float, swaps: list[Any]) -> None:
    """Promote, then roll back, through the registry file, as the command does."""
    pause = threading.Event()
    for at_s, change in ((PROMOTE_AT_S, lambda: registry.promote(V1)),
                         (ROLLBACK_AT_S, registry.rollback)):
        pause.wait(max(0.0, started + at_s - time.monotonic()))
        before = rendezvous.last_swap
        change()
        while rendezvous.last_swap is before and not pause.wait(0.05):
            pass  # the keeper notices models.yaml within its poll (1 s)
        swaps.append(rendezvous.last_swap)


def _events_follow_the_primary(state: Path) -> None:
    """Each firing's event names one model on the critical path (no ``role``): V2, then V1
    after the promotion, then V2 after the rollback; the other model is there as a shadow."""
    log = EventLog(state / "events.sqlite3")
    events = [e for e in log.list() if e.deterrents]
    log.close()
    eras = []
    for event in events:
        [primary] = [n for n, s in event.scores.items() if "role" not in s]
        others = {s.get("role") for n, s in event.scores.items() if n != primary}
        assert others <= {"shadow"}, event.scores
        if not eras or eras[-1] != primary:
            eras.append(primary)
    assert eras == [V2, V1, V2], eras
