"""The demo on a board slowed on purpose: every model invoke 400 ms longer (a Pi Zero 2 W or a
Pi 3 with two cameras), the demo's two cameras, real clip and photos, real models, mock pins.

On such a board the bird model was past its 1000 ms deadline on almost every crop, so the jay
and the owl, which only it recognises, never became predators, and the demo fired for 1 of 4
predator arrivals. With confirmation counted in the visit's classified frames, and deadlines
that follow each model's measured pace, every predator arrival must still fire, and no hen, empty
scene or passer-by. (At 1200 ms per invoke the fox, jay and owl are still missed: not solved.)
"""

from __future__ import annotations

import pytest

from classifier.emulate import slowed_invokes
from edge.demo import run_demo

SLOWER_MS = 400.0


@pytest.fixture(scope="module")
def slow_demo(asset_store, tmp_path_factory):  # type: ignore[no-untyped-def]
    with slowed_invokes(extra_ms=SLOWER_MS):
        return run_demo(asset_store, duration_s=55, state_dir=tmp_path_factory.mktemp("slow"),
                        web_address=None)


@pytest.mark.slow
def test_every_predator_fires_and_nothing_else_on_a_slow_board(slow_demo) -> None:  # type: ignore[no-untyped-def]
    outcomes = {a.image: (a.label, a.firings) for a in slow_demo.arrivals}
    assert len(outcomes) == 7
    missed = [image for image, (label, n) in outcomes.items() if label == "predator" and n == 0]
    wrong = [image for image, (label, n) in outcomes.items() if label != "predator" and n > 0]
    assert not missed, f"predators that did not fire on the slow board: {missed}"
    assert not wrong, f"hens or empty scenes that fired: {wrong}"
    assert slow_demo.summary.cameras["yard"]["firings"] == 0, "people walking past fired"
    # The board really was slow: every inference took the added 400 ms.
    inference = slow_demo.summary.latency_ms["inference"]
    assert inference["p50"] >= SLOWER_MS, inference
