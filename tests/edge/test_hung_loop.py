"""A hung camera loop turns the deterrents off after ``health.hung_after_s``, not twice that,
and a healthy loop (even one sneaked in with the same camera name) never hides it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.app import Appliance
from edge.assets import AssetStore
from edge.config import parse_config

HUNG_AFTER_S = 2.0


def _config(state: Path, twin: bool) -> Any:
    config = parse_config(yaml.safe_load(f"""
cameras:
  - {{name: coop, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 320,
      height: 180, fps: 10, loop: false,
      arrivals: [{{image: "asset:speciesnet__blank2.jpg", at_s: 0, for_s: 600}}]}}
  - {{name: gate, kind: arrivals, address: "asset:speciesnet__blank2.jpg", width: 320,
      height: 180, fps: 10, loop: false,
      arrivals: [{{image: "asset:speciesnet__blank2.jpg", at_s: 0, for_s: 600}}]}}
models: {{use: [{{name: mobilenet_v2_imagenet, role: primary}}]}}
gpio:
  pin_factory: mock
  deterrents:
    - {{name: siren, kind: siren, pin: 17, pattern: {{on_s: 8, off_s: 0, repeats: 1}},
        max_on_s: 10, min_rest_s: 0}}
health: {{metrics_address: null, hung_after_s: {HUNG_AFTER_S}}}
paths: {{state_dir: "{state}"}}
"""), "test")
    if twin:  # only code can do this now: the file refuses two cameras of one name
        config = config.model_copy(update={"cameras": [config.cameras[0]] * 2})
    return config


@pytest.mark.parametrize("twin", [False, True], ids=["two cameras", "a same-name twin"])
def test_a_hung_loop_is_cut_off_after_hung_after_s(
        asset_store: AssetStore, tmp_path: Path, twin: bool) -> None:
    hang, release = threading.Event(), threading.Event()
    hung_at: list[float] = []
    with Appliance(_config(tmp_path / "state", twin), asset_store,
                   pin_factory=MockFactory(pin_class=MockPWMPin)) as app:
        stuck = app.loops[0]
        original = stuck.process

        def process(frame: Any) -> None:
            if hang.is_set():
                hung_at.append(time.monotonic())
                release.wait()  # the loop hangs here, just after reporting progress
            original(frame)

        stuck.process = process  # type: ignore[method-assign]
        runner = threading.Thread(target=app.run, kwargs={"duration_s": 30})
        runner.start()
        try:
            deadline = time.monotonic() + 30
            while not all(loop.counters.frames for loop in app.loops):
                assert time.monotonic() < deadline, "the loops never ran"
                time.sleep(0.05)
            assert app.bank.fire(["siren"]).fired == ("siren",)
            hang.set()
            while app.bank.states()["siren"]:
                assert time.monotonic() < deadline, "the siren was never cut"
                time.sleep(0.01)
            cut_s = time.monotonic() - hung_at[0]
        finally:
            app.request_stop("test over")
            release.set()
            runner.join(30)
    # The burst lasts 8 s: only the hung-loop rule can end it this soon.
    assert HUNG_AFTER_S - 0.1 <= cut_s <= HUNG_AFTER_S + 0.8, cut_s
